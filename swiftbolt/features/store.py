"""Reads adjusted bars with warm-up, and writes ml.feature_sets, ml.feature_rows, ml.sr_levels and
ml.supertrend_signals, one transaction per call (whole partitions: symbol x trading day)."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import psycopg

from swiftbolt.db.copy import copy_binary_payload, copy_frame, create_temp_like
from swiftbolt.features.feature_set import FeatureSetDefinition, canonical_json

# Bars and factor ranges are read in one round trip, each column as one array in PostgreSQL's binary array
# format (array_send): a 20-byte header (ndim, flags, element type, length, lower bound), then per element
# its length and its big-endian value. timestamptz: microseconds since 2000-01-01 UTC; date: days since
# 2000-01-01 ('-infinity' is the smallest int32). Every column is NOT NULL, so no element is NULL.
_ARRAY_HEADER = 20
_PG_EPOCH_US = np.int64(946_684_800_000_000)  # 2000-01-01 in microseconds since 1970-01-01
_PG_EPOCH_DAYS = np.int32(10_957)  # 2000-01-01 in days since 1970-01-01
_BAR_COLUMNS = (("ts", ">i8"), ("session_date", ">i4"), ("open", ">f8"), ("high", ">f8"), ("low", ">f8"),
                ("close", ">f8"), ("volume", ">f8"))
_RANGE_COLUMNS = (("valid_from", ">i4"), ("valid_to", ">i4"), ("price_factor", ">f8"), ("volume_factor", ">f8"))
# One round trip per symbol for all its timeframes. The ts bounds are implied by the session_date conditions
# (a session's bars lie within two days of its date, in any market) and let the planner prune the monthly
# partitions; the bars of each timeframe are an index scan from its own first bar (LATERAL ... OFFSET 0 keeps
# it a parameterised scan).
_BARS_AND_RANGES = (
    """
    WITH ranges AS MATERIALIZED (
        SELECT valid_from, valid_to, price_factor, volume_factor FROM market.adjustment_factor_ranges
        WHERE symbol_id = %(s)s
    ), starts AS MATERIALIZED (
        SELECT tf, COALESCE(
            (SELECT min(w.ts) FROM (SELECT b.ts FROM market.ohlc_bars b
                                    WHERE b.symbol_id = %(s)s AND b.timeframe = tf AND b.session_date < %(first)s
                                      AND b.ts < %(first_until)s
                                    ORDER BY b.ts DESC LIMIT %(warm)s) w),
            (SELECT min(b.ts) FROM market.ohlc_bars b
             WHERE b.symbol_id = %(s)s AND b.timeframe = tf AND b.session_date >= %(first)s
               AND b.ts >= %(first_from)s)) AS start_ts
        FROM unnest(%(tfs)s::text[]) AS tf
    )
    SELECT st.tf, """
    + ", ".join(f"array_send(array_agg(b.{c} ORDER BY b.ts))" for c, _ in _BAR_COLUMNS) + ", "
    + ", ".join(f"(SELECT array_send(array_agg({c} ORDER BY valid_to)) FROM ranges)" for c, _ in _RANGE_COLUMNS)
    + """
    FROM starts st
    CROSS JOIN LATERAL (
        SELECT b.ts, b.session_date, b.open, b.high, b.low, b.close, b.volume FROM market.ohlc_bars b
        WHERE b.symbol_id = %(s)s AND b.timeframe = st.tf AND b.ts >= st.start_ts
          AND b.session_date <= %(last)s AND b.ts < %(last_until)s
        OFFSET 0
    ) b
    GROUP BY st.tf""")
_SESSION_SPAN = dt.timedelta(days=2)  # a bar of session D has D - 2 days <= ts < D + 2 days (UTC)
# Timeframes whose adjusted bar is the raw bar times the factor of its own session (migration 0010: w1 and
# mo1 are aggregations of the adjusted d1 bars instead, read from the view).
_PER_BAR_TIMEFRAMES = frozenset({"m1", "m5", "m15", "h1", "h4", "d1"})


def _array(payload: bytes | None, kind: str) -> np.ndarray:
    """The values of a one-dimensional array without NULLs from array_send's bytes (None: no rows)."""
    if payload is None:
        return np.empty(0, dtype=kind)
    element = np.dtype([("len", ">i4"), ("value", kind)])
    cells = np.frombuffer(payload, dtype=element, offset=_ARRAY_HEADER)
    if not (cells["len"] == element["value"].itemsize).all():
        raise ValueError("unexpected NULL or element size in a binary array")
    return cells["value"]


