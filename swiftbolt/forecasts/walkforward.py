"""Walk-forward evaluation in memory, from daily bars: the same features, samples, models, labels and
metrics as the assets, without a warehouse (for the honest figures of the README and for vendor files).

For each horizon h, the test period is cut into blocks of `retrain_every` sessions; the model of a block is
trained with training end T = the session before the block (samples up to T - h sessions, window of
`window` sessions) and predicts every (symbol, D) of the block: D > T, as in production (there every week).
Prophet (slow: one fit per symbol and day) is fitted on every `prophet_every`-th session of the test period;
the equal-weight ensemble is scored on those days. Baselines are scored on the LightGBM rows.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from swiftbolt.features.indicators import PRICE_SCALED_COLUMNS, compute_features, feature_columns
from swiftbolt.forecasts import lightgbm_models, prophet_models
from swiftbolt.forecasts.dataset import (
    EXTRA_FEATURES,
    Samples,
    build_samples,
    training_samples,
    with_sessions,
)
from swiftbolt.forecasts.horizons import HORIZONS, MAX_HORIZON, SessionIndex, session_index
from swiftbolt.forecasts.labels import label_and_confidence
from swiftbolt.forecasts.metrics import figures_table, score, score_baselines, up_frequency
from swiftbolt.forecasts.pipeline import MIN_TRAIN_SAMPLES


@dataclass
class Panel:
    features: pd.DataFrame  # symbol_id, session_date, feature columns
    sessions: pd.DataFrame  # with_sessions output (adjusted closes, pos, sigma_60)
    index: SessionIndex
    feature_names: list[str]
    symbols: dict[int, str]


def panel_from_bars(market: str, bars: Mapping[str, pd.DataFrame]) -> Panel:
    """`bars`: symbol -> adjusted daily bars (session_date, open, high, low, close, volume)."""
    frames, closes, symbols = [], [], {}
    first = min(pd.Timestamp(b["session_date"].min()).date() for b in bars.values())
    last = max(pd.Timestamp(b["session_date"].max()).date() for b in bars.values())
    index = session_index(market, first, last + dt.timedelta(days=40))
    for sid, (symbol, b) in enumerate(sorted(bars.items()), start=1):
        symbols[sid] = symbol
        b = b.sort_values("session_date").reset_index(drop=True)
        dates = pd.to_datetime(b["session_date"])
        feats = compute_features(b.assign(ts=dates.dt.tz_localize("UTC")))
        feats.insert(0, "symbol_id", sid)
        feats.insert(1, "session_date", dates)
        frames.append(feats.drop(columns=["ts", "warmup_complete"]))
        closes.append(pd.DataFrame({"symbol_id": sid, "session_date": dates, "close": b["close"].to_numpy(float),
                                    "raw_close": b["close"].to_numpy(float)}))
    names = [k for k in feature_columns() if k not in PRICE_SCALED_COLUMNS] + list(EXTRA_FEATURES)
    return Panel(pd.concat(frames, ignore_index=True), with_sessions(pd.concat(closes, ignore_index=True), index),
                 index, names, symbols)


def _scored(rows: pd.DataFrame, q: np.ndarray) -> pd.DataFrame:
    _, _, prob_up = label_and_confidence(q[:, 0], q[:, 1], q[:, 2], np.zeros(len(q)))
    return rows.assign(realized=rows["label"], pred=q[:, 1], lower=q[:, 0], upper=q[:, 2], prob_up=prob_up)


def walk_forward(panel: Panel, start: dt.date, end: dt.date, *, retrain_every: int = 21, window: int = 1000,
                 prophet_every: int = 0, prophet_lookback: int = 500, threads: int = 1,
                 horizons: tuple[str, ...] = tuple(HORIZONS)) -> pd.DataFrame:
    """Out-of-sample figures per horizon: lightgbm, the baselines, and (with prophet_every > 0) prophet and
    the equal-weight ensemble on the Prophet days."""
    index = panel.index
    first_pos, last_pos = index.position(start), index.position(end)
    if index.dates[first_pos] < start:
        first_pos += 1
    test_pos = np.arange(first_pos, last_pos + 1)
    prophet_pos = set(test_pos[::prophet_every].tolist()) if prophet_every > 0 else set()
    prophet_q = _prophet(panel, sorted(prophet_pos), prophet_lookback) if prophet_pos else {}
    figures: dict[str, dict[str, dict[str, float]]] = {}
    for horizon in horizons:
        h = HORIZONS[horizon]
        samples = build_samples(panel.features, panel.sessions, panel.feature_names, h)
        parts = []
        for block_start in range(first_pos, last_pos + 1, retrain_every):
            t = index.dates[block_start - 1]
            train = training_samples(samples, index, t, h, window)
            if len(train) < MIN_TRAIN_SAMPLES:
                continue
            pos = samples.rows["pos"].to_numpy()
            block = samples.take((pos >= block_start) & (pos < min(block_start + retrain_every, last_pos + 1))
                                 & np.isfinite(samples.rows["label"].to_numpy()))
            if len(block) == 0:
                continue
            bundle = lightgbm_models.train(train.X, train.rows["target"].to_numpy(float), train.feature_names, threads)
            scale = (block.rows["sigma_60"].to_numpy(float) * math.sqrt(h))[:, None]
            parts.append(_scored(block.rows, bundle.predict(block.X) * scale).assign(
                up_frequency=up_frequency(train.rows, block.rows)))
        if not parts:
            continue
        oos = pd.concat(parts, ignore_index=True)
        figures[horizon] = {"lightgbm": score(oos, "pred", h, "lower", "upper", "prob_up"),
                            **score_baselines(oos, h)}
        if prophet_q:
            sub = oos[oos["pos"].isin(prophet_pos)].reset_index(drop=True)
            keys = list(zip(sub["symbol_id"].astype(int), sub["pos"].astype(int), strict=True))
            have = np.array([k in prophet_q for k in keys], dtype=bool)
            sub, keys = sub[have].reset_index(drop=True), [k for k, ok in zip(keys, have, strict=True) if ok]
            pq = np.array([prophet_q[k][h - 1] for k in keys]).reshape(len(keys), 3)
            figures[horizon]["prophet"] = score(_scored(sub, pq), "pred", h, "lower", "upper", "prob_up")
            lq = sub[["lower", "pred", "upper"]].to_numpy(float)
            figures[horizon]["ensemble"] = score(_scored(sub, np.sort((lq + pq) / 2, axis=1)), "pred", h, "lower",
                                                 "upper", "prob_up")
            figures[horizon]["lightgbm_on_prophet_days"] = score(_scored(sub, lq), "pred", h, "lower", "upper",
                                                                 "prob_up")
    return figures_table(figures)


def _prophet(panel: Panel, positions: list[int], lookback: int) -> dict[tuple[int, int], np.ndarray]:
    jobs = []
    for sid, g in panel.sessions.groupby("symbol_id"):
        pos, close = g["pos"].to_numpy(), g["close"].to_numpy(float)
        hist = g["history"].to_numpy()
        for p in positions:
            i = np.searchsorted(pos, p)
            if i >= len(pos) or pos[i] != p or hist[i] < 60:
                continue
            w = (pos > p - lookback) & (pos <= p)
            jobs.append(prophet_models.ProphetJob((int(sid), int(p)), pos[w].astype(np.int64),
                                                  np.log(close[w]) - math.log(close[i]), MAX_HORIZON))
    return prophet_models.fit_many(jobs)


__all__ = ["Panel", "Samples", "panel_from_bars", "walk_forward"]
