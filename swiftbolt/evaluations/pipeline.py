"""What the evaluation assets call. Each function reads the warehouse, computes with the pure modules,
writes in the caller's transaction and returns a report with per-partition figures.

Time convention: an evaluation of day D exists only once D's daily bar (its outcome) does. Weights,
calibration and performance "as of D" use the evaluations with evaluation_date <= D (outcomes known at
D's close), over a trailing window of the market's sessions; the ensemble of D uses those as of D-1.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import psycopg

from swiftbolt.evaluations import calibration, store
from swiftbolt.evaluations.evaluate import evaluate
from swiftbolt.evaluations.performance import WINDOW_SESSIONS as PERFORMANCE_WINDOW
from swiftbolt.evaluations.performance import baseline_inputs, performance
from swiftbolt.evaluations.weights import DEFAULT_CONFIG, WeightsConfig, compute_weights
from swiftbolt.forecasts import store as forecast_store
from swiftbolt.forecasts.dataset import VOL_WINDOW, load_closes, with_sessions
from swiftbolt.forecasts.ensemble import BASE_MODELS, combine_rows, stored_weights, weight_matrix
from swiftbolt.forecasts.horizons import HORIZONS, MAX_HORIZON, SessionIndex, calendar_around
from swiftbolt.forecasts.labels import label_and_confidence
from swiftbolt.universe import active_symbols

CALIBRATION_WINDOW = 250
"""Sessions of evaluation dates a calibration curve is fitted on (about a year: enough outcomes per
bucket for a market of a few dozen symbols, recent enough to follow a model that changes weekly)."""


@dataclass
class EvaluationReport:
    market: str
    model_types: tuple[str, ...]
    partitions: dict[tuple[str, dt.date], dict] = field(default_factory=dict)  # (symbol, day) -> figures
    rows_written: int = 0
    seconds: float = 0.0
    preview: pd.DataFrame = field(default_factory=pd.DataFrame)


def evaluate_forecasts(conn: psycopg.Connection, market: str, requests: Mapping[str, Sequence[dt.date]],
                       model_types: Sequence[str], *, run_id: str | None = None) -> EvaluationReport:
    """Evaluate every forecast of `model_types` whose target session is a requested (symbol, D), against the
    adjusted closes of its forecast date and of D. No d1 bar of D = no outcome yet = no evaluation."""
    t0 = time.perf_counter()
    report = EvaluationReport(market, tuple(model_types))
    ids = active_symbols(conn, market)
    pairs = [(s, ids[s], d) for s, days in sorted(requests.items()) if s in ids for d in sorted(set(days))]
    for s, days in requests.items():
        for d in days:
            report.partitions[(s, d)] = {"rows": 0}
            if s not in ids:
                report.partitions[(s, d)]["reason"] = f"not an active {market} symbol"
    if not pairs:
        return report
    symbol_ids = sorted({p[1] for p in pairs})
    days = sorted({p[2] for p in pairs})
    due = store.forecasts_due(conn, model_types, symbol_ids, days)
    due = due.merge(pd.DataFrame({"symbol_id": [p[1] for p in pairs], "target_date": [p[2] for p in pairs]}),
                    on=["symbol_id", "target_date"])
    first = min([*due["forecast_date"].tolist(), *days]) if not due.empty else days[0]
    closes = load_closes(conn, symbol_ids, first, days[-1])
    closes["session_date"] = closes["session_date"].dt.date
    adj = closes.set_index(["symbol_id", "session_date"])["close"]
    due["close_base"] = adj.reindex(pd.MultiIndex.from_arrays([due["symbol_id"], due["forecast_date"]])).to_numpy()
    due["close_target"] = adj.reindex(pd.MultiIndex.from_arrays([due["symbol_id"], due["target_date"]])).to_numpy()
    rows = evaluate(due, run_id)
    with conn.transaction():
        report.rows_written = store.write_evaluations(conn, model_types, [(p[1], p[2]) for p in pairs], rows)
    have_bar = set(zip(closes["symbol_id"], closes["session_date"], strict=True))
    by_key = rows.groupby(["symbol_id", "evaluation_date"]) if not rows.empty else None
    counts = by_key.size().to_dict() if by_key is not None else {}
    hits = by_key["direction_correct"].mean().to_dict() if by_key is not None else {}
    n_due = due.groupby(["symbol_id", "target_date"]).size().to_dict() if not due.empty else {}
    for symbol, sid, day in pairs:
        part = report.partitions[(symbol, day)]
        part["rows"] = int(counts.get((sid, day), 0))
        if part["rows"]:
            part["direction_correct"] = round(float(hits[(sid, day)]), 4)
        elif (sid, day) not in have_bar:
            part["reason"] = "outcome not realized: no d1 bar of this session yet (evaluated after its close)"
        elif not n_due.get((sid, day)):
            part["reason"] = "no forecast targets this session (none made 1, 5, 10 or 20 sessions before)"
        else:
            part["reason"] = "no close on the forecast date"
    if not rows.empty:
        by_id = {v: k for k, v in ids.items()}
        report.preview = rows.assign(symbol=rows["symbol_id"].map(by_id))[
            ["symbol", "model_type", "horizon", "forecast_date", "evaluation_date", "predicted_label",
             "realized_return", "direction_correct", "price_error_pct", "inside_interval"]].head(20)
    report.seconds = time.perf_counter() - t0
    return report


# ------------------------------------------------------------------------------------ windows by day

def _window(index: SessionIndex, day: dt.date, sessions: int) -> tuple[dt.date, dt.date]:
    """[first, last] evaluation dates of the trailing window of `sessions` sessions ending at `day`."""
    pos = index.position(day)
    return index.dates[max(0, pos - sessions + 1)], index.dates[pos]


def _index(market: str, days: Sequence[dt.date], before: int) -> SessionIndex:
    return calendar_around(market, min(days), max(days), before=before, after=1)


@dataclass
class DailyReport:
    """A [trading day] asset's run: per day the rows written and figures or reasons."""

    market: str
    days: dict[dt.date, dict] = field(default_factory=dict)
    rows_written: int = 0
    seconds: float = 0.0
    tables: dict[dt.date, pd.DataFrame] = field(default_factory=dict)


