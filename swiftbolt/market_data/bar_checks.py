"""Quality and coverage assessment of bar partitions (symbol x trading day), for the asset checks.

Quality: rows quarantined for a data fault (prices, volume, timestamps, conflicting duplicates,
implausible jumps) against rows stored, counting the quarantined rows a partition's requests returned
(`partition_date`). Rows outside the regular session (e.g. Alpaca's extended-hours bars) and identical
duplicates collapsed into one are counted apart and do not fail the check. Coverage is judged by what
should exist at the moment the check looks (judge_sessions): a closed session must have its daily bar
(ERROR otherwise) and the full count of m15 bars the calendar implies, early closes included (WARN
otherwise); a session still open is complete up to its last ended bar and needs no daily bar yet.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import psycopg

from swiftbolt import clock
from swiftbolt.calendars.sessions import sessions
from swiftbolt.market_data.validation import NOT_FAULTS


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
    coverage: SessionJudgement | None = None
    quarantined: list[tuple[dt.date, str, str, int]] = field(default_factory=list)  # session, symbol, reason, rows

    def coverage_table(self) -> str:
        """Markdown: the incomplete partitions by session, symbols and reason."""
        return self.coverage.table() if self.coverage else "not judged"

    def quality_table(self, max_rows: int = 20) -> str:
        """Markdown: quarantined rows of the run's partitions by session, symbol and reason."""
        if not self.quarantined:
            return "no quarantined rows"
        lines = ["| session | symbol | reason | rows |", "|---|---|---|---|"]
        lines += [f"| {d} | {s} | {r} | {n} |" for d, s, r, n in self.quarantined[:max_rows]]
        if len(self.quarantined) > max_rows:
            lines.append(f"| ... | {len(self.quarantined) - max_rows} more rows | | |")
        return "\n".join(lines)


def expected_bars(open_utc: dt.datetime, close_utc: dt.datetime, minutes: int) -> int:
    """Bars of `minutes` length whose interval overlaps the session (open-aligned)."""
    return math.ceil((close_utc - open_utc).total_seconds() / 60 / minutes)


def assess_partitions(
    conn: psycopg.Connection,
    market: str,
    symbol_ids: dict[str, int],
    by_symbol: dict[str, list[dt.date]],
    thresholds: QualityThresholds,
    now: dt.datetime | None = None,
) -> PartitionAssessment:
    """Quality (quarantined rows) and coverage (judge_sessions at `now`, default the clock's) of the
    partitions symbol -> sessions."""
    out = PartitionAssessment()
    pairs = [(symbol_ids[s], d) for s, dates in by_symbol.items() for d in dates]
    ids = [p[0] for p in pairs]
    days = [p[1] for p in pairs]
    quarantined = conn.execute(
        """
        SELECT q.partition_date, s.ticker, q.reason, count(*) FROM ops.bar_quarantine q
        JOIN market.symbols s ON s.id = q.symbol_id
        JOIN unnest(%s::bigint[], %s::date[]) AS p(symbol_id, session_date)
          ON q.symbol_id = p.symbol_id AND q.partition_date = p.session_date
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        """,
        (ids, days),
    ).fetchall()
    for _, _, reason, n in quarantined:
        out.rejected_by_reason[reason] = out.rejected_by_reason.get(reason, 0) + int(n)
    out.quarantined = [(d, t, r, int(n)) for d, t, r, n in quarantined if r not in NOT_FAULTS]
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
        worst = sorted(out.quarantined, key=lambda q: -q[3])[:2]
        named = "; ".join(f"{d} {t}: {n} x {r}" for d, t, r, n in worst)
        out.quality_message = (
            f"{quality_rejects} rows quarantined ({out.reject_ratio:.2%} of rows; ERROR above "
            f"{thresholds.error_reject_ratio:.2%}): {named}{' ...' if len(out.quarantined) > 2 else ''} "
            "(ops.bar_quarantine)"
        )

    judged = judge_sessions(market, by_symbol, stored, now if now is not None else clock.utc_now())
    out.coverage = judged
    out.missing_sessions = [f"{i.symbol} {i.session}" for i in judged.issues if i.severity == "ERROR"]
    out.short_sessions = [f"{i.symbol} {i.session}: {i.reason}" for i in judged.issues if i.severity == "WARN"]
    out.coverage_severity = judged.severity
    out.coverage_message = judged.message(len(pairs))
    return out


