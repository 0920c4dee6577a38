"""Partitions per market: trading days (non-sessions excluded) x symbols (dynamic, synced with
market.symbols by the symbol universe sensor). Built deterministically at load time, offline, from the
calendar library (exchange-calendars for exchanges; every day for 24/7 markets).

Design (docs/partitions.md): daily windows in the market's timezone with a *daily* cron, weekends
excluded by cron and holidays by date, so Friday's window is Friday only (a weekdays-only cron would
stretch Friday's window to Monday). end_offset=1 makes the current session addressable while it
trades (the intraday refresh needs that); the after-close automation only requests sessions that have
closed (swiftbolt.calendars.timing.after_close_sessions).
"""

import datetime as dt
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

import dagster as dg
import exchange_calendars as xcals
import pandas as pd

from resources import WarehouseResource
from swiftbolt.markets import Market, get_market
from swiftbolt.settings import history_start
from swiftbolt.universe import active_symbols, not_in_universe_reason

DATE_DIM = "date"
SYMBOL_DIM = "symbol"
WEEKEND_EXCLUSIONS = ("0 0 * * 6", "0 0 * * 0")
# Tag of every asset partitioned by trading day x symbol; the daily and backfill jobs select by it.
PARTITIONING_TAG = "swiftbolt/partitioning"
TRADING_DAY_X_SYMBOL = "trading_day_x_symbol"
MARKET_TAG = "swiftbolt/market"
RUN_KIND_TAG = "swiftbolt/run_kind"
"""Run tag: what launched a run (intraday, after_close, ...); the intraday assets read it."""


def default_horizon_end(today: dt.date | None = None) -> dt.date:
    """Holidays are excluded up to Dec 31 of next year: always at least one year ahead, and the
    partitions definition changes only when the year turns (not every day)."""
    today = today or dt.date.today()
    return dt.date(today.year + 1, 12, 31)


@lru_cache(maxsize=8)
def _exchange_session_dates(exchange: str, start: dt.date, end: dt.date) -> frozenset[dt.date]:
    cal = xcals.get_calendar(exchange, start=(start - dt.timedelta(days=7)).isoformat(), end=end.isoformat())
    return frozenset(d.date() for d in cal.sessions if start <= d.date() <= end)


def build_trading_day_partitions(
    market: str, start: dt.date, horizon_end: dt.date
) -> dg.TimeWindowPartitionsDefinition:
    """Daily partitions from `start` in the market's timezone. For an exchange, every weekday in
    [start, horizon_end] that is not a session (holiday) is excluded, and weekends always are; days after
    horizon_end would count as sessions, so horizon_end must stay ahead of the present."""
    m = get_market(market)
    if m.is_24_7:
        return dg.DailyPartitionsDefinition(start_date=start.isoformat(), timezone="UTC", end_offset=1)
    assert m.exchange is not None
    open_days = _exchange_session_dates(m.exchange, start, horizon_end)
    tz = ZoneInfo(m.timezone)
    holidays = [
        dt.datetime(d.year, d.month, d.day, tzinfo=tz)
        for d in pd.bdate_range(start, horizon_end).date
        if d not in open_days
    ]
    return dg.TimeWindowPartitionsDefinition(
        start=start.isoformat(),
        fmt="%Y-%m-%d",
        cron_schedule="0 0 * * *",
        timezone=m.timezone,
        end_offset=1,
        exclusions=[*WEEKEND_EXCLUSIONS, *holidays],
    )


@cache
def trading_day_partitions(market: str) -> dg.TimeWindowPartitionsDefinition:
    """Trading days from SWIFTBOLT_HISTORY_START; today's session included while it trades (end_offset=1)."""
    return build_trading_day_partitions(market, history_start(), default_horizon_end())


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


def market_tags(market: Market | str, *, per_partition: bool) -> dict[str, str]:
    """Tags of a per-market asset; `per_partition`: partitioned by trading day x symbol."""
    tags = {MARKET_TAG: get_market(market).code}
    if per_partition:
        tags[PARTITIONING_TAG] = TRADING_DAY_X_SYMBOL
    return tags


def partition_symbols(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, market: Market | str
) -> tuple[dict[str, list[dt.date]], dict[str, int]]:
    """The run's partitions as symbol -> trading days, and the ids of those symbols. A symbol partition
    that is not an active symbol of the market (e.g. one added by hand in the UI) fails the run with
    one line saying so: nothing is written for it."""
    code = get_market(market).code
    by_symbol = split_partition_keys(list(context.partition_keys))
    with warehouse.connection() as conn:
        active = active_symbols(conn, code)
    unknown = sorted(set(by_symbol) - set(active))
    if unknown:
        raise dg.Failure(not_in_universe_reason(code, unknown))
    return by_symbol, {s: active[s] for s in by_symbol}
