"""Warehouse writes and reads of intraday forecasts: ml.ml_forecasts_intraday with
ml.ml_forecast_paths_intraday, and ml.ml_forecast_evaluations_intraday.

Idempotent per issue time: `write_forecasts` makes the rows of the given (symbol, issue time) keys exactly
the new ones (upsert on the natural key, so an id survives a re-run and its evaluation stays attached;
keys the run did not produce are deleted) and replaces their paths. Rows of other issue times, earlier
ticks of the same day included, are not touched.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd
import psycopg

from swiftbolt.db.copy import copy_frame, create_temp_like

FORECAST_COLUMNS: tuple[str, ...] = (
    "symbol_id", "session_date", "timeframe", "horizon", "horizon_steps", "bar_ts", "issued_at", "expires_at",
    "model_type", "base_close", "forecast_return", "return_q10", "return_q50", "return_q90", "target_price",
    "ci_lower", "ci_upper", "ci_level", "overall_label", "confidence", "prob_up", "volatility", "neutral_band",
    "supertrend_component", "sr_component", "nearest_support", "nearest_resistance", "ensemble_component",
    "layers_agreeing", "model_version", "model_version_id", "feature_set_hash", "dagster_run_id",
)
PATH_COLUMNS: tuple[str, ...] = ("forecast_id", "step", "point_ts", "return_q10", "return_q50", "return_q90",
                                 "price", "lower", "upper")
EVALUATION_COLUMNS: tuple[str, ...] = (
    "forecast_id", "symbol_id", "horizon", "evaluation_date", "realized_at", "realized_price", "realized_return",
    "direction_correct", "price_error", "price_error_pct", "inside_interval", "path_inside_band",
    "supertrend_direction_correct", "sr_containment", "ensemble_direction_correct", "dagster_run_id",
)
_KEY = ["symbol_id", "horizon", "issued_at"]


def write_forecasts(conn: psycopg.Connection, issues: pd.DataFrame, rows: pd.DataFrame, paths: pd.DataFrame
                    ) -> tuple[int, int]:
    """Make the forecasts of the (symbol_id, issued_at) pairs in `issues` exactly `rows`, with `paths`
    (symbol_id, horizon, issued_at + PATH_COLUMNS without forecast_id). Returns (rows, path points)."""
    cols = list(FORECAST_COLUMNS)
    create_temp_like(conn, "stage_intraday", "ml.ml_forecasts_intraday", cols)
    if not rows.empty:
        copy_frame(conn, "stage_intraday", cols, rows.loc[:, cols])
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols if c not in (*_KEY, "model_type"))
    written = conn.execute(
        f"""INSERT INTO ml.ml_forecasts_intraday ({", ".join(cols)}) SELECT {", ".join(cols)} FROM stage_intraday
            ON CONFLICT (symbol_id, horizon, issued_at, model_type) DO UPDATE SET {updates}, created_at = now()
            RETURNING id, symbol_id, horizon, issued_at""").fetchall()
    conn.execute(
        """DELETE FROM ml.ml_forecasts_intraday f
           USING unnest(%s::bigint[], %s::timestamptz[]) AS k(symbol_id, issued_at)
           WHERE f.symbol_id = k.symbol_id AND f.issued_at = k.issued_at
             AND NOT EXISTS (SELECT 1 FROM stage_intraday s WHERE s.symbol_id = f.symbol_id
                             AND s.issued_at = f.issued_at AND s.horizon = f.horizon)""",
        (issues["symbol_id"].astype(np.int64).tolist(), list(pd.to_datetime(issues["issued_at"], utc=True))))
    if not written:
        return 0, 0
    ids = pd.DataFrame(written, columns=["forecast_id", "symbol_id", "horizon", "issued_at"])
    ids["issued_at"] = pd.to_datetime(ids["issued_at"], utc=True)
    conn.execute("DELETE FROM ml.ml_forecast_paths_intraday WHERE forecast_id = ANY(%s)",
                 (ids["forecast_id"].tolist(),))
    if paths.empty:
        return len(written), 0
    pts = paths.merge(ids, on=_KEY, how="inner")
    return len(written), copy_frame(conn, "ml.ml_forecast_paths_intraday", list(PATH_COLUMNS), pts)


def load_due(conn: psycopg.Connection, symbol_ids: Sequence[int], expired_from: dt.datetime,
             expired_to: dt.datetime) -> pd.DataFrame:
    """Forecasts of the symbols with expired_from <= expires_at <= expired_to, with the issue bar's adjusted
    close (for the realised log return)."""
    cur = conn.execute(
        "SELECT f.id AS forecast_id, f.symbol_id, f.horizon, f.horizon_steps, f.bar_ts, f.issued_at, f.expires_at,"
        " f.base_close, f.target_price, f.ci_lower, f.ci_upper, f.overall_label, f.ensemble_component,"
        " f.supertrend_component, f.nearest_support, f.nearest_resistance, f.neutral_band, f.return_q50,"
        " f.volatility, f.prob_up, f.return_q10, f.return_q90 "
        "FROM ml.ml_forecasts_intraday f WHERE f.symbol_id = ANY(%s) AND f.expires_at BETWEEN %s AND %s "
        "ORDER BY f.id", (list(symbol_ids), expired_from, expired_to))
    assert cur.description is not None
    frame = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])
    for c in ("bar_ts", "issued_at", "expires_at"):
        frame[c] = pd.to_datetime(frame[c], utc=True)
    return frame


def load_paths(conn: psycopg.Connection, forecast_ids: Sequence[int]) -> pd.DataFrame:
    cur = conn.execute("SELECT forecast_id, step, point_ts, lower, upper FROM ml.ml_forecast_paths_intraday "
                       "WHERE forecast_id = ANY(%s) ORDER BY forecast_id, step", (list(forecast_ids),))
    frame = pd.DataFrame(cur.fetchall(), columns=["forecast_id", "step", "point_ts", "lower", "upper"])
    frame["point_ts"] = pd.to_datetime(frame["point_ts"], utc=True)
    return frame


def write_evaluations(conn: psycopg.Connection, symbol_ids: Sequence[int], days: Sequence[dt.date],
                      rows: pd.DataFrame) -> int:
    """Make the evaluations of (symbol, evaluation_date) partitions exactly `rows`."""
    conn.execute(
        """DELETE FROM ml.ml_forecast_evaluations_intraday e
           USING unnest(%s::bigint[], %s::date[]) AS p(symbol_id, day)
           WHERE e.symbol_id = p.symbol_id AND e.evaluation_date = p.day""", (list(symbol_ids), list(days)))
    if rows.empty:
        return 0
    return copy_frame(conn, "ml.ml_forecast_evaluations_intraday", list(EVALUATION_COLUMNS),
                      rows.loc[:, list(EVALUATION_COLUMNS)])
