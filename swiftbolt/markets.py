"""The markets swiftbolt serves and what each can do: its calendar, timezone, and whether it has
corporate actions and listed options. Every layer takes a `Market` (or looks one up once by its
code) instead of branching on a market's name.

Besides the built-in markets, SWIFTBOLT_EXTRA_MARKETS adds shards (`us_equity_2=us_equity`): a shard is
its base market under another code, so it has its own symbols, partitions, assets and jobs while sharing
the base's calendar, symbol rules and capabilities. That is how a universe grows past Dagster's partition
budget per asset (README, "Partition budget")."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from swiftbolt.errors import ConfigError
from swiftbolt.settings import EXTRA_MARKETS_ENV, extra_markets


@dataclass(frozen=True)
class Market:
    code: str
    exchange: str | None  # exchange-calendars code; None = trades around the clock
    timezone: str
    regular_close: dt.time | None
    has_corporate_actions: bool
    has_options: bool
    shard_of: str | None = None  # the built-in market a configured shard copies

    @property
    def family(self) -> str:
        """The built-in market whose rules apply (symbol pattern, provider behaviour): itself or its base."""
        return self.shard_of or self.code

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

BUILT_IN_MARKETS: dict[str, Market] = {m.code: m for m in (US_EQUITY, CRYPTO)}


def configured_markets() -> dict[str, Market]:
    """The built-in markets plus the shards of SWIFTBOLT_EXTRA_MARKETS, in that order."""
    markets = dict(BUILT_IN_MARKETS)
    for code, base in extra_markets().items():
        if base not in BUILT_IN_MARKETS:
            raise ConfigError(f"{EXTRA_MARKETS_ENV}: {code}={base} names no built-in market; "
                              f"expected one of {sorted(BUILT_IN_MARKETS)}")
        if code in markets:
            raise ConfigError(f"{EXTRA_MARKETS_ENV}: {code!r} is a built-in market already")
        markets[code] = replace(BUILT_IN_MARKETS[base], code=code, shard_of=base)
    return markets


MARKETS: dict[str, Market] = configured_markets()


def get_market(market: str | Market) -> Market:
    """The Market for a code (a Market is returned as it is); an unknown code is a ConfigError."""
    if isinstance(market, Market):
        return market
    try:
        return MARKETS[market]
    except KeyError:
        raise ConfigError(f"unknown market {market!r}; expected one of {sorted(MARKETS)}") from None