# -- session coverage, judged at the moment the check looks ------------------------------------------

# Bars count as due once they ended this long before the check looks: a real feed publishes a bar a
# little after it ends, and the data was fetched a little before the check runs.
PUBLICATION_GRACE = dt.timedelta(minutes=5)
BAR_MINUTES = 15  # the intraday timeframe whose count is checked (m15)
NO_DAILY_BAR = "no daily (d1) bar"
NOT_A_SESSION = "not a trading session of the calendar"


@dataclass(frozen=True)
class SessionIssue:
    """One partition (session x symbol) that is not what it should be at the time of the check."""

    session: dt.date
    symbol: str
    severity: str  # "ERROR" | "WARN"
    state: str  # how the session was judged, e.g. "closed 20:00 UTC", "open until 20:00 UTC"
    reason: str


@dataclass(frozen=True)
class SessionJudgement:
    judged_at: dt.datetime
    issues: list[SessionIssue]
    states: dict[dt.date, str]  # every session of the check, judged as

    @property
    def severity(self) -> str | None:
        levels = {i.severity for i in self.issues}
        return "ERROR" if "ERROR" in levels else "WARN" if levels else None

    def message(self, partitions: int) -> str:
        """One line for the check's description."""
        if not self.issues:
            open_ = sorted(d for d, st in self.states.items() if st.startswith("open"))
            note = "".join(f"; {d} is {self.states[d]}: complete up to its last ended bar, no daily bar yet"
                           for d in open_[:3])
            return f"all {partitions} partitions complete at {self.judged_at:%Y-%m-%d %H:%M} UTC{note}"
        groups = issue_groups(self.issues)
        errors = sum(1 for i in self.issues if i.severity == "ERROR")
        warns = len(self.issues) - errors
        counts = ", ".join(p for p in (f"{errors} ERROR" if errors else "", f"{warns} WARN" if warns else "") if p)
        first = "; ".join(
            f"{session} ({state}): {reason} for {_symbols_text(symbols, 4)}"
            for (session, state, reason, _), symbols in list(groups.items())[:2]
        )
        more = f"; {len(groups) - 2} more (see the table)" if len(groups) > 2 else ""
        return f"{len(self.issues)} of {partitions} partitions incomplete ({counts}): {first}{more}"

    def table(self, max_rows: int = 20) -> str:
        """The issues as a markdown table: session, state when judged, symbols, reason, severity."""
        if not self.issues:
            return "no incomplete partitions"
        lines = ["| session | judged as | symbols | reason | severity |", "|---|---|---|---|---|"]
        groups = list(issue_groups(self.issues).items())
        for (session, state, reason, severity), symbols in groups[:max_rows]:
            lines.append(f"| {session} | {state} | {_symbols_text(symbols, 10)} | {reason} | {severity} |")
        if len(groups) > max_rows:
            lines.append(f"| ... | | {len(groups) - max_rows} more rows | | |")
        return "\n".join(lines)


def _symbols_text(symbols: list[str], limit: int) -> str:
    shown = ", ".join(symbols[:limit])
    return shown + (f" (+{len(symbols) - limit} more)" if len(symbols) > limit else "")


def issue_groups(issues: list[SessionIssue]) -> dict[tuple[dt.date, str, str, str], list[str]]:
    """(session, state, reason, severity) -> symbols; ERRORs first, then by session."""
    groups: dict[tuple[dt.date, str, str, str], list[str]] = {}
    for i in sorted(issues, key=lambda i: (i.severity != "ERROR", i.session, i.reason, i.symbol)):
        groups.setdefault((i.session, i.state, i.reason, i.severity), []).append(i.symbol)
    return groups