def _utc_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def _raw_bars_and_ranges(conn: psycopg.Connection, symbol_id: int, timeframes: list[str], first: dt.date,
                         last: dt.date, warmup_bars: int) -> tuple[dict[str, dict[str, np.ndarray]],
                                                                   tuple[np.ndarray, ...]]:
    """The raw bars of load_adjusted_bars' window per timeframe (by column, ordered by ts; timeframes without
    bars are missing) and the symbol's rows of market.adjustment_factor_ranges (ordered by valid_to:
    valid_from and valid_to as days since 1970-01-01, '-infinity' as the smallest int64, then price_factor,
    volume_factor)."""
    rows = conn.execute(_BARS_AND_RANGES, {
        "s": symbol_id, "tfs": list(timeframes), "first": first, "last": last, "warm": warmup_bars,
        "first_until": _utc_midnight(first) + _SESSION_SPAN, "first_from": _utc_midnight(first) - _SESSION_SPAN,
        "last_until": _utc_midnight(last) + _SESSION_SPAN,
    }, binary=True).fetchall()
    bars = {row[0]: {c: _array(v, kind) for (c, kind), v in zip(_BAR_COLUMNS, row[1:1 + len(_BAR_COLUMNS)],
                                                                 strict=True)}
            for row in rows}
    if not rows:
        return bars, tuple(np.empty(0, dtype=d) for d in (np.int64, np.int64, np.float64, np.float64))
    valid_from, valid_to, price, volume = (_array(v, kind) for (_c, kind), v
                                           in zip(_RANGE_COLUMNS, rows[0][1 + len(_BAR_COLUMNS):], strict=True))
    lowest = np.iinfo(np.int32).min  # PostgreSQL's binary '-infinity' date
    ranges = (np.where(valid_from == lowest, np.iinfo(np.int64).min, valid_from.astype(np.int64) + _PG_EPOCH_DAYS),
              valid_to.astype(np.int64) + _PG_EPOCH_DAYS, price.astype(np.float64), volume.astype(np.float64))
    return bars, ranges


