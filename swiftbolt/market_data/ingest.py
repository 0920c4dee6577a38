"""Ingest bars for a set of partitions (symbols x trading days): fetch each timeframe once for the
whole range (one paginated provider request), validate, and write month-sized chunks of whole
partitions, one transaction each. Lineage goes to market.ingestion_runs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import psycopg

from swiftbolt.calendars.sessions import sessions
from swiftbolt.db.connection import connect
from swiftbolt.market_data.bar_store import partition_checksums, write_bar_chunk
from swiftbolt.market_data.types import BAR_COLUMNS, MarketDataProvider, ProviderError, Timeframe
from swiftbolt.market_data.validation import validate_bars

CHUNK_SESSIONS = 21  # about a month of sessions per transaction


@dataclass(frozen=True)
class RunInfo:
    dagster_run_id: str | None = None
    dagster_root_run_id: str | None = None
    partition_range: str | None = None
    code_version: str = "1"
    feed: str | None = None

    @property
    def is_retry(self) -> bool:
        return bool(self.dagster_root_run_id and self.dagster_root_run_id != self.dagster_run_id)


@dataclass
class IngestReport:
    ingestion_run_id: int = 0
    sessions_requested: int = 0
    sessions_written: int = 0
    resumed_after: dt.date | None = None
    rows_written: int = 0
    rows_rejected: int = 0
    rows_by_timeframe: dict[str, int] = field(default_factory=dict)
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    first_ts: pd.Timestamp | None = None
    last_ts: pd.Timestamp | None = None
    checksum: str = "0" * 16
    chunks: int = 0
    provider_requests: int = 0


def fetch_window(market: str, session_dates: list[dt.date]) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, end) covering the sessions: from the first day's 00:00 UTC (daily bars are stamped
    there) to the later of the last close and the next day's 00:00 UTC."""
    first, last = min(session_dates), max(session_dates)
    cal = sessions(market, last, last)
    start = pd.Timestamp(first, tz="UTC")
    end = pd.Timestamp(last + dt.timedelta(days=1), tz="UTC")
    if not cal.empty:
        end = max(end, pd.Timestamp(cal["close_utc"].iloc[-1]))
    return start, end


def _start_run(url: str, provider: str, info: RunInfo) -> int:
    with connect(url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO market.ingestion_runs (provider, feed, dagster_run_id, dagster_root_run_id, "
            "partition_range, code_version) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (provider, info.feed, info.dagster_run_id, info.dagster_root_run_id, info.partition_range,
             info.code_version),
        ).fetchone()
    assert row is not None
    return int(row[0])


def _finish_run(url: str, run_id: int, report: IngestReport, error: str | None) -> None:
    try:
        with connect(url, autocommit=True) as conn:
            conn.execute(
                "UPDATE market.ingestion_runs SET status = %s, finished_at = now(), rows_written = %s, "
                "rows_rejected = %s, error = %s WHERE id = %s",
                ("failed" if error else "success", report.rows_written, report.rows_rejected, error, run_id),
            )
    except Exception:  # the database may be what failed; the run is then left 'running' (visible)
        if error is None:
            raise


def _resume_point(
    conn: psycopg.Connection, provider: str, symbol_ids: list[int], timeframes: list[str], info: RunInfo
) -> dt.date | None:
    """On a retry of a failed run, the last session every (symbol, timeframe) completed in that
    run's chain; sessions up to it are not fetched again."""
    if not info.is_retry:
        return None
    row = conn.execute(
        """
        SELECT min(p.last_session), count(*)
        FROM market.provider_checkpoints p
        JOIN market.ingestion_runs r ON r.id = p.ingestion_run_id
        WHERE p.provider = %s AND p.symbol_id = ANY(%s) AND p.timeframe = ANY(%s)
          AND r.dagster_root_run_id = %s
        """,
        (provider, symbol_ids, timeframes, info.dagster_root_run_id),
    ).fetchone()
    if row is None or row[1] < len(symbol_ids) * len(timeframes):
        return None
    return row[0]


def _fetch(
    provider: MarketDataProvider, market: str, tickers: list[str], tf: Timeframe, dates: list[dt.date]
) -> pd.DataFrame:
    start, end = fetch_window(market, dates)
    frame = provider.bars(tickers, tf, start.to_pydatetime(), end.to_pydatetime())
    missing = [c for c in BAR_COLUMNS if c not in frame.columns]
    if missing:
        raise ProviderError(f"{provider.name} returned {tf.value} bars without columns {missing}")
    unknown = sorted(set(frame["symbol"].astype(str)) - set(tickers))
    if unknown:
        raise ProviderError(f"{provider.name} returned {tf.value} bars for unrequested symbols {unknown}")
    return frame


