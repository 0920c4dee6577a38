"""Warehouse reads and writes of the evaluation domain: ml.forecast_evaluations, ml.model_weights,
ml.ml_confidence_calibration, ml.model_performance_history. Writes are idempotent per partition, in the
caller's transaction: the partition's rows are deleted and the new ones COPYed in."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

import numpy as np
import pandas as pd
import psycopg

from swiftbolt.db.copy import copy_frame
from swiftbolt.evaluations.evaluate import EVALUATION_COLUMNS


def _frame(cur: psycopg.Cursor) -> pd.DataFrame:
    assert cur.description is not None
    return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def _nulls(frame: pd.DataFrame) -> pd.DataFrame:
    """NaN -> NULL (a NaN would pass no range check and means 'not defined' here)."""
    out = frame.copy()
    for c in out.columns:
        if out[c].dtype.kind == "f":
            out[c] = out[c].astype(object).where(np.isfinite(out[c].to_numpy(float)), None)
    return out


def forecasts_due(conn: psycopg.Connection, model_types: Sequence[str], symbol_ids: Sequence[int],
                  days: Sequence[dt.date]) -> pd.DataFrame:
    """Forecasts of the model types whose target session is one of `days` (the forecasts a partition of
    day D evaluates)."""
    return _frame(conn.execute(
        "SELECT id, symbol_id, model_type, horizon, horizon_sessions, forecast_date, target_date, base_close,"
        " forecast_return, return_q10, return_q50, return_q90, target_price, ci_lower, ci_upper, overall_label,"
        " confidence, prob_up, neutral_band, volatility FROM ml.ml_forecasts "
        "WHERE model_type = ANY(%s) AND symbol_id = ANY(%s) AND target_date = ANY(%s) AND timeframe = 'd1'",
        (list(model_types), list(symbol_ids), list(days))))


def write_evaluations(conn: psycopg.Connection, model_types: Sequence[str],
                      partitions: Sequence[tuple[int, dt.date]], rows: pd.DataFrame) -> int:
    """Make the evaluations of `model_types` on the (symbol_id, evaluation_date) partitions exactly `rows`."""
    conn.execute(
        """DELETE FROM ml.forecast_evaluations e USING unnest(%s::bigint[], %s::date[]) AS p(symbol_id, day)
           WHERE e.symbol_id = p.symbol_id AND e.evaluation_date = p.day AND e.model_type = ANY(%s)""",
        ([p[0] for p in partitions], [p[1] for p in partitions], list(model_types)))
    if rows.empty:
        return 0
    frame = rows.loc[:, list(EVALUATION_COLUMNS)].copy()
    frame["sign_correct"] = frame["sign_correct"].astype(object).where(frame["sign_correct"].notna(), None)
    return copy_frame(conn, "ml.forecast_evaluations", list(EVALUATION_COLUMNS), frame)


def load_evaluations(conn: psycopg.Connection, market: str, first: dt.date, last: dt.date,
                     model_types: Sequence[str]) -> pd.DataFrame:
    """Evaluations of the market's symbols with first <= evaluation_date <= last, with the forecast's
    quantiles, band and volatility."""
    return _frame(conn.execute(
        "SELECT e.*, f.return_q10, f.return_q50, f.return_q90, f.neutral_band, f.volatility, f.ci_lower,"
        " f.ci_upper FROM ml.forecast_evaluations e JOIN ml.ml_forecasts f ON f.id = e.forecast_id "
        "JOIN market.symbols s ON s.id = e.symbol_id "
        "WHERE s.market = %s AND e.evaluation_date BETWEEN %s AND %s AND e.model_type = ANY(%s)",
        (market, first, last, list(model_types))))


def _replace(conn: psycopg.Connection, table: str, market: str, days: Sequence[dt.date], rows: pd.DataFrame,
             columns: Sequence[str]) -> int:
    conn.execute(f"DELETE FROM {table} WHERE market = %s AND as_of_date = ANY(%s)", (market, list(days)))
    if rows.empty:
        return 0
    return copy_frame(conn, table, list(columns), _nulls(rows.loc[:, list(columns)]))


WEIGHT_COLUMNS = ("market", "as_of_date", "horizon", "symbol_id", "model_type", "weight", "reason",
                  "window_sessions", "window_start", "window_end", "n_evaluations", "accuracies", "dagster_run_id")


def write_weights(conn: psycopg.Connection, market: str, days: Sequence[dt.date], rows: pd.DataFrame) -> int:
    frame = rows.copy()
    if not frame.empty:
        frame["accuracies"] = [json.dumps(a, sort_keys=True) for a in frame["accuracies"]]
        frame["symbol_id"] = pd.array(frame["symbol_id"], dtype="Int64")
    return _replace(conn, "ml.model_weights", market, days, frame, WEIGHT_COLUMNS)


CALIBRATION_COLUMNS = ("market", "as_of_date", "horizon", "model_type", "method", "bucket", "bucket_lower",
                       "bucket_upper", "predicted", "actual", "n", "calibrated", "adjustment", "n_window",
                       "ece_before", "ece_after", "window_start", "window_end", "dagster_run_id")


def write_calibration(conn: psycopg.Connection, market: str, days: Sequence[dt.date], rows: pd.DataFrame) -> int:
    return _replace(conn, "ml.ml_confidence_calibration", market, days, rows, CALIBRATION_COLUMNS)


PERFORMANCE_TABLE_COLUMNS = ("market", "as_of_date", "horizon", "model", "is_baseline", "window_sessions",
                             "window_start", "window_end", "n", "n_symbols", "hit_rate", "hit_low", "hit_high",
                             "mae", "rmse", "ic", "rank_ic", "icir", "rank_ic_days", "coverage", "ece", "brier",
                             "dagster_run_id")


def write_performance(conn: psycopg.Connection, market: str, days: Sequence[dt.date], rows: pd.DataFrame) -> int:
    return _replace(conn, "ml.model_performance_history", market, days, rows, PERFORMANCE_TABLE_COLUMNS)


def load_performance(conn: psycopg.Connection, market: str, as_of: dt.date) -> pd.DataFrame:
    return _frame(conn.execute("SELECT * FROM ml.model_performance_history WHERE market = %s AND as_of_date = %s "
                               "ORDER BY horizon, is_baseline, model", (market, as_of)))
