"""Alpaca market data through the alpaca-py SDK: bars, snapshot quotes, corporate actions, calendar,
option chains.

How requests are made (read alpaca-py 0.4x `alpaca/common/rest.py` to follow this):

* Pagination is the SDK's: `RESTClient._get_marketdata` follows `next_page_token` until it is null,
  sending `limit` = 10,000 (bars) / 1,000 (corporate actions, option chain snapshots) per page and
  merging the pages. One provider call is one logical request per symbol chunk x timeframe x range.
* Retries are ours. The SDK's own retry (`RESTClient._request`) sleeps a fixed `retry_wait_seconds`
  (3 s) on 429/504 only, ignores `Retry-After`, never retries other 5xx or connection errors, sends
  no timeout, and raises `APIError(response.text)`. It cannot be configured to do what we need (and
  `retry_attempts=0` is ignored by its constructor, the data clients don't even pass it through),
  so each client is a subclass whose `_one_request` -- the SDK's "one HTTP request" hook, called
  once per page with the final URL and options -- is replaced by `_Transport.send`: rate limiter,
  timeout, retries with Retry-After / exponential backoff + full jitter, and scrubbed one-line
  errors. The SDK's loop is disabled (`_retry = 0`, `_retry_codes = []`) so it calls us exactly
  once per page; pagination stays in the SDK, so every page is retried on its own.
* Every HTTP attempt (each page, each retry) first takes a slot from one `RateLimiter` shared by
  all clients of the provider (a sliding window of `max_requests_per_minute`).
* Secrets: keys travel only in the SDK's request headers. Nothing here logs or raises response
  headers, `requests` exceptions or SDK exception text; server messages are scrubbed of the keys.
"""

from __future__ import annotations

import collections
import datetime as dt
import email.utils
import itertools
import logging
import math
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import pandas as pd
import requests
from alpaca.data.enums import Adjustment, CorporateActionsType, DataFeed, OptionsFeed
from alpaca.data.historical import CryptoHistoricalDataClient, StockHistoricalDataClient
from alpaca.data.historical.corporate_actions import CorporateActionsClient
from alpaca.data.historical.option import OptionHistoricalDataClient
from alpaca.data.requests import (
    CorporateActionsRequest,
    CryptoBarsRequest,
    CryptoSnapshotRequest,
    OptionChainRequest,
    StockBarsRequest,
    StockSnapshotRequest,
)
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit
from alpaca.trading.client import TradingClient
from alpaca.trading.requests import GetCalendarRequest

from swiftbolt.errors import ConfigError
from swiftbolt.marketdata.types import (
    BAR_COLUMNS,
    CALENDAR_COLUMNS,
    CORPORATE_ACTION_COLUMNS,
    QUOTE_COLUMNS,
    ProviderError,
    Timeframe,
    empty_frame,
    option_chain_frame,
)
from swiftbolt.symbols import validate_symbol

log = logging.getLogger(__name__)

NEW_YORK = "America/New_York"

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
_FEEDS = ("iex", "sip")


# --------------------------------------------------------------------------------------------- #
# Rate limiting and the HTTP transport
# --------------------------------------------------------------------------------------------- #


