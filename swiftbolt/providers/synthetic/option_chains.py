"""Option chains of the synthetic market (equities only): European Black-Scholes prices on the spot of
the last complete minute, with a volatility surface made of a GARCH-consistent ATM term structure (from
the synthetic daily path's conditional volatility towards the symbol's long-run level, plus a risk
premium) and an SSVI smile (put skew, free of static arbitrage), tick-rounded bid/ask spreads, and volume
/ open interest concentrated near the money. It lives beside the price path because it is built on the
path's own volatility; the reusable option maths (Black-Scholes, greeks, implied volatility) is in
`swiftbolt.options.pricing`.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from swiftbolt.calendars import sessions as calendar_sessions
from swiftbolt.options.pricing import bs_greeks, bs_price
from swiftbolt.providers.synthetic.prices import (
    _GARCH_ALPHA,
    _GARCH_BETA,
    SyntheticAction,
    _Bars,
    _daily_path,
    _mix,
    _normal_pair,
    _steps,
    _steps_per_year,
    _symbol_key,
    _to_utc,
    profile_of,
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
    sess = calendar_sessions.sessions("us_equity", first, last)
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


