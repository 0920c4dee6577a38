"""The synthetic market: an offline, deterministic stand-in for a market-data vendor.

What is modelled, per symbol:

* Daily closes on a fixed step grid from 1999-12-31 (weekdays for US equities, calendar days for
  crypto) up to 2049-12-31: Markov regime-switching drift (bull / sideways / bear, each with its
  own volatility level), GARCH(1,1) variance, a shock factor shared by the symbols of a market,
  and weak mean reversion around a slowly growing trend line. The path is shifted so each
  symbol trades at a realistic level on 2024-01-02 (SPY ~ 450, BTC/USD ~ 40000, ...). Unknown but
  valid symbols get a level, volatility and volume from a stable hash of their name.
* Corporate actions (`DEFAULT_ACTIONS`: an NVDA 4:1 split, an MSFT and AAPL cash dividends). The
  economic path is continuous; raw, as-traded prices before a split's ex-date are the adjusted
  prices times the ratio, and a dividend is an overnight drop of the price at the ex-date's open.
* Intraday: each session's 1-minute path is a Brownian bridge from the session's open (an
  overnight gap for equities, the previous close for crypto) to the day's close, with U-shaped
  intraday volatility and volume (higher at the open and close; crypto is busier in US hours).
  Every random number is a counter-based hash of (seed, symbol, session date, minute, stream), so a
  bar never depends on the window it was requested in.
* Every timeframe is aggregated from the 1-minute grid (prices rounded first), so a d1 bar equals
  the aggregation of any intraday timeframe of its session exactly. Equity sessions follow the NYSE
  calendar (holidays, early closes, DST); crypto trades 24/7 with the UTC day as its session.
* Option chains (equities only): European Black-Scholes prices on the spot of the last complete
  minute, with a volatility surface made of a GARCH-consistent ATM term structure (from the daily
  path's conditional volatility towards the symbol's long-run level, plus a risk premium) and an
  SSVI smile (put skew, free of static arbitrage), tick-rounded bid/ask spreads, and volume / open
  interest concentrated near the money. Weekly Friday expirations plus monthly third Fridays (the
  session before when Friday is a holiday); listed-like strike grids; OCC contract symbols. See
  `SyntheticProvider.option_chain`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from swiftbolt import calendars, clock
from swiftbolt.marketdata.options_math import bs_greeks, bs_price
from swiftbolt.marketdata.types import (
    BAR_COLUMNS,
    CALENDAR_COLUMNS,
    CORPORATE_ACTION_COLUMNS,
    FETCHED_TIMEFRAMES,
    QUOTE_COLUMNS,
    Timeframe,
    option_chain_frame,
)
from swiftbolt.symbols import validate_symbol

GRID_EPOCH = dt.date(1999, 12, 31)  # step 0 of the daily grid (a Friday and an NYSE session)
FIRST_DATE = dt.date(2000, 1, 3)  # first session with bars
LAST_DATE = dt.date(2049, 12, 31)  # last session with bars
ANCHOR_DATE = dt.date(2024, 1, 2)  # the date on which a symbol trades at its profile level

_NS_PER_MINUTE = 60_000_000_000
_EQUITY_MAX_MINUTES = 390  # the longest NYSE regular session (6.5 hours)
_CRYPTO_MINUTES = 1440
_CHUNK_MINUTES = 1 << 18  # minutes generated at a time (bounds memory, not results)
_CACHE_BLOCKS = 48  # blocks of aggregated bars kept per provider (each at most ~2 MB)
_SESSION_COUNTER = 10_000_000  # hash counter of per-session random numbers (beyond any minute)
_CRYPTO_VOLUME_QUANTUM = 1.0 / 1024.0  # dyadic, so float sums of crypto volume are exact
_QUOTE_SPREAD = 1e-4  # bid/ask = last -/+ 1 bp (at least one tick)

# Daily dynamics.
_GARCH_ALPHA = 0.15  # strong ARCH effect: clustering visible in two years of daily returns
_GARCH_BETA = 0.82  # (unconditional kurtosis ~ 12: fat tails come from the GARCH itself)
_MEAN_REVERSION = 1.0 / 750.0  # per step, towards the trend line
# Annual drift of bull, sideways and bear regimes for a 25%-vol symbol (scaled by sqrt(vol / 25%)).
_REGIME_DRIFT = np.array([0.30, 0.0, -0.40])
_REGIME_VOL = np.array([0.85, 1.0, 1.5])
_REGIME_MEAN_STEPS = np.array([110.0, 70.0, 55.0])
# Intraday.
_OVERNIGHT_SHARE = 0.35  # share of the close-to-close move realised in the equity opening gap
_GAP_NOISE = 0.2  # opening-gap noise, in daily sigmas
_EQUITY_INTRADAY_VOL = 0.85  # bridge volatility, in daily sigmas
_WICK = 0.5  # high/low excursion beyond open/close, in minute sigmas


@dataclass(frozen=True)
class SymbolProfile:
    """The parameters of one symbol's synthetic history (prices in today's share basis)."""

    level: float  # price on ANCHOR_DATE
    annual_vol: float
    daily_volume: float  # shares (equities) or units (crypto) per session
    factor_loading: float  # correlation of daily shocks with the market factor
    trend: float  # annual growth of the mean-reversion trend line


PROFILES: dict[str, SymbolProfile] = {
    "SPY": SymbolProfile(450.0, 0.16, 70e6, 0.97, 0.07),
    "QQQ": SymbolProfile(380.0, 0.21, 40e6, 0.90, 0.09),
    "AAPL": SymbolProfile(180.0, 0.26, 55e6, 0.60, 0.10),
    "MSFT": SymbolProfile(380.0, 0.24, 22e6, 0.60, 0.10),
    "NVDA": SymbolProfile(120.0, 0.50, 250e6, 0.50, 0.15),
    "TSLA": SymbolProfile(220.0, 0.55, 100e6, 0.40, 0.12),
    "AMZN": SymbolProfile(150.0, 0.32, 45e6, 0.55, 0.10),
    "BTC/USD": SymbolProfile(40000.0, 0.55, 1500.0, 0.90, 0.20),
    "ETH/USD": SymbolProfile(2500.0, 0.70, 20000.0, 0.80, 0.20),
}

_ACTION_TYPES = ("split", "reverse_split", "cash_dividend")


@dataclass(frozen=True)
class SyntheticAction:
    """A corporate action of the synthetic history. Splits carry `ratio` (new shares per old share),
    dividends `cash_amount` (per share, in the ex-date's share basis)."""

    symbol: str
    action_type: str
    ex_date: dt.date
    ratio: float | None = None
    cash_amount: float | None = None

    def __post_init__(self) -> None:
        if self.action_type not in _ACTION_TYPES:
            raise ValueError(f"action_type must be one of {_ACTION_TYPES}, got {self.action_type!r}")
        if self.action_type == "cash_dividend":
            if self.cash_amount is None or not self.cash_amount > 0:
                raise ValueError(f"cash dividend of {self.symbol} needs a positive cash_amount")
        elif self.ratio is None or not self.ratio > 0 or self.ratio == 1:
            raise ValueError(f"{self.action_type} of {self.symbol} needs a positive ratio != 1")
        elif (self.action_type == "split") != (self.ratio > 1):
            raise ValueError(f"a split has ratio > 1 and a reverse split ratio < 1 ({self.symbol})")


DEFAULT_ACTIONS: tuple[SyntheticAction, ...] = (
    SyntheticAction("NVDA", "split", dt.date(2025, 6, 10), ratio=4.0),
    SyntheticAction("MSFT", "cash_dividend", dt.date(2025, 8, 20), cash_amount=0.83),
    *(
        SyntheticAction("AAPL", "cash_dividend", day, cash_amount=amount)
        for day, amount in (
            (dt.date(2024, 2, 9), 0.24),
            (dt.date(2024, 5, 10), 0.25),
            (dt.date(2024, 8, 12), 0.25),
            (dt.date(2024, 11, 8), 0.25),
            (dt.date(2025, 2, 10), 0.25),
            (dt.date(2025, 5, 12), 0.26),
            (dt.date(2025, 8, 11), 0.26),
            (dt.date(2025, 11, 10), 0.26),
        )
    ),
)


# ---------------------------------------------------------------------------------------------
# Symbols, hashing and the step grid


def stable_hash(text: str) -> int:
    """A 64-bit hash of `text` that is the same in every process (unlike hash())."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def market_of(symbol: str) -> str:
    return "crypto" if "/" in symbol else "us_equity"


def profile_of(symbol: str) -> SymbolProfile:
    """The symbol's profile; unknown symbols get one derived from a hash of the name."""
    known = PROFILES.get(symbol)
    if known is not None:
        return known
    h = stable_hash("profile:" + symbol)
    u1, u2, u3 = (((h >> shift) & 0xFFFF) / 65535.0 for shift in (0, 16, 32))
    if market_of(symbol) == "crypto":
        level = 10.0 ** (-1.0 + 5.0 * u1)  # 0.1 .. 10000
        return SymbolProfile(level, 0.6 + 0.5 * u2, 2e7 * 10.0**u3 / level, 0.7, 0.15)
    level = 10.0 * 50.0**u1  # 10 .. 500
    return SymbolProfile(level, 0.2 + 0.4 * u2, 1e6 * 30.0**u3, 0.5, 0.08)


def _price_decimals(symbol: str) -> int:
    if market_of(symbol) != "crypto":
        return 2
    return int(min(8, max(2, 4 - math.floor(math.log10(profile_of(symbol).level)))))


def _steps_per_year(market: str) -> float:
    return 365.0 if market == "crypto" else 261.0


def _steps(market: str, dates: np.ndarray) -> np.ndarray:
    """Step indices of dates (datetime64[D]) on the market's daily grid."""
    epoch = np.datetime64(GRID_EPOCH, "D")
    if market == "crypto":
        return (dates - epoch).astype(np.int64)
    return np.busday_count(epoch, dates).astype(np.int64)


def _step_count(market: str) -> int:
    return int(_steps(market, np.array([LAST_DATE], dtype="datetime64[D]"))[0]) + 1


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_U64 = (1 << 64) - 1


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on a uint64 array (wrapping arithmetic)."""
    z = x + _GOLDEN
    z ^= z >> np.uint64(30)
    z *= _MIX1
    z ^= z >> np.uint64(27)
    z *= _MIX2
    z ^= z >> np.uint64(31)
    return z


def _normal_pair(key: np.ndarray, counter: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two independent standard normals per element from the hash of (key, counter), Box-Muller."""
    z = _mix(key + counter.astype(np.uint64) * _GOLDEN)
    u1 = ((z >> np.uint64(32)).astype(np.float64) + 0.5) * (1.0 / 4294967296.0)
    u2 = (z & np.uint64(0xFFFFFFFF)).astype(np.float64) * (2.0 * math.pi / 4294967296.0)
    r = np.sqrt(-2.0 * np.log(u1))
    return r * np.cos(u2), r * np.sin(u2)


def _symbol_key(seed: int, symbol: str) -> np.ndarray:
    return _mix(np.array([(seed ^ stable_hash("minute:" + symbol)) & _U64], dtype=np.uint64))


# ---------------------------------------------------------------------------------------------
# The daily path


@dataclass(frozen=True)
class _DailyPath:
    log_close: np.ndarray  # per step: log close in today's share basis, dividend drops included
    sigma: np.ndarray  # per step: the GARCH daily volatility
    jump: np.ndarray  # per step: log price jump at the open (dividends)


@lru_cache(maxsize=8)
def _market_factor(seed: int, market: str) -> np.ndarray:
    rng = np.random.default_rng([seed & _U64, stable_hash("factor:" + market)])
    return rng.standard_normal(_step_count(market))


def _regimes(rng: np.random.Generator, n: int) -> np.ndarray:
    """A Markov chain of regimes (0 bull, 1 sideways, 2 bear) with geometric durations."""
    states = (rng.integers(3) + np.cumsum(rng.integers(1, 3, size=n))) % 3
    durations = rng.geometric(1.0 / _REGIME_MEAN_STEPS[states])
    return np.repeat(states, durations)[:n]


def _split_factor(actions: Sequence[SyntheticAction], dates: np.ndarray) -> np.ndarray:
    """Raw price per adjusted price on each date (datetime64[D]): product of later splits' ratios."""
    factor = np.ones(len(dates))
    for a in actions:
        if a.action_type != "cash_dividend" and a.ratio is not None:
            factor = np.where(dates < np.datetime64(a.ex_date, "D"), factor * a.ratio, factor)
    return factor


@lru_cache(maxsize=64)
def _daily_path(seed: int, symbol: str, actions: tuple[SyntheticAction, ...]) -> _DailyPath:
    market = market_of(symbol)
    prof = profile_of(symbol)
    n = _step_count(market)
    per_year = _steps_per_year(market)
    rng = np.random.default_rng([seed & _U64, stable_hash("daily:" + symbol)])
    regime = _regimes(rng, n)
    rho = prof.factor_loading
    shocks = rho * _market_factor(seed, market) + math.sqrt(1 - rho * rho) * rng.standard_normal(n)

    sigma_d = prof.annual_vol / math.sqrt(per_year)
    scale = math.sqrt(prof.annual_vol / 0.25)
    drift = (_REGIME_DRIFT[regime] * scale / per_year).tolist()
    omega = ((1 - _GARCH_ALPHA - _GARCH_BETA) * (sigma_d * _REGIME_VOL[regime]) ** 2).tolist()
    anchor = int(_steps(market, np.array([ANCHOR_DATE], dtype="datetime64[D]"))[0])
    trend = (math.log(prof.level) + prof.trend * (np.arange(n) - anchor) / per_year).tolist()
    z = shocks.tolist()

    # The GARCH and mean-reversion recursions are sequential: one pass over the grid, cached.
    alpha, beta, kappa = _GARCH_ALPHA, _GARCH_BETA, _MEAN_REVERSION
    cap = (6.0 * sigma_d) ** 2
    var = omega[0] / (1 - alpha - beta)
    level = trend[0]
    eps = 0.0
    log_close = [0.0] * n
    sigma = [0.0] * n
    for k in range(n):
        var = min(omega[k] + alpha * eps * eps + beta * var, cap)
        s = math.sqrt(var)
        eps = s * z[k]
        level += drift[k] - kappa * (level - trend[k]) + eps
        log_close[k] = level
        sigma[k] = s

    path = np.asarray(log_close)
    path += math.log(prof.level) - path[anchor]
    jump = np.zeros(n)
    for a in sorted(actions, key=lambda a: a.ex_date):
        if a.action_type != "cash_dividend" or a.cash_amount is None:
            continue
        ex = np.array([a.ex_date], dtype="datetime64[D]")
        k = int(_steps(market, np.busday_offset(ex, 0, roll="forward"))[0])
        if not 0 < k < n:
            continue
        raw_prev = math.exp(path[k - 1]) * float(_split_factor(actions, ex)[0])
        drop = math.log(max(1.0 - a.cash_amount / raw_prev, 0.5))
        path[k:] += drop
        jump[k] += drop
    for arr in (path, jump):
        arr.flags.writeable = False
    sig = np.asarray(sigma)
    sig.flags.writeable = False
    return _DailyPath(path, sig, jump)


# ---------------------------------------------------------------------------------------------
# Sessions and the 1-minute grid


def _sessions(market: str, first: dt.date, last: dt.date) -> pd.DataFrame:
    """Sessions with first <= date <= last (within the synthetic history), plus prev_date."""
    first, last = max(first, FIRST_DATE), min(last, LAST_DATE)
    if first > last:
        empty = calendars.sessions(market, LAST_DATE, LAST_DATE).iloc[0:0]
        return empty.assign(prev_date=pd.Series(dtype=object))
    s = calendars.sessions(market, first - dt.timedelta(days=14), last)
    s = s.assign(prev_date=s["date"].shift(1))
    return s[s["date"] >= first].reset_index(drop=True)


def _ns(col: pd.Series) -> np.ndarray:
    """Nanoseconds since the Unix epoch of a tz-aware datetime column."""
    naive = col.dt.tz_convert("UTC").dt.tz_localize(None)
    return naive.to_numpy(dtype="datetime64[ns]").view(np.int64)


def _days(values: pd.Series) -> np.ndarray:
    return np.array(list(values), dtype="datetime64[D]")


def _grid_width(market: str) -> int:
    return _CRYPTO_MINUTES if market == "crypto" else _EQUITY_MAX_MINUTES


@lru_cache(maxsize=32)
def _intraday_profile(market: str, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For a session of n minutes on the market's fixed-width grid: the intraday variance clock
    (reaches 1 at the close), each minute's volatility as a share of the session's (sqrt of its
    variance share) and each minute's share of the session's volume; zero after the close."""
    width = _grid_width(market)
    j = np.arange(width)
    valid = j < n
    if market == "crypto":  # busier in US hours
        us_hours = np.exp(-0.5 * (((j + 0.5) / 60.0 - 16.5) / 2.5) ** 2)
        var_w, vol_w = 0.8 + 0.6 * us_hours, 0.7 + 0.9 * us_hours
    else:  # U-shaped: high at the open and into the close
        x = (j + 0.5) / n
        var_w = 0.8 + 1.6 * np.exp(-x / 0.06) + 0.8 * np.exp(-(1.0 - x) / 0.06)
        vol_w = 0.55 + 2.6 * np.exp(-x / 0.045) + 3.2 * np.exp(-(1.0 - x) / 0.045)
    var_w = np.where(valid, var_w, 0.0)
    vol_w = np.where(valid, vol_w, 0.0)
    cum = np.cumsum(var_w)
    clock = np.minimum(cum / cum[n - 1], 1.0)
    sigma_share = np.sqrt(var_w / cum[n - 1])
    volume_share = vol_w / np.cumsum(vol_w)[n - 1]
    for arr in (clock, sigma_share, volume_share):
        arr.flags.writeable = False
    return clock, sigma_share, volume_share


@dataclass
class _Bars:
    """Bars of one timeframe for a block of sessions, in (session, time) order. `minute` is the
    bar's start in minutes from its session's open; `pv` is the sum of volume * typical price."""

    session: np.ndarray
    minute: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    pv: np.ndarray
    trade_count: np.ndarray

    def __len__(self) -> int:
        return len(self.session)


def _generate_minutes(
    seed: int, symbol: str, actions: tuple[SyntheticAction, ...], sess: pd.DataFrame
) -> _Bars:
    """The 1-minute bars of the sessions in `sess` (columns date, open_utc, close_utc, prev_date).

    Each session's row is computed on a fixed-width grid from its own random numbers, so its bars
    depend only on (seed, symbol, actions, session), never on the other sessions of the block."""
    market = market_of(symbol)
    prof = profile_of(symbol)
    daily = _daily_path(seed, symbol, actions)
    width = _grid_width(market)
    n_sess = len(sess)
    rows = np.arange(n_sess)

    dates = _days(sess["date"])
    k = _steps(market, dates)
    p = _steps(market, _days(sess["prev_date"]))
    n_min = np.minimum((_ns(sess["close_utc"]) - _ns(sess["open_utc"])) // _NS_PER_MINUTE, width)
    last = n_min - 1

    close_log = daily.log_close[k]
    sigma = daily.sigma[k]
    key = _mix(_symbol_key(seed, symbol) ^ _mix(dates.astype(np.int64).astype(np.uint64)))
    g_gap, g_vol = _normal_pair(key, np.full(n_sess, _SESSION_COUNTER))
    if market == "crypto":  # trades through the night: the day opens at the previous close
        open_log = daily.log_close[p]
        intraday_sigma = sigma
    else:  # an overnight gap: part of the day's move, a dividend drop, and noise
        prev = daily.log_close[p]
        jump = daily.jump[k]
        move = close_log - jump - prev
        open_log = prev + _OVERNIGHT_SHARE * move + jump + _GAP_NOISE * sigma * g_gap
        intraday_sigma = _EQUITY_INTRADAY_VOL * sigma

    lengths, which = np.unique(n_min, return_inverse=True)
    profiles = [_intraday_profile(market, int(n)) for n in lengths]
    clock = np.stack([pr[0] for pr in profiles])[which]
    minute_sigma = np.stack([pr[1] for pr in profiles])[which] * intraday_sigma[:, None]
    volume_share = np.stack([pr[2] for pr in profiles])[which]

    # Random numbers: a Box-Muller pair per two minutes for the path, three uniforms per minute.
    z = np.empty((n_sess, width))
    z[:, 0::2], z[:, 1::2] = _normal_pair(key[:, None], np.arange(width // 2)[None, :])
    bits = _mix(key[:, None] + (np.arange(width) + width).astype(np.uint64)[None, :] * _GOLDEN)
    mask21 = np.uint64((1 << 21) - 1)
    u_high, u_low, u_vol = (
        ((bits >> np.uint64(shift)) & mask21).astype(np.float64) * (1.0 / (1 << 21))
        for shift in (0, 21, 42)
    )

    # A Brownian bridge from the open to the close on the intraday variance clock.
    walk = np.cumsum(minute_sigma * z, axis=1)
    path = walk + clock * ((close_log - open_log) - walk[rows, last])[:, None]
    path += open_log[:, None]
    path[rows, last] = close_log

    factor = _split_factor(actions, dates)  # raw (as-traded) price per adjusted price
    dec = _price_decimals(symbol)
    level = np.exp(path) * factor[:, None]
    open_level = np.exp(open_log) * factor
    prev_level = np.concatenate([open_level[:, None], level[:, :-1]], axis=1)
    close = np.round(level, dec)
    open_ = np.concatenate([np.round(open_level, dec)[:, None], close[:, :-1]], axis=1)
    wick = _WICK * minute_sigma
    high = np.round(np.maximum(prev_level, level) * (1.0 + wick * 2.4 * u_high**2), dec)
    low = np.round(np.minimum(prev_level, level) * (1.0 - wick * 2.4 * u_low**2), dec)

    # Volume: the session's volume (higher on big-move days) spread over a U-shaped profile,
    # with noise that rises with the minute's move; in as-traded shares.
    move_size = np.minimum(np.abs(close_log - daily.log_close[p]) / sigma, 4.0)
    day_volume = prof.daily_volume * np.exp(0.3 * g_vol - 0.045) * (0.6 + 0.4 * move_size)
    noise = (0.45 + 1.1 * u_vol) * (0.75 + 0.3 * np.abs(z))
    volume = volume_share * (day_volume / factor)[:, None] * noise
    if market == "crypto":
        quantum = _CRYPTO_VOLUME_QUANTUM
        volume = np.maximum(np.rint(volume / quantum), 1.0) * quantum
        trade_size = 5000.0 / prof.level
    else:
        volume = np.maximum(np.rint(volume), 1.0)
        trade_size = min(max(40000.0 / prof.level, 30.0), 400.0)
    trades = np.maximum(np.ceil(volume * factor[:, None] / trade_size), 1.0).astype(np.int64)
    pv = volume * ((high + low + close) / 3.0)

    minute = np.broadcast_to(np.arange(width)[None, :], (n_sess, width))
    session = np.broadcast_to(rows[:, None], (n_sess, width))
    grids = (session, minute, open_, high, low, close, volume, pv, trades)
    if bool((n_min == width).all()):
        return _Bars(*(g.reshape(-1) for g in grids))
    valid = minute < n_min[:, None]
    return _Bars(*(g[valid] for g in grids))


def _roll_up(bars: _Bars, period: int | None) -> _Bars:
    """Aggregate into bars of `period` minutes aligned to the session open (None: the session).
    Bars of `bars` must nest in the new bars."""
    if len(bars) == 0:
        return bars
    starts = np.flatnonzero(bars.minute == 0 if period is None else bars.minute % period == 0)
    ends = np.append(starts[1:], len(bars)) - 1
    return _Bars(
        session=bars.session[starts],
        minute=bars.minute[starts],
        open=bars.open[starts],
        high=np.maximum.reduceat(bars.high, starts),
        low=np.minimum.reduceat(bars.low, starts),
        close=bars.close[ends],
        volume=np.add.reduceat(bars.volume, starts),
        pv=np.add.reduceat(bars.pv, starts),
        trade_count=np.add.reduceat(bars.trade_count, starts),
    )


_LADDER: tuple[Timeframe, ...] = (
    Timeframe.M5, Timeframe.M15, Timeframe.H1, Timeframe.H4, Timeframe.D1,
)


def _ladder(minutes: _Bars) -> dict[Timeframe, _Bars]:
    """Every timeframe from m1 up, each aggregated from the one below (the same order of
    operations whatever the request, so every bar is reproducible)."""
    out = {Timeframe.M1: minutes}
    below = minutes
    for tf in _LADDER:
        below = out[tf] = _roll_up(below, tf.minutes)
    return out


def _to_utc(value: dt.datetime | dt.date | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _bar_columns(
    bars: _Bars, sess: pd.DataFrame, timeframe: Timeframe, vwap_decimals: int
) -> dict[str, np.ndarray]:
    if timeframe == Timeframe.D1:
        ts = _days(sess["date"]).astype("datetime64[ns]").view(np.int64)[bars.session]
    else:
        ts = _ns(sess["open_utc"])[bars.session] + bars.minute * _NS_PER_MINUTE
    vwap = np.clip(np.round(bars.pv / bars.volume, vwap_decimals), bars.low, bars.high)
    return {
        "ts": ts,
        "open": bars.open,
        "high": bars.high,
        "low": bars.low,
        "close": bars.close,
        "volume": bars.volume,
        "vwap": vwap,
        "trade_count": bars.trade_count,
    }


def _bar_frame(
    symbols: list[str], timeframe: Timeframe, parts: list[dict[str, np.ndarray]]
) -> pd.DataFrame:
    """BAR_COLUMNS from per-symbol column dicts."""
    n = [len(p["ts"]) for p in parts]

    def cat(col: str, dtype: type) -> np.ndarray:
        return np.concatenate([np.asarray(p[col], dtype=dtype) for p in parts] or [np.empty(0)])

    ts = cat("ts", np.int64).astype(np.int64).view("datetime64[ns]")
    return pd.DataFrame(
        {
            "symbol": pd.Series(np.repeat(np.array(symbols, dtype=object), n), dtype=str),
            "timeframe": pd.Series([timeframe.value] * sum(n), dtype=str),
            "ts": pd.DatetimeIndex(ts).tz_localize("UTC"),
            **{c: cat(c, np.float64) for c in ("open", "high", "low", "close", "volume", "vwap")},
            "trade_count": cat("trade_count", np.int64).astype(np.int64),
        },
        columns=list(BAR_COLUMNS),
    )


# ---------------------------------------------------------------------------------------------
# Option chains

OPTION_RATE = 0.04  # continuously compounded risk-free rate of the synthetic option market
_OPTION_WEEKLIES = 6
_OPTION_MONTHLIES = 3
_STRIKE_RANGE = 0.30  # strikes within +-30% of spot
_SECONDS_PER_YEAR = 365.0 * 86400.0
_MIN_T = 1.0 / 365.0  # floor of the time to expiry in the smile and spread shapes (not in pricing)
_VOL_PREMIUM = 1.08  # implied over realised volatility (plus up to 0.06 of daily noise)
_TICK = 0.01
_NY = "America/New_York"


@dataclass(frozen=True)
class _LastMinute:
    """The latest complete 1-minute bar at some time: its session (the last row of `sess`, after
    the previous session), the minute bars of both, each minute's end (ns) and the indices of the
    current session's complete minutes and of the previous session's minutes."""

    sess: pd.DataFrame
    minutes: _Bars
    ends: np.ndarray
    today: np.ndarray
    prev: np.ndarray

    @property
    def ts(self) -> pd.Timestamp:
        return pd.Timestamp(int(self.ends[self.today[-1]]), tz="UTC")

    @property
    def last(self) -> float:
        return float(self.minutes.close[self.today[-1]])

    @property
    def session(self) -> pd.Series:
        return self.sess.iloc[-1]


def _expiry_closes(first: dt.date, last: dt.date) -> dict[dt.date, pd.Timestamp]:
    """Close (UTC) of every NYSE session in [first, last]; beyond the exchange calendar's range,
    weekdays closing at 16:00 New York."""
    sess = calendars.sessions("us_equity", first, last)
    closes = dict(zip(sess["date"], sess["close_utc"], strict=True))
    covered = max(closes) if closes else first - dt.timedelta(days=1)
    day = covered + dt.timedelta(days=1)
    while day <= last:
        if day.weekday() < 5:
            local = pd.Timestamp(dt.datetime.combine(day, dt.time(16)), tz=_NY)
            closes[day] = local.tz_convert("UTC")
        day += dt.timedelta(days=1)
    return closes


def _expirations(day: dt.date, ts: pd.Timestamp) -> list[tuple[dt.date, pd.Timestamp, bool]]:
    """(expiration date, its close in UTC, is a monthly) of the chain at `ts` in session `day`:
    the next weekly Fridays, then the next monthly third Fridays, each moved to the session before
    when the Friday is not a session; an expiration is live until its close."""
    horizon = day + dt.timedelta(days=7 * _OPTION_WEEKLIES + 31 * (_OPTION_MONTHLIES + 1) + 14)
    start = day.replace(day=1) - dt.timedelta(days=7)  # before every Friday looked at
    closes = _expiry_closes(start, horizon)

    def session_of(friday: dt.date) -> dt.date:
        d = friday
        while d not in closes and d > start:
            d -= dt.timedelta(days=1)
        return d

    def third_friday(year: int, month: int) -> dt.date:
        first = dt.date(year, month, 1)
        return first + dt.timedelta(days=(4 - first.weekday()) % 7 + 14)

    monthly = set()
    year, month = day.year, day.month
    for _ in range(_OPTION_MONTHLIES + 3):
        monthly.add(session_of(third_friday(year, month)))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)

    out: list[tuple[dt.date, pd.Timestamp, bool]] = []
    friday = day + dt.timedelta(days=(4 - day.weekday()) % 7)
    while len(out) < _OPTION_WEEKLIES:
        exp = session_of(friday)
        if closes[exp] > ts:
            out.append((exp, closes[exp], exp in monthly))
        friday += dt.timedelta(days=7)
    later = sorted(d for d in monthly if d > out[-1][0])[:_OPTION_MONTHLIES]
    out.extend((d, closes[d], True) for d in later)
    return out


def _strikes(spot: float) -> np.ndarray:
    """Strikes within +-30% of spot, spaced ~1% of spot on a listed-like grid (0.5 under 25,
    1 under 200, 5 above)."""
    grid = 0.5 if spot < 25.0 else 1.0 if spot < 200.0 else 5.0
    step = max(grid, round(0.01 * spot / grid) * grid)
    lo = max(math.ceil(spot * (1.0 - _STRIKE_RANGE) / step), 1) * step
    hi = math.floor(spot * (1.0 + _STRIKE_RANGE) / step) * step
    return np.round(np.arange(lo, hi + step / 2.0, step), 3)


def _occ_root(symbol: str) -> str:
    return symbol.replace(".", "")[:6]


@dataclass(frozen=True)
class _Listing:
    """The contracts listed for a session: one row per (expiration, call/put, strike)."""

    exp_date: np.ndarray
    exp_close_ns: np.ndarray
    monthly: np.ndarray
    strike: np.ndarray
    is_call: np.ndarray

    @classmethod
    def build(cls, exps: list[tuple[dt.date, pd.Timestamp, bool]], strikes: np.ndarray) -> _Listing:
        n = 2 * len(strikes)
        return cls(
            exp_date=np.repeat(np.array([e[0] for e in exps], dtype=object), n),
            exp_close_ns=np.repeat(np.array([e[1].value for e in exps], dtype=np.int64), n),
            monthly=np.repeat(np.array([e[2] for e in exps], dtype=bool), n),
            strike=np.tile(np.concatenate([strikes, strikes]), len(exps)),
            is_call=np.tile(np.repeat([True, False], len(strikes)), len(exps)),
        )

    def years_from(self, ns: int) -> np.ndarray:
        return (self.exp_close_ns - ns) / 1e9 / _SECONDS_PER_YEAR


def _option_chain(
    seed: int, symbol: str, actions: tuple[SyntheticAction, ...], lm: _LastMinute
) -> dict[str, object]:
    """The columns of the synthetic chain of `symbol` at the minute `lm`.

    Strikes are listed around the session's opening price and the expirations live at the open,
    and volume / open interest weights are taken at the open, so the listing and open interest are
    fixed for the session and each contract's volume only grows; prices move with the spot."""
    prof = profile_of(symbol)
    spot, ts = lm.last, lm.ts
    session = lm.session
    day: dt.date = session["date"]
    open_ns, close_ns = _to_utc(session["open_utc"]).value, _to_utc(session["close_utc"]).value
    elapsed = min(max((ts.value - open_ns) / (close_ns - open_ns), 0.0), 1.0)
    open_px = float(lm.minutes.open[lm.today[0]])

    # Day-level randomness: the volatility premium and the day's option activity.
    day_key = _mix(_symbol_key(seed, "options:" + symbol) ^ np.uint64(day.toordinal()))
    g_day, g_premium = _normal_pair(day_key, np.zeros(1, dtype=np.int64))
    premium = _VOL_PREMIUM + 0.06 / (1.0 + math.exp(-float(g_premium[0])))

    # ATM term structure: GARCH variance mean-reverts at rate 1 - alpha - beta per step, so the
    # expected average variance to T moves from today's conditional level to the long-run one.
    per_year = _steps_per_year("us_equity")
    step = int(_steps("us_equity", np.array([day], dtype="datetime64[D]"))[0])
    daily = _daily_path(seed, symbol, actions)
    var_now = (float(daily.sigma[step]) * premium) ** 2 * per_year
    var_long = (prof.annual_vol * premium) ** 2
    kappa = (1.0 - _GARCH_ALPHA - _GARCH_BETA) * per_year

    def atm_vol(t: np.ndarray) -> np.ndarray:
        kt = kappa * t
        return np.sqrt(var_long + (var_now - var_long) * -np.expm1(-kt) / kt)

    def distance(strike: np.ndarray, price: float, t: np.ndarray) -> np.ndarray:
        """|log(K / F)| in standard deviations to expiry."""
        return np.abs(np.log(strike / price) - OPTION_RATE * t) / (atm_vol(t) * np.sqrt(t))

    strikes = _strikes(open_px)
    listing = _Listing.build(_expirations(day, ts), strikes)
    strike, is_call, exp_date = listing.strike, listing.is_call, listing.exp_date
    t = listing.years_from(ts.value)

    atm = atm_vol(t)
    t_floor = np.maximum(t, _MIN_T)
    log_m = np.log(strike / spot) - OPTION_RATE * t  # log(K / F)
    # The smile: SSVI (Gatheral & Jacquier 2014) on the ATM total variance theta = atm^2 t, with
    # a power-law curvature (gamma = 1/2). eta (1 + |rho|) <= 2 and theta increasing in t make the
    # surface free of static arbitrage: prices monotone and convex in strike, calendar spreads >= 0.
    # Index-like names (high market loading) get the steeper, more negative skew.
    loading = prof.factor_loading
    rho, eta = -0.3 - 0.45 * loading, 0.6 + 0.4 * loading
    theta = atm * atm * t
    phi = eta / np.sqrt(theta * (1.0 + theta))
    pk = phi * log_m
    w = 0.5 * theta * (1.0 + rho * pk + np.sqrt((pk + rho) ** 2 + 1.0 - rho * rho))
    iv = np.sqrt(w / t)

    mid = bs_price(spot, strike, t, iv, OPTION_RATE, 0.0, is_call)
    greeks = bs_greeks(spot, strike, t, iv, OPTION_RATE, 0.0, is_call)

    # Spreads: a tick-sized floor plus a share of the time value (wider away from the money, in
    # standard deviations to expiry, for short expiries and for less liquid underlyings) plus 10 bp
    # of the intrinsic value (deep in the money an option trades like the stock).
    dist = np.minimum(np.abs(log_m) / (atm * np.sqrt(t)), 4.0)
    short = 1.0 + 0.5 * np.sqrt((7.0 / 365.0) / t_floor)
    rel = (0.004 + 0.03 * 1e7 / (prof.daily_volume + 1e7)) * (1.0 + 0.5 * dist) * short
    intrinsic = np.maximum(np.where(is_call, 1.0, -1.0) * (spot - strike * np.exp(-OPTION_RATE * t)), 0.0)
    spread = _TICK * (1.0 + 0.5 * dist) + rel * np.maximum(mid - intrinsic, 0.0) + 0.001 * intrinsic
    bid = np.maximum(np.floor((mid - spread / 2.0) / _TICK + 1e-9) * _TICK, 0.0)
    ask = np.ceil((mid + spread / 2.0) / _TICK - 1e-9) * _TICK
    ask = np.maximum(ask, bid + _TICK)
    bid, ask = np.round(bid, 2), np.round(ask, 2)

    # Per-contract randomness, keyed by the contract (not its row), so it holds all session long.
    millis = np.rint(strike * 1000.0).astype(np.int64)
    ordinal = np.array([d.toordinal() for d in exp_date], dtype=np.int64)
    counter = (ordinal << 30) | (millis << 1) | (~is_call).astype(np.int64)
    g_volume, g_oi = _normal_pair(day_key, counter)
    g_last, _ = _normal_pair(_mix(day_key ^ np.uint64(0x5EED)), counter)
    last = np.round(mid + np.tanh(g_last) * 0.3 * (ask - bid), 2)
    last = np.clip(last, np.maximum(bid, _TICK), ask)

    # Volume and open interest, concentrated near the money and in out-of-the-money contracts;
    # volume in near expiries and accumulating through the session, open interest in monthlies.
    # Weights are taken at the open and normalised over the listing at the open.
    def weights(lst: _Listing) -> tuple[np.ndarray, np.ndarray]:
        t_open = np.maximum(lst.years_from(open_ns), 1e-9)
        d = distance(lst.strike, open_px, t_open)
        otm = np.where(lst.is_call, lst.strike >= open_px, lst.strike <= open_px)
        w_volume = (
            np.exp(-0.5 * (d / 1.2) ** 2) * np.where(otm, 1.0, 0.35) * np.exp(-4.0 * t_open)
            * np.where(lst.monthly, 1.5, 1.0)
        )
        w_oi = (
            np.exp(-0.5 * (d / 2.0) ** 2) * np.where(otm, 1.0, 0.5) * np.where(lst.monthly, 3.0, 1.0)
            * (1.3 - np.exp(-8.0 * t_open))
        )
        return w_volume, w_oi

    at_open = _Listing.build(_expirations(day, pd.Timestamp(open_ns, tz="UTC")), strikes)
    at_open_volume, at_open_oi = weights(at_open)
    w_volume, w_oi = weights(listing)
    contracts = prof.daily_volume / 100.0 * 0.4  # a day's option volume, in contracts
    activity = math.exp(0.3 * float(g_day[0]) - 0.045) * elapsed
    volume = np.floor(contracts * activity * w_volume / at_open_volume.sum() * np.exp(0.6 * g_volume - 0.18))
    open_interest = np.floor(12.0 * contracts * w_oi / at_open_oi.sum() * np.exp(0.4 * g_oi - 0.08))

    root = _occ_root(symbol)
    kind = np.where(is_call, "C", "P")
    contract = [
        f"{root}{d:%y%m%d}{c}{m:08d}" for d, c, m in zip(exp_date, kind, millis.tolist(), strict=True)
    ]
    return {
        "underlying": symbol,
        "contract": contract,
        "expiration": exp_date,
        "strike": strike,
        "option_type": np.where(is_call, "call", "put"),
        "ts": np.full(len(strike), ts),
        "bid": bid,
        "ask": ask,
        "last": last,
        "volume": volume,
        "open_interest": open_interest,
        "implied_volatility": iv,
        "delta": greeks.delta,
        "gamma": greeks.gamma,
        "theta": greeks.theta,
        "vega": greeks.vega,
        "underlying_price": spot,
    }


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
        local = ts.dt.tz_convert(calendars.get_market(market).timezone) if tf.is_intraday else ts
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
        s = calendars.sessions("us_equity", start, end)
        return s.loc[:, list(CALENDAR_COLUMNS)].reset_index(drop=True)
