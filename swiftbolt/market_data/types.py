"""The provider interface and the column contracts of the frames providers return.

Every frame is a pandas DataFrame with exactly the columns listed here. Timestamps are tz-aware UTC.
A bar's `ts` is the *start* of its interval (Alpaca's convention); a daily bar's `ts` is the session
date at 00:00 UTC for equities and crypto alike, so a daily bar is keyed by its trading day.

Option chains (`option_chain`, OPTION_CHAIN_COLUMNS) are snapshots: one row per listed contract of
an underlying, with the quote, last trade, implied volatility and greeks known at the snapshot time
`ts`. `expiration` is a datetime.date, `option_type` 'call' or 'put', `contract` the OCC symbol
(root + YYMMDD + C/P + strike x 1000 on 8 digits, e.g. "AAPL250620C00180000"); `theta` is per
calendar day and `vega` per 1 vol point (0.01), `implied_volatility` annualised (0.25 = 25%). Every
numeric column is float64 with NaN where the source does not know the value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

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


# What the bar assets ask providers for. h1 and h4 are derived from the stored regular-session m15
# bars, anchored at the session open (swiftbolt/market_data/session_bars.py); w1 and mo1 from d1.
# Providers still serve h1/h4 when asked (the interface covers every intraday timeframe).
FETCHED_TIMEFRAMES: tuple[Timeframe, ...] = (Timeframe.M15, Timeframe.D1)
OPTIONAL_FETCHED_TIMEFRAMES: tuple[Timeframe, ...] = (Timeframe.M1, Timeframe.M5)
DERIVED_TIMEFRAMES: tuple[Timeframe, ...] = (Timeframe.H1, Timeframe.H4, Timeframe.W1, Timeframe.MO1)

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
# One row per contract of the underlying in the snapshot; see the module docstring for units.
OPTION_CHAIN_COLUMNS: tuple[str, ...] = (
    "underlying", "contract", "expiration", "strike", "option_type", "ts", "bid", "ask", "last",
    "volume", "open_interest", "implied_volatility", "delta", "gamma", "theta", "vega",
    "underlying_price",
)
OPTION_TYPES: tuple[str, ...] = ("call", "put")
_OPTION_CHAIN_FLOATS: tuple[str, ...] = OPTION_CHAIN_COLUMNS[6:]


def empty_frame(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


def option_chain_frame(data: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """An option chain frame with exactly OPTION_CHAIN_COLUMNS and their dtypes (str underlying,
    contract and option_type; datetime.date expiration; float64 strike; UTC ts; float64 numbers),
    sorted by expiration, option_type, strike and contract. `data` maps columns to values."""
    if not data:
        data = {c: [] for c in OPTION_CHAIN_COLUMNS}
    missing = [c for c in OPTION_CHAIN_COLUMNS if c not in data]
    if missing:
        raise ValueError(f"option chain data lacks columns {missing}")
    df = pd.DataFrame({c: data[c] for c in OPTION_CHAIN_COLUMNS}, columns=list(OPTION_CHAIN_COLUMNS))
    for col in ("underlying", "contract", "option_type"):
        df[col] = df[col].astype(str).astype(object)
    df["expiration"] = [pd.Timestamp(d).date() for d in df["expiration"]]
    df["expiration"] = df["expiration"].astype(object)
    df["strike"] = pd.to_numeric(df["strike"]).astype("float64")
    df["ts"] = pd.to_datetime(df["ts"], utc=True).astype("datetime64[ns, UTC]")
    for col in _OPTION_CHAIN_FLOATS:
        df[col] = pd.to_numeric(df[col]).astype("float64")
    order = ["expiration", "option_type", "strike", "contract"]
    return df.sort_values(order, kind="stable").reset_index(drop=True)


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

    def option_chain(self, underlying: str, as_of: dt.datetime) -> pd.DataFrame:
        """A snapshot of the option chain of an equity `underlying` as known at `as_of` (providers
        serving only live data return their latest snapshot), OPTION_CHAIN_COLUMNS as built by
        `option_chain_frame`; an empty frame with the columns for underlyings without options."""
        ...