def bars_ended_by(open_utc: dt.datetime, close_utc: dt.datetime, at: dt.datetime, minutes: int) -> int:
    """Bars of `minutes` length (open-aligned, the last one cut at the close) that have ended by `at`."""
    if at >= close_utc:
        return expected_bars(open_utc, close_utc, minutes)
    if at <= open_utc:
        return 0
    return int((at - open_utc).total_seconds() // (60 * minutes))


def judge_sessions(
    market: str,
    by_symbol: dict[str, list[dt.date]],
    stored: dict[tuple[str, dt.date, str], int],
    now: dt.datetime,
    grace: dt.timedelta = PUBLICATION_GRACE,
) -> SessionJudgement:
    """Judge each partition by what should exist at `now` (stored: (ticker, session, timeframe) -> bars).

    * closed (close + grace <= now): a daily bar is required (ERROR without one), and the m15 bars the
      calendar implies, early closes included (WARN when fewer);
    * open (open <= now < close + grace): complete up to its last ended bar: the m15 bars that ended by
      now - grace (WARN when fewer); no daily bar is needed yet;
    * not started yet: nothing is expected;
    * a date that is not a session of the calendar (a holiday): ERROR.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(dt.UTC)
    all_days = sorted({d for dates in by_symbol.values() for d in dates})
    issues: list[SessionIssue] = []
    states: dict[dt.date, str] = {}
    if not all_days:
        return SessionJudgement(now, issues, states)
    cal = sessions(market, all_days[0], all_days[-1]).set_index("date")
    for d in all_days:
        if d not in cal.index:
            states[d] = "closed day"
            continue
        row = cal.loc[d]
        open_utc, close_utc = row["open_utc"].to_pydatetime(), row["close_utc"].to_pydatetime()
        early = " (early close)" if bool(row["is_early_close"]) else ""
        if now < open_utc:
            states[d] = f"not open yet (opens {open_utc:%H:%M} UTC)"
        elif now < close_utc + grace:
            states[d] = f"open until {close_utc:%H:%M} UTC{early}"
        else:
            states[d] = f"closed {close_utc:%H:%M} UTC{early}"
    for ticker, dates in by_symbol.items():
        for d in dates:
            state = states[d]
            if d not in cal.index:
                issues.append(SessionIssue(d, ticker, "ERROR", state, NOT_A_SESSION))
                continue
            row = cal.loc[d]
            open_utc, close_utc = row["open_utc"].to_pydatetime(), row["close_utc"].to_pydatetime()
            if state.startswith("not open"):
                continue
            if state.startswith("open"):
                cutoff = now - grace
                want = bars_ended_by(open_utc, close_utc, cutoff, BAR_MINUTES)
                have = stored.get((ticker, d, "m15"), 0)
                if have < want:
                    issues.append(SessionIssue(d, ticker, "WARN", state,
                                               f"{have}/{want} m15 bars ended by {cutoff:%H:%M} UTC"))
                continue
            if stored.get((ticker, d, "d1"), 0) == 0:
                issues.append(SessionIssue(d, ticker, "ERROR", state, NO_DAILY_BAR))
                continue
            if (ticker, d, "m15") in stored:
                want = expected_bars(open_utc, close_utc, BAR_MINUTES)
                have = stored[(ticker, d, "m15")]
                if have < want:
                    issues.append(SessionIssue(d, ticker, "WARN", state, f"{have}/{want} m15 bars"))
    return SessionJudgement(now, issues, states)


def stale_sessions_table(session: dt.date, deadline: dt.datetime, missing: list[str]) -> str:
    """Markdown table of the symbols without a daily bar for `session` after its deadline."""
    issues = [SessionIssue(session, t, "WARN", f"deadline {deadline:%Y-%m-%d %H:%M} UTC passed", NO_DAILY_BAR)
              for t in missing]
    return SessionJudgement(deadline, issues, {}).table()


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
