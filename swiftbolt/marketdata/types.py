"""The provider interface and the column contracts of the frames providers return.

Every frame is a pandas DataFrame with exactly the columns listed here. Timestamps are tz-aware UTC.
A bar's `ts` is the *start* of its interval (Alpaca's convention); a daily bar's `ts` is the session
date at 00:00 UTC for equities and crypto alike, so a daily bar is keyed by its trading day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from enum import StrEnum
from typing import Protocol, runtime_checkable

import pandas as pd


class Timeframe(StrEnum):
    M1 = "m1"
    M5 = "m5"
    M15 = "m15"
    H1 = "h1"
    H4 = "h4"
    D1 = "d1"
    W1 = "w1"
    MO1 = "mo1"

    @property
    def minutes(self) -> int | None:
        """Interval length in minutes for intraday timeframes, None for d1 and longer."""
        return {"m1": 1, "m5": 5, "m15": 15, "h1": 60, "h4": 240}.get(self.value)

    @property
    def is_intraday(self) -> bool:
        return self.minutes is not None


FETCHED_TIMEFRAMES: tuple[Timeframe, ...] = (Timeframe.M15, Timeframe.H1, Timeframe.H4, Timeframe.D1)
OPTIONAL_FETCHED_TIMEFRAMES: tuple[Timeframe, ...] = (Timeframe.M1, Timeframe.M5)
DERIVED_TIMEFRAMES: tuple[Timeframe, ...] = (Timeframe.W1, Timeframe.MO1)

BAR_COLUMNS: tuple[str, ...] = (
    "symbol", "timeframe", "ts", "open", "high", "low", "close", "volume", "vwap", "trade_count",
)
QUOTE_COLUMNS: tuple[str, ...] = (
    "symbol", "ts", "last", "bid", "ask", "day_high", "day_low", "prev_close",
)
# action_type: 'split' (ratio > 1: new shares per old share), 'reverse_split' (ratio < 1), 'cash_dividend'
CORPORATE_ACTION_COLUMNS: tuple[str, ...] = (
    "symbol", "action_type", "ex_date", "record_date", "payment_date", "ratio", "cash_amount",
)
# One row per date in the requested range on which the market is open.
CALENDAR_COLUMNS: tuple[str, ...] = ("date", "open_utc", "close_utc")


def empty_frame(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


class ProviderError(RuntimeError):
    """A provider call failed for good (after retries); the message is one line, without secrets."""


@runtime_checkable
class MarketDataProvider(Protocol):
    """What every market-data source offers. `name` is stored as bar lineage ('synthetic', 'alpaca')."""

    name: str

    def bars(
        self, symbols: Sequence[str], timeframe: Timeframe, start: dt.datetime, end: dt.datetime
    ) -> pd.DataFrame:
        """Raw (unadjusted) bars with `start <= ts < end` for the symbols, columns BAR_COLUMNS."""
        ...

    def latest_quotes(self, symbols: Sequence[str]) -> pd.DataFrame:
        """The latest quote per symbol, columns QUOTE_COLUMNS."""
        ...

    def corporate_actions(
        self, symbols: Sequence[str], start: dt.date, end: dt.date
    ) -> pd.DataFrame:
        """Splits, reverse splits and cash dividends with ex_date in [start, end], CORPORATE_ACTION_COLUMNS."""
        ...

    def calendar(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        """US equity sessions in [start, end], CALENDAR_COLUMNS."""
        ...
