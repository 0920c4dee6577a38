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


def _pairs(chain: pd.DataFrame, key: str) -> pd.DataFrame:
    """Strikes of an expiry quoted two-sided (bid > 0) on both the call and the put: key, expiration, t,
    strike, c_minus_p, abs_cp."""
    two_sided = chain[(chain["bid"] > 0) & (chain["ask"] > 0)]
    side = two_sided["option_type"].to_numpy()
    on = [key, "expiration", "strike"]
    calls = two_sided.loc[side == "call", [*on, "mark", "t"]]
    puts = two_sided.loc[side == "put", [*on, "mark"]]
    both = calls.merge(puts, on=on, suffixes=("_c", "_p"))
    both["c_minus_p"] = both["mark_c"] - both["mark_p"]
    both["abs_cp"] = both["c_minus_p"].abs()
    return both


def parity_terms_by(chain: pd.DataFrame, by: str | None = None, default_rate: float = DEFAULT_RATE
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The parity terms of many chains at once, one chain per value of column `by` (None: the frame is one
    chain, keyed 0), without a Python loop over chains or expiries.

    Returns (rates: rate and rate_source indexed by chain; terms: one row per chain and expiry with `by`,
    expiration, t, forward, dividend_yield, parity_pairs). `chain` needs expiration, strike, option_type,
    bid, ask, mark, t and underlying_price."""
    key = by or "_chain"
    if by is None:
        chain = chain.assign(_chain=0)
    exp_keys = [key, "expiration"]
    pairs = _pairs(chain, key)
    pairs = pairs[pairs["t"] > 0]
    # pairs of each expiry nearest the money first (stable: the first of equal |C - P| wins, as nsmallest)
    ordered = pairs.sort_values([*exp_keys, "abs_cp"], kind="stable")
    by_expiry = ordered.groupby(exp_keys, sort=False)
    position = by_expiry.cumcount().to_numpy()
    size = by_expiry["strike"].transform("size").to_numpy()
    # the rate: per expiry of MIN_RATE_YEARS+ with MIN_PAIRS+ pairs, the least-squares slope of C - P on K
    # over its RATE_PAIRS pairs nearest the money (MIN_PAIRS distinct strikes among them)
    near = ordered[(position < RATE_PAIRS) & (size >= MIN_PAIRS) & (ordered["t"].to_numpy() >= MIN_RATE_YEARS)]
    fit_groups = near.groupby(exp_keys, sort=True)
    dk = near["strike"] - fit_groups["strike"].transform("mean")
    dcp = near["c_minus_p"] - fit_groups["c_minus_p"].transform("mean")
    fit = pd.DataFrame({key: near[key], "expiration": near["expiration"], "sxy": dk * dcp, "sxx": dk * dk}) \
        .groupby(exp_keys, sort=True).sum()
    fit["distinct"] = fit_groups["strike"].nunique()
    fit["t"] = fit_groups["t"].first()
    fit = fit[fit["distinct"] >= MIN_PAIRS]
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = fit["sxy"] / fit["sxx"]
        per_expiry = (-np.log(-slope) / fit["t"])[(-slope > 0).to_numpy()]
    chains = pd.Index(np.sort(chain[key].unique()), name=key)
    found = per_expiry.groupby(level=key).agg(["median", "size"]).reindex(chains)
    accepted = found["median"].between(*RATE_BOUNDS).to_numpy()
    rates = pd.DataFrame({"rate": np.where(accepted, found["median"], default_rate).astype("float64"),
                          "rate_source": [f"parity ({int(n)} expiries)" if a else "default"
                                          for a, n in zip(accepted, found["size"].fillna(0), strict=True)]},
                         index=chains)
    # forward per expiry: the median of K + (C - P) e^{rt} over its FORWARD_PAIRS pairs nearest the money
    nearest = ordered[position < FORWARD_PAIRS]
    implied = nearest["strike"] + nearest["c_minus_p"] * np.exp(nearest[key].map(rates["rate"]) * nearest["t"])
    forward = implied.groupby([nearest[key], nearest["expiration"]], sort=True).median()
    counts = pairs.groupby(exp_keys, sort=True).size()
    out = chain.groupby(exp_keys, sort=True).agg(t=("t", "first"), spot=("underlying_price", "median"))
    out["forward"] = forward.reindex(out.index).to_numpy()
    out["parity_pairs"] = counts.reindex(out.index).fillna(0).astype(int).to_numpy()
    out = out.reset_index()
    rate = out[key].map(rates["rate"]).to_numpy(dtype="float64")
    default_forward = out["spot"] * np.exp(rate * out["t"])
    out["forward"] = out["forward"].where(out["forward"] > 0, default_forward).fillna(default_forward)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(out["t"] > 0, rate - np.log(out["forward"] / out["spot"]) / out["t"], 0.0)
    out["dividend_yield"] = np.nan_to_num(q, nan=0.0)
    out = out.drop(columns=["spot"])
    return rates, (out.drop(columns=[key]) if by is None else out)


def parity_terms(chain: pd.DataFrame, default_rate: float = DEFAULT_RATE) -> tuple[float, str, pd.DataFrame]:
    """(rate, rate source, per-expiry frame of expiration, t, forward, dividend_yield, parity_pairs) of one
    chain (parity_terms_by without a key)."""
    rates, terms = parity_terms_by(chain, None, default_rate)
    return float(rates["rate"].iloc[0]), str(rates["rate_source"].iloc[0]), terms


def chain_iv_greeks(chain: pd.DataFrame, snapshot_ts: pd.Timestamp | pd.Series, *,
                    default_rate: float = DEFAULT_RATE, recompute: bool = False, by: str | None = None) -> pd.DataFrame:
    """The chain with implied_volatility, greeks (delta, gamma, theta, vega, rho), iv_source, rate,
    dividend_yield, forward and years_to_expiry filled in. Provider values are kept unless `recompute`
    (then every IV and greek is the project's); where the provider lacks them they are computed.
    `chain`: validated rows (expiration, strike, option_type, bid, ask, mark, underlying_price, optional
    implied_volatility and greeks); `by`: a column naming the chain of each row when the frame holds many
    (each gets its own rate and forwards), `snapshot_ts` then a Series aligned with the rows."""
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
    rates, terms = parity_terms_by(out, by, default_rate)
    on = ["expiration"] if by is None else [by, "expiration"]
    out = out.merge(terms[[*on, "forward", "dividend_yield"]], on=on, how="left")
    out["rate"] = rates["rate"].iloc[0] if by is None else out[by].map(rates["rate"]).to_numpy(dtype="float64")
    rate = out["rate"].to_numpy(dtype="float64")
    spot, strike, t = (out[c].to_numpy(dtype="float64") for c in ("underlying_price", "strike", "t"))
    q = out["dividend_yield"].to_numpy(dtype="float64")
    is_call = (out["option_type"] == "call").to_numpy()
    provider_iv = out["implied_volatility"].to_numpy(dtype="float64")
    need = np.isnan(provider_iv) & (out["bid"].to_numpy() > 0) & (t > 0)
    solved = np.full(len(out), np.nan)
    if need.any():
        idx = np.flatnonzero(need)
        v = implied_vol(out["mark"].to_numpy()[idx], spot[idx], strike[idx], t[idx], rate[idx], q[idx],
                        is_call[idx], vol_low=VOL_LOW)
        v[v <= VOL_LOW] = np.nan
        solved[idx] = v
    iv = np.where(np.isnan(provider_iv), solved, provider_iv)
    out["implied_volatility"] = iv
    out["iv_source"] = np.where(~np.isnan(provider_iv), "provider", np.where(np.isnan(iv), "none", "computed"))
    live = ~np.isnan(iv) & (t > 0)
    if live.any():
        idx = np.flatnonzero(live)
        g = bs_greeks(spot[idx], strike[idx], t[idx], iv[idx], rate[idx], q[idx], is_call[idx])
        rho = rho_of(spot[idx], strike[idx], t[idx], iv[idx], rate[idx], q[idx], is_call[idx])
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
