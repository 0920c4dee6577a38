"""Symbol validation: every ticker is checked against a strict pattern before it reaches SQL, a URL
or a Dagster partition key."""

from __future__ import annotations

import re

from swiftbolt.errors import SwiftboltError
from swiftbolt.markets import MARKETS

_PATTERNS: dict[str, re.Pattern[str]] = {
    # NYSE/Nasdaq tickers: 1-5 letters, optionally a class suffix (BRK.B).
    "us_equity": re.compile(r"^[A-Z]{1,5}(\.[A-Z])?$"),
    # Alpaca crypto pairs: BASE/QUOTE.
    "crypto": re.compile(r"^[A-Z]{2,6}/(USD|USDT|USDC|BTC|EUR)$"),
}


class InvalidSymbol(SwiftboltError):
    """A ticker that does not match its market's pattern."""


def validate_symbol(ticker: str, market: str) -> str:
    """Return the ticker if valid for the market; otherwise raise InvalidSymbol naming it."""
    pattern = _PATTERNS.get(MARKETS[market].family if market in MARKETS else market)  # a shard: its base's rule
    if pattern is None:
        raise InvalidSymbol(f"unknown market {market!r} for symbol {ticker!r}; expected one of {sorted(_PATTERNS)}")
    if not isinstance(ticker, str) or not pattern.fullmatch(ticker):
        raise InvalidSymbol(f"invalid {market} symbol {ticker!r}: must match {pattern.pattern}")
    return ticker

