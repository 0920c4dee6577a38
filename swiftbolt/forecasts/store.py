"""Warehouse reads and writes of the forecast domain: ml.training_runs, ml.ml_model_versions,
ml.ml_forecasts with ml.forecast_points, and reads of ml.model_weights, S/R levels and SuperTrend state.

Forecast writes are idempotent per partition (symbol x day) and model type, in the caller's transaction:
the rows are staged with COPY, upserted on their natural key (so a forecast keeps its id across re-runs
and evaluations that reference it stay attached), the partition's rows that the new run did not produce
are deleted, and the points of every written forecast are replaced (COPY).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import psycopg
from psycopg.types.json import Jsonb

from swiftbolt.db.copy import copy_frame, create_temp_like
from swiftbolt.forecasts.lightgbm_models import ModelBundle, load

FORECAST_COLUMNS: tuple[str, ...] = (
    "symbol_id", "forecast_date", "timeframe", "horizon", "horizon_sessions", "target_date", "model_type",
    "base_close", "forecast_return", "return_q10", "return_q50", "return_q90", "target_price", "ci_lower",
    "ci_upper", "ci_level", "overall_label", "confidence", "prob_up", "volatility", "neutral_band",
    "model_version", "model_version_id", "feature_set_hash", "dagster_run_id", "base_predictions", "weights",
    "weights_source", "weights_as_of", "supertrend_state", "supertrend_line", "nearest_support",
    "nearest_resistance", "confidence_raw", "calibration_as_of", "calibration_source",
)
POINT_COLUMNS: tuple[str, ...] = ("forecast_id", "step", "point_date", "return_q10", "return_q50", "return_q90",
                                  "price", "lower", "upper")
_KEY = ("symbol_id", "forecast_date", "horizon")


# --------------------------------------------------------------------------------------------- models

def start_training_run(conn: psycopg.Connection, market: str, train_end: dt.date, partition_key: str | None,
                       run_id: str | None, feature_set_id: int | None, started_at: dt.datetime,
                       timeframe: str = "d1") -> int:
    """Insert the run row (finished later by `finish_training_run`, same transaction); `timeframe` = the
    feature rows trained on (d1: the daily models, m15: the intraday ones)."""
    row = conn.execute(
        "INSERT INTO ml.training_runs (market, model_type, train_end, partition_key, dagster_run_id, feature_set_id,"
        " n_symbols, n_samples, status, started_at, finished_at, timeframe) "
        "VALUES (%s, 'lightgbm', %s, %s, %s, %s, 0, 0, 'skipped', %s, %s, %s) RETURNING id",
        (market, train_end, partition_key, run_id, feature_set_id, started_at, started_at, timeframe),
    ).fetchone()
    assert row is not None
    return int(row[0])


def finish_training_run(conn: psycopg.Connection, run_id: int, n_symbols: int, n_samples: int, status: str,
                        reasons: dict[str, str], validation: dict, finished_at: dt.datetime) -> None:
    conn.execute(
        "UPDATE ml.training_runs SET n_symbols = %s, n_samples = %s, status = %s, reasons = %s, validation = %s,"
        " finished_at = %s WHERE id = %s",
        (n_symbols, n_samples, status, Jsonb(reasons), Jsonb(_json_safe(validation)), finished_at, run_id),
    )


def upsert_model_version(conn: psycopg.Connection, *, market: str, horizon: str, h: int, train_start: dt.date,
                         train_end: dt.date, last_sample_date: dt.date, n_samples: int, n_symbols: int,
                         bundle: ModelBundle, feature_set_id: int, feature_set_hash: str, parameters: dict,
                         importance: list[tuple[str, float]], validation: dict, training_run_id: int,
                         library_version: str) -> int:
    """Insert or replace the model of (lightgbm, market, horizon, train_end); returns its id (stable)."""
    row = conn.execute(
        """
        INSERT INTO ml.ml_model_versions (model_type, market, horizon, horizon_sessions, train_start, train_end,
            last_sample_date, n_samples, n_symbols, n_features, feature_names, feature_set_id, feature_set_hash,
            parameters, quantiles, model_texts, sha256, feature_importance, validation, training_run_id,
            library_version)
        VALUES ('lightgbm', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (model_type, market, horizon, train_end) DO UPDATE SET
            train_start = EXCLUDED.train_start, last_sample_date = EXCLUDED.last_sample_date,
            n_samples = EXCLUDED.n_samples, n_symbols = EXCLUDED.n_symbols, n_features = EXCLUDED.n_features,
            feature_names = EXCLUDED.feature_names, feature_set_id = EXCLUDED.feature_set_id,
            feature_set_hash = EXCLUDED.feature_set_hash, parameters = EXCLUDED.parameters,
            quantiles = EXCLUDED.quantiles, model_texts = EXCLUDED.model_texts, sha256 = EXCLUDED.sha256,
            feature_importance = EXCLUDED.feature_importance, validation = EXCLUDED.validation,
            training_run_id = EXCLUDED.training_run_id, library_version = EXCLUDED.library_version,
            created_at = now()
        RETURNING id
        """,
        (market, horizon, h, train_start, train_end, last_sample_date, n_samples, n_symbols,
         len(bundle.feature_names), list(bundle.feature_names), feature_set_id, feature_set_hash,
         Jsonb(_json_safe(parameters)), list(bundle.quantiles), list(bundle.texts), bundle.sha256,
         Jsonb(dict(importance)), Jsonb(_json_safe(validation)), training_run_id, library_version),
    ).fetchone()
    assert row is not None
    return int(row[0])


@dataclass(frozen=True)
class StoredModel:
    id: int
    horizon: str
    train_end: dt.date
    sha256: str
    feature_set_hash: str


def models_before(conn: psycopg.Connection, market: str, horizon: str, last_day: dt.date) -> list[StoredModel]:
    """Stored LightGBM models of (market, horizon) with train_end < last_day, oldest first."""
    rows = conn.execute(
        "SELECT id, horizon, train_end, sha256, feature_set_hash FROM ml.ml_model_versions "
        "WHERE model_type = 'lightgbm' AND market = %s AND horizon = %s AND train_end < %s ORDER BY train_end",
        (market, horizon, last_day),
    ).fetchall()
    return [StoredModel(int(r[0]), r[1], r[2], r[3], r[4]) for r in rows]


def newest_before(models: list[StoredModel], day: dt.date) -> StoredModel | None:
    """The newest model whose training ended strictly before `day`."""
    ends = np.array([m.train_end for m in models], dtype="datetime64[D]")
    i = int(np.searchsorted(ends, np.datetime64(day, "D"), side="left")) - 1
    return models[i] if i >= 0 else None


def load_bundle(conn: psycopg.Connection, model_id: int) -> ModelBundle:
    row = conn.execute("SELECT feature_names, quantiles, model_texts FROM ml.ml_model_versions WHERE id = %s",
                       (model_id,)).fetchone()
    assert row is not None, f"model {model_id} not found"
    return load(list(row[0]), tuple(row[1]), list(row[2]))


# ------------------------------------------------------------------------------------------ forecasts

def write_forecasts(conn: psycopg.Connection, model_type: str, partitions: Sequence[tuple[int, dt.date]],
                    rows: pd.DataFrame, points: pd.DataFrame) -> tuple[int, int]:
    """Make the forecasts of `model_type` on the (symbol_id, day) `partitions` exactly `rows` (columns of
    FORECAST_COLUMNS) with `points` (symbol_id, forecast_date, horizon + POINT_COLUMNS without forecast_id).
    Returns (forecast rows, points) written."""
    stage_cols = list(FORECAST_COLUMNS)
    create_temp_like(conn, "stage_forecasts", "ml.ml_forecasts", stage_cols)
    if not rows.empty:
        frame = rows.loc[:, stage_cols].copy()
        for col in ("base_predictions", "weights"):
            frame[col] = [None if v is None else json.dumps(v, sort_keys=True) for v in frame[col]]
        copy_frame(conn, "stage_forecasts", stage_cols, frame)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in stage_cols if c not in (*_KEY, "timeframe", "model_type"))
    written = conn.execute(
        f"""INSERT INTO ml.ml_forecasts ({", ".join(stage_cols)}) SELECT {", ".join(stage_cols)} FROM stage_forecasts
            ON CONFLICT (symbol_id, forecast_date, timeframe, horizon, model_type) DO UPDATE SET {updates},
                created_at = now()
            RETURNING id, symbol_id, forecast_date, horizon"""
    ).fetchall()
    symbol_ids = [p[0] for p in partitions]
    days = [p[1] for p in partitions]
    conn.execute(
        """DELETE FROM ml.ml_forecasts f
           USING unnest(%s::bigint[], %s::date[]) AS p(symbol_id, day)
           WHERE f.symbol_id = p.symbol_id AND f.forecast_date = p.day AND f.model_type = %s
             AND f.timeframe = 'd1'
             AND NOT EXISTS (SELECT 1 FROM stage_forecasts s WHERE s.symbol_id = f.symbol_id
                             AND s.forecast_date = f.forecast_date AND s.horizon = f.horizon)""",
        (symbol_ids, days, model_type),
    )
    if not written:
        return 0, 0
    ids = pd.DataFrame(written, columns=["forecast_id", "symbol_id", "forecast_date", "horizon"])
    conn.execute("DELETE FROM ml.forecast_points WHERE forecast_id = ANY(%s)", (ids["forecast_id"].tolist(),))
    if points.empty:
        return len(written), 0
    pts = points.assign(forecast_date=pd.to_datetime(points["forecast_date"]).dt.date)
    pts = pts.merge(ids, on=["symbol_id", "forecast_date", "horizon"], how="inner")
    n_points = copy_frame(conn, "ml.forecast_points", list(POINT_COLUMNS), pts)
    return len(written), n_points


def load_forecasts(conn: psycopg.Connection, model_types: Sequence[str], symbol_ids: Sequence[int],
                   first: dt.date, last: dt.date) -> pd.DataFrame:
    """Stored forecasts of the model types for the symbols with first <= forecast_date <= last."""
    cur = conn.execute(
        "SELECT id, symbol_id, forecast_date, horizon, horizon_sessions, target_date, model_type, base_close,"
        " return_q10, return_q50, return_q90, volatility, neutral_band, model_version, feature_set_hash "
        "FROM ml.ml_forecasts WHERE model_type = ANY(%s) AND symbol_id = ANY(%s) "
        "AND forecast_date BETWEEN %s AND %s AND timeframe = 'd1'",
        (list(model_types), list(symbol_ids), first, last),
    )
    assert cur.description is not None
    return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def load_points(conn: psycopg.Connection, forecast_ids: Sequence[int]) -> pd.DataFrame:
    cur = conn.execute("SELECT forecast_id, step, point_date, return_q10, return_q50, return_q90 "
                       "FROM ml.forecast_points WHERE forecast_id = ANY(%s) ORDER BY forecast_id, step",
                       (list(forecast_ids),))
    assert cur.description is not None
    return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


# ------------------------------------------------------------------------------- weights and context

def load_weights(conn: psycopg.Connection, market: str, last_day: dt.date) -> pd.DataFrame:
    """Every ml.model_weights row of the market with as_of_date < last_day (market and symbol scopes)."""
    cur = conn.execute(
        "SELECT as_of_date, horizon, symbol_id, model_type, weight FROM ml.model_weights "
        "WHERE market = %s AND as_of_date < %s ORDER BY as_of_date",
        (market, last_day),
    )
    assert cur.description is not None
    return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def load_calibration(conn: psycopg.Connection, market: str, model_type: str, last_day: dt.date) -> pd.DataFrame:
    """Every calibration bucket of (market, model_type) with as_of_date < last_day (ml.ml_confidence_calibration,
    written by the evaluation domain): as_of_date, horizon, predicted, calibrated, ordered by bucket."""
    cur = conn.execute(
        "SELECT as_of_date, horizon, predicted, calibrated FROM ml.ml_confidence_calibration "
        "WHERE market = %s AND model_type = %s AND as_of_date < %s ORDER BY as_of_date, horizon, bucket",
        (market, model_type, last_day),
    )
    assert cur.description is not None
    return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def load_context(conn: psycopg.Connection, feature_set_id: int | None, symbol_ids: Sequence[int],
                 first: dt.date, last: dt.date) -> pd.DataFrame:
    """Per (symbol_id, session_date): SuperTrend line and direction of D (d1 feature row) and the nearest
    support/resistance of D (ml.sr_levels)."""
    args = (list(symbol_ids), first, last)
    trend = pd.DataFrame(conn.execute(
        "SELECT fr.symbol_id, fr.session_date, ml.feature_value(fr.feature_values, fs.feature_keys, 'supertrend'),"
        " ml.feature_value(fr.feature_values, fs.feature_keys, 'supertrend_dir') "
        "FROM ml.feature_rows fr JOIN ml.feature_sets fs ON fs.id = fr.feature_set_id "
        "WHERE fr.timeframe = 'd1' AND fr.feature_set_id = %s AND fr.symbol_id = ANY(%s) "
        "AND fr.session_date BETWEEN %s AND %s", (feature_set_id, *args)).fetchall(),
        columns=["symbol_id", "session_date", "supertrend_line", "supertrend_dir"])
    levels = pd.DataFrame(conn.execute(
        "SELECT symbol_id, session_date, nearest_support, nearest_resistance FROM ml.sr_levels "
        "WHERE symbol_id = ANY(%s) AND session_date BETWEEN %s AND %s", args).fetchall(),
        columns=["symbol_id", "session_date", "nearest_support", "nearest_resistance"])
    return trend.merge(levels, on=["symbol_id", "session_date"], how="outer")


def _json_safe(value: object) -> object:
    """NaN/inf -> None, numpy scalars -> Python, recursively (jsonb has no NaN)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