def ingest_bars(
    url: str,
    provider: MarketDataProvider,
    market: str,
    symbols: dict[str, int],
    session_dates: list[dt.date],
    timeframes: list[Timeframe],
    info: RunInfo,
    log: Callable[[str], None] = lambda _: None,
    chunk_sessions: int = CHUNK_SESSIONS,
) -> IngestReport:
    """Fetch, validate and write bars for symbols x session_dates. Raises on provider or database
    failure after marking the ingestion run failed; committed chunks stay (they are whole partitions)."""
    report = IngestReport(sessions_requested=len(session_dates))
    run_id = _start_run(url, provider.name, info)
    report.ingestion_run_id = run_id
    tickers = sorted(symbols)
    ids = [symbols[t] for t in tickers]
    try:
        with connect(url) as conn:
            resume = _resume_point(conn, provider.name, ids, [t.value for t in timeframes], info)
            conn.commit()
            dates = sorted(d for d in session_dates if resume is None or d > resume)
            report.resumed_after = resume
            if resume is not None:
                log(f"retry of run {info.dagster_root_run_id}: resuming after {resume}")
            if not dates:
                _finish_run(url, run_id, report, None)
                return report
            clean_parts, rejected_parts = [], []
            for tf in timeframes:
                frame = _fetch(provider, market, tickers, tf, dates)
                report.provider_requests += 1
                result = validate_bars(frame, market, tf)
                clean_parts.append(result.clean)
                rejected_parts.append(result.rejected)
            clean = pd.concat(clean_parts, ignore_index=True)
            rejected = pd.concat(rejected_parts, ignore_index=True)
            clean["symbol_id"] = clean["symbol"].map(symbols).astype("int64")
            rejected["symbol_id"] = rejected["symbol"].map(symbols).astype("int64")
            # rows outside the requested partitions (e.g. the provider's extra days) are not ours
            wanted = pd.DatetimeIndex(pd.to_datetime(dates))
            clean = clean[clean["session_date"].isin(wanted)]
            rejected = rejected[rejected["session_date"].isin(wanted) | rejected["session_date"].isna()]
            clean = clean.sort_values("session_date", kind="stable")
            day_values = clean["session_date"].to_numpy()
            for start in range(0, len(dates), chunk_sessions):
                chunk_dates = dates[start : start + chunk_sessions]
                chunk_days = wanted[start : start + len(chunk_dates)]
                lo = np.searchsorted(day_values, chunk_days[0].to_datetime64(), side="left")
                hi = np.searchsorted(day_values, chunk_days[-1].to_datetime64(), side="right")
                chunk_bars = clean.iloc[lo:hi]
                chunk_rej = rejected[rejected["session_date"].isin(chunk_days)]
                if start == 0:  # rows with no trading day (bad timestamps) are kept with the first chunk
                    chunk_rej = pd.concat([chunk_rej, rejected[rejected["session_date"].isna()]])
                with conn.transaction():
                    stats = write_bar_chunk(
                        conn, bars=chunk_bars, rejected=chunk_rej, symbol_ids=ids, timeframes=timeframes,
                        session_dates=chunk_dates, provider=provider.name, ingestion_run_id=run_id,
                    )
                report.chunks += 1
                report.sessions_written += len(chunk_dates)
                report.rows_written += stats.rows_written
                report.rows_rejected += stats.rows_rejected
                for k, v in stats.by_timeframe.items():
                    report.rows_by_timeframe[k] = report.rows_by_timeframe.get(k, 0) + v
            if not rejected.empty:
                report.rejected_by_reason = {str(k): int(v) for k, v in rejected["reason"].value_counts().items()}
            if not clean.empty:
                report.first_ts, report.last_ts = clean["ts"].min(), clean["ts"].max()
                sums = partition_checksums(clean)
                total = np.sum(np.array([int(c, 16) for c in sums["checksum"]], dtype=np.uint64), dtype=np.uint64)
                report.checksum = f"{int(total):016x}"
    except Exception as exc:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        _finish_run(url, run_id, report, first_line[:500])
        raise
    _finish_run(url, run_id, report, None)
    return report
