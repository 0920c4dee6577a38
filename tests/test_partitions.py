"""Trading-day partitions: built offline from the calendar library, equal to the NYSE sessions, with
Friday's session materializable on Friday evening (and requested only after its close)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg
import exchange_calendars as xcals
import pandas as pd
import pytest

from assets.partitions import (
    DATE_DIM,
    SYMBOL_DIM,
    build_trading_day_partitions,
    default_horizon_end,
    market_partitions,
    split_partition_keys,
    symbol_partitions,
    trading_day_partitions,
)
from swiftbolt.calendars.timing import after_close_sessions
from swiftbolt.settings import history_start
from tests.helpers import FIXTURES

UTC = dt.UTC
NY = ZoneInfo("America/New_York")
START, END = dt.date(2015, 1, 1), dt.date(2027, 12, 31)


@pytest.fixture(scope="module")
def equity_2015_2027() -> list[str]:
    partitions = build_trading_day_partitions("us_equity", START, END)
    keys = partitions.get_partition_keys(current_time=dt.datetime(2028, 1, 1, 12, tzinfo=UTC))
    return [k for k in keys if k <= END.isoformat()]


def test_partition_keys_2015_2027_equal_the_nyse_sessions(equity_2015_2027: list[str]) -> None:
    xnys = xcals.get_calendar("XNYS", start="2014-12-01", end="2028-02-01")
    sessions = [d.strftime("%Y-%m-%d") for d in xnys.sessions_in_range("2015-01-02", "2027-12-31")]
    assert equity_2015_2027 == sessions
    assert len(sessions) == 3268


def test_partition_keys_equal_weekdays_minus_the_crosschecked_holidays(equity_2015_2027: list[str]) -> None:
    # fixture copied from ../shared/data/calendars (exchange-calendars 4.13.2, pandas-market-calendars 5.5.0
    # and QuantConnect Lean agree on these rows)
    table = pd.read_csv(FIXTURES / "us_equity_holidays_early_closes_2015_2027_crosschecked.csv")
    agreed = table[table["in_exchange_calendars"] & table["in_pandas_market_calendars"]]
    closed = set(agreed.loc[agreed["kind"] == "closed", "date"])
    weekdays = [d.strftime("%Y-%m-%d") for d in pd.bdate_range(START, END)]
    assert equity_2015_2027 == [d for d in weekdays if d not in closed]
    early = set(agreed.loc[agreed["kind"] == "early_close", "date"])
    assert early <= set(equity_2015_2027)  # early closes are sessions


def test_friday_is_materializable_on_friday_evening_and_requested_only_after_its_close() -> None:
    partitions = trading_day_partitions("us_equity")
    friday = "2025-11-21"
    evening = dt.datetime(2025, 11, 21, 21, 30, tzinfo=UTC)  # 16:30 ET
    assert friday in partitions.get_partition_keys(current_time=evening)
    assert after_close_sessions("us_equity", evening, dt.timedelta(minutes=20)) == [dt.date(2025, 11, 21)]
    # the window is Friday only (a weekdays-only cron would stretch it to Monday)
    window = partitions.time_window_for_partition_key(friday)
    assert (window.start, window.end) == (dt.datetime(2025, 11, 21, tzinfo=NY), dt.datetime(2025, 11, 22, tzinfo=NY))
    # before the close the automation does not request it; the key exists (end_offset=1) for intraday runs
    afternoon = dt.datetime(2025, 11, 21, 20, 0, tzinfo=UTC)  # 15:00 ET
    assert after_close_sessions("us_equity", afternoon, dt.timedelta(minutes=20)) == [dt.date(2025, 11, 20)]
    assert friday in partitions.get_partition_keys(current_time=afternoon)
    # before Friday starts in New York, Friday is not a partition yet
    thursday_night = dt.datetime(2025, 11, 21, 4, 30, tzinfo=UTC)  # 23:30 ET Thursday
    assert partitions.get_partition_keys(current_time=thursday_night)[-1] == "2025-11-20"


def test_weekends_and_holidays_are_never_partitions() -> None:
    partitions = trading_day_partitions("us_equity")
    keys = partitions.get_partition_keys(current_time=dt.datetime(2025, 12, 31, 23, tzinfo=UTC))
    for day in ("2025-11-22", "2025-11-23", "2025-11-27", "2025-01-20", "2025-12-25"):
        assert day not in keys
    assert {"2025-11-21", "2025-11-24", "2025-11-28"} <= set(keys)


def test_crypto_partitions_are_every_utc_calendar_day() -> None:
    partitions = build_trading_day_partitions("crypto", dt.date(2025, 1, 1), END)
    keys = partitions.get_partition_keys(current_time=dt.datetime(2025, 3, 1, 0, 30, tzinfo=UTC))
    assert keys == [d.strftime("%Y-%m-%d") for d in pd.date_range("2025-01-01", "2025-03-01")]
    assert partitions.timezone == "UTC"


def test_first_partition_follows_swiftbolt_history_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWIFTBOLT_HISTORY_START", "2025-01-01")
    start = history_start()
    assert build_trading_day_partitions("us_equity", start, END).get_first_partition_key() == "2025-01-02"
    assert build_trading_day_partitions("crypto", start, END).get_first_partition_key() == "2025-01-01"
    # the code location's partitions use the value at import (tests/conftest.py sets it)
    assert trading_day_partitions("us_equity").get_first_partition_key() >= "2020-06-01"


def test_built_deterministically() -> None:
    a = build_trading_day_partitions("us_equity", dt.date(2020, 6, 1), dt.date(2027, 12, 31))
    b = build_trading_day_partitions("us_equity", dt.date(2020, 6, 1), dt.date(2027, 12, 31))
    assert a == b and a.get_serializable_unique_identifier() == b.get_serializable_unique_identifier()
    assert default_horizon_end(dt.date(2026, 1, 1)) == default_horizon_end(dt.date(2026, 12, 31)) == END


def test_market_partitions_are_trading_day_by_symbol() -> None:
    multi = market_partitions("us_equity")
    assert {d.name for d in multi.partitions_defs} == {DATE_DIM, SYMBOL_DIM}
    assert symbol_partitions("us_equity").name == "us_equity_symbols"
    assert symbol_partitions("crypto").name == "crypto_symbols"
    keys = [dg.MultiPartitionKey({DATE_DIM: "2025-01-03", SYMBOL_DIM: "SPY"}), "2025-01-02|SPY", "2025-01-02|AAPL"]
    assert split_partition_keys(keys) == {
        "AAPL": [dt.date(2025, 1, 2)], "SPY": [dt.date(2025, 1, 2), dt.date(2025, 1, 3)]
    }