def model_weights(conn: psycopg.Connection, market: str, days: Sequence[dt.date], *, run_id: str | None = None,
                  config: WeightsConfig = DEFAULT_CONFIG) -> DailyReport:
    """The ensemble weights as of each day D from the base models' evaluations with evaluation_date in the
    trailing `config.window_sessions` sessions ending at D."""
    t0 = time.perf_counter()
    report = DailyReport(market)
    index = _index(market, days, config.window_sessions + 5)
    first = _window(index, min(days), config.window_sessions)[0]
    evals = store.load_evaluations(conn, market, first, max(days), BASE_MODELS)
    out = []
    for day in sorted(days):
        start, end = _window(index, day, config.window_sessions)
        window = evals[(evals["evaluation_date"] >= start) & (evals["evaluation_date"] <= end)]
        rows, skipped = compute_weights(window, config)
        for h in HORIZONS:
            if h not in skipped and not (rows["horizon"] == h).any():
                skipped[h] = "no evaluations of this horizon in the window (the ensemble keeps equal weights)"
        rows = rows.assign(market=market, as_of_date=day, window_sessions=config.window_sessions,
                           window_start=start, window_end=end, dagster_run_id=run_id)
        out.append(rows)
        market_rows = rows[rows["symbol_id"].isna()]
        report.days[day] = {"rows": len(rows), "window": f"{start}..{end}", "evaluations": len(window),
                            "symbols_with_own_weights": int(rows["symbol_id"].dropna().nunique()),
                            "weights": {h: dict(zip(g["model_type"], g["weight"].round(4), strict=True))
                                        for h, g in market_rows.groupby("horizon")},
                            "no_weights": skipped}
        report.tables[day] = market_rows[["horizon", "model_type", "weight", "n_evaluations", "reason"]]
    all_rows = pd.concat(out, ignore_index=True)
    with conn.transaction():
        report.rows_written = store.write_weights(conn, market, sorted(days), all_rows)
    report.seconds = time.perf_counter() - t0
    return report


def ensemble_outcomes(conn: psycopg.Connection, market: str, evals: pd.DataFrame) -> pd.DataFrame:
    """The ensemble's raw (uncalibrated) label and confidence for the forecasts the base models' evaluations
    cover, recomputed exactly as ensemble_forecasts combines them (the weights as of the newest day before
    each forecast date), with the realised log return: what calibrating the ensemble needs, without reading
    the ensemble's own rows (the ensemble is downstream of the calibration; the graph stays acyclic)."""
    key = ["symbol_id", "forecast_date", "horizon"]
    if evals.empty:
        return pd.DataFrame(columns=[*key, "label", "confidence", "realized_log_return", "neutral_band"])
    wide = evals.pivot_table(index=key, columns="model_type", values=["return_q10", "return_q50", "return_q90"],
                             aggfunc="first")
    wide.columns = [f"{v}_{m}" for v, m in wide.columns]
    first = evals.groupby(key, as_index=False)[["realized_log_return", "neutral_band"]].first()
    keys = first.merge(wide.reset_index(), on=key)
    last = max(keys["forecast_date"]) + dt.timedelta(days=1)
    w = stored_weights(forecast_store.load_weights(conn, market, last), keys)
    avail = np.column_stack([keys.get(f"return_q50_{m}", pd.Series(np.nan, index=keys.index)).notna().to_numpy()
                             for m in BASE_MODELS])
    weights, _ = weight_matrix(avail, w)
    q = combine_rows({m: keys[[f"return_q10_{m}", f"return_q50_{m}", f"return_q90_{m}"]].to_numpy(float)
                      for m in BASE_MODELS if f"return_q50_{m}" in keys}, weights)
    label, conf, _ = label_and_confidence(q[:, 0], q[:, 1], q[:, 2], keys["neutral_band"].to_numpy(float))
    return keys[[*key, "realized_log_return", "neutral_band"]].assign(label=label, confidence=conf)


