"""Writes market.ohlc_bars and its lineage: market.bar_datasets, market.coverage_status,
market.provider_checkpoints, ops.bar_quarantine, and the derived w1/mo1 bars.

One call of `write_bar_chunk` is one transaction's worth of whole partitions (symbol x trading day):
the partition's rows of every fetched timeframe are deleted and the new rows COPYed in, so a
re-materialization leaves exactly the rows a first run would.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import psycopg

from swiftbolt.db.copy import copy_frame
from swiftbolt.market_data.types import Timeframe

BAR_TABLE = "market.ohlc_bars"
BAR_TABLE_COLUMNS = (
    "symbol_id", "timeframe", "ts", "session_date", "open", "high", "low", "close", "volume",
    "vwap", "trade_count", "provider", "ingestion_run_id",
)
QUARANTINE_COLUMNS = (
    "symbol_id", "timeframe", "session_date", "partition_date", "ts", "provider", "reason", "raw",
    "ingestion_run_id",
)
_CHECKSUM_COLUMNS = ["ts", "open", "high", "low", "close", "volume"]


@dataclass
class ChunkStats:
    rows_written: int = 0
    rows_rejected: int = 0
    by_timeframe: dict[str, int] = field(default_factory=dict)


def partition_checksums(bars: pd.DataFrame) -> pd.DataFrame:
    """Order-independent checksum per (symbol_id, timeframe, session_date): the sum modulo 2^64 of
    a 64-bit hash of each row's (ts, OHLCV), as 16 hex digits. Vectorised."""
    if bars.empty:
        return pd.DataFrame(columns=["symbol_id", "timeframe", "session_date", "bar_count", "checksum",
                                     "start_ts", "end_ts"])
    row_hash = pd.util.hash_pandas_object(bars[_CHECKSUM_COLUMNS], index=False).to_numpy(np.uint64)
    keys = bars[["symbol_id", "timeframe", "session_date"]]
    codes = keys.groupby(["symbol_id", "timeframe", "session_date"], sort=True).ngroup().to_numpy()
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    sums = np.add.reduceat(row_hash[order], starts)  # uint64 addition wraps: a sum modulo 2^64
    ts = bars["ts"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()[order]
    out = keys.iloc[order[starts]].reset_index(drop=True)
    out["bar_count"] = np.diff(np.r_[starts, len(order)])
    out["start_ts"] = pd.to_datetime(np.minimum.reduceat(ts, starts), utc=True)
    out["end_ts"] = pd.to_datetime(np.maximum.reduceat(ts, starts), utc=True)
    out["checksum"] = [f"{int(v):016x}" for v in sums]
    return out


def _scope_frame(symbol_ids: list[int], timeframes: list[str], session_dates: list[dt.date]) -> pd.DataFrame:
    idx = pd.MultiIndex.from_product([symbol_ids, timeframes, pd.to_datetime(session_dates)],
                                     names=["symbol_id", "timeframe", "session_date"])
    return idx.to_frame(index=False)


def write_bar_chunk(
    conn: psycopg.Connection,
    *,
    bars: pd.DataFrame,
    rejected: pd.DataFrame,
    symbol_ids: list[int],
    timeframes: list[Timeframe],
    session_dates: list[dt.date],
    provider: str,
    ingestion_run_id: int,
) -> ChunkStats:
    """Replace the partitions (symbol_ids x session_dates) of `timeframes` with `bars`, record
    quarantine, datasets, coverage and checkpoints, and re-derive w1/mo1. Caller owns the
    transaction. `bars` has BAR_COLUMNS + session_date + symbol_id; `rejected` the quarantine columns
    (symbol_id, timeframe, session_date = the session the row claims, partition_date = the requested
    session it is kept under, ts, reason, raw)."""
    stats = ChunkStats()
    tf_values = [t.value for t in timeframes]
    first, last = min(session_dates), max(session_dates)
    if not bars.empty:
        conn.execute("SELECT market.ensure_bar_partitions(%s, %s)", (bars["ts"].min(), bars["ts"].max()))
    conn.execute(
        f"DELETE FROM {BAR_TABLE} WHERE symbol_id = ANY(%s) AND timeframe = ANY(%s) "
        "AND session_date = ANY(%s)",
        (symbol_ids, tf_values, session_dates),
    )
    # quarantined rows belong to the partition they arrived with, whatever session they claim
    conn.execute(
        "DELETE FROM ops.bar_quarantine WHERE symbol_id = ANY(%s) AND timeframe = ANY(%s) "
        "AND partition_date = ANY(%s)",
        (symbol_ids, tf_values, session_dates),
    )
    if not bars.empty:
        out = bars.assign(provider=provider, ingestion_run_id=ingestion_run_id)
        stats.rows_written = copy_frame(conn, BAR_TABLE, BAR_TABLE_COLUMNS, out)
        stats.by_timeframe = {str(k): int(v) for k, v in bars["timeframe"].value_counts().items()}
    if not rejected.empty:
        q = rejected.assign(provider=provider, ingestion_run_id=ingestion_run_id)
        stats.rows_rejected = copy_frame(conn, "ops.bar_quarantine", QUARANTINE_COLUMNS, q)

    datasets = _write_datasets(conn, bars, rejected, symbol_ids, tf_values, session_dates, provider,
                               ingestion_run_id)
    _write_coverage_and_checkpoints(conn, datasets, last, provider, ingestion_run_id)
    if Timeframe.D1 in timeframes:
        derive_period_bars(conn, symbol_ids, first, last, provider, ingestion_run_id)
    return stats


def _write_datasets(
    conn: psycopg.Connection, bars: pd.DataFrame, rejected: pd.DataFrame, symbol_ids: list[int],
    tf_values: list[str], session_dates: list[dt.date], provider: str, run_id: int,
) -> pd.DataFrame:
    """Replace the bar_datasets rows of the chunk's partitions; returns the rows written."""
    scope = _scope_frame(symbol_ids, tf_values, session_dates)
    keys = ["symbol_id", "timeframe", "session_date"]
    ds = scope.merge(partition_checksums(bars), on=keys, how="left")
    ds["bar_count"] = ds["bar_count"].fillna(0).astype(int)
    ds["checksum"] = ds["checksum"].fillna("0" * 16)
    if rejected.empty:
        ds["rejected_count"] = 0
    else:
        by_partition = rejected.drop(columns="session_date").rename(columns={"partition_date": "session_date"})
        rej = by_partition.groupby(keys).size().rename("rejected_count").reset_index()
        ds = ds.merge(rej, on=keys, how="left")
        ds["rejected_count"] = ds["rejected_count"].fillna(0).astype(int)
    ds = ds.assign(provider=provider, ingestion_run_id=run_id)
    cols = ("symbol_id", "timeframe", "session_date", "provider", "start_ts", "end_ts", "bar_count",
            "rejected_count", "checksum", "ingestion_run_id")
    conn.execute(
        "DELETE FROM market.bar_datasets WHERE symbol_id = ANY(%s) AND timeframe = ANY(%s) "
        "AND session_date = ANY(%s)",
        (symbol_ids, tf_values, session_dates),
    )
    copy_frame(conn, "market.bar_datasets", cols, ds)
    return ds


def _write_coverage_and_checkpoints(
    conn: psycopg.Connection, datasets: pd.DataFrame, last_session: dt.date, provider: str, run_id: int
) -> None:
    """Coverage widens to include the chunk; the checkpoint moves to the chunk's last session and
    counts the bars this ingestion run has written so far."""
    per = datasets.groupby(["symbol_id", "timeframe"]).agg(
        bars=("bar_count", "sum"), from_ts=("start_ts", "min"), to_ts=("end_ts", "max")
    ).reset_index()
    args = (
        per["symbol_id"].tolist(), per["timeframe"].tolist(),
        [None if pd.isna(v) else v.to_pydatetime() for v in per["from_ts"]],
        [None if pd.isna(v) else v.to_pydatetime() for v in per["to_ts"]],
        per["bars"].astype(int).tolist(),
    )
    conn.execute(
        """
        INSERT INTO market.coverage_status AS c (symbol_id, timeframe, from_ts, to_ts, last_success_at,
                                                 last_rows_written, last_provider)
        SELECT s, t, f, e, now(), n, %s
        FROM unnest(%s::bigint[], %s::text[], %s::timestamptz[], %s::timestamptz[], %s::bigint[]) AS u(s, t, f, e, n)
        WHERE f IS NOT NULL
        ON CONFLICT (symbol_id, timeframe) DO UPDATE SET
            from_ts = LEAST(c.from_ts, EXCLUDED.from_ts),
            to_ts = GREATEST(c.to_ts, EXCLUDED.to_ts),
            last_success_at = EXCLUDED.last_success_at,
            last_rows_written = EXCLUDED.last_rows_written,
            last_provider = EXCLUDED.last_provider
        """,
        (provider, *args),
    )
    conn.execute(
        """
        INSERT INTO market.provider_checkpoints AS p (provider, symbol_id, timeframe, last_session,
                                                      last_ts, bars_written, ingestion_run_id)
        SELECT %s, s, t, %s, e, n, %s
        FROM unnest(%s::bigint[], %s::text[], %s::timestamptz[], %s::timestamptz[], %s::bigint[]) AS u(s, t, f, e, n)
        ON CONFLICT (provider, symbol_id, timeframe) DO UPDATE SET
            last_session = EXCLUDED.last_session,
            last_ts = COALESCE(GREATEST(p.last_ts, EXCLUDED.last_ts), p.last_ts, EXCLUDED.last_ts),
            bars_written = CASE WHEN p.ingestion_run_id = EXCLUDED.ingestion_run_id
                                THEN p.bars_written + EXCLUDED.bars_written ELSE EXCLUDED.bars_written END,
            ingestion_run_id = EXCLUDED.ingestion_run_id,
            updated_at = now()
        """,
        (provider, last_session, run_id, *args),
    )


def derive_period_bars(
    conn: psycopg.Connection, symbol_ids: list[int], first: dt.date, last: dt.date, provider: str, run_id: int
) -> int:
    """Rebuild w1 and mo1 bars of every period touching [first, last] from the stored d1 bars, so
    derived bars always equal their source whatever order partitions were written in."""
    written = 0
    for tf, unit in ((Timeframe.W1, "week"), (Timeframe.MO1, "month")):
        period_first = conn.execute("SELECT date_trunc(%s, %s::date)::date", (unit, first)).fetchone()[0]
        period_end = conn.execute(
            "SELECT (date_trunc(%s, %s::date) + ('1 ' || %s)::interval)::date", (unit, last, unit)
        ).fetchone()[0]
        conn.execute(
            "SELECT market.ensure_bar_partitions(%s::date::timestamp AT TIME ZONE 'UTC', "
            "%s::date::timestamp AT TIME ZONE 'UTC')",
            (period_first, period_end),
        )
        conn.execute(
            f"DELETE FROM {BAR_TABLE} WHERE symbol_id = ANY(%s) AND timeframe = %s "
            "AND session_date >= %s AND session_date < %s",
            (symbol_ids, tf.value, period_first, period_end),
        )
        cur = conn.execute(
            f"""
            INSERT INTO {BAR_TABLE} (symbol_id, timeframe, ts, session_date, open, high, low, close,
                                     volume, vwap, trade_count, provider, ingestion_run_id)
            SELECT symbol_id, %s, period::timestamp AT TIME ZONE 'UTC', period,
                   (array_agg(open ORDER BY ts))[1], max(high), min(low),
                   (array_agg(close ORDER BY ts DESC))[1], sum(volume),
                   sum(vwap * volume) / NULLIF(sum(volume), 0), sum(trade_count), %s, %s
            FROM (SELECT b.*, date_trunc(%s, b.session_date)::date AS period
                  FROM {BAR_TABLE} b
                  WHERE b.symbol_id = ANY(%s) AND b.timeframe = 'd1'
                    AND b.session_date >= %s AND b.session_date < %s) d
            GROUP BY symbol_id, period
            """,
            (tf.value, provider, run_id, unit, symbol_ids, period_first, period_end),
        )
        written += cur.rowcount
    return written
