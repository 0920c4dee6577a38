"""What the calendar says should run, and when. Framework-free and pure (no clock, no database):
the schedules and sensors in sensors/ pass the time in and turn the answers into run requests.

* intraday: a tick at `now` refreshes the session that is open at `now` (open <= now < close), or the
  session that closes exactly at `now` (the closing tick fetches the last bar). Early closes,
  holidays, weekends and DST all come from the calendar (swiftbolt.calendars).
* after close: a session's daily pipeline is due once close + buffer has passed
  (SWIFTBOLT_AFTER_CLOSE_BUFFER_MINUTES, default 20).
* freshness: a session must be materialized by close + buffer + grace (60 minutes).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from swiftbolt.calendars.sessions import sessions
from swiftbolt.markets import get_market
from swiftbolt.settings import after_close_buffer

FRESHNESS_GRACE = dt.timedelta(minutes=60)
_LOOKBACK = dt.timedelta(days=10)  # > the longest run of closed days (weekend + holidays)


def _utc(now: dt.datetime) -> pd.Timestamp:
    if now.tzinfo is None:
        raise ValueError(f"{now!r} is naive; pass a timezone-aware time")
    return pd.Timestamp(now).tz_convert("UTC")


def _sessions_between(market: str, first: dt.date, last: dt.date) -> pd.DataFrame:
    get_market(market)
    return sessions(market, first, last).reset_index(drop=True)


def intraday_tick_due(market: str, now: dt.datetime) -> dt.date | None:
    """The session an intraday tick at `now` refreshes, or None when the market is closed."""
    t = _utc(now)
    s = _sessions_between(market, (t - dt.timedelta(days=2)).date(), (t + dt.timedelta(days=1)).date())
    trading = s[(s["open_utc"] <= t) & (t < s["close_utc"])]
    if not trading.empty:
        return trading["date"].iloc[-1]
    closing = s[s["close_utc"] == t]
    return closing["date"].iloc[-1] if not closing.empty else None


def _due(market: str, now: dt.datetime, delay: dt.timedelta, since: dt.date | None) -> pd.DataFrame:
    t = _utc(now)
    first = since + dt.timedelta(days=1) if since else (t - _LOOKBACK).date()
    if first > t.date():
        return _sessions_between(market, t.date(), t.date()).iloc[0:0]
    s = _sessions_between(market, first, t.date())
    return s[s["close_utc"] + delay <= t]


def after_close_sessions(
    market: str, now: dt.datetime, buffer: dt.timedelta | None = None, since: dt.date | None = None
) -> list[dt.date]:
    """Sessions whose daily pipeline is due at `now` (close + buffer <= now), oldest first: every such
    session after `since`, or only the latest one when `since` is None."""
    delay = after_close_buffer() if buffer is None else buffer
    due = list(_due(market, now, delay, since)["date"])
    return due if since is not None else due[-1:]


def last_closed_sessions(market: str, now: dt.datetime, count: int,
                         buffer: dt.timedelta = dt.timedelta(0)) -> list[dt.date]:
    """The last `count` sessions with close + buffer <= now, oldest first."""
    t = _utc(now)
    lookback = dt.timedelta(days=count * 2 + 10)
    while True:
        s = _sessions_between(market, (t - lookback).date(), t.date())
        closed = list(s.loc[s["close_utc"] + buffer <= t, "date"])
        if len(closed) >= count or lookback > dt.timedelta(days=366 * 30):
            return closed[-count:]
        lookback *= 2


def last_closed_session(market: str, now: dt.datetime, buffer: dt.timedelta = dt.timedelta(0)) -> dt.date | None:
    """The latest session with close + buffer <= now."""
    due = after_close_sessions(market, now, buffer)
    return due[-1] if due else None


def session_close(market: str, session: dt.date) -> dt.datetime:
    s = _sessions_between(market, session, session)
    if s.empty:
        raise ValueError(f"{session} is not a {market} session")
    return s["close_utc"].iloc[0].to_pydatetime()


def freshness_deadline(
    market: str, session: dt.date, buffer: dt.timedelta | None = None, grace: dt.timedelta = FRESHNESS_GRACE
) -> dt.datetime:
    """When `session` must be materialized: close + after-close buffer + grace."""
    return session_close(market, session) + (after_close_buffer() if buffer is None else buffer) + grace


def last_session_past_deadline(
    market: str, now: dt.datetime, buffer: dt.timedelta | None = None, grace: dt.timedelta = FRESHNESS_GRACE
) -> tuple[dt.date, dt.datetime] | None:
    """The latest session whose freshness deadline has passed at `now`, with that deadline."""
    delay = (after_close_buffer() if buffer is None else buffer) + grace
    due = _due(market, now, delay, None)
    if due.empty:
        return None
    last = due.iloc[-1]
    return last["date"], (last["close_utc"] + delay).to_pydatetime()


# A run that started this long after a session's close fetched the whole session (a real feed
# publishes the last bars a little after they end).
COMPLETE_AFTER_CLOSE = dt.timedelta(minutes=5)


def holds_whole_session(run_started_at: dt.datetime, close_utc: dt.datetime, run_kind: str | None = None,
                        grace: dt.timedelta = COMPLETE_AFTER_CLOSE) -> bool:
    """Whether a run's writes of a session hold the whole session: the run started once the session had
    closed (plus `grace`), and it is not an intraday refresh (whose writes are the session so far)."""
    if run_started_at.tzinfo is None or close_utc.tzinfo is None:
        raise ValueError("pass timezone-aware times")
    return run_kind != "intraday" and run_started_at >= close_utc + grace


def calendar_differences(expected: pd.DataFrame, actual: pd.DataFrame) -> list[dict[str, Any]]:
    """Differences between two session tables (columns date, open_utc, close_utc; open sessions only)
    over the dates both cover: sessions missing on either side and differing open/close times."""
    if expected.empty or actual.empty:
        return []
    lo = max(min(expected["date"]), min(actual["date"]))
    hi = min(max(expected["date"]), max(actual["date"]))

    def by_date(frame: pd.DataFrame) -> dict[dt.date, tuple[pd.Timestamp, pd.Timestamp]]:
        return {
            d: (pd.Timestamp(o).tz_convert("UTC"), pd.Timestamp(c).tz_convert("UTC"))
            for d, o, c in zip(frame["date"], frame["open_utc"], frame["close_utc"], strict=True)
            if lo <= d <= hi
        }

    exp, act = by_date(expected), by_date(actual)
    out: list[dict[str, Any]] = []
    for day in sorted(set(exp) | set(act)):
        e, a = exp.get(day), act.get(day)
        if e == a:
            continue
        kind = "missing_in_actual" if a is None else "missing_in_expected" if e is None else "times_differ"
        out.append({
            "date": day.isoformat(),
            "kind": kind,
            "expected": None if e is None else {"open_utc": e[0].isoformat(), "close_utc": e[1].isoformat()},
            "actual": None if a is None else {"open_utc": a[0].isoformat(), "close_utc": a[1].isoformat()},
        })
    return out
