"""The functions the forecast assets call. Each reads what it needs from the warehouse, computes, writes
in one transaction and returns a report with per-partition figures (rows, labels, or the reason a
partition got no forecast: a symbol without enough history is a reason, not a crash).

* `train_models`: the pooled LightGBM models of a market for one training end (all horizons);
* `lgbm_forecasts`, `prophet_forecasts`, `ensemble_forecasts`: forecasts for (symbol -> trading days).

What a forecast of day D may read: feature rows and closes up to D, models whose training ended before D,
base forecasts of D, weights with as_of_date before D. Nothing later is queried.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import psycopg

from swiftbolt.evaluations.calibration import apply_curve
from swiftbolt.forecasts import lightgbm_models, prophet_models, store
from swiftbolt.forecasts.config import ForecastSettings, load_forecast_settings
from swiftbolt.forecasts.dataset import (
    MIN_HISTORY_SESSIONS,
    VOL_WINDOW,
    Samples,
    build_samples,
    current_feature_set,
    load_closes,
    load_feature_rows,
    training_samples,
    with_sessions,
)
from swiftbolt.forecasts.ensemble import BASE_MODELS, combine_rows, ensemble_version, stored_weights, weight_matrix
from swiftbolt.forecasts.horizons import HORIZONS, MAX_HORIZON, SessionIndex, calendar_around
from swiftbolt.forecasts.labels import label_and_confidence, neutral_band
from swiftbolt.forecasts.metrics import figures_table, score, score_baselines, up_frequency
from swiftbolt.forecasts.paths import quantile_path
from swiftbolt.universe import active_symbols

MIN_TRAIN_SAMPLES = 200
"""A horizon's model is trained only with at least this many realised samples in its window."""
VALIDATION_SESSIONS = 60
CI_LEVEL = 0.8


# ------------------------------------------------------------------------------------------ reports

@dataclass
class PartitionResult:
    """One (symbol, day) partition: rows written, label per horizon, or why there is no forecast."""

    symbol: str
    date: dt.date
    rows: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    reason: str | None = None
    notes: dict[str, str] = field(default_factory=dict)  # horizon -> why that horizon is missing


@dataclass
class ForecastReport:
    market: str
    model_type: str
    partitions: list[PartitionResult]
    rows_written: int = 0
    points_written: int = 0
    model_versions: dict[str, list[str]] = field(default_factory=dict)  # horizon -> versions used
    weights_sources: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    preview: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def skipped(self) -> list[PartitionResult]:
        return [p for p in self.partitions if p.rows == 0]

    def reasons(self) -> dict[str, int]:
        """Reason -> number of partitions without any forecast for it."""
        return dict(Counter(_reason_class(p.reason) for p in self.partitions if p.reason))

    def label_counts(self) -> dict[str, int]:
        return dict(Counter(label for p in self.partitions for label in p.labels.values()))


@dataclass
class TrainedModel:
    horizon: str
    model_version_id: int
    sha256: str
    train_start: dt.date
    last_sample_date: dt.date
    n_samples: int
    n_symbols: int
    importance: list[tuple[str, float]]
    validation: dict


@dataclass
class TrainingReport:
    market: str
    train_end: dt.date | None
    training_run_id: int | None
    models: list[TrainedModel]
    reasons: dict[str, str]
    figures: pd.DataFrame  # out-of-sample validation: horizon, model (lightgbm and baselines), figures
    seconds: float = 0.0

    @property
    def data_version(self) -> str:
        """The models' hash (one model: its SHA-256; several: the SHA-256 of their hashes by horizon)."""
        if not self.models:
            return "no-model"
        if len(self.models) == 1:
            return self.models[0].sha256
        joined = ";".join(f"{m.horizon}:{m.sha256}" for m in sorted(self.models, key=lambda m: HORIZONS[m.horizon]))
        return hashlib.sha256(joined.encode()).hexdigest()


def _reason_class(reason: str | None) -> str:
    return (reason or "").split(":")[0]


# --------------------------------------------------------------------------------------------- common

