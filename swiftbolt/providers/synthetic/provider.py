"""The synthetic market as a MarketDataProvider: bars of any timeframe, quotes, corporate actions, the
NYSE calendar and option chains, all deterministic functions of (seed, symbol, time)."""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import pandas as pd

from swiftbolt import clock
from swiftbolt.calendars import sessions as calendar_sessions
from swiftbolt.market_data.types import (
    CALENDAR_COLUMNS,
    CORPORATE_ACTION_COLUMNS,
    FETCHED_TIMEFRAMES,
    QUOTE_COLUMNS,
    Timeframe,
    option_chain_frame,
)
from swiftbolt.markets import get_market
from swiftbolt.providers.synthetic.option_chains import _LastMinute, _option_chain
from swiftbolt.providers.synthetic.prices import (
    _CACHE_BLOCKS,
    _CHUNK_MINUTES,
    _NS_PER_MINUTE,
    _QUOTE_SPREAD,
    DEFAULT_ACTIONS,
    LAST_DATE,
    SyntheticAction,
    _bar_columns,
    _bar_frame,
    _Bars,
    _generate_minutes,
    _grid_width,
    _ladder,
    _ns,
    _price_decimals,
    _sessions,
    _to_utc,
    market_of,
)
from swiftbolt.symbols import validate_symbol

# ---------------------------------------------------------------------------------------------
# The provider


def _complete_at(frame: pd.DataFrame, tf: Timeframe, now: pd.Timestamp) -> pd.DataFrame:
    """Only bars that have ended by `now`: a bar ends at ts + its length or at its session's close,
    whichever is first; a daily bar at the close. Like a real feed, the future is not served."""
    if frame.empty:
        return frame
    keep = np.ones(len(frame), dtype=bool)
    recent = (frame["ts"] >= now - pd.Timedelta(days=3)).to_numpy()
    for market in {market_of(s) for s in frame.loc[recent, "symbol"].unique()}:
        rows = recent & (frame["symbol"].map(market_of) == market).to_numpy()
        ts = frame.loc[rows, "ts"]
        local = ts.dt.tz_convert(get_market(market).timezone) if tf.is_intraday else ts
        days = local.dt.tz_localize(None).dt.normalize()
        cal = _sessions(market, days.min().date(), days.max().date())
        close = days.map(pd.Series(cal["close_utc"].to_numpy(), index=pd.to_datetime(cal["date"])))
        end = close if not tf.is_intraday else np.minimum(ts + pd.Timedelta(minutes=tf.minutes or 0), close)
        keep[rows] = (pd.to_datetime(end, utc=True) <= now).to_numpy()
    return frame[keep].reset_index(drop=True)


