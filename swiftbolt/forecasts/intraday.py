"""Intraday forecasts (15m and 1h ahead, in m15 bars) and their evaluations: the functions the intraday
assets call. The models are the daily domain's pooled quantile LightGBM (lightgbm_models), stored in the
same table (store.upsert_model_version) and looked up the same way (newest training end before the day);
labels, confidence and figures are the daily domain's too (labels, metrics). Only the data differs
(intraday_dataset).

What a forecast issued at the end of bar t reads: m15 bars and feature rows that ended by t's end, the h1
feature row of the last hour that ended by then, the previous session's S/R levels, and a model trained
before t's session. `ended_by` is the run's clock: a live tick never sees a bar that has not ended, and a
backfill of a past day forecasts each of its bars from the same data (bars after t are not read).
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import psycopg

from swiftbolt.calendars.sessions import sessions
from swiftbolt.forecasts import intraday_store, lightgbm_models, store
from swiftbolt.forecasts.config import ForecastSettings, load_forecast_settings
from swiftbolt.forecasts.dataset import Samples, current_feature_set
from swiftbolt.forecasts.intraday_dataset import (
    BAR,
    INTRADAY_HORIZONS,
    MAX_STEPS,
    MIN_HISTORY_BARS,
    VOL_BARS,
    add_labels,
    build_samples,
    grid_around,
    load_bars,
    load_features,
    model_features,
    on_grid,
    with_features,
)
from swiftbolt.forecasts.labels import label_and_confidence, neutral_band
from swiftbolt.forecasts.metrics import figures_table, score, score_baselines
from swiftbolt.forecasts.paths import quantile_path
from swiftbolt.universe import active_symbols

MIN_TRAIN_SAMPLES = 200
CI_LEVEL = 0.8
SR_NEAR = 0.25
"""sr_component: within this share of the support-resistance range from a level = near it."""


@dataclass
class IntradayResult:
    symbol: str
    date: dt.date
    rows: int = 0
    issues: int = 0
    labels: dict[str, int] = field(default_factory=dict)
    reason: str | None = None


@dataclass
class IntradayReport:
    market: str
    partitions: list[IntradayResult]
    rows_written: int = 0
    points_written: int = 0
    model_versions: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0
    model_seconds: float = 0.0
    """Time spent in the bare model calls (LightGBM predict), for the benchmark's ratio."""
    preview: pd.DataFrame = field(default_factory=pd.DataFrame)
    figures: pd.DataFrame = field(default_factory=pd.DataFrame)

    def reasons(self) -> dict[str, int]:
        return dict(Counter((p.reason or "").split(":")[0] for p in self.partitions if p.reason))


@dataclass
class IntradayTrainingReport:
    market: str
    train_end: dt.date | None
    models: dict[str, tuple[int, str, int]]  # horizon -> (model id, sha256, samples)
    reasons: dict[str, str]
    figures: pd.DataFrame
    seconds: float = 0.0

    @property
    def data_version(self) -> str:
        return ";".join(f"{h}:{v[1]}" for h, v in sorted(self.models.items())) or "no-model"


# ------------------------------------------------------------------------------------------- training

def _frame(conn: psycopg.Connection, market: str, symbol_ids: list[int], first: dt.date, last: dt.date,
           ended_by: dt.datetime | None, history_sessions: int) -> tuple[pd.DataFrame, list[str], str] | None:
    """Bars on the grid with labels and features (m15 + ended h1) for sessions [first, last]."""
    feature_set = current_feature_set(conn)
    if feature_set is None:
        return None
    grid = grid_around(market, first, last, history_sessions)
    start = grid["session_date"].iloc[0] if len(grid) else first
    bars = add_labels(on_grid(load_bars(conn, symbol_ids, start, last, ended_by), grid))
    m15 = load_features(conn, feature_set, symbol_ids, "m15", first, last, ended_by)
    h1 = load_features(conn, feature_set, symbol_ids, "h1", first - dt.timedelta(days=5), last, ended_by)
    return with_features(bars, m15, h1), model_features(feature_set), feature_set.definition_hash