def confidence_calibration(conn: psycopg.Connection, market: str, days: Sequence[dt.date], *,
                           run_id: str | None = None, window: int = CALIBRATION_WINDOW) -> DailyReport:
    """Per day D, horizon and model (lightgbm, prophet and the ensemble, recomputed): an isotonic curve of
    stated confidence against the realised event, fitted on evaluations with evaluation_date in the trailing
    `window` sessions ending at D."""
    t0 = time.perf_counter()
    report = DailyReport(market)
    index = _index(market, days, window + 5)
    first = _window(index, min(days), window)[0]
    evals = store.load_evaluations(conn, market, first, max(days), BASE_MODELS)
    ens = ensemble_outcomes(conn, market, evals)
    if not ens.empty:
        ens = ens.merge(evals.groupby(["symbol_id", "forecast_date", "horizon"], as_index=False)["evaluation_date"]
                        .first(), on=["symbol_id", "forecast_date", "horizon"])
        ens["direction_correct"] = calibration.realized_correct(ens["label"].to_numpy(), ens["realized_log_return"]
                                                                .to_numpy(float), ens["neutral_band"].to_numpy(float))
        ens["model_type"] = "ensemble"
    cols = ["evaluation_date", "horizon", "model_type", "confidence", "direction_correct"]
    pool = pd.concat([evals[cols], ens[cols]] if not ens.empty else [evals[cols]], ignore_index=True)
    out = []
    for day in sorted(days):
        start, end = _window(index, day, window)
        win = pool[(pool["evaluation_date"] >= start) & (pool["evaluation_date"] <= end)]
        info: dict = {"window": f"{start}..{end}", "curves": {}, "no_curve": {}}
        for (horizon, model), g in win.groupby(["horizon", "model_type"]):
            if len(g) < calibration.MIN_CALIBRATION_SAMPLES:
                info["no_curve"][f"{model} {horizon}"] = (f"too few evaluations: {len(g)}, "
                                                          f"{calibration.MIN_CALIBRATION_SAMPLES} needed")
                continue
            curve = calibration.fit(g["confidence"].to_numpy(float), g["direction_correct"].to_numpy(bool))
            out.append(curve.buckets.assign(market=market, as_of_date=day, horizon=horizon, model_type=model,
                                             method="isotonic", n_window=curve.n, ece_before=curve.ece_before,
                                             ece_after=curve.ece_after, window_start=start, window_end=end,
                                             dagster_run_id=run_id))
            info["curves"][f"{model} {horizon}"] = {"n": curve.n, "ece_before": round(curve.ece_before, 4),
                                                    "ece_after": round(curve.ece_after, 4)}
        report.days[day] = info
        report.tables[day] = pd.concat(out[-len(info["curves"]):], ignore_index=True) if info["curves"] else \
            pd.DataFrame()
    rows = pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=list(store.CALIBRATION_COLUMNS))
    with conn.transaction():
        report.rows_written = store.write_calibration(conn, market, sorted(days), rows)
    report.seconds = time.perf_counter() - t0
    return report


def model_performance(conn: psycopg.Connection, market: str, days: Sequence[dt.date], *,
                      run_id: str | None = None, window: int = PERFORMANCE_WINDOW) -> DailyReport:
    """Per day D: figures of every model and baseline per horizon over the evaluations with evaluation_date in
    the trailing `window` sessions ending at D."""
    t0 = time.perf_counter()
    report = DailyReport(market)
    index = _index(market, days, window + MAX_HORIZON + 300)
    first = _window(index, min(days), window)[0]
    evals = store.load_evaluations(conn, market, first, max(days), (*BASE_MODELS, "ensemble"))
    out = []
    base_inputs = pd.DataFrame(columns=["symbol_id", "forecast_date", "horizon"])
    if not evals.empty:
        symbol_ids = sorted(set(evals["symbol_id"].tolist()))
        f_first = min(evals["forecast_date"])
        start = index.dates[max(0, index.position(f_first) - 300 - VOL_WINDOW)]
        sessions = with_sessions(load_closes(conn, symbol_ids, start, max(days)), index)
        parts = []
        for horizon, h in HORIZONS.items():
            b = baseline_inputs(sessions, h)
            b = b.assign(horizon=horizon, forecast_date=b["session_date"].dt.date)
            parts.append(b.drop(columns="session_date"))
        base_inputs = pd.concat(parts, ignore_index=True)
    for day in sorted(days):
        start, end = _window(index, day, window)
        win = evals[(evals["evaluation_date"] >= start) & (evals["evaluation_date"] <= end)]
        table = performance(win, base_inputs) if not win.empty else pd.DataFrame()
        if not table.empty:
            out.append(table.assign(market=market, as_of_date=day, window_sessions=window, window_start=start,
                                    window_end=end, dagster_run_id=run_id))
        report.days[day] = {"rows": len(table), "window": f"{start}..{end}", "evaluations": len(win)}
        report.tables[day] = table
    rows = pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=list(store.PERFORMANCE_TABLE_COLUMNS))
    with conn.transaction():
        report.rows_written = store.write_performance(conn, market, sorted(days), rows)
    report.seconds = time.perf_counter() - t0
    return report


def nan_to_none(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else value
