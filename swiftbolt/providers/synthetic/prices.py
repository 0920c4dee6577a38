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
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from swiftbolt.calendars import sessions as calendar_sessions
from swiftbolt.market_data.types import (
    BAR_COLUMNS,
    Timeframe,
)

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
        empty = calendar_sessions.sessions(market, LAST_DATE, LAST_DATE).iloc[0:0]
        return empty.assign(prev_date=pd.Series(dtype=object))
    s = calendar_sessions.sessions(market, first - dt.timedelta(days=14), last)
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