def train_intraday_models(conn: psycopg.Connection, market: str, train_end: dt.date, *,
                          settings: ForecastSettings | None = None, run_id: str | None = None,
                          partition_key: str | None = None,
                          min_samples: int = MIN_TRAIN_SAMPLES) -> IntradayTrainingReport:
    """Train and store the pooled intraday model of each horizon for training end T = the last session
    <= train_end: samples are the m15 bars of the last `intraday_train_sessions` sessions up to T whose
    label bar ended by T's close (purged gap = horizon: the loader stops at T's close)."""
    t0 = time.perf_counter()
    settings = settings or load_forecast_settings()
    ids = active_symbols(conn, market)
    days = sessions(market, train_end - dt.timedelta(days=settings.intraday_train_sessions * 2 + 10), train_end)
    feature_set = current_feature_set(conn)
    if feature_set is None or not ids or days.empty:
        why = ("no feature set recorded: materialize feature_rows first" if feature_set is None
               else f"no active {market} symbols" if not ids else f"no session on or before {train_end}")
        return IntradayTrainingReport(market, None, {}, {h: why for h in INTRADAY_HORIZONS}, figures_table({}),
                                      time.perf_counter() - t0)
    days = days.tail(settings.intraday_train_sessions)
    t_session, t_close = days["date"].iloc[-1], days["close_utc"].iloc[-1].to_pydatetime()
    symbol_ids = sorted(ids.values())
    built = _frame(conn, market, symbol_ids, days["date"].iloc[0], t_session, t_close, 5)
    assert built is not None
    frame, names, fs_hash = built
    reasons: dict[str, str] = {}
    trained: dict[str, tuple[Samples, lightgbm_models.ModelBundle, dict]] = {}
    for horizon, k in INTRADAY_HORIZONS.items():
        samples = build_samples(frame, names, k)
        train = samples.take(np.isfinite(samples.rows["target"].to_numpy()))
        if len(train) < min_samples:
            reasons[horizon] = (f"too few samples: {len(train)} realised m15 samples up to {t_session}, "
                                f"{min_samples} needed")
            continue
        validation = _validate(train, k, settings.lgbm_threads)
        bundle = lightgbm_models.train(train.X, train.rows["target"].to_numpy(float), names, settings.lgbm_threads)
        trained[horizon] = (train, bundle, validation)
    models: dict[str, tuple[int, str, int]] = {}
    with conn.transaction():
        run_row = store.start_training_run(conn, market, t_session, partition_key, run_id, feature_set.id,
                                           dt.datetime.now(dt.UTC), timeframe="m15")
        for horizon, (train, bundle, validation) in trained.items():
            rows = train.rows
            model_id = store.upsert_model_version(
                conn, market=market, horizon=horizon, h=INTRADAY_HORIZONS[horizon],
                train_start=min(rows["session_date"]), train_end=t_session,
                last_sample_date=max(rows["session_date"]), n_samples=len(rows),
                n_symbols=int(rows["symbol_id"].nunique()), bundle=bundle, feature_set_id=feature_set.id,
                feature_set_hash=fs_hash,
                parameters=lightgbm_models.public_params(settings.lgbm_threads)
                | {"window_sessions": settings.intraday_train_sessions, "timeframe": "m15",
                   "target": "log return over k m15 bars / (sigma_m15 * sqrt(k))"},
                importance=bundle.importance(), validation=validation, training_run_id=run_row,
                library_version=f"lightgbm {lightgbm_models.lightgbm_version()}")
            models[horizon] = (model_id, bundle.sha256, len(rows))
        status = "trained" if models and not reasons else "partial" if models else "skipped"
        store.finish_training_run(conn, run_row, len(ids), max((m[2] for m in models.values()), default=0), status,
                                  reasons, {h: v[2] for h, v in trained.items()}, dt.datetime.now(dt.UTC))
    figures = figures_table({h: {k: v for k, v in t[2].items() if isinstance(v, dict)} for h, t in trained.items()})
    return IntradayTrainingReport(market, t_session, models, reasons, figures, time.perf_counter() - t0)


