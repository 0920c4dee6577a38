"""Ingest bars for a set of partitions (symbols x trading days): fetch each timeframe once for the
whole range (one paginated provider request per run of consecutive sessions), validate, derive h1/h4
from the m15 bars, and write month-sized chunks of whole partitions, one transaction each. Lineage
goes to market.ingestion_runs.

Every row a provider returns is accounted for: it is stored, or quarantined with a reason and the
session it claims (`session_date`, e.g. a Saturday) under the requested partition it arrived with
(`partition_date`, which a re-run of that partition replaces). Per request, received = stored +
quarantined (IngestReport.requests; checked before anything is written)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import psycopg

from swiftbolt.calendars.sessions import sessions
from swiftbolt.db.connection import connect
from swiftbolt.market_data.bar_store import partition_checksums, write_bar_chunk
from swiftbolt.market_data.session_bars import SESSION_DERIVED, derive_session_bars
from swiftbolt.market_data.types import (
    BAR_COLUMNS,
    DERIVED_TIMEFRAMES,
    MarketDataProvider,
    ProviderError,
    Timeframe,
)
from swiftbolt.market_data.validation import raw_json, validate_bars

CHUNK_SESSIONS = 21  # about a month of sessions per transaction


@dataclass(frozen=True)
class RunInfo:
    dagster_run_id: str | None = None
    dagster_root_run_id: str | None = None
    partition_range: str | None = None
    code_version: str = "1"
    feed: str | None = None
    asset_key: str | None = None  # e.g. "us_equity/ohlc_bars": whose stale 'running' rows a run may abandon

    @property
    def is_retry(self) -> bool:
        return bool(self.dagster_root_run_id and self.dagster_root_run_id != self.dagster_run_id)


@dataclass(frozen=True)
class RequestAccount:
    """One provider request: what it returned and where every row went."""

    timeframe: str
    start: pd.Timestamp
    end: pd.Timestamp
    received: int
    stored: int
    quarantined: int
    quarantined_by_reason: dict[str, int]


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
    rows_received: int = 0
    rows_derived: int = 0  # h1/h4 aggregated from the m15 bars (also in rows_written)
    requests: list[RequestAccount] = field(default_factory=list)


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


def request_blocks(market: str, dates: list[dt.date]) -> list[list[dt.date]]:
    """The sessions split into runs of consecutive sessions of the market: each run is one provider
    request, so a request never returns bars of a trading day that was not asked for."""
    if not dates:
        return []
    dates = sorted(dates)
    all_days = sessions(market, dates[0], dates[-1])["date"].tolist()
    position = {d: i for i, d in enumerate(all_days)}
    blocks: list[list[dt.date]] = [[dates[0]]]
    for prev, day in itertools.pairwise(dates):
        if position.get(day, -2) == position.get(prev, -5) + 1:
            blocks[-1].append(day)
        else:
            blocks.append([day])
    return blocks


def _start_run(url: str, provider: str, info: RunInfo) -> int:
    with connect(url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO market.ingestion_runs (provider, feed, dagster_run_id, dagster_root_run_id, "
            "partition_range, code_version, asset_key) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (provider, info.feed, info.dagster_run_id, info.dagster_root_run_id, info.partition_range,
             info.code_version, info.asset_key),
        ).fetchone()
    assert row is not None
    return int(row[0])


def _finish_run(url: str, run_id: int, report: IngestReport, error: str | None) -> None:
    try:
        with connect(url, autocommit=True) as conn:
            conn.execute(
                "UPDATE market.ingestion_runs SET status = %s, finished_at = now(), rows_written = %s, "
                "rows_rejected = %s, rows_received = %s, error = %s WHERE id = %s",
                ("failed" if error else "success", report.rows_written, report.rows_rejected,
                 report.rows_received, error, run_id),
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
    provider: MarketDataProvider, tickers: list[str], tf: Timeframe, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    frame = provider.bars(tickers, tf, start.to_pydatetime(), end.to_pydatetime())
    missing = [c for c in BAR_COLUMNS if c not in frame.columns]
    if missing:
        raise ProviderError(f"{provider.name} returned {tf.value} bars without columns {missing}")
    # the quarantine is keyed by symbol: a row of a symbol nobody asked for cannot be attributed
    unknown = sorted(set(pd.unique(frame["symbol"].astype(str))) - set(tickers))
    if unknown:
        raise ProviderError(f"{provider.name} returned {tf.value} bars for unrequested symbols {unknown}")
    return frame


def _stored_neighbours(conn: psycopg.Connection, symbols: dict[str, int], tf: Timeframe,
                       start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Per symbol, the last stored bar of `tf` before `start` and the first at or after `end`: the
    neighbours of a request's edge bars for the jump check."""
    tickers = sorted(symbols)
    rows = conn.execute(
        """
        SELECT u.ticker, b.ts, b.open, b.close
        FROM unnest(%s::bigint[], %s::text[]) AS u(symbol_id, ticker)
        CROSS JOIN LATERAL (
            (SELECT ts, open, close FROM market.ohlc_bars
             WHERE symbol_id = u.symbol_id AND timeframe = %s AND ts < %s ORDER BY ts DESC LIMIT 1)
            UNION ALL
            (SELECT ts, open, close FROM market.ohlc_bars
             WHERE symbol_id = u.symbol_id AND timeframe = %s AND ts >= %s ORDER BY ts LIMIT 1)
        ) b
        """,
        ([symbols[t] for t in tickers], tickers, tf.value, start.to_pydatetime(), tf.value, end.to_pydatetime()),
    ).fetchall()
    return pd.DataFrame(rows, columns=["symbol", "ts", "open", "close"])


