"""Partitions per market: trading days (non-sessions excluded) x symbols (dynamic, synced with
market.symbols). Built deterministically at load time from the offline calendar library."""

import datetime as dt
from functools import cache
from zoneinfo import ZoneInfo

import dagster as dg
import pandas as pd

from swiftbolt.calendars import get_market, session_dates
from swiftbolt.settings import history_start

DATE_DIM = "date"
SYMBOL_DIM = "symbol"
_HOLIDAY_HORIZON_DAYS = 800  # exclusions are listed up to ~2 years ahead


@cache
def trading_day_partitions(market: str) -> dg.TimeWindowPartitionsDefinition:
    """Daily partitions in the market's timezone; for exchanges, weekends and holidays are excluded.
    end_offset=1 makes today's session addressable while it trades (intraday refresh)."""
    m = get_market(market)
    start = history_start()
    if m.is_24_7:
        return dg.DailyPartitionsDefinition(start_date=start.isoformat(), timezone="UTC", end_offset=1)
    end = dt.date.today() + dt.timedelta(days=_HOLIDAY_HORIZON_DAYS)
    open_days = set(session_dates(market, start, end))
    tz = ZoneInfo(m.timezone)
    holidays = [
        dt.datetime(d.year, d.month, d.day, tzinfo=tz)
        for d in pd.bdate_range(start, end).date
        if d not in open_days
    ]
    return dg.TimeWindowPartitionsDefinition(
        start=start.isoformat(),
        fmt="%Y-%m-%d",
        cron_schedule="0 0 * * *",
        timezone=m.timezone,
        end_offset=1,
        # a daily (not weekdays-only) cron keeps Friday's window Friday-only; weekends are excluded here
        exclusions=["0 0 * * 6", "0 0 * * 0", *holidays],
    )


@cache
def symbol_partitions(market: str) -> dg.DynamicPartitionsDefinition:
    """The market's active symbols; kept equal to market.symbols by the universe sensor."""
    return dg.DynamicPartitionsDefinition(name=f"{market}_symbols")


@cache
def market_partitions(market: str) -> dg.MultiPartitionsDefinition:
    return dg.MultiPartitionsDefinition(
        {DATE_DIM: trading_day_partitions(market), SYMBOL_DIM: symbol_partitions(market)}
    )


def split_partition_keys(keys: list[str]) -> dict[str, list[dt.date]]:
    """symbol -> sorted trading days, from multi-partition keys ("2025-01-02|AAPL")."""
    by_symbol: dict[str, set[dt.date]] = {}
    for key in keys:
        dims = key.keys_by_dimension if isinstance(key, dg.MultiPartitionKey) else dict(
            zip((DATE_DIM, SYMBOL_DIM), key.split("|"), strict=True)
        )
        by_symbol.setdefault(dims[SYMBOL_DIM], set()).add(dt.date.fromisoformat(dims[DATE_DIM]))
    return {s: sorted(d) for s, d in sorted(by_symbol.items())}
