"""Reads adjusted bars with warm-up, and writes ml.feature_sets, ml.feature_rows, ml.sr_levels and
ml.supertrend_signals, one transaction per call (whole partitions: symbol x trading day)."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa

from swiftbolt.db.copy import copy_binary_payload, copy_frame, create_temp_like, encode_arrow
from swiftbolt.features.feature_set import FeatureSetDefinition, canonical_json


def load_adjusted_bars(
    conn: psycopg.Connection, symbol_id: int, timeframe: str, first: dt.date, last: dt.date, warmup_bars: int
) -> pd.DataFrame:
    """Adjusted bars of sessions <= `last`, starting `warmup_bars` bars before the first bar of
    `first` (fewer if the history is shorter). Nothing after `last` is read: no look-ahead."""
    rows = conn.execute(
        """
        WITH wanted AS (
            SELECT ts FROM market.ohlc_bars
            WHERE symbol_id = %(s)s AND timeframe = %(tf)s AND session_date < %(first)s
            ORDER BY ts DESC LIMIT %(warm)s
        )
        SELECT ts, session_date, open, high, low, close, volume
        FROM market.ohlc_bars_adjusted
        WHERE symbol_id = %(s)s AND timeframe = %(tf)s AND session_date <= %(last)s
          AND ts >= COALESCE((SELECT min(ts) FROM wanted),
                             (SELECT min(ts) FROM market.ohlc_bars
                              WHERE symbol_id = %(s)s AND timeframe = %(tf)s AND session_date >= %(first)s))
        ORDER BY ts
        """,
        {"s": symbol_id, "tf": timeframe, "first": first, "last": last, "warm": warmup_bars},
    ).fetchall()
    frame = pd.DataFrame(rows, columns=["ts", "session_date", "open", "high", "low", "close", "volume"])
    if not frame.empty:
        frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
        frame["session_date"] = pd.to_datetime(frame["session_date"])
    return frame


def ensure_feature_set(conn: psycopg.Connection, definition: FeatureSetDefinition, code_version: str) -> int:
    """The id of this definition (inserted when new); earlier definitions are marked superseded."""
    digest = definition.definition_hash()
    row = conn.execute("SELECT id FROM ml.feature_sets WHERE definition_hash = %s", (digest,)).fetchone()
    if row:
        return int(row[0])
    conn.execute("UPDATE ml.feature_sets SET status = 'superseded' WHERE name = %s AND status = 'active'",
                 (definition.name,))
    row = conn.execute(
        "INSERT INTO ml.feature_sets (name, definition_hash, code_version, feature_keys, params, warmup_bars) "
        "VALUES (%s, %s, %s, %s, %s::jsonb, %s) RETURNING id",
        (definition.name, digest, code_version, list(definition.features), canonical_json(definition.params),
         definition.warmup_bars),
    ).fetchone()
    assert row is not None
    return int(row[0])


def feature_values_array(features: pd.DataFrame, columns: list[str]) -> pa.Array:
    """The feature matrix as an Arrow list<float64> column (one list per row, in `columns` order);
    NaN and inf become NULL elements."""
    matrix = features[columns].to_numpy(dtype=np.float64, copy=True)
    matrix[~np.isfinite(matrix)] = np.nan
    values = pa.array(matrix.ravel(), type=pa.float64(), from_pandas=True)
    offsets = pa.array(np.arange(0, matrix.size + 1, len(columns), dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, values)


def write_feature_rows(
    conn: psycopg.Connection, symbol_id: int, timeframe: str, feature_set_id: int, dates: list[dt.date],
    rows: pd.DataFrame, columns: list[str],
) -> int:
    """Replace the feature rows of (symbol, timeframe, feature set) on `dates` with `rows`
    (ts, session_date, warmup_complete + feature columns), by binary COPY."""
    conn.execute(
        "DELETE FROM ml.feature_rows WHERE symbol_id = %s AND timeframe = %s AND feature_set_id = %s "
        "AND session_date = ANY(%s)",
        (symbol_id, timeframe, feature_set_id, dates),
    )
    if rows.empty:
        return 0
    n = len(rows)
    table = pa.table({
        "symbol_id": pa.array(np.full(n, symbol_id, dtype=np.int64)),
        "timeframe": pa.array([timeframe] * n, type=pa.string()),
        "ts": pa.array(rows["ts"].dt.tz_convert("UTC")).cast(pa.timestamp("us", tz="UTC")),
        "session_date": pa.array(rows["session_date"]).cast(pa.timestamp("s")).cast(pa.date32()),
        "feature_set_id": pa.array(np.full(n, feature_set_id, dtype=np.int64)),
        "warmup_complete": pa.array(rows["warmup_complete"].to_numpy(dtype=bool)),
        "feature_values": feature_values_array(rows, columns),
    })
    copy_binary_payload(conn, "ml.feature_rows", table.column_names, encode_arrow(table))
    return n


_SR_COLUMNS = {
    "pp": "pivot_pp", "r1": "pivot_r1", "r2": "pivot_r2", "r3": "pivot_r3", "s1": "pivot_s1", "s2": "pivot_s2",
    "s3": "pivot_s3", "support": "nearest_support", "support_distance_pct": "support_distance_pct",
    "support_strength": "support_strength", "resistance": "nearest_resistance",
    "resistance_distance_pct": "resistance_distance_pct", "resistance_strength": "resistance_strength",
}


def _json_cell(value: object) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return json.dumps(value, default=str, allow_nan=False)


def write_sr_levels(conn: psycopg.Connection, symbol_id: int, dates: list[dt.date], levels: pd.DataFrame) -> int:
    """Replace ml.sr_levels of the symbol on `dates` with `levels` (rows of sr_levels_series + session_date)."""
    conn.execute("DELETE FROM ml.sr_levels WHERE symbol_id = %s AND session_date = ANY(%s)", (symbol_id, dates))
    if levels.empty:
        return 0
    out = pd.DataFrame({"symbol_id": symbol_id, "session_date": levels["session_date"], "close": levels["close"]})
    for src, dst in _SR_COLUMNS.items():
        out[dst] = levels[src]
    for col in ("support_strength", "resistance_strength"):
        out[col] = pd.array(levels[col], dtype="Int64")
    fib_cols = [c for c in levels.columns if c.startswith("fib_") and c != "fib_trend"]
    out["fib_levels"] = [
        _json_cell({k: (None if pd.isna(v) else float(v)) for k, v in r.items()} | {"trend": t})
        for r, t in zip(levels[fib_cols].to_dict("records"), levels["fib_trend"], strict=True)
    ]
    out["zigzag_swings"] = [_json_cell(v) for v in levels["zigzag_swings"]]
    out["cluster_levels"] = [_json_cell(v) for v in levels["cluster_levels"]]
    return copy_frame(conn, "ml.sr_levels", list(out.columns), out)


_SIGNAL_COLUMNS = ("symbol_id", "timeframe", "signal_ts", "side", "entry_price", "stop_price", "target_price",
                   "outcome", "exit_price", "exit_ts", "pnl_pct")


def write_supertrend_signals(
    conn: psycopg.Connection, symbol_id: int, timeframe: str, signals: pd.DataFrame
) -> int:
    """Upsert signals (their outcome may have resolved since last time), staged by COPY. Signals whose
    levels are invalid for the table (e.g. a non-positive target) are skipped."""
    if signals.empty:
        return 0
    valid = signals[signals["outcome"].isin(["WIN", "LOSS", "OPEN"]) & (signals["entry"] > 0)
                    & (signals["stop"] > 0) & (signals["target"] > 0)]
    if valid.empty:
        return 0
    frame = pd.DataFrame({
        "symbol_id": symbol_id, "timeframe": timeframe, "signal_ts": pd.to_datetime(valid["ts"], utc=True),
        "side": valid["side"], "entry_price": valid["entry"], "stop_price": valid["stop"],
        "target_price": valid["target"], "outcome": valid["outcome"], "exit_price": valid["exit_price"],
        "exit_ts": pd.to_datetime(valid["exit_ts"], utc=True), "pnl_pct": valid["pnl_pct"],
    })
    create_temp_like(conn, "supertrend_stage", "ml.supertrend_signals", _SIGNAL_COLUMNS)
    copy_frame(conn, "supertrend_stage", _SIGNAL_COLUMNS, frame)
    columns = ", ".join(_SIGNAL_COLUMNS)
    conn.execute(
        f"""
        INSERT INTO ml.supertrend_signals ({columns})
        SELECT {columns} FROM supertrend_stage
        ON CONFLICT (symbol_id, timeframe, signal_ts) DO UPDATE SET
            side = EXCLUDED.side, entry_price = EXCLUDED.entry_price, stop_price = EXCLUDED.stop_price,
            target_price = EXCLUDED.target_price, outcome = EXCLUDED.outcome,
            exit_price = EXCLUDED.exit_price, exit_ts = EXCLUDED.exit_ts, pnl_pct = EXCLUDED.pnl_pct,
            updated_at = now()
        """
    )
    return len(frame)