def _resolve(conn: psycopg.Connection, market: str, requests: Mapping[str, Sequence[dt.date]]
             ) -> tuple[dict[str, int], dict[tuple[str, dt.date], PartitionResult]]:
    ids = active_symbols(conn, market)
    results: dict[tuple[str, dt.date], PartitionResult] = {}
    for symbol, days in sorted(requests.items()):
        for day in sorted(set(days)):
            results[(symbol, day)] = PartitionResult(symbol, day)
            if symbol not in ids:
                results[(symbol, day)].reason = f"not an active {market} symbol"
    return {s: ids[s] for s in requests if s in ids}, results


def _request_frame(ids: Mapping[str, int], results: Mapping[tuple[str, dt.date], PartitionResult]) -> pd.DataFrame:
    pairs = [(s, ids[s], d) for (s, d), r in results.items() if r.reason is None]
    return pd.DataFrame({"symbol": [p[0] for p in pairs], "symbol_id": np.array([p[1] for p in pairs], np.int64),
                         "session_date": pd.to_datetime(pd.Series([p[2] for p in pairs], dtype="object"))})


def _index_for(market: str, days: list[dt.date], before: int) -> SessionIndex:
    return calendar_around(market, min(days), max(days), before=before, after=MAX_HORIZON + 1)


def _load_sessions(conn: psycopg.Connection, index: SessionIndex, symbol_ids: list[int], first: dt.date,
                   last: dt.date, before: int) -> pd.DataFrame:
    start = index.dates[max(0, index.position(first) - before)]
    return with_sessions(load_closes(conn, symbol_ids, start, last), index)


