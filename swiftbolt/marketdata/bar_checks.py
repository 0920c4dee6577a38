"""Quality and coverage assessment of bar partitions (symbol x trading day), for the asset checks.

Quality: rows quarantined for a data fault (prices, volume, timestamps, conflicting duplicates,
implausible jumps) against rows stored, counting the quarantined rows a partition's requests returned
(`partition_date`). Rows outside the regular session (e.g. Alpaca's extended-hours bars) and identical
duplicates collapsed into one are counted apart and do not fail the check. Coverage: every session
must have its daily bar (ERROR otherwise) and the full count of m15 bars the calendar implies, early
closes included (WARN otherwise).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import psycopg

from swiftbolt.calendars import sessions
from swiftbolt.marketdata.validation import NOT_FAULTS


@dataclass(frozen=True)
class QualityThresholds:
    error_reject_ratio: float = 0.01


@dataclass
class PartitionAssessment:
    quality_severity: str | None = None  # None = passed, else "WARN" / "ERROR"
    quality_message: str = ""
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    reject_ratio: float = 0.0
    coverage_severity: str | None = None
    coverage_message: str = ""
    missing_sessions: list[str] = field(default_factory=list)
    short_sessions: list[str] = field(default_factory=list)


def expected_bars(open_utc: dt.datetime, close_utc: dt.datetime, minutes: int) -> int:
    """Bars of `minutes` length whose interval overlaps the session (open-aligned)."""
    return math.ceil((close_utc - open_utc).total_seconds() / 60 / minutes)


def assess_partitions(
    conn: psycopg.Connection,
    market: str,
    symbol_ids: dict[str, int],
    by_symbol: dict[str, list[dt.date]],
    thresholds: QualityThresholds,
) -> PartitionAssessment:
    out = PartitionAssessment()
    pairs = [(symbol_ids[s], d) for s, dates in by_symbol.items() for d in dates]
    ids = [p[0] for p in pairs]
    days = [p[1] for p in pairs]
    reasons = conn.execute(
        """
        SELECT q.reason, count(*) FROM ops.bar_quarantine q
        JOIN unnest(%s::bigint[], %s::date[]) AS p(symbol_id, session_date)
          ON q.symbol_id = p.symbol_id AND q.partition_date = p.session_date
        GROUP BY q.reason
        """,
        (ids, days),
    ).fetchall()
    out.rejected_by_reason = {r: int(n) for r, n in reasons}
    counts = conn.execute(
        """
        SELECT s.ticker, d.session_date, d.timeframe, d.bar_count FROM market.bar_datasets d
        JOIN market.symbols s ON s.id = d.symbol_id
        JOIN unnest(%s::bigint[], %s::date[]) AS p(symbol_id, session_date)
          ON d.symbol_id = p.symbol_id AND d.session_date = p.session_date
        """,
        (ids, days),
    ).fetchall()
    stored = {(t, d, tf): int(n) for t, d, tf, n in counts}
    total_rows = sum(stored.values())
    quality_rejects = sum(n for r, n in out.rejected_by_reason.items() if r not in NOT_FAULTS)
    out.reject_ratio = quality_rejects / max(1, quality_rejects + total_rows)
    if quality_rejects == 0:
        out.quality_message = f"no data faults in {len(pairs)} partitions ({total_rows} rows stored)"
    else:
        out.quality_severity = "ERROR" if out.reject_ratio > thresholds.error_reject_ratio else "WARN"
        out.quality_message = (
            f"{quality_rejects} rows quarantined ({out.reject_ratio:.2%} of rows; ERROR above "
            f"{thresholds.error_reject_ratio:.2%}): see ops.bar_quarantine"
        )

    all_days = sorted(set(days))
    cal = sessions(market, all_days[0], all_days[-1]).set_index("date")
    for ticker, dates in by_symbol.items():
        for d in dates:
            if stored.get((ticker, d, "d1"), 0) == 0:
                out.missing_sessions.append(f"{ticker} {d}")
                continue
            if d in cal.index and (ticker, d, "m15") in stored:
                row = cal.loc[d]
                want = expected_bars(row["open_utc"], row["close_utc"], 15)
                have = stored[(ticker, d, "m15")]
                if have < want:
                    out.short_sessions.append(f"{ticker} {d}: {have}/{want} m15 bars")
    if out.missing_sessions:
        out.coverage_severity = "ERROR"
        out.coverage_message = f"{len(out.missing_sessions)} sessions have no daily bar"
    elif out.short_sessions:
        out.coverage_severity = "WARN"
        out.coverage_message = f"{len(out.short_sessions)} sessions have fewer m15 bars than the calendar implies"
    else:
        out.coverage_message = f"all {len(pairs)} sessions complete"
    return out


def symbols_without_daily_bars(conn: psycopg.Connection, market: str, session: dt.date) -> tuple[list[str], int]:
    """Active symbols of `market` with no daily bar set for `session` (market.bar_datasets), and the
    number of active symbols."""
    rows = conn.execute(
        """
        SELECT s.ticker, EXISTS (SELECT 1 FROM market.bar_datasets d
                                 WHERE d.symbol_id = s.id AND d.timeframe = 'd1' AND d.session_date = %s
                                   AND d.bar_count > 0)
        FROM market.symbols s WHERE s.market = %s AND s.is_active ORDER BY s.ticker
        """,
        (session, market),
    ).fetchall()
    return [t for t, present in rows if not present], len(rows)
