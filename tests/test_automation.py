"""The automation's time decisions (swiftbolt.calendars.timing), pure: frozen times in, sessions out.

The holiday / early-close list in fixtures/us_equity_holidays_early_closes_2015_2027_crosschecked.csv is
copied from ../shared/data/calendars (generated from exchange-calendars 4.13.2, cross-checked against
pandas-market-calendars 5.5.0 and QuantConnect Lean's market-hours database).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from swiftbolt import settings
from swiftbolt.calendars import timing
from swiftbolt.calendars.sessions import sessions
from swiftbolt.calendars.timing import after_close_sessions, intraday_tick_due, last_closed_session
from swiftbolt.errors import ConfigError
from tests.helpers import FIXTURES, utc

UTC = dt.UTC
NY = ZoneInfo("America/New_York")
BUFFER = dt.timedelta(minutes=20)




def ny(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=NY)


def ticks(day: dt.date, tz: dt.tzinfo = UTC) -> list[dt.datetime]:
    """Every 15-minute tick of a calendar day."""
    start = dt.datetime(day.year, day.month, day.day, tzinfo=tz)
    return [start + dt.timedelta(minutes=15 * i) for i in range(96)]


def test_mlk_day_no_equity_ticks_crypto_ticks_all_day() -> None:
    day = dt.date(2025, 1, 20)
    assert [t for t in ticks(day) if intraday_tick_due("us_equity", t)] == []
    assert all(intraday_tick_due("crypto", t) == day for t in ticks(day))
    # after close: nothing for equities on the holiday (Friday was the last session), crypto has Sunday
    assert after_close_sessions("us_equity", utc(2025, 1, 20, 23, 0), BUFFER, since=dt.date(2025, 1, 17)) == []
    assert after_close_sessions("crypto", utc(2025, 1, 20, 0, 20), BUFFER) == [dt.date(2025, 1, 19)]
    assert after_close_sessions("crypto", utc(2025, 1, 20, 0, 19), BUFFER) == [dt.date(2025, 1, 18)]


def test_saturday_is_crypto_only() -> None:
    day = dt.date(2025, 11, 22)
    assert not any(intraday_tick_due("us_equity", t) for t in ticks(day))
    assert all(intraday_tick_due("crypto", t) == day for t in ticks(day))
    assert after_close_sessions("us_equity", utc(2025, 11, 22, 23, 59), BUFFER, since=dt.date(2025, 11, 21)) == []
    assert after_close_sessions("crypto", utc(2025, 11, 22, 0, 30), BUFFER, since=dt.date(2025, 11, 20)) == [
        dt.date(2025, 11, 21)
    ]


def test_day_after_thanksgiving_early_close() -> None:
    day = dt.date(2025, 11, 28)
    due = [t for t in ticks(day) if intraday_tick_due("us_equity", t) == day]
    assert due[0] == ny(2025, 11, 28, 9, 30) and due[-1] == ny(2025, 11, 28, 13, 0)
    assert len(due) == 15  # 09:30 .. 13:00 every 15 minutes
    assert intraday_tick_due("us_equity", ny(2025, 11, 28, 13, 15)) is None
    assert intraday_tick_due("us_equity", ny(2025, 11, 28, 16, 0)) is None
    since = dt.date(2025, 11, 26)
    assert after_close_sessions("us_equity", ny(2025, 11, 28, 13, 19), BUFFER, since=since) == []
    assert after_close_sessions("us_equity", ny(2025, 11, 28, 13, 20), BUFFER, since=since) == [day]
    # the first minute at which the session is due is 13:20 ET, hours before a 16:00 close would be
    first_due = next(t for t in (ny(2025, 11, 28, 12, 0) + dt.timedelta(minutes=m) for m in range(360))
                     if after_close_sessions("us_equity", t, BUFFER, since=since))
    assert first_due == ny(2025, 11, 28, 13, 20) == utc(2025, 11, 28, 18, 20)


@pytest.mark.parametrize(
    ("day", "open_utc", "close_utc"),
    [
        (dt.date(2025, 3, 7), utc(2025, 3, 7, 14, 30), utc(2025, 3, 7, 21, 0)),  # last Friday on EST
        (dt.date(2025, 3, 10), utc(2025, 3, 10, 13, 30), utc(2025, 3, 10, 20, 0)),  # first weekday on EDT
        (dt.date(2025, 10, 31), utc(2025, 10, 31, 13, 30), utc(2025, 10, 31, 20, 0)),  # last Friday on EDT
        (dt.date(2025, 11, 3), utc(2025, 11, 3, 14, 30), utc(2025, 11, 3, 21, 0)),  # first weekday on EST
    ],
)
def test_dst_changes_open_and_close_at_the_right_utc_times(day, open_utc, close_utc) -> None:
    fifteen = dt.timedelta(minutes=15)
    assert intraday_tick_due("us_equity", open_utc - fifteen) is None
    assert intraday_tick_due("us_equity", open_utc) == day
    assert intraday_tick_due("us_equity", close_utc) == day
    assert intraday_tick_due("us_equity", close_utc + fifteen) is None
    assert last_closed_session("us_equity", close_utc + BUFFER - dt.timedelta(seconds=1), BUFFER) != day
    assert last_closed_session("us_equity", close_utc + BUFFER, BUFFER) == day


def test_dst_ticks_named_in_the_issue() -> None:
    assert intraday_tick_due("us_equity", utc(2025, 3, 10, 13, 30)) == dt.date(2025, 3, 10)
    assert intraday_tick_due("us_equity", utc(2025, 3, 10, 13, 15)) is None
    assert intraday_tick_due("us_equity", utc(2025, 11, 3, 14, 30)) == dt.date(2025, 11, 3)
    assert intraday_tick_due("us_equity", utc(2025, 11, 3, 13, 30)) is None


def _fixture_calendar() -> pd.DataFrame:
    """Rows on which exchange-calendars and pandas-market-calendars agree (Lean alone lists a few
    extra, e.g. a Sunday 'early close' on 2017-12-24)."""
    frame = pd.read_csv(FIXTURES / "us_equity_holidays_early_closes_2015_2027_crosschecked.csv")
    return frame[frame["in_exchange_calendars"] & frame["in_pandas_market_calendars"]]


def test_every_early_close_2015_2027_stops_ticks_and_runs_after_close_early() -> None:
    early = _fixture_calendar().query("kind == 'early_close'")
    assert len(early) >= 20
    for _, row in early.iterrows():
        day = dt.date.fromisoformat(row["date"])
        hh, mm = (int(x) for x in row["close_et"].split(":"))
        close = dt.datetime(day.year, day.month, day.day, hh, mm, tzinfo=NY)
        assert intraday_tick_due("us_equity", close) == day, day
        assert intraday_tick_due("us_equity", close + dt.timedelta(minutes=15)) is None, day
        assert after_close_sessions("us_equity", close + BUFFER, BUFFER)[-1] == day, day
        assert last_closed_session("us_equity", close + BUFFER - dt.timedelta(minutes=1), BUFFER) != day


def test_every_holiday_2015_2027_has_no_equity_tick() -> None:
    closed = _fixture_calendar().query("kind == 'closed'")
    for d in closed["date"]:
        day = dt.date.fromisoformat(d)
        regular = [dt.datetime(day.year, day.month, day.day, h, m, tzinfo=NY) for h, m in ((9, 30), (12, 0), (16, 0))]
        assert not any(intraday_tick_due("us_equity", t) for t in regular), day


def test_a_regular_week_of_ticks_matches_the_calendar() -> None:
    week = [dt.date(2025, 6, 2) + dt.timedelta(days=i) for i in range(7)]
    cal = sessions("us_equity", week[0], week[-1]).set_index("date")
    for day in week:
        due = [t for t in ticks(day) if intraday_tick_due("us_equity", t) == day]
        if day.weekday() >= 5:
            assert due == []
            continue
        assert due[0] == cal.loc[day, "open_utc"] and due[-1] == cal.loc[day, "close_utc"]
        assert len(due) == 27  # 09:30 .. 16:00


def test_after_close_catches_up_from_the_cursor_and_starts_with_the_latest_session() -> None:
    now = utc(2025, 11, 25, 22, 0)  # Tuesday after close
    assert after_close_sessions("us_equity", now, BUFFER) == [dt.date(2025, 11, 25)]
    assert after_close_sessions("us_equity", now, BUFFER, since=dt.date(2025, 11, 20)) == [
        dt.date(2025, 11, 21), dt.date(2025, 11, 24), dt.date(2025, 11, 25)
    ]
    assert after_close_sessions("us_equity", now, BUFFER, since=dt.date(2025, 11, 25)) == []
    assert after_close_sessions("us_equity", now, BUFFER, since=dt.date(2025, 11, 26)) == []


def test_crypto_day_closes_at_utc_midnight() -> None:
    assert intraday_tick_due("crypto", utc(2025, 6, 1, 0, 0)) == dt.date(2025, 6, 1)  # the new day wins
    assert intraday_tick_due("crypto", utc(2025, 6, 1, 23, 45)) == dt.date(2025, 6, 1)
    assert last_closed_session("crypto", utc(2025, 6, 2, 0, 20), BUFFER) == dt.date(2025, 6, 1)
    assert last_closed_session("crypto", utc(2025, 6, 2, 0, 19), BUFFER) == dt.date(2025, 5, 31)


def test_freshness_deadline_is_close_plus_buffer_plus_grace() -> None:
    assert timing.freshness_deadline("us_equity", dt.date(2025, 11, 28), BUFFER) == utc(2025, 11, 28, 19, 20)
    assert timing.last_session_past_deadline("us_equity", utc(2025, 11, 28, 19, 20), BUFFER) == (
        dt.date(2025, 11, 28), utc(2025, 11, 28, 19, 20)
    )
    assert timing.last_session_past_deadline("us_equity", utc(2025, 11, 28, 19, 19), BUFFER)[0] == dt.date(
        2025, 11, 26
    )


def test_after_close_buffer_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(settings.AFTER_CLOSE_BUFFER_ENV, raising=False)
    assert settings.after_close_buffer() == dt.timedelta(minutes=20)
    monkeypatch.setenv(settings.AFTER_CLOSE_BUFFER_ENV, "45")
    assert settings.after_close_buffer() == dt.timedelta(minutes=45)
    assert after_close_sessions("us_equity", ny(2025, 11, 28, 13, 44), since=dt.date(2025, 11, 26)) == []
    assert after_close_sessions("us_equity", ny(2025, 11, 28, 13, 45), since=dt.date(2025, 11, 26)) == [
        dt.date(2025, 11, 28)
    ]
    for bad in ("soon", "-5", "10000"):
        monkeypatch.setenv(settings.AFTER_CLOSE_BUFFER_ENV, bad)
        with pytest.raises(ConfigError, match=settings.AFTER_CLOSE_BUFFER_ENV):
            settings.after_close_buffer()


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        intraday_tick_due("us_equity", dt.datetime(2025, 6, 2, 15, 0))


def test_calendar_differences() -> None:
    ours = sessions("us_equity", dt.date(2025, 11, 24), dt.date(2025, 12, 5))[["date", "open_utc", "close_utc"]]
    assert timing.calendar_differences(ours, ours.copy()) == []
    theirs = ours.copy()
    theirs.loc[theirs["date"] == dt.date(2025, 11, 28), "close_utc"] = pd.Timestamp("2025-11-28 21:00", tz="UTC")
    theirs = theirs[theirs["date"] != dt.date(2025, 12, 1)]
    extra = pd.DataFrame({"date": [dt.date(2025, 11, 27)], "open_utc": [pd.Timestamp("2025-11-27 14:30", tz="UTC")],
                          "close_utc": [pd.Timestamp("2025-11-27 21:00", tz="UTC")]})
    theirs = pd.concat([theirs, extra]).sort_values("date")
    diffs = timing.calendar_differences(ours, theirs)
    assert [(d["date"], d["kind"]) for d in diffs] == [
        ("2025-11-27", "missing_in_expected"), ("2025-11-28", "times_differ"), ("2025-12-01", "missing_in_actual")
    ]
    # only the dates both sides cover are compared
    assert timing.calendar_differences(ours, theirs[theirs["date"] <= dt.date(2025, 11, 26)]) == []