def _known_splits(conn: psycopg.Connection, symbols: dict[str, int]) -> pd.DataFrame:
    """Splits and reverse splits of the symbols in market.corporate_actions (symbol, ex_date, ratio)."""
    tickers = sorted(symbols)
    rows = conn.execute(
        """
        SELECT u.ticker, ca.ex_date, ca.ratio
        FROM unnest(%s::bigint[], %s::text[]) AS u(symbol_id, ticker)
        JOIN market.corporate_actions ca ON ca.symbol_id = u.symbol_id
        WHERE ca.action_type IN ('split', 'reverse_split') AND ca.ratio > 0
        """,
        ([symbols[t] for t in tickers], tickers),
    ).fetchall()
    return pd.DataFrame(rows, columns=["symbol", "ex_date", "ratio"])


def _attribute(rejected: pd.DataFrame, block: list[dt.date]) -> pd.Series:
    """The requested partition each quarantined row is kept under: the latest requested session on or
    before the session it claims (the first one when it claims none or an earlier day)."""
    days = pd.DatetimeIndex(pd.to_datetime(block)).to_numpy()
    claimed = pd.to_datetime(rejected["session_date"]).to_numpy()
    at = np.searchsorted(days, claimed, side="right") - 1
    at[np.isnat(claimed)] = 0
    return pd.Series(days[np.clip(at, 0, len(days) - 1)], index=rejected.index)


def _request(
    conn: psycopg.Connection, provider: MarketDataProvider, market: str, symbols: dict[str, int],
    tf: Timeframe, block: list[dt.date], splits: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame, RequestAccount]:
    """Fetch and validate one request; returns clean bars, quarantine rows and the account."""
    tickers = sorted(symbols)
    start, end = fetch_window(market, block)
    frame = _fetch(provider, tickers, tf, start, end)
    neighbours = _stored_neighbours(conn, symbols, tf, start, end)
    conn.commit()  # no transaction stays open across provider requests
    result = validate_bars(frame, market, tf, window=(start, end), neighbours=neighbours, splits=splits)
    clean, rejected = result.clean, result.rejected
    wanted = pd.DatetimeIndex(pd.to_datetime(block))
    stray = ~clean["session_date"].isin(wanted)
    if stray.any():  # cannot happen for a consecutive block; kept so nothing is ever dropped
        extra = clean[stray]
        rejected = pd.concat([rejected, pd.DataFrame({
            "symbol": extra["symbol"].astype(str), "timeframe": tf.value, "ts": extra["ts"].astype(str),
            "session_date": extra["session_date"], "reason": "session not requested", "raw": raw_json(extra),
        })], ignore_index=True)
        clean = clean[~stray]
    rejected = rejected.assign(partition_date=_attribute(rejected, block))
    account = RequestAccount(
        timeframe=tf.value, start=start, end=end, received=len(frame), stored=len(clean),
        quarantined=len(rejected),
        quarantined_by_reason={str(k): int(v) for k, v in rejected["reason"].value_counts().items()},
    )
    if account.received != account.stored + account.quarantined:
        raise AssertionError(f"{tf.value} request {start}..{end}: {account.received} rows received but "
                             f"{account.stored} stored + {account.quarantined} quarantined")
    return clean, rejected, account