def _eligibility(request: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    """Requested rows with their session data and `reason` (None when a forecast can be made)."""
    cols = ["symbol_id", "session_date", "pos", "history", "sigma_60", "close", "raw_close"]
    out = request.merge(sessions[cols], on=["symbol_id", "session_date"], how="left")
    reason = np.where(
        out["pos"].isna(), "no d1 bar: the symbol has no daily bar on this day",
        np.where(out["history"].fillna(0) < MIN_HISTORY_SESSIONS,
                 "not enough history: " + out["history"].fillna(0).astype(int).astype(str)
                 + f" sessions of d1 bars up to this day, {MIN_HISTORY_SESSIONS} needed",
                 np.where(~np.isfinite(out["sigma_60"].to_numpy(float)),
                          "volatility undefined: too few consecutive sessions in the last 60", None)))
    out["reason"] = reason
    return out


def _rows(meta: pd.DataFrame, q: np.ndarray, horizon: str, model_type: str, index: SessionIndex,
          run_id: str | None, **columns: object) -> pd.DataFrame:
    """ml.ml_forecasts rows from per-row meta (symbol_id, session_date, pos, sigma_60, raw_close) and the
    (n, 3) log-return quantiles of the horizon."""
    h = HORIZONS[horizon]
    band = neutral_band(meta["sigma_60"].to_numpy(float), h)
    labels, confidence, prob_up = label_and_confidence(q[:, 0], q[:, 1], q[:, 2], band)
    base = meta["raw_close"].to_numpy(float)
    dates = np.array(index.dates, dtype="datetime64[D]")
    target = dates[meta["pos"].to_numpy(int) + h]
    rows = pd.DataFrame({
        "symbol_id": meta["symbol_id"].to_numpy(np.int64),
        "forecast_date": pd.to_datetime(meta["session_date"]).dt.date.to_numpy(),
        "timeframe": "d1", "horizon": horizon, "horizon_sessions": h,
        "target_date": pd.to_datetime(target).date, "model_type": model_type,
        "base_close": base, "forecast_return": np.expm1(q[:, 1]),
        "return_q10": q[:, 0], "return_q50": q[:, 1], "return_q90": q[:, 2],
        "target_price": base * np.exp(q[:, 1]), "ci_lower": base * np.exp(q[:, 0]),
        "ci_upper": base * np.exp(q[:, 2]), "ci_level": CI_LEVEL,
        "overall_label": labels, "confidence": confidence, "prob_up": prob_up,
        "volatility": meta["sigma_60"].to_numpy(float), "neutral_band": band,
        "dagster_run_id": run_id,
    })
    defaults: dict[str, object] = {
        "model_version": None, "model_version_id": None, "feature_set_hash": None, "base_predictions": None,
        "weights": None, "weights_source": None, "weights_as_of": None, "supertrend_state": None,
        "supertrend_line": None, "nearest_support": None, "nearest_resistance": None, "confidence_raw": None,
        "calibration_as_of": None, "calibration_source": None,
    }
    for name, value in {**defaults, **columns}.items():
        rows[name] = value
    rows["model_version_id"] = pd.array(rows["model_version_id"], dtype="Int64")
    return rows


def _points(rows: pd.DataFrame, paths: np.ndarray, pos: np.ndarray, index: SessionIndex) -> pd.DataFrame:
    """ml.forecast_points of `rows` from (n, h, 3) log-return paths (step k = k sessions after D)."""
    n, h, _ = paths.shape
    if n == 0:
        return pd.DataFrame(columns=["symbol_id", "forecast_date", "horizon", *store.POINT_COLUMNS[1:]])
    steps = np.tile(np.arange(1, h + 1), n)
    base = np.repeat(rows["base_close"].to_numpy(float), h)
    flat = paths.reshape(n * h, 3)
    dates = np.array(index.dates, dtype="datetime64[D]")
    return pd.DataFrame({
        "symbol_id": np.repeat(rows["symbol_id"].to_numpy(), h),
        "forecast_date": np.repeat(rows["forecast_date"].to_numpy(), h),
        "horizon": np.repeat(rows["horizon"].to_numpy(), h),
        "step": steps,
        "point_date": pd.to_datetime(dates[np.repeat(pos, h) + steps]).date,
        "return_q10": flat[:, 0], "return_q50": flat[:, 1], "return_q90": flat[:, 2],
        "price": base * np.exp(flat[:, 1]), "lower": base * np.exp(flat[:, 0]), "upper": base * np.exp(flat[:, 2]),
    })


def _finish(conn: psycopg.Connection, report: ForecastReport, ids: Mapping[str, int],
            results: dict[tuple[str, dt.date], PartitionResult], rows: list[pd.DataFrame],
            points: list[pd.DataFrame], t0: float) -> ForecastReport:
    all_rows = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=list(store.FORECAST_COLUMNS))
    all_points = pd.concat(points, ignore_index=True) if points else pd.DataFrame()
    partitions = [(ids[s], d) for (s, d) in results if s in ids]
    with conn.transaction():
        report.rows_written, report.points_written = store.write_forecasts(
            conn, report.model_type, partitions, all_rows, all_points)
    by_id = {v: k for k, v in ids.items()}
    if not all_rows.empty:
        for (sid, day), g in all_rows.groupby(["symbol_id", "forecast_date"]):
            r = results[(by_id[int(sid)], day)]
            r.rows = len(g)
            r.labels = dict(zip(g["horizon"], g["overall_label"], strict=True))
        for horizon, g in all_rows.groupby("horizon"):
            report.model_versions[str(horizon)] = sorted(set(g["model_version"]))
        report.preview = all_rows.assign(symbol=all_rows["symbol_id"].map(by_id))[
            ["symbol", "forecast_date", "horizon", "overall_label", "confidence", "forecast_return", "target_price",
             "ci_lower", "ci_upper"]].head(20)
    for r in results.values():
        if r.rows == 0 and r.reason is None:
            why = sorted(set(r.notes.values()))
            r.reason = why[0] if len(why) == 1 else "; ".join(f"{h}: {w}" for h, w in r.notes.items()) or "no forecast"
    report.partitions = list(results.values())
    report.seconds = time.perf_counter() - t0
    return report


# --------------------------------------------------------------------------------------- training

