"""`AlpacaProvider`: the MarketDataProvider over the managed alpaca-py clients."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pandas as pd
from alpaca.data.enums import Adjustment, CorporateActionsType, DataFeed, OptionsFeed
from alpaca.data.requests import (
    CorporateActionsRequest,
    CryptoBarsRequest,
    CryptoSnapshotRequest,
    OptionChainRequest,
    StockBarsRequest,
    StockSnapshotRequest,
)
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit
from alpaca.trading.requests import GetCalendarRequest

from swiftbolt.errors import ConfigError
from swiftbolt.market_data.types import (
    BAR_COLUMNS,
    CALENDAR_COLUMNS,
    CORPORATE_ACTION_COLUMNS,
    ProviderError,
    Timeframe,
    empty_frame,
    option_chain_frame,
)
from swiftbolt.providers.alpaca.clients import (
    _CorporateActionsClient,
    _CryptoClient,
    _managed,
    _OptionClient,
    _StockClient,
    _TradingClient,
)
from swiftbolt.providers.alpaca.frames import (
    NEW_YORK,
    _chunks,
    _finish_bars,
    _symbols_label,
    _utc,
    bars_frame,
    calendar_frame,
    corporate_actions_frame,
    option_chain_snapshots_frame,
    quotes_frame,
)
from swiftbolt.providers.alpaca.transport import RateLimiter, _one_line, _RequestFailed, _Transport
from swiftbolt.symbols import validate_symbol

ALPACA_TIMEFRAMES: dict[Timeframe, TimeFrame] = {
    Timeframe.M1: TimeFrame(1, TimeFrameUnit.Minute),
    Timeframe.M5: TimeFrame(5, TimeFrameUnit.Minute),
    Timeframe.M15: TimeFrame(15, TimeFrameUnit.Minute),
    Timeframe.H1: TimeFrame(1, TimeFrameUnit.Hour),
    Timeframe.H4: TimeFrame(4, TimeFrameUnit.Hour),
    Timeframe.D1: TimeFrame(1, TimeFrameUnit.Day),
}

# Symbols per logical request: keeps the query string well under URL length limits.
SYMBOLS_PER_REQUEST = 100
# Corporate actions are filtered by Alpaca on process_date (for dividends ~ the payable date, weeks
# after the ex-date); we ask for a wider window and filter on ex_date ourselves.
_CA_LOOKBACK = dt.timedelta(days=7)
_CA_LOOKAHEAD = dt.timedelta(days=120)
_CA_TYPES = [
    CorporateActionsType.FORWARD_SPLIT,
    CorporateActionsType.REVERSE_SPLIT,
    CorporateActionsType.CASH_DIVIDEND,
]





class AlpacaProvider:
    """`MarketDataProvider` backed by Alpaca (alpaca-py clients with our transport)."""

    name = "alpaca"

    def __init__(
        self,
        api_key: str,
        secret_key: str,
        *,
        data_url: str | None = None,
        trading_url: str | None = None,
        feed: str = "iex",
        options_feed: str | None = None,
        max_requests_per_minute: int = 200,
        max_attempts: int = 5,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        timeout_s: float = 60.0,
    ) -> None:
        if not api_key or not secret_key:
            raise ConfigError("alpaca needs both ALPACA_API_KEY and ALPACA_SECRET_KEY")
        try:
            self._feed = DataFeed(feed)
        except ValueError:
            choices = ", ".join(f.value for f in DataFeed)
            raise ConfigError(f"alpaca feed {feed!r} is not valid; use one of {choices}") from None
        try:
            # None: Alpaca picks (opra with an options subscription, else indicative).
            self._options_feed = OptionsFeed(options_feed) if options_feed else None
        except ValueError:
            choices = ", ".join(f.value for f in OptionsFeed)
            raise ConfigError(
                f"alpaca options feed {options_feed!r} is not valid; use one of {choices}"
            ) from None
        data_url = data_url.rstrip("/") if data_url else None
        trading_url = trading_url.rstrip("/") if trading_url else None
        self.limiter = RateLimiter(max_requests_per_minute, 60.0, clock=clock, sleep=sleep)
        self._transport = _Transport(
            secrets=(api_key, secret_key),
            limiter=self.limiter,
            max_attempts=max_attempts,
            backoff_base_s=backoff_base_s,
            backoff_cap_s=backoff_cap_s,
            sleep=sleep,
            timeout_s=timeout_s,
        )
        keys = {"api_key": api_key, "secret_key": secret_key, "raw_data": True}
        self._stock = _managed(_StockClient(**keys, url_override=data_url), self._transport)
        self._crypto = _managed(_CryptoClient(**keys, url_override=data_url), self._transport)
        self._actions = _managed(
            _CorporateActionsClient(**keys, url_override=data_url), self._transport
        )
        self._trading = _managed(
            _TradingClient(**keys, url_override=trading_url), self._transport
        )
        self._options = _managed(_OptionClient(**keys, url_override=data_url), self._transport)

    def __repr__(self) -> str:  # never show the keys
        return f"AlpacaProvider(feed={self._feed.value!r})"

    @contextmanager
    def _failures(self, what: str) -> Iterator[None]:
        """Turn request failures into one-line ProviderErrors that name the request."""
        try:
            yield
        except _RequestFailed as exc:
            reason = self._transport.scrub(exc.reason)
            if exc.auth and exc.status == 401:
                msg = (
                    f"alpaca rejected the API key (HTTP 401) on the {what}; "
                    "check ALPACA_API_KEY/ALPACA_SECRET_KEY"
                )
            elif exc.auth:
                msg = (
                    f"alpaca refused the {what} ({reason}); check ALPACA_API_KEY/ALPACA_SECRET_KEY "
                    "and that the account's data subscription covers ALPACA_FEED"
                )
            elif exc.retryable:
                msg = f"alpaca {what} failed after {exc.attempts} attempts: {reason}"
            else:
                msg = f"alpaca {what} failed: {reason}"
            raise ProviderError(_one_line(msg, 400)) from None
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            # A response whose shape the SDK or we did not expect (e.g. a wrong ALPACA_DATA_URL).
            detail = _one_line(self._transport.scrub(f"{type(exc).__name__}: {exc}"), 160)
            msg = f"alpaca {what} returned an unexpected response ({detail})"
            raise ProviderError(msg) from exc

    # -- bars ----------------------------------------------------------------------------------

    def bars(
        self, symbols: Sequence[str], timeframe: Timeframe, start: dt.datetime, end: dt.datetime
    ) -> pd.DataFrame:
        timeframe = Timeframe(timeframe)
        if timeframe not in ALPACA_TIMEFRAMES:
            raise ValueError(
                f"alpaca provider fetches {', '.join(t.value for t in ALPACA_TIMEFRAMES)} bars; "
                f"{timeframe.value} is derived"
            )
        tf = ALPACA_TIMEFRAMES[timeframe]
        start, end = _utc(start), _utc(end)
        unique = list(dict.fromkeys(s.strip() for s in symbols if s and s.strip()))
        if not unique or start >= end:
            return empty_frame(BAR_COLUMNS)
        equities = [s for s in unique if "/" not in s]
        cryptos = [s for s in unique if "/" in s]
        # Alpaca's `end` is inclusive: ask up to one second before `end`, so a request returns
        # [start, end) for bars stamped on whole seconds (all of Alpaca's are) and no row is dropped here.
        last = end - dt.timedelta(seconds=1)
        frames: list[pd.DataFrame] = []
        for chunk in _chunks(equities, SYMBOLS_PER_REQUEST):
            request = StockBarsRequest(
                symbol_or_symbols=chunk, timeframe=tf, start=start, end=last,
                adjustment=Adjustment.RAW, feed=self._feed,
            )
            with self._failures(f"bars request for {_symbols_label(chunk)} {tf.value}"):
                raw = self._stock.get_stock_bars(request)
                frames.append(bars_frame(raw, timeframe, daily_tz=NEW_YORK))
        for chunk in _chunks(cryptos, SYMBOLS_PER_REQUEST):
            request = CryptoBarsRequest(symbol_or_symbols=chunk, timeframe=tf, start=start, end=last)
            with self._failures(f"crypto bars request for {_symbols_label(chunk)} {tf.value}"):
                raw = self._crypto.get_crypto_bars(request)
                frames.append(bars_frame(raw, timeframe, daily_tz=None))
        return _finish_bars(frames, start, end)

    # -- quotes --------------------------------------------------------------------------------

    def latest_quotes(self, symbols: Sequence[str]) -> pd.DataFrame:
        unique = list(dict.fromkeys(s.strip() for s in symbols if s and s.strip()))
        equities = [s for s in unique if "/" not in s]
        cryptos = [s for s in unique if "/" in s]
        raw: dict[str, Any] = {}
        for chunk in _chunks(equities, SYMBOLS_PER_REQUEST):
            request = StockSnapshotRequest(symbol_or_symbols=chunk, feed=self._feed)
            with self._failures(f"snapshot request for {_symbols_label(chunk)}"):
                raw.update(self._stock.get_stock_snapshot(request) or {})
        for chunk in _chunks(cryptos, SYMBOLS_PER_REQUEST):
            request = CryptoSnapshotRequest(symbol_or_symbols=chunk)
            with self._failures(f"crypto snapshot request for {_symbols_label(chunk)}"):
                raw.update(self._crypto.get_crypto_snapshot(request) or {})
        with self._failures("snapshot request"):
            return quotes_frame(raw)

    # -- corporate actions ---------------------------------------------------------------------

    def corporate_actions(
        self, symbols: Sequence[str], start: dt.date, end: dt.date
    ) -> pd.DataFrame:
        unique = list(dict.fromkeys(s.strip() for s in symbols if s and s.strip()))
        equities = [s for s in unique if "/" not in s]
        if not equities or start > end:
            return empty_frame(CORPORATE_ACTION_COLUMNS)
        frames = []
        for chunk in _chunks(equities, SYMBOLS_PER_REQUEST):
            request = CorporateActionsRequest(
                symbols=chunk, types=_CA_TYPES, start=start - _CA_LOOKBACK,
                end=end + _CA_LOOKAHEAD,
                # limit=None: the SDK would otherwise stop after 1000 actions in total.
                limit=None,
            )
            with self._failures(f"corporate actions request for {_symbols_label(chunk)}"):
                raw = self._actions.get_corporate_actions(request)
                frames.append(corporate_actions_frame(raw, chunk, start, end))
        frames = [f for f in frames if not f.empty]
        if not frames:
            return empty_frame(CORPORATE_ACTION_COLUMNS)
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]

    # -- calendar ------------------------------------------------------------------------------

    def calendar(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        if start > end:
            return empty_frame(CALENDAR_COLUMNS)
        with self._failures(f"calendar request for {start.isoformat()}..{end.isoformat()}"):
            raw = self._trading.get_calendar(GetCalendarRequest(start=start, end=end))
            df = calendar_frame(raw)
        if df.empty:
            return df
        mask = [start <= d <= end for d in df["date"]]
        return df[mask].reset_index(drop=True)

    # -- option chains -------------------------------------------------------------------------

    def option_chain(self, underlying: str, as_of: dt.datetime | None = None) -> pd.DataFrame:
        """The chain snapshot of an equity underlying (all contracts, every page), with the
        underlying's latest trade price from its stock snapshot.

        Alpaca serves only the latest snapshot: `as_of` is accepted for the interface but not sent,
        and each row's `ts` is its quote's actual time. Crypto underlyings have no options (an empty
        frame, no request). Open interest is not in Alpaca's market-data snapshots (NaN)."""
        if isinstance(underlying, str) and "/" in underlying:
            return option_chain_frame()
        symbol = validate_symbol(underlying, "us_equity")  # it goes into the URL path
        request = OptionChainRequest(underlying_symbol=symbol, feed=self._options_feed)
        with self._failures(f"option chain request for {symbol}"):
            raw = self._options.get_option_chain(request)
        if not raw:
            return option_chain_frame()
        snapshot = StockSnapshotRequest(symbol_or_symbols=[symbol], feed=self._feed)
        with self._failures(f"snapshot request for {symbol}"):
            snap = (self._stock.get_stock_snapshot(snapshot) or {}).get(symbol) or {}
            price = (snap.get("latestTrade") or {}).get("p")
        with self._failures(f"option chain request for {symbol}"):
            return option_chain_snapshots_frame(raw, symbol, price)