def _validate(train: Samples, k: int, threads: int) -> dict:
    """Out-of-sample figures: fit on all but the last fifth of the bars (minus a purged gap of k bars), score
    on the last fifth beside the persistence and zero-return baselines."""
    grid = train.rows["grid"].to_numpy()
    cut = np.quantile(grid, 0.8)
    fit, val = train.take(grid <= cut - k), train.take(grid > cut)
    if len(fit) < MIN_TRAIN_SAMPLES // 2 or len(val) == 0:
        return {"reason": f"too few samples for a validation split ({len(fit)} fit, {len(val)} validation)"}
    bundle = lightgbm_models.train(fit.X, fit.rows["target"].to_numpy(float), fit.feature_names, threads)
    q = bundle.predict(val.X) * (val.rows["sigma_m15"].to_numpy(float) * math.sqrt(k))[:, None]
    _, _, prob_up = label_and_confidence(q[:, 0], q[:, 1], q[:, 2], np.zeros(len(q)))
    frame = _scoring_frame(val.rows, q[:, 1], q[:, 0], q[:, 2], prob_up)
    base = score_baselines(frame, k)
    return {"lightgbm": score(frame, "pred", k, "lower", "upper", "prob_up"),
            "persistence": base["persistence"], "zero": base["zero"],
            "fit_samples": len(fit), "validation_samples": len(val)}


def _scoring_frame(rows: pd.DataFrame, pred: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                   prob_up: np.ndarray) -> pd.DataFrame:
    """The columns metrics.score and score_baselines read; the cross-section of a rank IC is one bar time."""
    return pd.DataFrame({
        "symbol_id": rows["symbol_id"].to_numpy(), "session_date": rows["ts"].to_numpy(),
        "realized": rows["label"].to_numpy(float), "pred": pred, "lower": lower, "upper": upper,
        "prob_up": prob_up, "past_return": rows["past_return"].to_numpy(float),
        "sigma_60": rows["sigma_m15"].to_numpy(float), "up_frequency": np.nan,
    })


# ------------------------------------------------------------------------------------------ forecasts

def _resolve(conn: psycopg.Connection, market: str, requests: Mapping[str, Sequence[dt.date]]
             ) -> tuple[dict[str, int], dict[tuple[str, dt.date], IntradayResult]]:
    ids = active_symbols(conn, market)
    results = {(s, d): IntradayResult(s, d, reason=None if s in ids else f"not an active {market} symbol")
               for s, days in sorted(requests.items()) for d in sorted(set(days))}
    return {s: ids[s] for s in requests if s in ids}, results


def _levels(conn: psycopg.Connection, market: str, symbol_ids: list[int], days: list[dt.date]) -> pd.DataFrame:
    """Per (symbol_id, session_date D): the nearest support/resistance of the session before D (known at
    D's open), in D's traded units."""
    cal = sessions(market, min(days) - dt.timedelta(days=10), max(days))
    previous = dict(zip(cal["date"].iloc[1:], cal["date"].iloc[:-1], strict=True))
    pairs = pd.DataFrame({"session_date": [d for d in days if d in previous]})
    if pairs.empty:
        return pd.DataFrame(columns=["symbol_id", "session_date", "nearest_support", "nearest_resistance"])
    pairs["level_date"] = pairs["session_date"].map(previous)
    rows = conn.execute(
        "SELECT l.symbol_id, l.session_date, l.nearest_support / COALESCE(f.price_factor, 1.0),"
        " l.nearest_resistance / COALESCE(f.price_factor, 1.0) FROM ml.sr_levels l "
        "LEFT JOIN market.adjustment_factor_ranges f ON f.symbol_id = l.symbol_id "
        " AND l.session_date >= f.valid_from AND l.session_date < f.valid_to "
        "WHERE l.symbol_id = ANY(%s) AND l.session_date = ANY(%s)",
        (symbol_ids, sorted(set(pairs["level_date"])))).fetchall()
    levels = pd.DataFrame(rows, columns=["symbol_id", "level_date", "nearest_support", "nearest_resistance"])
    return pairs.merge(levels, on="level_date").drop(columns="level_date")


def _expiries(grid: pd.DataFrame, bar_grid: np.ndarray, steps: int) -> np.ndarray:
    """(n, steps) end times (naive UTC datetime64) of the next `steps` grid bars after each bar."""
    starts = grid["ts"].dt.tz_convert(None).to_numpy()
    idx = bar_grid[:, None] + np.arange(1, steps + 1)[None, :]
    if idx.max(initial=-1) >= len(starts):
        raise ValueError("the bar grid does not reach the forecasts' horizon")
    return starts[idx] + np.timedelta64(15, "m")