def _derive(clean: pd.DataFrame, market: str, derived: list[Timeframe]) -> pd.DataFrame:
    m15 = clean[clean["timeframe"] == Timeframe.M15.value]
    parts = [derive_session_bars(m15, market, tf) for tf in derived]
    return pd.concat(parts, ignore_index=True) if parts else clean.iloc[0:0]


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
    """Fetch, validate and write bars of the fetched `timeframes` (h1/h4 are derived from m15 when
    m15 is among them) for symbols x session_dates. Raises on provider or database failure after
    marking the ingestion run failed; committed chunks stay (they are whole partitions)."""
    refused = [t.value for t in timeframes if t in DERIVED_TIMEFRAMES]
    if refused:
        raise ValueError(f"{refused} are derived (h1/h4 from m15, w1/mo1 from d1), not fetched")
    derived = [t for t in SESSION_DERIVED if Timeframe.M15 in timeframes]
    report = IngestReport(sessions_requested=len(session_dates))
    run_id = _start_run(url, provider.name, info)
    report.ingestion_run_id = run_id
    tickers = sorted(symbols)
    ids = [symbols[t] for t in tickers]
    try:
        with connect(url) as conn:
            resume = _resume_point(conn, provider.name, ids, [t.value for t in timeframes], info)
            dates = sorted(d for d in session_dates if resume is None or d > resume)
            report.resumed_after = resume
            if resume is not None:
                log(f"retry of run {info.dagster_root_run_id}: resuming after {resume}")
            if not dates:
                conn.commit()
                _finish_run(url, run_id, report, None)
                return report
            splits = _known_splits(conn, symbols)
            conn.commit()
            clean_parts, rejected_parts = [], []
            for tf in timeframes:
                for block in request_blocks(market, dates):
                    clean_part, rejected_part, account = _request(conn, provider, market, symbols, tf, block,
                                                                  splits)
                    report.provider_requests += 1
                    report.requests.append(account)
                    report.rows_received += account.received
                    clean_parts.append(clean_part)
                    rejected_parts.append(rejected_part)
            clean = pd.concat(clean_parts, ignore_index=True)
            rejected = pd.concat(rejected_parts, ignore_index=True)
            clean["symbol_id"] = clean["symbol"].map(symbols).astype("int64")
            rejected["symbol_id"] = rejected["symbol"].map(symbols).astype("int64")
            derived_bars = _derive(clean, market, derived)
            bars = pd.concat([clean, derived_bars], ignore_index=True) if len(derived_bars) else clean
            bars = bars.sort_values("session_date", kind="stable")
            day_values = bars["session_date"].to_numpy()
            wanted = pd.DatetimeIndex(pd.to_datetime(dates))
            written_timeframes = [*timeframes, *derived]
            for start in range(0, len(dates), chunk_sessions):
                chunk_dates = dates[start : start + chunk_sessions]
                chunk_days = wanted[start : start + len(chunk_dates)]
                lo = np.searchsorted(day_values, chunk_days[0].to_datetime64(), side="left")
                hi = np.searchsorted(day_values, chunk_days[-1].to_datetime64(), side="right")
                chunk_bars = bars.iloc[lo:hi]
                chunk_rej = rejected[rejected["partition_date"].isin(chunk_days)]
                with conn.transaction():
                    stats = write_bar_chunk(
                        conn, bars=chunk_bars, rejected=chunk_rej, symbol_ids=ids, timeframes=written_timeframes,
                        session_dates=chunk_dates, provider=provider.name, ingestion_run_id=run_id,
                    )
                report.chunks += 1
                report.sessions_written += len(chunk_dates)
                report.rows_written += stats.rows_written
                report.rows_rejected += stats.rows_rejected
                for k, v in stats.by_timeframe.items():
                    report.rows_by_timeframe[k] = report.rows_by_timeframe.get(k, 0) + v
            report.rows_derived = sum(report.rows_by_timeframe.get(t.value, 0) for t in derived)
            stored = report.rows_written - report.rows_derived
            if report.rows_received != stored + report.rows_rejected:
                raise AssertionError(f"{report.rows_received} rows received but {stored} stored + "
                                     f"{report.rows_rejected} quarantined")
            if not rejected.empty:
                report.rejected_by_reason = {str(k): int(v) for k, v in rejected["reason"].value_counts().items()}
            if not bars.empty:
                report.first_ts, report.last_ts = bars["ts"].min(), bars["ts"].max()
                sums = partition_checksums(bars)
                total = np.sum(np.array([int(c, 16) for c in sums["checksum"]], dtype=np.uint64), dtype=np.uint64)
                report.checksum = f"{int(total):016x}"
    except Exception as exc:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        _finish_run(url, run_id, report, first_line[:500])
        raise
    _finish_run(url, run_id, report, None)
    return report


def mark_abandoned_runs(
    url: str, asset_key: str, current_run_id: str | None, run_state: Callable[[str], str | None],
    alive_states: frozenset[str],
) -> list[tuple[int, str, str]]:
    """Mark as 'abandoned' the ingestion runs of `asset_key` still recorded as 'running' whose Dagster
    run is not alive (`run_state(dagster_run_id)` not in `alive_states`; None = unknown to the
    instance): killed or cut off before they could record how they ended. Rows of the legacy schema
    (no asset key) are checked too. Returns (ingestion run id, dagster run id, state) of each."""
    with connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT id, dagster_run_id FROM market.ingestion_runs WHERE status = 'running' "
            "AND dagster_run_id IS NOT NULL AND dagster_run_id IS DISTINCT FROM %s "
            "AND (asset_key = %s OR asset_key IS NULL) ORDER BY id",
            (current_run_id, asset_key),
        ).fetchall()
        marked: list[tuple[int, str, str]] = []
        for run_id, dagster_run_id in rows:
            state = run_state(dagster_run_id)
            if state in alive_states:
                continue
            described = state or "unknown to this Dagster instance"
            updated = conn.execute(
                "UPDATE market.ingestion_runs SET status = 'abandoned', finished_at = greatest(now(), started_at), "
                "error = %s WHERE id = %s AND status = 'running'",
                (f"abandoned: dagster run {dagster_run_id} is {described} and never recorded an end "
                 "(killed or cut off); noticed by a later run", run_id),
            )
            if updated.rowcount:
                marked.append((int(run_id), str(dagster_run_id), described))
    return marked
