"""The markets swiftbolt serves and what each can do: its calendar, timezone, and whether it has
corporate actions and listed options. Every layer takes a `Market` (or looks one up once by its
code) instead of branching on a market's name."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from swiftbolt.errors import ConfigError


@dataclass(frozen=True)
class Market:
    code: str
    exchange: str | None  # exchange-calendars code; None = trades around the clock
    timezone: str
    regular_close: dt.time | None
    has_corporate_actions: bool
    has_options: bool

    @property
    def is_24_7(self) -> bool:
        return self.exchange is None

    @property
    def calendar_source(self) -> str:
        """Where the market's sessions come from (recorded in market.market_calendar)."""
        return f"exchange_calendars:{self.exchange}" if self.exchange else "24x7"


US_EQUITY = Market("us_equity", "XNYS", "America/New_York", dt.time(16, 0),
                   has_corporate_actions=True, has_options=True)
CRYPTO = Market("crypto", None, "UTC", None, has_corporate_actions=False, has_options=False)

MARKETS: dict[str, Market] = {m.code: m for m in (US_EQUITY, CRYPTO)}


def get_market(market: str | Market) -> Market:
    """The Market for a code (a Market is returned as it is); an unknown code is a ConfigError."""
    if isinstance(market, Market):
        return market
    try:
        return MARKETS[market]
    except KeyError:
        raise ConfigError(f"unknown market {market!r}; expected one of {sorted(MARKETS)}") from None