class SyntheticProvider:
    """A deterministic, offline MarketDataProvider.

    `as_of` fixes "now" for latest_quotes (None: the wall clock); `actions` replaces the default
    corporate-action history (`DEFAULT_ACTIONS`). Aggregated bars of recent requests are kept in a
    small in-memory cache, so fetching several timeframes of one window generates it once."""

    name: str = "synthetic"

    def __init__(
        self,
        seed: int = 7,
        as_of: dt.datetime | None = None,
        actions: Sequence[SyntheticAction] | None = None,
    ) -> None:
        self.seed = int(seed)
        self.as_of = as_of
        self.actions: tuple[SyntheticAction, ...] = tuple(
            DEFAULT_ACTIONS if actions is None else actions
        )
        self._cache: OrderedDict[tuple[object, ...], dict[Timeframe, _Bars]] = OrderedDict()
        self._lock = threading.Lock()

    def _symbol_actions(self, symbol: str) -> tuple[SyntheticAction, ...]:
        mine = (a for a in self.actions if a.symbol == symbol)
        return tuple(sorted(mine, key=lambda a: a.ex_date))

    @staticmethod
    def _validated(symbols: Sequence[str]) -> list[str]:
        if isinstance(symbols, str):
            symbols = [symbols]
        return sorted({validate_symbol(s, market_of(s)) for s in symbols})

    def _minutes(self, symbol: str, sess: pd.DataFrame) -> _Bars:
        return _generate_minutes(self.seed, symbol, self._symbol_actions(symbol), sess)

    def _block(self, symbol: str, sess: pd.DataFrame, timeframe: Timeframe) -> _Bars:
        """Bars of `timeframe` for a block of sessions, from the cache for the fetched ones."""
        if timeframe not in FETCHED_TIMEFRAMES:
            return _ladder(self._minutes(symbol, sess))[timeframe]
        key = (self.seed, self._symbol_actions(symbol), symbol, *sess["date"].iloc[[0, -1]])
        key = (*key, len(sess))
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit[timeframe]
        ladder = _ladder(self._minutes(symbol, sess))
        kept = {tf: ladder[tf] for tf in FETCHED_TIMEFRAMES}
        with self._lock:
            self._cache[key] = kept
            while len(self._cache) > _CACHE_BLOCKS:
                self._cache.popitem(last=False)
        return kept[timeframe]

    def bars(
        self,
        symbols: Sequence[str],
        timeframe: Timeframe | str,
        start: dt.datetime,
        end: dt.datetime,
    ) -> pd.DataFrame:
        """Raw (as-traded) bars with start <= ts < end, sorted by symbol and ts (naive datetimes
        are taken as UTC). Bars exist for sessions from FIRST_DATE to LAST_DATE."""
        tf = Timeframe(timeframe)
        if not (tf.is_intraday or tf == Timeframe.D1):
            raise ValueError(f"the synthetic provider serves m1..h4 and d1 bars, not {tf.value}")
        lo, hi = _to_utc(start), _to_utc(end)
        names = self._validated(symbols)
        kept_symbols: list[str] = []
        parts: list[dict[str, np.ndarray]] = []
        if hi > lo:
            first, last = lo.date(), (hi - pd.Timedelta(1, "ns")).date()
            by_market = {m: _sessions(m, first, last) for m in {market_of(s) for s in names}}
            for symbol in names:
                sess = by_market[market_of(symbol)]
                size = max(1, _CHUNK_MINUTES // _grid_width(market_of(symbol)))
                for i in range(0, len(sess), size):
                    block = sess.iloc[i : i + size].reset_index(drop=True)
                    cols = _bar_columns(
                        self._block(symbol, block, tf), block, tf, _price_decimals(symbol) + 2
                    )
                    keep = (cols["ts"] >= lo.value) & (cols["ts"] < hi.value)
                    kept_symbols.append(symbol)
                    parts.append({c: v[keep] for c, v in cols.items()})
        frame = _bar_frame(kept_symbols, tf, parts)
        now = _to_utc(self.as_of if self.as_of is not None else clock.utc_now())
        return _complete_at(frame, tf, now) if hi > now - pd.Timedelta(days=2) else frame

    def _now(self, as_of: dt.datetime | None = None) -> pd.Timestamp:
        if as_of is None:
            as_of = self.as_of if self.as_of is not None else clock.utc_now()
        return _to_utc(as_of)

    def _last_minute(self, symbol: str, as_of: pd.Timestamp) -> _LastMinute | None:
        """The latest complete 1-minute bar at or before `as_of`, in its session (None before the
        synthetic history)."""
        day = min(as_of.date(), LAST_DATE)
        sess = _sessions(market_of(symbol), day - dt.timedelta(days=15), day)
        sess = sess[sess["open_utc"] + pd.Timedelta(minutes=1) <= as_of].tail(2)
        if sess.empty:
            return None
        sess = sess.reset_index(drop=True)
        m = self._minutes(symbol, sess)
        cur = len(sess) - 1
        ends = _ns(sess["open_utc"])[m.session] + (m.minute + 1) * _NS_PER_MINUTE
        today = np.flatnonzero((m.session == cur) & (ends <= as_of.value))
        prev = np.flatnonzero(m.session == cur - 1)
        return _LastMinute(sess, m, ends, today, prev)

    def latest_quotes(self, symbols: Sequence[str]) -> pd.DataFrame:
        """Quotes from the latest complete 1-minute bar at or before `as_of` (None: now): bid/ask
        one basis point (at least a tick) around the last price."""
        as_of = self._now()
        rows = []
        for symbol in self._validated(symbols):
            lm = self._last_minute(symbol, as_of)
            if lm is None:
                continue
            m, today, prev = lm.minutes, lm.today, lm.prev
            dec = _price_decimals(symbol)
            last = lm.last
            half_spread = max(last * _QUOTE_SPREAD, 10.0**-dec)
            rows.append(
                {
                    "symbol": symbol,
                    "ts": lm.ts,
                    "last": last,
                    "bid": round(last - half_spread, dec),
                    "ask": round(last + half_spread, dec),
                    "day_high": float(m.high[today].max()),
                    "day_low": float(m.low[today].min()),
                    "prev_close": float(m.close[prev[-1]]) if len(prev) else math.nan,
                }
            )
        out = pd.DataFrame(rows, columns=list(QUOTE_COLUMNS))
        prices = {c: "float64" for c in QUOTE_COLUMNS[2:]}
        return out.astype({"symbol": str, "ts": "datetime64[ns, UTC]", **prices})

    def option_chain(self, underlying: str, as_of: dt.datetime | None = None) -> pd.DataFrame:
        """The option chain of an equity underlying at `as_of` (None: the provider's `as_of`, else
        now), OPTION_CHAIN_COLUMNS; an empty frame for crypto and before the synthetic history.

        The snapshot is taken at the end of the latest complete 1-minute bar at or before `as_of`
        (the session's close once it is over), on that bar's close as the underlying price (raw,
        as-traded). European options, rate `OPTION_RATE`, no dividend yield. Expirations: the next
        6 weekly Fridays and then the next 3 monthly third Fridays (each on the session before when
        the Friday is a holiday); an option expires at its session's close (16:00 New York, 13:00
        on early closes), which is also the end of its time to expiry in pricing (in years of 365
        days). Strikes cover +-30% of spot on a listed-like grid; bid/ask are on a 0.01 tick;
        `implied_volatility` is the surface's vol, which prices the unrounded mid (always within
        [bid, ask]), and the greeks are at that vol. Everything random is a hash of (seed,
        underlying, session date, contract): the chain is a function of the underlying and
        `as_of`; the day's volume accrues through the session, open interest is fixed for the day."""
        symbol = validate_symbol(underlying, market_of(underlying))
        if market_of(symbol) == "crypto":
            return option_chain_frame()
        lm = self._last_minute(symbol, self._now(as_of))
        if lm is None:
            return option_chain_frame()
        return option_chain_frame(_option_chain(self.seed, symbol, self._symbol_actions(symbol), lm))

    def corporate_actions(
        self, symbols: Sequence[str], start: dt.date, end: dt.date
    ) -> pd.DataFrame:
        """The history's splits, reverse splits and cash dividends with ex_date in [start, end]:
        record date one business day after the ex-date, payment two weeks after that."""
        wanted = set(self._validated(symbols))
        rows = []
        for a in sorted(self.actions, key=lambda a: (a.symbol, a.ex_date)):
            if a.symbol not in wanted or not start <= a.ex_date <= end:
                continue
            record = np.busday_offset(np.datetime64(a.ex_date, "D"), 1, roll="forward")
            payment = np.busday_offset(record + np.timedelta64(14, "D"), 0, roll="forward")
            rows.append(
                {
                    "symbol": a.symbol,
                    "action_type": a.action_type,
                    "ex_date": a.ex_date,
                    "record_date": record.astype(dt.date),
                    "payment_date": payment.astype(dt.date),
                    "ratio": math.nan if a.ratio is None else float(a.ratio),
                    "cash_amount": math.nan if a.cash_amount is None else float(a.cash_amount),
                }
            )
        out = pd.DataFrame(rows, columns=list(CORPORATE_ACTION_COLUMNS))
        dates = {c: object for c in ("ex_date", "record_date", "payment_date")}
        amounts = {"ratio": "float64", "cash_amount": "float64"}
        return out.astype({"symbol": str, "action_type": str, **dates, **amounts})

    def calendar(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        """US equity sessions in [start, end]."""
        s = calendar_sessions.sessions("us_equity", start, end)
        return s.loc[:, list(CALENDAR_COLUMNS)].reset_index(drop=True)