def intraday_forecasts(conn: psycopg.Connection, market: str, requests: Mapping[str, Sequence[dt.date]],
                       now: dt.datetime, *, latest_only: bool, run_id: str | None = None) -> IntradayReport:
    """Forecasts of (symbol -> days) at every m15 bar of the day that ended by `now` (a backfill), or only
    at the newest ended bar (`latest_only`: a live tick), for every intraday horizon."""
    t0 = time.perf_counter()
    report = IntradayReport(market, [])
    ids, results = _resolve(conn, market, requests)
    wanted = [(s, d) for (s, d), r in results.items() if r.reason is None]
    if not wanted:
        report.partitions = list(results.values())
        return report
    days = sorted({d for _, d in wanted})
    symbol_ids = sorted({ids[s] for s, _ in wanted})
    built = _frame(conn, market, symbol_ids, days[0], days[-1], now, history_sessions=VOL_BARS // 26 + 6)
    grid = grid_around(market, days[0], days[-1], VOL_BARS // 26 + 6)
    by_id = {v: k for k, v in ids.items()}
    if built is None:
        for s, d in wanted:
            results[(s, d)].reason = "no feature set recorded: materialize feature_rows first"
        report.partitions = list(results.values())
        return report
    frame, _, fs_hash = built
    frame = frame.assign(symbol=frame["symbol_id"].map(by_id))
    key = pd.MultiIndex.from_tuples(wanted, names=["symbol", "session_date"])
    frame = frame[pd.MultiIndex.from_frame(frame[["symbol", "session_date"]]).isin(key)].reset_index(drop=True)
    if latest_only and not frame.empty:
        newest = frame.groupby("symbol_id")["ts"].transform("max")
        frame = frame[frame["ts"] == newest].reset_index(drop=True)
    ok = frame[(frame["history"] >= MIN_HISTORY_BARS) & np.isfinite(frame["sigma_m15"].to_numpy(float))]
    ok = ok.reset_index(drop=True)
    levels = _levels(conn, market, symbol_ids, days)
    ok = ok.merge(levels, on=["symbol_id", "session_date"], how="left")
    rows, paths = [], []
    for horizon, k in INTRADAY_HORIZONS.items():
        models = store.models_before(conn, market, horizon, days[-1] + dt.timedelta(days=1))
        chosen = [store.newest_before(models, d) for d in ok["session_date"]]
        model_ids = np.array([m.id if m is not None and m.feature_set_hash == fs_hash else -1 for m in chosen])
        for model_id in sorted(set(model_ids.tolist()) - {-1}):
            sel = ok[model_ids == model_id].reset_index(drop=True)
            bundle = store.load_bundle(conn, model_id)
            X = sel[bundle.feature_names].to_numpy(dtype=np.float64)
            X[~np.isfinite(X)] = np.nan
            m0 = time.perf_counter()
            q = bundle.predict(X) * (sel["sigma_m15"].to_numpy(float) * math.sqrt(k))[:, None]
            report.model_seconds += time.perf_counter() - m0
            r, p = _forecast_rows(sel, q, horizon, k, grid, bundle.sha256, model_id, fs_hash, run_id)
            rows.append(r)
            paths.append(p)
            report.model_versions.setdefault(horizon, []).append(bundle.sha256)
    all_rows = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=intraday_store.FORECAST_COLUMNS)
    all_paths = pd.concat(paths, ignore_index=True) if paths else pd.DataFrame()
    issues = frame[["symbol_id", "ts"]].assign(issued_at=frame["ts"] + BAR)
    with conn.transaction():
        report.rows_written, report.points_written = intraday_store.write_forecasts(conn, issues, all_rows, all_paths)
    _fill_results(results, frame, all_rows, by_id, latest_only)
    report.partitions = list(results.values())
    if not all_rows.empty:
        report.preview = all_rows.assign(symbol=all_rows["symbol_id"].map(by_id)).sort_values("issued_at").tail(20)[
            ["symbol", "issued_at", "horizon", "overall_label", "confidence", "base_close", "target_price",
             "ci_lower", "ci_upper", "layers_agreeing"]]
    report.seconds = time.perf_counter() - t0
    return report


def _forecast_rows(sel: pd.DataFrame, q: np.ndarray, horizon: str, k: int, grid: pd.DataFrame, sha: str,
                   model_id: int, fs_hash: str, run_id: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    sigma = sel["sigma_m15"].to_numpy(float)
    band = neutral_band(sigma, k)
    labels, confidence, prob_up = label_and_confidence(q[:, 0], q[:, 1], q[:, 2], band)
    base = sel["raw_close"].to_numpy(float)
    ends = _expiries(grid, sel["grid"].to_numpy(), k)
    st_dir = sel["supertrend_dir"].to_numpy(float) if "supertrend_dir" in sel else np.full(len(sel), np.nan)
    supertrend = np.where(st_dir > 0, "bullish", np.where(st_dir < 0, "bearish", None))
    support, resistance = sel["nearest_support"].to_numpy(float), sel["nearest_resistance"].to_numpy(float)
    width = resistance - support
    with np.errstate(invalid="ignore", divide="ignore"):
        where = (base - support) / width
    sr = np.where(~(width > 0), None, np.where(where <= SR_NEAR, "near_support",
                                               np.where(where >= 1 - SR_NEAR, "near_resistance", "mid_range")))
    sr_view = np.where(sr == "near_support", "bullish", np.where(sr == "near_resistance", "bearish", None))
    agreeing = (1 + (supertrend == labels).astype(int) + (sr_view == labels).astype(int))
    issued = sel["ts"] + BAR
    rows = pd.DataFrame({
        "symbol_id": sel["symbol_id"].to_numpy(np.int64), "session_date": sel["session_date"].to_numpy(),
        "timeframe": "m15", "horizon": horizon, "horizon_steps": k, "bar_ts": sel["ts"].to_numpy(),
        "issued_at": issued.to_numpy(), "expires_at": pd.to_datetime(ends[:, -1], utc=True),
        "model_type": "lightgbm", "base_close": base, "forecast_return": np.expm1(q[:, 1]),
        "return_q10": q[:, 0], "return_q50": q[:, 1], "return_q90": q[:, 2],
        "target_price": base * np.exp(q[:, 1]), "ci_lower": base * np.exp(q[:, 0]),
        "ci_upper": base * np.exp(q[:, 2]), "ci_level": CI_LEVEL, "overall_label": labels,
        "confidence": confidence, "prob_up": prob_up, "volatility": sigma, "neutral_band": band,
        "supertrend_component": supertrend, "sr_component": sr, "nearest_support": support,
        "nearest_resistance": resistance, "ensemble_component": labels, "layers_agreeing": agreeing,
        "model_version": sha, "model_version_id": model_id, "feature_set_hash": fs_hash, "dagster_run_id": run_id,
    })
    path = quantile_path(q, k)  # (n, k, 3)
    n = len(rows)
    flat = path.reshape(n * k, 3)
    b = np.repeat(base, k)
    points = pd.DataFrame({
        "symbol_id": np.repeat(rows["symbol_id"].to_numpy(), k), "horizon": horizon,
        "issued_at": np.repeat(rows["issued_at"].to_numpy(), k), "step": np.tile(np.arange(1, k + 1), n),
        "point_ts": pd.to_datetime(ends.reshape(-1), utc=True),
        "return_q10": flat[:, 0], "return_q50": flat[:, 1], "return_q90": flat[:, 2],
        "price": b * np.exp(flat[:, 1]), "lower": b * np.exp(flat[:, 0]), "upper": b * np.exp(flat[:, 2]),
    })
    points["issued_at"] = pd.to_datetime(points["issued_at"], utc=True).astype("datetime64[ns, UTC]")
    return rows, points


def _fill_results(results: dict[tuple[str, dt.date], IntradayResult], frame: pd.DataFrame, rows: pd.DataFrame,
                  by_id: Mapping[int, str], latest_only: bool) -> None:
    seen = frame.groupby(["symbol", "session_date"]).size().to_dict() if not frame.empty else {}
    if not rows.empty:
        for (sid, day), g in rows.groupby(["symbol_id", "session_date"]):
            r = results[(by_id[int(sid)], day)]
            r.rows, r.issues = len(g), int(g["issued_at"].nunique())
            r.labels = dict(Counter(g["overall_label"]))
    for (symbol, day), r in results.items():
        if r.rows or r.reason:
            continue
        bars = seen.get((symbol, day), 0)
        r.reason = ("no ended m15 bar with a feature row: the session has not started or feature_rows has not "
                    "run for it" if bars == 0 else
                    f"no model or not enough history: {bars} bars with features, none with "
                    f"{MIN_HISTORY_BARS} bars of history, a volatility and an intraday model trained before {day}")


# ---------------------------------------------------------------------------------------- evaluations

def evaluate_intraday(conn: psycopg.Connection, market: str, requests: Mapping[str, Sequence[dt.date]],
                      now: dt.datetime, *, run_id: str | None = None) -> IntradayReport:
    """Evaluations of the forecasts whose horizon ends in the sessions of (symbol -> days) and whose
    horizon bar has ended by `now` and is stored: realised price and return, direction, inside the
    interval, the realised path inside the band, and the SuperTrend / S/R / model layers' own calls."""
    t0 = time.perf_counter()
    report = IntradayReport(market, [])
    ids, results = _resolve(conn, market, requests)
    wanted = [(s, d) for (s, d), r in results.items() if r.reason is None]
    by_id = {v: k for k, v in ids.items()}
    if not wanted:
        report.partitions = list(results.values())
        return report
    days = sorted({d for _, d in wanted})
    symbol_ids = sorted({ids[s] for s, _ in wanted})
    cal = sessions(market, days[0], days[-1])
    due = intraday_store.load_due(conn, symbol_ids, cal["open_utc"].min().to_pydatetime(),
                                  min(cal["close_utc"].max().to_pydatetime(), now))
    grid = grid_around(market, days[0], days[-1], 2)
    bars = add_labels(on_grid(load_bars(conn, symbol_ids, grid["session_date"].iloc[0], days[-1], now), grid))
    bars = bars.assign(end=bars["ts"] + BAR)
    due = due.assign(session_date=due["expires_at"].map(_session_of(grid)))
    due = due[[(by_id.get(int(s)), d) in set(wanted) for s, d in zip(due["symbol_id"], due["session_date"],
                                                                        strict=True)]]
    rows = _evaluation_rows(due.reset_index(drop=True), bars, conn, run_id)
    with conn.transaction():
        report.rows_written = intraday_store.write_evaluations(
            conn, [ids[s] for s, _ in wanted], [d for _, d in wanted], rows)
    if not rows.empty:
        for (sid, day), g in rows.groupby(["symbol_id", "evaluation_date"]):
            r = results[(by_id[int(sid)], day)]
            r.rows = len(g)
            r.labels = {"direction_correct": int(g["direction_correct"].sum()),
                        "inside_interval": int(g["inside_interval"].sum())}
    for r in results.values():
        if not r.rows and not r.reason:
            r.reason = "nothing expired: no intraday forecast whose horizon ended in this session by now"
    report.partitions = list(results.values())
    report.figures = intraday_figures(rows, due)
    report.seconds = time.perf_counter() - t0
    return report


def _session_of(grid: pd.DataFrame) -> dict:
    return dict(zip(grid["ts"] + BAR, grid["session_date"], strict=True))


def _evaluation_rows(due: pd.DataFrame, bars: pd.DataFrame, conn: psycopg.Connection,
                     run_id: str | None) -> pd.DataFrame:
    if due.empty:
        return pd.DataFrame(columns=list(intraday_store.EVALUATION_COLUMNS))
    closes = bars[["symbol_id", "end", "close", "raw_close"]]
    past = [c for c in bars.columns if c.startswith("past_")]
    issue = bars[["symbol_id", "end", "close", *past]].rename(columns={"end": "issued_at", "close": "issue_close"})
    real = closes.rename(columns={"end": "expires_at", "close": "real_close", "raw_close": "realized_price"})
    f = due.merge(issue, on=["symbol_id", "issued_at"], how="inner").merge(real, on=["symbol_id", "expires_at"],
                                                                           how="inner")
    if f.empty:
        return pd.DataFrame(columns=list(intraday_store.EVALUATION_COLUMNS))
    # realised prices in the issue's traded units: the adjusted return applied to the issue's close
    realized_return = np.log(f["real_close"].to_numpy(float) / f["issue_close"].to_numpy(float))
    realized_price = f["base_close"].to_numpy(float) * np.exp(realized_return)
    band = f["neutral_band"].to_numpy(float)

    def correct(label: pd.Series) -> np.ndarray:
        lab = label.to_numpy(object)
        return np.where(lab == "bullish", realized_return > band, np.where(
            lab == "bearish", realized_return < -band, np.abs(realized_return) <= band))

    path = intraday_store.load_paths(conn, f["forecast_id"].tolist()).merge(
        f[["forecast_id", "symbol_id", "base_close", "issue_close"]], on="forecast_id")
    path = path.merge(closes.rename(columns={"end": "point_ts"}), on=["symbol_id", "point_ts"], how="left")
    path["traded"] = path["base_close"] * path["close"] / path["issue_close"]
    path["inside"] = (path["traded"] >= path["lower"]) & (path["traded"] <= path["upper"])
    inside_path = path.groupby("forecast_id")["inside"].all()
    support, resistance = f["nearest_support"].to_numpy(float), f["nearest_resistance"].to_numpy(float)
    extremes = path.groupby("forecast_id")["traded"].agg(["min", "max"])
    lo = f["forecast_id"].map(extremes["min"]).to_numpy(float)
    hi = f["forecast_id"].map(extremes["max"]).to_numpy(float)
    has_sr = np.isfinite(support) & np.isfinite(resistance)
    st = f["supertrend_component"]
    return pd.DataFrame({
        "forecast_id": f["forecast_id"].to_numpy(np.int64), "symbol_id": f["symbol_id"].to_numpy(np.int64),
        "horizon": f["horizon"], "evaluation_date": f["session_date"], "realized_at": f["expires_at"],
        "realized_price": realized_price, "realized_return": realized_return,
        "direction_correct": correct(f["overall_label"]),
        "price_error": f["target_price"].to_numpy(float) - realized_price,
        "price_error_pct": (f["target_price"].to_numpy(float) - realized_price) / realized_price * 100.0,
        "inside_interval": (realized_price >= f["ci_lower"].to_numpy(float))
        & (realized_price <= f["ci_upper"].to_numpy(float)),
        "path_inside_band": f["forecast_id"].map(inside_path).fillna(False).to_numpy(bool),
        "supertrend_direction_correct": pd.array(np.where(st.isna(), None, correct(st.fillna("neutral"))),
                                                 dtype="boolean"),
        "sr_containment": pd.array(np.where(has_sr, (lo >= support) & (hi <= resistance), None), dtype="boolean"),
        "ensemble_direction_correct": correct(f["ensemble_component"]),
        "dagster_run_id": run_id,
        # not stored: the persistence baseline's input (the k bars before the issue)
        "past_return": np.select([f["horizon_steps"] == k for k in sorted(set(INTRADAY_HORIZONS.values()))],
                                 [f[f"past_{k}"] for k in sorted(set(INTRADAY_HORIZONS.values()))], np.nan),
    })


def intraday_figures(evaluations: pd.DataFrame, due: pd.DataFrame) -> pd.DataFrame:
    """Per horizon: the model's figures beside persistence and zero return, from the evaluated rows."""
    if evaluations.empty:
        return figures_table({})
    f = evaluations.merge(due[["forecast_id", "return_q50", "return_q10", "return_q90", "prob_up", "volatility",
                               "issued_at"]], on="forecast_id")
    out: dict[str, dict[str, dict[str, float]]] = {}
    for horizon, g in f.groupby("horizon"):
        k = INTRADAY_HORIZONS[str(horizon)]
        frame = pd.DataFrame({
            "symbol_id": g["symbol_id"].to_numpy(), "session_date": g["issued_at"].to_numpy(),
            "realized": g["realized_return"].to_numpy(float), "pred": g["return_q50"].to_numpy(float),
            "lower": g["return_q10"].to_numpy(float), "upper": g["return_q90"].to_numpy(float),
            "prob_up": g["prob_up"].to_numpy(float), "past_return": g["past_return"].to_numpy(float),
            "sigma_60": g["volatility"].to_numpy(float), "up_frequency": np.nan})
        base = score_baselines(frame, k)
        out[str(horizon)] = {"lightgbm": score(frame, "pred", k, "lower", "upper", "prob_up"),
                             "persistence": base["persistence"], "zero": base["zero"]}
    return figures_table(out)


__all__ = ["INTRADAY_HORIZONS", "MAX_STEPS", "evaluate_intraday", "intraday_forecasts", "train_intraday_models"]
