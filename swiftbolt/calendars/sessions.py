"""Market calendars: sessions per market from `exchange-calendars` (NYSE) or 24/7 (crypto).

All times are tz-aware UTC. A session is identified by its date (the exchange's local date).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import exchange_calendars as xcals
import pandas as pd

from swiftbolt.markets import Market, get_market

# exchange-calendars builds its session table once per range; a wide fixed range keeps one instance.
_XCAL_START = "1998-01-02"
_XCAL_YEARS_AHEAD = 2


@lru_cache(maxsize=4)
def _exchange_calendar(exchange: str) -> xcals.ExchangeCalendar:
    end = pd.Timestamp.today().normalize() + pd.DateOffset(years=_XCAL_YEARS_AHEAD)
    return xcals.get_calendar(exchange, start=_XCAL_START, end=end.strftime("%Y-%m-%d"))


def sessions(market: str | Market, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Open sessions with start <= date <= end: columns date (datetime.date), open_utc, close_utc,
    is_early_close."""
    m = get_market(market)
    if m.is_24_7:
        days = pd.date_range(start, end, freq="D")
        opens = days.tz_localize("UTC")
        return pd.DataFrame(
            {
                "date": days.date,
                "open_utc": opens,
                "close_utc": opens + pd.Timedelta(days=1),
                "is_early_close": False,
            }
        )
    cal = _exchange_calendar(m.exchange)  # type: ignore[arg-type]
    schedule = cal.schedule.loc[pd.Timestamp(start) : pd.Timestamp(end)]
    local_close = schedule["close"].dt.tz_convert(m.timezone)
    regular = m.regular_close or dt.time(23, 59)
    early = (local_close.dt.hour * 60 + local_close.dt.minute) < (regular.hour * 60 + regular.minute)
    return pd.DataFrame(
        {
            "date": schedule.index.date,
            "open_utc": schedule["open"].to_numpy(),
            "close_utc": schedule["close"].to_numpy(),
            "is_early_close": early.to_numpy(),
        }
    ).astype({"open_utc": "datetime64[ns, UTC]", "close_utc": "datetime64[ns, UTC]"})


def calendar_days(market: str | Market, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Every calendar day in [start, end] with is_open and the session times where open."""
    open_days = sessions(market, start, end)
    all_days = pd.DataFrame({"date": pd.date_range(start, end, freq="D").date})
    out = all_days.merge(open_days, on="date", how="left")
    out["is_open"] = out["open_utc"].notna()
    out["is_early_close"] = out["is_early_close"].fillna(False).astype(bool)
    return out[["date", "is_open", "open_utc", "close_utc", "is_early_close"]]


def session_dates(market: str | Market, start: dt.date, end: dt.date) -> list[dt.date]:
    return list(sessions(market, start, end)["date"])
