"""Implied volatility and greeks of a whole chain, vectorised: Black-Scholes-Merton on the forward implied
by put-call parity.

Which model: European Black-Scholes-Merton with a continuously compounded rate r and, per expiry, the
dividend yield q implied by the parity forward F (q = r - ln(F / S) / t), i.e. Black-76 on F
discounted at r, with greeks taken with respect to the spot S (as vendors quote them). The parity forward
absorbs dividends, borrow and an index's carry without a dividend model:

* rate: for each expiry of at least MIN_RATE_YEARS with at least MIN_PAIRS strikes quoted on both
  sides, the least-squares line of C - P = DF (F - K) over the pairs nearest the money gives DF; the
  chain's r is the median of -ln(DF) / t over those expiries, accepted in [RATE_BOUNDS]; else
  `default_rate` (DEFAULT_RATE, or what the caller passes).
* forward per expiry: the median of K + (C - P) e^{rt} over the FORWARD_PAIRS pairs nearest the money
  (smallest |C - P|). An expiry without a two-sided pair uses F = S e^{rt} (q = 0).
* prices: the mid of a two-sided quote (bid > 0); a contract with no bid gets no IV.
* time: from the snapshot to 16:00 New York on the expiration date, in years of 365 days (an early
  close moves it by three hours of one day).

An IV that no volatility in [1e-4, 5] reproduces within 1e-6 (mid below intrinsic, above the bound), or
that hits the lower bound (any low vol fits a worthless option), is NULL (iv_source 'none').
Greeks: delta per 1.0 of spot, gamma per 1.0 per 1.0, theta per calendar day, vega per vol point, rho per
rate point (0.01), at the contract's IV.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from swiftbolt.options.pricing import bs_greeks, implied_vol, norm_cdf

DEFAULT_RATE = 0.04
RATE_BOUNDS = (-0.01, 0.20)
MIN_RATE_YEARS = 30.0 / 365.0
MIN_PAIRS = 5
RATE_PAIRS = 20
FORWARD_PAIRS = 5
VOL_LOW = 1e-4
EXPIRY_TIME = dt.time(16, 0)
EXPIRY_TZ = "America/New_York"
GREEKS = ("delta", "gamma", "theta", "vega", "rho")


def years_to_expiry(expiration: pd.Series, snapshot_ts: pd.Series | pd.Timestamp) -> np.ndarray:
    """Years of 365 days from the snapshot to 16:00 New York on each expiration date (>= 0)."""
    days = pd.to_datetime(pd.Series(expiration).astype(str))
    closes = (days + pd.Timedelta(hours=16)).dt.tz_localize(EXPIRY_TZ).dt.tz_convert("UTC")
    ts = pd.to_datetime(snapshot_ts, utc=True)
    ts_ns = ts.astype("datetime64[ns, UTC]").array.asi8 if isinstance(ts, pd.Series) else pd.Timestamp(ts).value
    seconds = (closes.astype("datetime64[ns, UTC]").array.asi8 - ts_ns) / 1e9
    return np.maximum(seconds / (365.0 * 86400.0), 0.0)


def _pairs(chain: pd.DataFrame) -> pd.DataFrame:
    """Strikes of an expiry quoted two-sided (bid > 0) on both the call and the put: expiration, t, strike,
    c_minus_p, spot."""
    two_sided = chain[(chain["bid"] > 0) & (chain["ask"] > 0)]
    calls = two_sided[two_sided["option_type"] == "call"]
    puts = two_sided[two_sided["option_type"] == "put"]
    on = ["expiration", "strike"]
    both = calls[[*on, "mark", "t", "underlying_price"]].merge(puts[[*on, "mark"]], on=on, suffixes=("_c", "_p"))
    both["c_minus_p"] = both["mark_c"] - both["mark_p"]
    both["abs_cp"] = both["c_minus_p"].abs()
    return both


def parity_terms(chain: pd.DataFrame, default_rate: float = DEFAULT_RATE) -> tuple[float, str, pd.DataFrame]:
    """(rate, rate source, per-expiry frame of expiration, t, forward, dividend_yield, parity_pairs).

    `chain` needs expiration, strike, option_type, bid, ask, mark, t, underlying_price."""
    pairs = _pairs(chain)
    pairs = pairs[pairs["t"] > 0]
    rates = []
    for _exp, grp in pairs.groupby("expiration", sort=True):
        t = float(grp["t"].iloc[0])
        if t < MIN_RATE_YEARS or len(grp) < MIN_PAIRS:
            continue
        near = grp.nsmallest(RATE_PAIRS, "abs_cp")
        if near["strike"].nunique() < MIN_PAIRS:
            continue
        slope = np.polyfit(near["strike"].to_numpy(), near["c_minus_p"].to_numpy(), 1)[0]
        if -slope > 0:
            rates.append(-np.log(-slope) / t)
    rate, source = default_rate, "default"
    if rates:
        median = float(np.median(rates))
        if RATE_BOUNDS[0] <= median <= RATE_BOUNDS[1]:
            rate, source = median, f"parity ({len(rates)} expiries)"
    expiries = chain.groupby("expiration", sort=True).agg(t=("t", "first"), spot=("underlying_price", "median"))
    near = pairs.sort_values("abs_cp", kind="stable").groupby("expiration").head(FORWARD_PAIRS)
    fwd = (near["strike"] + near["c_minus_p"] * np.exp(rate * near["t"])).groupby(near["expiration"]).median()
    counts = pairs.groupby("expiration").size()
    out = expiries.reset_index()
    out["forward"] = out["expiration"].map(fwd)
    out["parity_pairs"] = out["expiration"].map(counts).fillna(0).astype(int)
    default_forward = out["spot"] * np.exp(rate * out["t"])
    out["forward"] = out["forward"].where(out["forward"] > 0, default_forward).fillna(default_forward)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(out["t"] > 0, rate - np.log(out["forward"] / out["spot"]) / out["t"], 0.0)
    out["dividend_yield"] = np.nan_to_num(q, nan=0.0)
    return rate, source, out.drop(columns=["spot"])


def chain_iv_greeks(chain: pd.DataFrame, snapshot_ts: pd.Timestamp | pd.Series, *,
                    default_rate: float = DEFAULT_RATE, recompute: bool = False) -> pd.DataFrame:
    """The chain with implied_volatility, greeks (delta, gamma, theta, vega, rho), iv_source, rate,
    dividend_yield, forward and years_to_expiry filled in. Provider values are kept unless `recompute`
    (then every IV and greek is the project's); where the provider lacks them they are computed.
    `chain`: validated rows (expiration, strike, option_type, bid, ask, mark, underlying_price, optional
    implied_volatility and greeks)."""
    out = chain.copy()
    if out.empty:
        for col in ("years_to_expiry", "rate", "dividend_yield", "forward", "rho", *GREEKS):
            out[col] = pd.Series(dtype="float64")
        out["iv_source"] = pd.Series(dtype=object)
        return out
    for col in ("implied_volatility", *GREEKS):
        if col not in out.columns or recompute:
            out[col] = np.nan
    out["t"] = years_to_expiry(out["expiration"], snapshot_ts)
    rate, _source, terms = parity_terms(out, default_rate)
    out = out.merge(terms[["expiration", "forward", "dividend_yield"]], on="expiration", how="left")
    out["rate"] = rate
    spot, strike, t = (out[c].to_numpy(dtype="float64") for c in ("underlying_price", "strike", "t"))
    q = out["dividend_yield"].to_numpy(dtype="float64")
    is_call = (out["option_type"] == "call").to_numpy()
    provider_iv = out["implied_volatility"].to_numpy(dtype="float64")
    need = np.isnan(provider_iv) & (out["bid"].to_numpy() > 0) & (t > 0)
    solved = np.full(len(out), np.nan)
    if need.any():
        idx = np.flatnonzero(need)
        v = implied_vol(out["mark"].to_numpy()[idx], spot[idx], strike[idx], t[idx], rate, q[idx], is_call[idx],
                        vol_low=VOL_LOW)
        v[v <= VOL_LOW] = np.nan
        solved[idx] = v
    iv = np.where(np.isnan(provider_iv), solved, provider_iv)
    out["implied_volatility"] = iv
    out["iv_source"] = np.where(~np.isnan(provider_iv), "provider", np.where(np.isnan(iv), "none", "computed"))
    live = ~np.isnan(iv) & (t > 0)
    if live.any():
        idx = np.flatnonzero(live)
        g = bs_greeks(spot[idx], strike[idx], t[idx], iv[idx], rate, q[idx], is_call[idx])
        rho = rho_of(spot[idx], strike[idx], t[idx], iv[idx], rate, q[idx], is_call[idx])
        for name, values in (("delta", g.delta), ("gamma", g.gamma), ("theta", g.theta), ("vega", g.vega),
                             ("rho", rho)):
            col = out[name].to_numpy(dtype="float64").copy()
            fill = np.isnan(col[idx])
            col[idx[fill]] = values[fill]
            out[name] = col
    out = out.rename(columns={"t": "years_to_expiry"})
    return out


def rho_of(spot, strike, t, vol, rate, div_yield, is_call) -> np.ndarray:
    """Rho per rate point (0.01): +K t e^{-rt} N(d2) for calls, -K t e^{-rt} N(-d2) for puts."""
    s, k, tt, v, q = (np.asarray(a, dtype="float64") for a in (spot, strike, t, vol, div_yield))
    sign = np.where(np.asarray(is_call, dtype=bool), 1.0, -1.0)
    sst = v * np.sqrt(tt)
    with np.errstate(divide="ignore", invalid="ignore"):
        d2 = (np.log(s / k) + (rate - q - 0.5 * v * v) * tt) / sst
    return sign * k * tt * np.exp(-rate * tt) * norm_cdf(sign * d2) / 100.0