def adjustment_factors(ranges: tuple[np.ndarray, ...], days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per session (days since 1970-01-01) the price and volume factors of the range holding it
    (valid_from <= day < valid_to), 1.0 outside every range: the join of market.ohlc_bars_adjusted."""
    valid_from, valid_to, price, volume = ranges
    price_out = np.ones(len(days))
    volume_out = np.ones(len(days))
    if len(valid_to):
        i = np.searchsorted(valid_to, days, side="right")  # the first range ending after the day
        inside = i < len(valid_to)
        inside[inside] = valid_from[i[inside]] <= days[inside]
        price_out[inside] = price[i[inside]]
        volume_out[inside] = volume[i[inside]]
    return price_out, volume_out


def load_adjusted_bars(
    conn: psycopg.Connection, symbol_id: int, timeframe: str, first: dt.date, last: dt.date, warmup_bars: int
) -> pd.DataFrame:
    """Adjusted bars of sessions <= `last`, starting `warmup_bars` bars before the first bar of
    `first` (fewer if the history is shorter). Nothing after `last` is read: no look-ahead.

    The values are those of market.ohlc_bars_adjusted: the raw bars are read as binary arrays and multiplied
    by the factor of their session from market.adjustment_factor_ranges, in float64 as the view does
    (tests/test_features_store.py compares the two); w1/mo1 bars are read from the view."""
    return load_adjusted_bars_by_timeframe(conn, symbol_id, [timeframe], first, last, warmup_bars)[timeframe]


def load_adjusted_bars_by_timeframe(
    conn: psycopg.Connection, symbol_id: int, timeframes: list[str], first: dt.date, last: dt.date, warmup_bars: int
) -> dict[str, pd.DataFrame]:
    """load_adjusted_bars for several timeframes of a symbol, in one round trip (w1/mo1: one more each)."""
    per_bar = [tf for tf in timeframes if tf in _PER_BAR_TIMEFRAMES]
    raw, ranges = (_raw_bars_and_ranges(conn, symbol_id, per_bar, first, last, warmup_bars) if per_bar
                   else ({}, ()))
    out: dict[str, pd.DataFrame] = {}
    for tf in timeframes:
        if tf not in _PER_BAR_TIMEFRAMES:
            out[tf] = _load_adjusted_bars_from_view(conn, symbol_id, tf, first, last, warmup_bars)
            continue
        bars = raw.get(tf) or {c: np.empty(0, dtype=kind) for c, kind in _BAR_COLUMNS}
        days = bars["session_date"].astype(np.int64) + _PG_EPOCH_DAYS
        price, volume = adjustment_factors(ranges, days)
        ts = (bars["ts"].astype(np.int64) + _PG_EPOCH_US).astype("datetime64[us]")
        out[tf] = pd.DataFrame({
            "ts": pd.DatetimeIndex(ts).tz_localize("UTC"),
            "session_date": days.astype("datetime64[D]").astype("datetime64[s]"),  # as pd.to_datetime(dates)
            **{c: bars[c].astype(np.float64) * price for c in ("open", "high", "low", "close")},
            "volume": bars["volume"].astype(np.float64) * volume,
        })
    return out


def _load_adjusted_bars_from_view(
    conn: psycopg.Connection, symbol_id: int, timeframe: str, first: dt.date, last: dt.date, warmup_bars: int
) -> pd.DataFrame:
    """load_adjusted_bars through market.ohlc_bars_adjusted (any timeframe)."""
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


FEATURE_ROW_COLUMNS = ["symbol_id", "timeframe", "ts", "session_date", "feature_set_id", "warmup_complete",
                       "feature_values"]
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
_FLOAT8_OID = 701
_MAX_NULL_RUNS = 16  # runs of rows with NULL elements compacted one by one; more: all rows at once


def feature_rows_payload(symbol_id: int, timeframe: str, feature_set_id: int, rows: pd.DataFrame,
                         columns: list[str]) -> list[bytes | memoryview]:
    """The rows (ts, session_date, warmup_complete + feature columns) in COPY's binary format for
    FEATURE_ROW_COLUMNS of ml.feature_rows, feature_values as float8[] in `columns` order with NaN and inf
    as NULL elements; byte for byte what pgpq encodes from the Arrow table of the same rows
    (tests/test_features_store.py), built with numpy: every row is a fixed-size record, and the 8 value
    bytes of NULL elements are cut out afterwards (only from the rows that have some)."""
    n, k = len(rows), len(columns)
    tf = timeframe.encode()
    element = np.dtype([("len", ">i4"), ("value", ">f8")])
    record = np.dtype([
        ("fields", ">i2"),
        ("len_symbol_id", ">i4"), ("symbol_id", ">i8"),
        ("len_timeframe", ">i4"), ("timeframe", f"S{len(tf)}"),
        ("len_ts", ">i4"), ("ts", ">i8"),
        ("len_session_date", ">i4"), ("session_date", ">i4"),
        ("len_feature_set_id", ">i4"), ("feature_set_id", ">i8"),
        ("len_warmup_complete", ">i4"), ("warmup_complete", "u1"),
        ("len_feature_values", ">i4"), ("ndim", ">i4"), ("has_nulls", ">i4"), ("element_oid", ">i4"),
        ("dim", ">i4"), ("lower_bound", ">i4"), ("elements", element, (k,)),
    ])
    matrix = rows[columns].to_numpy(dtype=np.float64)
    null = ~np.isfinite(matrix)
    nulls_per_row = null.sum(axis=1)
    out = np.empty(n, dtype=record)
    out["fields"] = len(FEATURE_ROW_COLUMNS)
    for name, size in (("symbol_id", 8), ("timeframe", len(tf)), ("ts", 8), ("session_date", 4),
                       ("feature_set_id", 8), ("warmup_complete", 1)):
        out[f"len_{name}"] = size
    out["symbol_id"] = symbol_id
    out["timeframe"] = tf
    out["ts"] = rows["ts"].dt.as_unit("us").array.asi8 - _PG_EPOCH_US  # UTC microseconds since 1970
    days = rows["session_date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    out["session_date"] = days - _PG_EPOCH_DAYS
    out["feature_set_id"] = feature_set_id
    out["warmup_complete"] = rows["warmup_complete"].to_numpy(dtype=bool)
    out["len_feature_values"] = 20 + 12 * k - 8 * nulls_per_row
    out["ndim"] = 1
    out["has_nulls"] = nulls_per_row > 0
    out["element_oid"] = _FLOAT8_OID
    out["dim"] = k
    out["lower_bound"] = 1
    elements = out["elements"]
    elements["len"] = 8
    elements["len"][null] = -1
    elements["value"] = matrix
    body = out.view(np.uint8).reshape(n, record.itemsize)
    # rows without NULL elements go out as they are (zero-copy slices); the runs of rows with NULL elements
    # (typically the first bars of a history, whose windows are not full yet) lose their NULL elements'
    # value bytes
    edges = np.flatnonzero(np.diff((nulls_per_row > 0).astype(np.int8), prepend=0, append=0))  # run starts, ends
    if len(edges) > 2 * _MAX_NULL_RUNS:
        edges = np.array([0, n])  # scattered NULLs: compact all rows at once
    value_bytes = record.fields["elements"][1] + 4 + np.arange(k)[:, None] * 12 + np.arange(8)
    parts: list[bytes | memoryview] = [_COPY_SIGNATURE]
    done = 0
    for start, end in zip(edges[::2], edges[1::2], strict=True):
        if start > done:
            parts.append(memoryview(body[done:start].reshape(-1)))
        keep = np.ones((end - start, record.itemsize), dtype=bool)
        rows_with, elems = np.nonzero(null[start:end])
        keep[rows_with[:, None], value_bytes[elems]] = False
        parts.append(memoryview(body[start:end][keep]))
        done = end
    if done < n:
        parts.append(memoryview(body[done:].reshape(-1)))
    parts.append(b"\xff\xff")
    return parts


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
    payload = feature_rows_payload(symbol_id, timeframe, feature_set_id, rows, columns)
    copy_binary_payload(conn, "ml.feature_rows", FEATURE_ROW_COLUMNS, payload)
    return len(rows)


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