def _validate(train: Samples, h: int, threads: int) -> dict:
    """Out-of-sample figures of this horizon: a model fitted on the window minus its last sessions, with a
    purged gap of h sessions, scored on those last sessions beside the naive baselines."""
    pos = train.rows["pos"].to_numpy()
    sessions = np.unique(pos)
    n_val = int(min(VALIDATION_SESSIONS, max(10, len(sessions) // 5)))
    val_first = sessions[-n_val]
    fit = train.take(pos <= val_first - h)
    val = train.take(pos >= val_first)
    if len(fit) < MIN_TRAIN_SAMPLES // 2 or len(val) == 0:
        return {"reason": f"too few samples for a validation split ({len(fit)} fit, {len(val)} validation)"}
    bundle = lightgbm_models.train(fit.X, fit.rows["target"].to_numpy(float), fit.feature_names, threads)
    scale = (val.rows["sigma_60"].to_numpy(float) * math.sqrt(h))[:, None]
    q = bundle.predict(val.X) * scale
    _, _, prob_up = label_and_confidence(q[:, 0], q[:, 1], q[:, 2], np.zeros(len(q)))
    frame = val.rows.assign(realized=val.rows["label"], pred=q[:, 1], lower=q[:, 0], upper=q[:, 2], prob_up=prob_up,
                            up_frequency=up_frequency(fit.rows, val.rows))
    first = pd.Timestamp(val.rows["session_date"].min()).date().isoformat()
    last = pd.Timestamp(val.rows["session_date"].max()).date().isoformat()
    return {"lightgbm": score(frame, "pred", h, "lower", "upper", "prob_up"), **score_baselines(frame, h),
            "validation_window": [first, last], "fit_samples": len(fit), "validation_samples": len(val)}


def train_models(conn: psycopg.Connection, market: str, train_end: dt.date, *,
                 settings: ForecastSettings | None = None, run_id: str | None = None,
                 partition_key: str | None = None, horizons: Sequence[str] = tuple(HORIZONS)) -> TrainingReport:
    """Train and store the pooled LightGBM model of every horizon for training end T = the last session
    <= `train_end`: samples of the market's active symbols with sample date in
    [T - h - window + 1, T - h] sessions (purged gap = h: every label realised by T)."""
    t0 = time.perf_counter()
    settings = settings or load_forecast_settings()
    started = dt.datetime.now(dt.UTC)
    window = settings.train_sessions
    feature_set = current_feature_set(conn)
    ids = active_symbols(conn, market)
    index = calendar_around(market, train_end, train_end, before=window + MAX_HORIZON + VOL_WINDOW + 5, after=0)
    pos_t = index.position(train_end)
    reasons: dict[str, str] = {}
    if feature_set is None or not ids or pos_t < 0:
        why = ("no feature set recorded: materialize feature_rows first" if feature_set is None
               else f"no active {market} symbols" if not ids else f"no session on or before {train_end}")
        reasons = {hz: why for hz in horizons}
        return TrainingReport(market, None, None, [], reasons, figures_table({}), time.perf_counter() - t0)
    t_session = index.dates[pos_t]
    first = index.dates[max(0, pos_t - window - MAX_HORIZON)]
    symbol_ids = sorted(ids.values())
    features = load_feature_rows(conn, feature_set, symbol_ids, first, t_session)
    sessions = _load_sessions(conn, index, symbol_ids, first, t_session, VOL_WINDOW + 1)
    names = feature_set.model_features
    trained: list[tuple[str, int, Samples, lightgbm_models.ModelBundle, dict]] = []
    for horizon in horizons:
        h = HORIZONS[horizon]
        train = training_samples(build_samples(features, sessions, names, h), index, t_session, h, window)
        if len(train) < MIN_TRAIN_SAMPLES:
            reasons[horizon] = (f"too few samples: {len(train)} realised samples up to {t_session} minus {h} "
                                f"sessions, {MIN_TRAIN_SAMPLES} needed")
            continue
        validation = _validate(train, h, settings.lgbm_threads)
        bundle = lightgbm_models.train(train.X, train.rows["target"].to_numpy(float), names, settings.lgbm_threads)
        trained.append((horizon, h, train, bundle, validation))
    models: list[TrainedModel] = []
    with conn.transaction():
        run_row = store.start_training_run(conn, market, t_session, partition_key, run_id, feature_set.id, started)
        for horizon, h, train, bundle, validation in trained:
            rows = train.rows
            importance = bundle.importance()
            model_id = store.upsert_model_version(
                conn, market=market, horizon=horizon, h=h,
                train_start=pd.Timestamp(rows["session_date"].min()).date(), train_end=t_session,
                last_sample_date=pd.Timestamp(rows["session_date"].max()).date(), n_samples=len(rows),
                n_symbols=int(rows["symbol_id"].nunique()), bundle=bundle, feature_set_id=feature_set.id,
                feature_set_hash=feature_set.definition_hash,
                parameters=lightgbm_models.public_params(settings.lgbm_threads) | {"window_sessions": window},
                importance=importance, validation=validation, training_run_id=run_row,
                library_version=f"lightgbm {lightgbm_models.lightgbm_version()}")
            models.append(TrainedModel(
                horizon, model_id, bundle.sha256, pd.Timestamp(rows["session_date"].min()).date(),
                pd.Timestamp(rows["session_date"].max()).date(), len(rows), int(rows["symbol_id"].nunique()),
                importance[:15], validation))
        status = "trained" if models and not reasons else "partial" if models else "skipped"
        store.finish_training_run(conn, run_row, len(ids), max((m.n_samples for m in models), default=0), status,
                                  reasons, {m.horizon: m.validation for m in models}, dt.datetime.now(dt.UTC))
    figures = figures_table({m.horizon: {k: v for k, v in m.validation.items() if isinstance(v, dict)}
                             for m in models})
    return TrainingReport(market, t_session, run_row, models, reasons, figures, time.perf_counter() - t0)


# ------------------------------------------------------------------------------------------- LightGBM

def lgbm_forecasts(conn: psycopg.Connection, market: str, requests: Mapping[str, Sequence[dt.date]], *,
                   run_id: str | None = None) -> ForecastReport:
    """LightGBM forecasts of every horizon for (symbol -> days): for day D, the newest stored model of the
    horizon whose training ended before D, applied to D's d1 feature row."""
    t0 = time.perf_counter()
    report = ForecastReport(market, "lightgbm", [])
    ids, results = _resolve(conn, market, requests)
    request = _request_frame(ids, results)
    feature_set = current_feature_set(conn)
    if request.empty or feature_set is None:
        for r in results.values():
            r.reason = r.reason or "no feature set recorded: materialize feature_rows first"
        return _finish(conn, report, ids, results, [], [], t0)
    days = sorted(request["session_date"].dt.date.unique())
    symbol_ids = sorted(set(request["symbol_id"].tolist()))
    index = _index_for(market, days, VOL_WINDOW + MIN_HISTORY_SESSIONS + 5)
    sessions = _load_sessions(conn, index, symbol_ids, days[0], days[-1], VOL_WINDOW + MIN_HISTORY_SESSIONS)
    features = load_feature_rows(conn, feature_set, symbol_ids, days[0], days[-1])
    meta = _eligibility(request, sessions)
    meta = meta.merge(features.drop(columns=["sigma_60"], errors="ignore"), on=["symbol_id", "session_date"],
                      how="left", indicator=True)
    meta.loc[meta["reason"].isna() & (meta["_merge"] == "left_only"), "reason"] = \
        "no feature row: no d1 feature row on this day (materialize feature_rows first)"
    _note_reasons(meta, results)
    ok = meta[meta["reason"].isna()].reset_index(drop=True)
    rows, points = [], []
    bundles: dict[int, lightgbm_models.ModelBundle] = {}
    for horizon, h in HORIZONS.items():
        models = store.models_before(conn, market, horizon, days[-1] + dt.timedelta(days=1))
        chosen = [store.newest_before(models, d) for d in ok["session_date"].dt.date]
        for i, model in enumerate(chosen):
            if model is None or model.feature_set_hash != feature_set.definition_hash:
                key = (ok.at[i, "symbol"], ok.at[i, "session_date"].date())
                results[key].notes[horizon] = ("no model: no LightGBM model trained before this day "
                                               "(materialize forecast_models)" if model is None else
                                               "model trained on another feature set")
        model_ids = np.array([m.id if m is not None and m.feature_set_hash == feature_set.definition_hash else -1
                              for m in chosen], dtype=np.int64)
        for model_id in sorted(set(model_ids.tolist()) - {-1}):
            sel = ok[model_ids == model_id].reset_index(drop=True)
            if model_id not in bundles:
                bundles[model_id] = store.load_bundle(conn, model_id)
            bundle = bundles[model_id]
            X = sel[bundle.feature_names].to_numpy(dtype=np.float64)
            X[~np.isfinite(X)] = np.nan
            scale = sel["sigma_60"].to_numpy(float) * math.sqrt(h)
            q = bundle.predict(X) * scale[:, None]
            r = _rows(sel, q, horizon, "lightgbm", index, run_id, model_version=bundle.sha256,
                      model_version_id=model_id, feature_set_hash=feature_set.definition_hash)
            rows.append(r)
            points.append(_points(r, quantile_path(q, h), sel["pos"].to_numpy(int), index))
    return _finish(conn, report, ids, results, rows, points, t0)


def _note_reasons(meta: pd.DataFrame, results: dict[tuple[str, dt.date], PartitionResult]) -> None:
    for symbol, day, reason in zip(meta["symbol"], meta["session_date"].dt.date, meta["reason"], strict=True):
        if reason is not None and isinstance(reason, str):
            results[(symbol, day)].reason = reason


# -------------------------------------------------------------------------------------------- Prophet

def prophet_version(settings: ForecastSettings) -> str:
    spec = prophet_models.params_fingerprint() | {"lookback_sessions": settings.prophet_lookback}
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()


def prophet_forecasts(conn: psycopg.Connection, market: str, requests: Mapping[str, Sequence[dt.date]], *,
                      run_id: str | None = None, settings: ForecastSettings | None = None) -> ForecastReport:
    """Prophet forecasts of every horizon for (symbol -> days): one fit per (symbol, D) on the log
    adjusted closes of the last `prophet_lookback` sessions up to D, on the market's session axis."""
    t0 = time.perf_counter()
    settings = settings or load_forecast_settings()
    report = ForecastReport(market, "prophet", [])
    ids, results = _resolve(conn, market, requests)
    request = _request_frame(ids, results)
    if request.empty:
        return _finish(conn, report, ids, results, [], [], t0)
    days = sorted(request["session_date"].dt.date.unique())
    symbol_ids = sorted(set(request["symbol_id"].tolist()))
    lookback = settings.prophet_lookback
    index = _index_for(market, days, lookback + VOL_WINDOW + 5)
    sessions = _load_sessions(conn, index, symbol_ids, days[0], days[-1], lookback + VOL_WINDOW)
    meta = _eligibility(request, sessions)
    _note_reasons(meta, results)
    ok = meta[meta["reason"].isna()].reset_index(drop=True)
    by_symbol = {int(s): g for s, g in sessions.groupby("symbol_id")}
    jobs = []
    for i, row in enumerate(ok.itertuples(index=False)):
        g = by_symbol[int(row.symbol_id)]
        pos = g["pos"].to_numpy()
        window = (pos > row.pos - lookback) & (pos <= row.pos)
        closes = g["close"].to_numpy(float)[window]
        jobs.append(prophet_models.ProphetJob((i,), pos[window].astype(np.int64),
                                              np.log(closes) - math.log(float(row.close)), MAX_HORIZON))
    fitted = prophet_models.fit_many(jobs, settings.prophet_processes)
    version = prophet_version(settings)
    rows, points = [], []
    if len(ok):
        out = np.stack([fitted[(i,)] for i in range(len(ok))])  # (n, MAX_HORIZON, 3)
        for horizon, h in HORIZONS.items():
            q = out[:, h - 1, :]
            r = _rows(ok, q, horizon, "prophet", index, run_id, model_version=version)
            rows.append(r)
            points.append(_points(r, out[:, :h, :], ok["pos"].to_numpy(int), index))
    return _finish(conn, report, ids, results, rows, points, t0)


# ------------------------------------------------------------------------------------------- ensemble

def calibrate_confidence(rows: pd.DataFrame, calibration: pd.DataFrame) -> pd.DataFrame:
    """The ensemble rows' confidence mapped through the calibration curve of their horizon as of the newest
    as_of_date before their forecast date (ml.ml_confidence_calibration); the raw confidence and the curve's
    date are kept on the row. Without a curve the confidence stays raw ('uncalibrated_no_calibration')."""
    out = rows.assign(confidence_raw=rows["confidence"].to_numpy(float), calibration_as_of=None,
                      calibration_source="uncalibrated_no_calibration")
    if calibration.empty or rows.empty:
        return out
    conf = out["confidence"].to_numpy(float).copy()
    as_of = np.array([None] * len(out), dtype=object)
    source = out["calibration_source"].to_numpy(object).copy()
    for (horizon, day), idx in out.groupby(["horizon", "forecast_date"]).indices.items():
        curves = calibration[(calibration["horizon"] == horizon) & (calibration["as_of_date"] < day)]
        if curves.empty:
            continue
        newest = curves["as_of_date"].max()
        c = curves[curves["as_of_date"] == newest]
        conf[idx] = apply_curve(c["predicted"].to_numpy(float), c["calibrated"].to_numpy(float), conf[idx])
        as_of[idx] = newest
        source[idx] = "isotonic"
    return out.assign(confidence=conf, calibration_as_of=as_of, calibration_source=source)


def ensemble_forecasts(conn: psycopg.Connection, market: str, requests: Mapping[str, Sequence[dt.date]], *,
                       run_id: str | None = None) -> ForecastReport:
    """The ensemble for (symbol -> days): base forecasts of D combined with the weights as of the newest
    as_of_date before D (equal weights, recorded as such, while ml.model_weights has none), plus D's
    SuperTrend state and nearest support/resistance."""
    t0 = time.perf_counter()
    report = ForecastReport(market, "ensemble", [])
    ids, results = _resolve(conn, market, requests)
    request = _request_frame(ids, results)
    if request.empty:
        return _finish(conn, report, ids, results, [], [], t0)
    days = sorted(request["session_date"].dt.date.unique())
    symbol_ids = sorted(set(request["symbol_id"].tolist()))
    base = store.load_forecasts(conn, BASE_MODELS, symbol_ids, days[0], days[-1])
    base["session_date"] = pd.to_datetime(base["forecast_date"])
    base = base.merge(request, on=["symbol_id", "session_date"], how="inner")
    have = set(zip(base["symbol_id"], base["session_date"].dt.date, strict=True))
    by_id = {v: k for k, v in ids.items()}
    for sid, day in zip(request["symbol_id"], request["session_date"].dt.date, strict=True):
        if (sid, day) not in have:
            results[(by_id[int(sid)], day)].reason = ("no base forecasts: no lightgbm or prophet forecast of this "
                                                      "day (materialize lgbm_forecasts / prophet_forecasts)")
    if base.empty:
        return _finish(conn, report, ids, results, [], [], t0)
    index = _index_for(market, days, 5)
    key = ["symbol_id", "forecast_date", "horizon"]
    wide = base.pivot_table(index=key, columns="model_type",
                            values=["return_q10", "return_q50", "return_q90", "id"], aggfunc="first")
    wide.columns = [f"{v}_{m}" for v, m in wide.columns]
    first = base.sort_values("model_type").groupby(key, as_index=False).first()
    keys = first[[*key, "horizon_sessions", "target_date", "base_close", "volatility", "neutral_band",
                  "feature_set_hash"]].merge(wide.reset_index(), on=key)
    versions = base.pivot_table(index=key, columns="model_type", values="model_version", aggfunc="first")
    keys = keys.merge(versions.add_prefix("version_").reset_index(), on=key, how="left")
    fs = base[base["model_type"] == "lightgbm"].groupby(key)["feature_set_hash"].first().rename("fs_lgbm")
    keys = keys.merge(fs.reset_index(), on=key, how="left")
    w = stored_weights(store.load_weights(conn, market, days[-1] + dt.timedelta(days=1)), keys)
    avail = np.column_stack([keys.get(f"return_q50_{m}", pd.Series(np.nan, index=keys.index)).notna().to_numpy()
                             for m in BASE_MODELS])
    weights, source = weight_matrix(avail, w)
    qs = combine_rows({m: keys[[f"return_q10_{m}", f"return_q50_{m}", f"return_q90_{m}"]].to_numpy(float)
                       for m in BASE_MODELS if f"return_q50_{m}" in keys}, weights)
    # paths: the same weights on the base paths, step by step
    pts = store.load_points(conn, base["id"].tolist())
    pts = pts.merge(base[["id", "model_type", *key]], left_on="forecast_id", right_on="id")
    wkeys = keys[key].assign(**{f"w_{m}": weights[:, j] for j, m in enumerate(BASE_MODELS)})
    pts = pts.merge(wkeys, on=key)
    pts["w"] = np.select([pts["model_type"] == m for m in BASE_MODELS], [pts[f"w_{m}"] for m in BASE_MODELS], 0.0)
    for c in ("return_q10", "return_q50", "return_q90"):
        pts[c] = pts[c] * pts["w"]
    path = pts.groupby([*key, "step"], as_index=False)[["return_q10", "return_q50", "return_q90"]].sum()
    # context of D
    feature_set = current_feature_set(conn)
    ctx = store.load_context(conn, feature_set.id if feature_set else None, symbol_ids, days[0], days[-1])
    # levels are in adjusted prices; put them in D's traded prices, the units of base_close
    closes = load_closes(conn, symbol_ids, days[0], days[-1])
    ctx = ctx.merge(closes.assign(session_date=closes["session_date"].dt.date), on=["symbol_id", "session_date"],
                    how="left")
    to_traded = (ctx["raw_close"] / ctx["close"]).to_numpy(float)
    for col in ("supertrend_line", "nearest_support", "nearest_resistance"):
        ctx[col] = ctx[col].to_numpy(float) * to_traded
    ctx["forecast_date"] = ctx["session_date"]
    keys = keys.merge(ctx.drop(columns=["session_date", "close", "raw_close"]), on=["symbol_id", "forecast_date"],
                      how="left")
    meta = pd.DataFrame({"symbol_id": keys["symbol_id"], "session_date": pd.to_datetime(keys["forecast_date"]),
                         "sigma_60": keys["volatility"], "raw_close": keys["base_close"],
                         "pos": index.positions(pd.to_datetime(keys["forecast_date"]))})
    calibration = store.load_calibration(conn, market, "ensemble", days[-1] + dt.timedelta(days=1))
    rows, points = [], []
    for horizon in HORIZONS:
        sel = (keys["horizon"] == horizon).to_numpy()
        if not sel.any():
            continue
        k = keys[sel].reset_index(drop=True)
        wsel, srcsel, asof = weights[sel], source[sel], w["as_of"].to_numpy()[sel]
        base_pred, weight_json, version = [], [], []
        for i in range(len(k)):
            present = [m for j, m in enumerate(BASE_MODELS) if avail[sel][i, j]]
            bp = {m: {"return_q10": float(k.at[i, f"return_q10_{m}"]), "return_q50": float(k.at[i, f"return_q50_{m}"]),
                      "return_q90": float(k.at[i, f"return_q90_{m}"]), "model_version": k.at[i, f"version_{m}"]}
                  for m in present}
            wd = {m: float(wsel[i, j]) for j, m in enumerate(BASE_MODELS) if m in present}
            base_pred.append(bp)
            weight_json.append(wd)
            version.append(ensemble_version({m: bp[m]["model_version"] for m in present}, wd))
        direction = k["supertrend_dir"].to_numpy(float) if "supertrend_dir" in k else np.full(len(k), np.nan)
        r = _rows(meta[sel].reset_index(drop=True), qs[sel], horizon, "ensemble", index, run_id,
                  model_version=version, feature_set_hash=k["fs_lgbm"].where(k["fs_lgbm"].notna(), None).to_numpy(),
                  base_predictions=base_pred, weights=weight_json, weights_source=srcsel,
                  weights_as_of=list(asof),
                  supertrend_state=np.where(direction > 0, "bullish", np.where(direction < 0, "bearish", None)),
                  supertrend_line=k["supertrend_line"].to_numpy(float),
                  nearest_support=k["nearest_support"].to_numpy(float),
                  nearest_resistance=k["nearest_resistance"].to_numpy(float))
        rows.append(calibrate_confidence(r, calibration))
        h = HORIZONS[horizon]
        ph = path[path["horizon"] == horizon].merge(k[key].reset_index(), on=key).sort_values(["index", "step"])
        arr = ph[["return_q10", "return_q50", "return_q90"]].to_numpy(float)
        if len(arr) == len(k) * h:
            points.append(_points(r, np.sort(arr.reshape(len(k), h, 3), axis=2), meta[sel]["pos"].to_numpy(int), index))
    for s in source:
        report.weights_sources[str(s)] = report.weights_sources.get(str(s), 0) + 1
    return _finish(conn, report, ids, results, rows, points, t0)