class RateLimiter:
    """At most `max_requests` acquisitions in any window of `period_s` seconds (sliding window).

    Thread-safe. A caller reserves its slot under the lock (the earliest time at which the window
    has room) and sleeps outside it, so concurrent callers queue in order without holding the lock.
    `clock` (monotonic seconds) and `sleep` are injectable for tests.
    """

    def __init__(
        self,
        max_requests: int,
        period_s: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_requests < 1:
            raise ValueError(f"max_requests must be >= 1, got {max_requests}")
        self.max_requests = max_requests
        self.period_s = period_s
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        # Times of the last `max_requests` slots handed out (some may lie in the future).
        self._slots: collections.deque[float] = collections.deque(maxlen=max_requests)

    def acquire(self) -> float:
        """Wait for a slot; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            slot = now
            if len(self._slots) == self.max_requests:
                slot = max(now, self._slots[0] + self.period_s)
            self._slots.append(slot)
        wait = slot - now
        if wait > 0:
            log.debug("alpaca rate limiter: waiting %.2fs for a request slot", wait)
            self._sleep(wait)
        return max(wait, 0.0)


class _RequestFailed(Exception):
    """Internal: one HTTP request failed for good. `reason` is one line and holds no secret."""

    def __init__(
        self, reason: str, *, status: int | None, attempts: int, retryable: bool, auth: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.attempts = attempts
        self.retryable = retryable
        self.auth = auth


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Transport:
    """Sends one HTTP request for an alpaca-py client: rate limit, timeout, retries, clean error."""

    def __init__(
        self,
        *,
        secrets: Sequence[str],
        limiter: RateLimiter,
        max_attempts: int,
        backoff_base_s: float,
        backoff_cap_s: float,
        sleep: Callable[[float], None],
        timeout_s: float,
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        self._secrets = [s for s in secrets if s]
        self.limiter = limiter
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        # Honour Retry-After, but never park a worker longer than this on one response.
        self.max_retry_after_s = max(backoff_cap_s, 60.0)
        self._sleep = sleep
        self._timeout_s = timeout_s
        self._rng = rng or random.Random()

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter: uniform(0, min(cap, base * 2**(attempt-1)))."""
        ceiling = min(self.backoff_cap_s, self.backoff_base_s * 2 ** (attempt - 1))
        return self._rng.uniform(0.0, ceiling)

    def _retry_after(self, headers: Mapping[str, str]) -> float | None:
        """Seconds the server asked us to wait (Retry-After, else Alpaca's X-RateLimit-Reset)."""
        raw = headers.get("Retry-After")
        if raw:
            try:
                seconds = float(raw)
            except ValueError:
                try:
                    when = email.utils.parsedate_to_datetime(raw)
                except (TypeError, ValueError, IndexError):
                    when = None
                seconds = (when.timestamp() - time.time()) if when is not None else None
            if seconds is not None:
                return min(max(seconds, 0.0), self.max_retry_after_s)
        reset = headers.get("X-RateLimit-Reset")
        if reset:
            try:
                seconds = float(reset) - time.time()
            except ValueError:
                return None
            if 0.0 <= seconds <= self.max_retry_after_s:
                return seconds
        return None

    def _server_message(self, response: requests.Response) -> str:
        message = ""
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("message"):
            message = str(body["message"])
        elif response.text:
            message = response.text
        return _one_line(self.scrub(message))

    def send(
        self, session: requests.Session, method: str, url: str, opts: dict[str, Any]
    ) -> Any:
        path = urlsplit(url).path
        reason = ""
        status: int | None = None
        for attempt in range(1, self.max_attempts + 1):
            self.limiter.acquire()
            wait: float | None = None
            try:
                response = session.request(method, url, timeout=self._timeout_s, **opts)
            except requests.Timeout:
                status, reason = None, f"timed out after {self._timeout_s:g}s"
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                # Not str(exc): requests' messages are long and carry objects, never needed here.
                status, reason = None, f"connection failed ({type(exc).__name__})"
            else:
                status = response.status_code
                if 200 <= status < 300:
                    if not response.content:
                        return None
                    try:
                        return response.json()
                    except ValueError:
                        reason = f"HTTP {status} with a body that is not JSON"
                elif status in (401, 403):
                    raise _RequestFailed(
                        f"HTTP {status}: {self._server_message(response)}".rstrip(": "),
                        status=status, attempts=attempt, retryable=False, auth=True,
                    )
                elif status == 429:
                    reason = "HTTP 429 too many requests"
                    wait = self._retry_after(response.headers)
                elif status >= 500 or status == 408:
                    reason = f"HTTP {status} {self._server_message(response)}".rstrip()
                else:
                    hint = " (redirect; check ALPACA_DATA_URL/ALPACA_TRADING_URL)" if (
                        300 <= status < 400
                    ) else ""
                    raise _RequestFailed(
                        f"HTTP {status} {self._server_message(response)}{hint}".rstrip(),
                        status=status, attempts=attempt, retryable=False,
                    )
            if attempt == self.max_attempts:
                break
            if wait is None:
                wait = self.backoff(attempt)
            log.warning(
                "alpaca %s %s: %s; retrying in %.2fs (attempt %d of %d)",
                method, path, reason, wait, attempt, self.max_attempts,
            )
            self._sleep(wait)
        raise _RequestFailed(
            reason, status=status, attempts=self.max_attempts, retryable=True
        )


class _ManagedTransport:
    """Mixin for alpaca-py REST clients: `_one_request` (one HTTP request, called once per page by
    the SDK's `_request`) goes through our `_Transport` instead of the SDK's bare `requests` call.
    """

    _transport: _Transport
    _session: requests.Session

    def _one_request(self, method: str, url: str, opts: dict, retry: int) -> Any:
        return self._transport.send(self._session, method, url, opts)


class _StockClient(_ManagedTransport, StockHistoricalDataClient):
    pass


class _CryptoClient(_ManagedTransport, CryptoHistoricalDataClient):
    pass


class _CorporateActionsClient(_ManagedTransport, CorporateActionsClient):
    pass


class _OptionClient(_ManagedTransport, OptionHistoricalDataClient):
    pass


class _TradingClient(_ManagedTransport, TradingClient):
    pass


def _managed(client: Any, transport: _Transport) -> Any:
    client._transport = transport
    # Disable the SDK's retry loop: with _retry = 0 `_request` calls `_one_request` exactly once.
    client._retry = 0
    client._retry_codes = []
    return client


# --------------------------------------------------------------------------------------------- #
# Frames
# --------------------------------------------------------------------------------------------- #


def _utc(value: dt.datetime) -> dt.datetime:
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.to_pydatetime()


def _symbols_label(symbols: Sequence[str], shown: int = 5) -> str:
    head = ",".join(symbols[:shown])
    return head if len(symbols) <= shown else f"{head} +{len(symbols) - shown} more"


def _chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


_BAR_FIELDS = ("t", "o", "h", "l", "c", "v", "vw", "n")


def bars_frame(
    raw: Mapping[str, Sequence[Mapping[str, Any]]] | None,
    timeframe: Timeframe,
    *,
    daily_tz: str | None,
) -> pd.DataFrame:
    """BAR_COLUMNS from Alpaca's raw `{symbol: [{t,o,h,l,c,v,n,vw}, ...]}`, built column-wise.

    Daily bars are keyed by session date at 00:00 UTC: with `daily_tz` (equities: New York, whose
    midnight Alpaca stamps daily bars with) the date is taken in that zone; without it the UTC date
    of the stamp is used (crypto: stamped at 00:00 UTC, formerly at Chicago midnight 05/06:00 UTC).
    """
    raw = {sym: rows for sym, rows in (raw or {}).items() if rows}
    if not raw:
        return empty_frame(BAR_COLUMNS)
    lengths = [len(rows) for rows in raw.values()]
    src = pd.DataFrame.from_records(
        list(itertools.chain.from_iterable(raw.values())), columns=list(_BAR_FIELDS)
    )
    ts = pd.to_datetime(src["t"], utc=True, format="ISO8601").astype("datetime64[ns, UTC]")
    if timeframe is Timeframe.D1:
        if daily_tz:
            local = ts.dt.tz_convert(daily_tz).dt.tz_localize(None).dt.normalize()
            ts = local.dt.tz_localize("UTC")
        else:
            ts = ts.dt.floor("D")
    return pd.DataFrame(
        {
            "symbol": pd.Series(list(raw)).repeat(lengths).to_numpy(),
            "timeframe": timeframe.value,
            "ts": ts,
            "open": src["o"].astype("float64"),
            "high": src["h"].astype("float64"),
            "low": src["l"].astype("float64"),
            "close": src["c"].astype("float64"),
            "volume": src["v"].astype("float64"),
            "vwap": src["vw"].astype("float64"),
            "trade_count": pd.to_numeric(src["n"]).astype("Int64"),
        },
        columns=list(BAR_COLUMNS),
    )


def _finish_bars(frames: list[pd.DataFrame], start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    """Every row Alpaca returned, sorted by symbol and ts. Nothing is dropped or merged here: rows
    outside [start, end) and duplicates (e.g. across pages) are the validation's to quarantine, so
    each one is accounted for."""
    frames = [f for f in frames if not f.empty]
    if not frames:
        return empty_frame(BAR_COLUMNS)
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return df.sort_values(["symbol", "ts"], kind="stable").reset_index(drop=True)


def _ts(value: Any) -> pd.Timestamp | None:
    if not value:
        return None
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def quotes_frame(raw: Mapping[str, Mapping[str, Any] | None]) -> pd.DataFrame:
    """QUOTE_COLUMNS from raw snapshots `{symbol: {latestTrade, latestQuote, dailyBar, ...}}`."""
    rows = []
    for symbol, snap in (raw or {}).items():
        if not snap:
            continue
        trade = snap.get("latestTrade") or {}
        quote = snap.get("latestQuote") or {}
        daily = snap.get("dailyBar") or {}
        prev = snap.get("prevDailyBar") or {}
        rows.append(
            {
                "symbol": symbol,
                "ts": _ts(trade.get("t")) or _ts(quote.get("t")) or _ts(daily.get("t")),
                "last": trade.get("p"),
                "bid": quote.get("bp"),
                "ask": quote.get("ap"),
                "day_high": daily.get("h"),
                "day_low": daily.get("l"),
                "prev_close": prev.get("c"),
            }
        )
    if not rows:
        return empty_frame(QUOTE_COLUMNS)
    df = pd.DataFrame(rows, columns=list(QUOTE_COLUMNS))
    df["ts"] = pd.to_datetime(df["ts"], utc=True).astype("datetime64[ns, UTC]")
    for col in ("last", "bid", "ask", "day_high", "day_low", "prev_close"):
        df[col] = pd.to_numeric(df[col]).astype("float64")
    return df.sort_values("symbol", kind="stable").reset_index(drop=True)


def _date(value: Any) -> dt.date | None:
    return dt.date.fromisoformat(str(value)[:10]) if value else None


def corporate_actions_frame(
    raw: Mapping[str, Sequence[Mapping[str, Any]]] | None,
    symbols: Sequence[str],
    start: dt.date,
    end: dt.date,
) -> pd.DataFrame:
    """CORPORATE_ACTION_COLUMNS from raw `{forward_splits: [...], reverse_splits: [...],
    cash_dividends: [...]}`, keeping the symbols asked for with start <= ex_date <= end."""
    wanted = set(symbols)
    rows = []
    for group, items in (raw or {}).items():
        for item in items or ():
            if item.get("symbol") not in wanted:
                continue
            ex_date = _date(item.get("ex_date"))
            if ex_date is None or not start <= ex_date <= end:
                continue
            row = {
                "symbol": item["symbol"],
                "ex_date": ex_date,
                "record_date": _date(item.get("record_date")),
                "payment_date": _date(item.get("payable_date")),
                "ratio": None,
                "cash_amount": None,
            }
            if group in ("forward_splits", "reverse_splits"):
                new_rate, old_rate = float(item["new_rate"]), float(item["old_rate"])
                if not old_rate or not new_rate:
                    continue
                row["ratio"] = new_rate / old_rate
                row["action_type"] = "split" if row["ratio"] >= 1 else "reverse_split"
            elif group == "cash_dividends":
                row["action_type"] = "cash_dividend"
                row["cash_amount"] = float(item["rate"])
            else:
                continue
            rows.append(row)
    if not rows:
        return empty_frame(CORPORATE_ACTION_COLUMNS)
    df = pd.DataFrame(rows, columns=list(CORPORATE_ACTION_COLUMNS))
    df["ratio"] = df["ratio"].astype("float64")
    df["cash_amount"] = df["cash_amount"].astype("float64")
    df = df.drop_duplicates()
    return df.sort_values(["symbol", "ex_date", "action_type"], kind="stable").reset_index(
        drop=True
    )


def calendar_frame(raw: Sequence[Mapping[str, Any]] | None) -> pd.DataFrame:
    """CALENDAR_COLUMNS from Alpaca's `[{date: YYYY-MM-DD, open: HH:MM, close: HH:MM}, ...]`
    (New York local times) with open/close converted to UTC."""
    if not raw:
        return empty_frame(CALENDAR_COLUMNS)
    src = pd.DataFrame.from_records(list(raw), columns=["date", "open", "close"])

    def utc(col: str) -> pd.Series:
        local = pd.to_datetime(src["date"] + " " + src[col], format="%Y-%m-%d %H:%M")
        return local.dt.tz_localize(NEW_YORK).dt.tz_convert("UTC").astype("datetime64[ns, UTC]")

    df = pd.DataFrame(
        {
            "date": [dt.date.fromisoformat(d) for d in src["date"]],
            "open_utc": utc("open"),
            "close_utc": utc("close"),
        },
        columns=list(CALENDAR_COLUMNS),
    )
    return df.sort_values("date", kind="stable").reset_index(drop=True)


class OccSymbol(NamedTuple):
    root: str
    expiration: dt.date
    option_type: str  # 'call' | 'put'
    strike: float


_OCC_ROOT = re.compile(r"^[A-Z0-9.]{1,6}$")


def parse_occ_symbol(contract: str) -> OccSymbol:
    """Root, expiration, type and strike of an OCC option symbol: root (1-6 characters; Alpaca
    does not pad it, the OCC's 21-character form pads it with spaces), YYMMDD, C or P, and the
    strike x 1000 on 8 digits. "AAPL250620C00180000" -> AAPL, 2025-06-20, call, 180.0."""
    text = str(contract).strip()
    root, date, kind, strike = text[:-15].rstrip(), text[-15:-9], text[-9:-8], text[-8:]
    if not (_OCC_ROOT.match(root) and date.isdigit() and kind in ("C", "P") and strike.isdigit()):
        raise ValueError(f"not an OCC option symbol: {_one_line(text, 40)!r}")
    try:
        expiration = dt.date(2000 + int(date[:2]), int(date[2:4]), int(date[4:]))
    except ValueError:
        raise ValueError(f"not an OCC option symbol (bad date): {text!r}") from None
    return OccSymbol(root, expiration, "call" if kind == "C" else "put", int(strike) / 1000.0)


def _ny_date(ts: pd.Timestamp | None) -> dt.date | None:
    return None if ts is None else ts.tz_convert(NEW_YORK).date()


def option_chain_snapshots_frame(
    raw: Mapping[str, Mapping[str, Any] | None] | None,
    underlying: str,
    underlying_price: float | None = None,
) -> pd.DataFrame:
    """OPTION_CHAIN_COLUMNS from Alpaca's raw chain `{contract: {latestQuote, latestTrade,
    impliedVolatility, greeks, dailyBar, ...}}`. Expiration, type and strike come from the OCC
    symbol (contracts whose symbol does not parse are skipped); `ts` is the quote's time (else the
    trade's); `volume` is the contract's latest daily bar's volume (0 when that bar is from an
    earlier New York day than `ts`; NaN without a daily bar); Alpaca's snapshots carry no open
    interest (NaN). IV and greeks are passed through as Alpaca computes them (its own model and
    inputs; the SDK does not state units -- theta per day and vega per vol point, like
    options_math, by the magnitudes seen; NaN when Alpaca sends none, as for illiquid contracts)."""
    cols: dict[str, list[Any]] = {c: [] for c in option_chain_frame().columns}
    price = math.nan if underlying_price is None else float(underlying_price)
    skipped = 0
    for contract, snap in (raw or {}).items():
        try:
            occ = parse_occ_symbol(contract)
        except ValueError:
            skipped += 1
            continue
        snap = snap or {}
        quote = snap.get("latestQuote") or {}
        trade = snap.get("latestTrade") or {}
        greeks = snap.get("greeks") or {}
        daily = snap.get("dailyBar") or {}
        ts = _ts(quote.get("t")) or _ts(trade.get("t"))
        volume = daily.get("v")
        daily_day, ts_day = _ny_date(_ts(daily.get("t"))), _ny_date(ts)
        if volume is not None and daily_day and ts_day and daily_day < ts_day:
            volume = 0.0
        values = {
            "underlying": underlying,
            "contract": contract,
            "expiration": occ.expiration,
            "strike": occ.strike,
            "option_type": occ.option_type,
            "ts": ts,
            "bid": quote.get("bp"),
            "ask": quote.get("ap"),
            "last": trade.get("p"),
            "volume": volume,
            "open_interest": None,
            "implied_volatility": snap.get("impliedVolatility"),
            "delta": greeks.get("delta"),
            "gamma": greeks.get("gamma"),
            "theta": greeks.get("theta"),
            "vega": greeks.get("vega"),
            "underlying_price": price,
        }
        for col, value in values.items():
            cols[col].append(value)
    if skipped:
        log.warning("alpaca option chain of %s: skipped %d contracts without an OCC symbol", underlying, skipped)
    return option_chain_frame(cols if cols["contract"] else None)


# --------------------------------------------------------------------------------------------- #
# The provider
# --------------------------------------------------------------------------------------------- #


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


# --------------------------------------------------------------------------------------------- #
# Configuration from the environment
# --------------------------------------------------------------------------------------------- #

_URL_RE = re.compile(r"^https?://[^/\s]+")


def _env_url(name: str) -> str | None:
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return None
    if not _URL_RE.match(raw):
        raise ConfigError(f"{name}={raw!r} is not an http(s) URL; e.g. https://data.alpaca.markets")
    return raw.rstrip("/")


def alpaca_provider_from_env(**overrides: Any) -> AlpacaProvider | None:
    """The Alpaca provider configured by ALPACA_* variables, or None when no keys are set.

    ALPACA_API_KEY, ALPACA_SECRET_KEY (both or neither), ALPACA_DATA_URL, ALPACA_TRADING_URL
    (default: the SDK's data API and the paper trading API), ALPACA_FEED (iex | sip, default iex),
    ALPACA_OPTIONS_FEED (opra | indicative, default: Alpaca picks by the account's subscription).
    Keyword `overrides` go to the constructor (e.g. `sleep` in tests).
    """
    api_key = (os.environ.get("ALPACA_API_KEY") or "").strip()
    secret_key = (os.environ.get("ALPACA_SECRET_KEY") or "").strip()
    if not api_key and not secret_key:
        return None
    if not api_key or not secret_key:
        missing = "ALPACA_SECRET_KEY" if api_key else "ALPACA_API_KEY"
        raise ConfigError(f"{missing} is not set; set both ALPACA_API_KEY and ALPACA_SECRET_KEY")
    feed = (os.environ.get("ALPACA_FEED") or "iex").strip().lower()
    if feed not in _FEEDS:
        raise ConfigError(f"ALPACA_FEED={feed!r} is not valid; use iex or sip")
    return AlpacaProvider(
        api_key,
        secret_key,
        data_url=_env_url("ALPACA_DATA_URL"),
        trading_url=_env_url("ALPACA_TRADING_URL"),
        feed=feed,
        options_feed=overrides.pop(
            "options_feed", (os.environ.get("ALPACA_OPTIONS_FEED") or "").strip().lower() or None
        ),
        **overrides,
    )
