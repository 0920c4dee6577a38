"""The daily IV summary of an underlying's chain (options.iv_history), vectorised per expiry.

* ATM IV per expiry: at the parity forward (k = ln(K / F) = 0), linear in k between the two strikes around
  it, separately over calls and over puts (atm_call_iv, atm_put_iv); the expiry's ATM IV is their mean.
* Constant 30-day maturity: linear interpolation of the ATM *total variance* w = iv^2 t between the expiries
  around 30 days (flat vol outside the listed range), atm_iv_30d = sqrt(w(30d) / 30d). Expiries closer than
  MIN_DAYS are left out (their IVs are dominated by the last day's noise) unless nothing else is listed.
  The call and put ATM IVs at 30 days use the same interpolation.
* 25-delta skew per expiry: IV of the -0.25 delta put minus IV of the +0.25 delta call (linear in delta),
  interpolated to 30 days in time.
* Term slope: (ATM IV of the longest expiry - of the nearest) / years between them.
* iv_min / iv_max / iv_median: over every contract with an IV.
* HV20 / HV60: annualised (sqrt 252) standard deviation of the last 20 / 60 daily log returns of the
  adjusted closes up to D (NULL with fewer returns).
* IV rank and percentile of atm_iv_30d over a window of WINDOW sessions ending at D (the stored rows
  before D and today's): rank = (x - min) / (max - min), percentile = share of the earlier values below x;
  history_complete = the window is full (NULL rank and percentile with no earlier value).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TARGET_YEARS = 30.0 / 365.0
MIN_DAYS = 2
WINDOW = 252
TRADING_DAYS = 252.0


def _interp_zero(x: np.ndarray, y: np.ndarray, at: float = 0.0) -> float:
    """y at x = `at`, linear between the nearest points on each side; NaN when `at` is not bracketed."""
    ok = ~np.isnan(x) & ~np.isnan(y)
    x, y = x[ok], y[ok]
    if len(x) == 0:
        return float("nan")
    order = np.argsort(x)
    x, y = x[order], y[order]
    if at < x[0] or at > x[-1]:
        return float("nan")
    return float(np.interp(at, x, y))


def per_expiry(chain: pd.DataFrame) -> pd.DataFrame:
    """expiration, t, atm_call_iv, atm_put_iv, atm_iv, skew_25d per expiry with t > 0."""
    rows = []
    live = chain[(chain["years_to_expiry"] > 0) & chain["implied_volatility"].notna()]
    for exp, grp in live.groupby("expiration", sort=True):
        t = float(grp["years_to_expiry"].iloc[0])
        fwd = float(grp["forward"].iloc[0])
        k = np.log(grp["strike"].to_numpy() / fwd)
        iv = grp["implied_volatility"].to_numpy()
        call = (grp["option_type"] == "call").to_numpy()
        c_iv = _interp_zero(k[call], iv[call])
        p_iv = _interp_zero(k[~call], iv[~call])
        atm = np.nanmean([c_iv, p_iv]) if not (np.isnan(c_iv) and np.isnan(p_iv)) else np.nan
        delta = grp["delta"].to_numpy()
        put25 = _interp_zero(delta[~call], iv[~call], -0.25)
        call25 = _interp_zero(delta[call], iv[call], 0.25)
        rows.append({"expiration": exp, "t": t, "atm_call_iv": c_iv, "atm_put_iv": p_iv, "atm_iv": atm,
                     "skew_25d": put25 - call25})
    return pd.DataFrame(rows, columns=["expiration", "t", "atm_call_iv", "atm_put_iv", "atm_iv", "skew_25d"])


def _at_30d(t: np.ndarray, iv: np.ndarray) -> float:
    """IV at 30 days, linear in total variance between the expiries around it, flat vol outside."""
    ok = ~np.isnan(iv)
    t, iv = t[ok], iv[ok]
    if len(t) == 0:
        return float("nan")
    w = iv * iv * t
    if t[0] >= TARGET_YEARS:
        return float(iv[0])
    if t[-1] <= TARGET_YEARS:
        return float(iv[-1])
    return float(np.sqrt(np.interp(TARGET_YEARS, t, w) / TARGET_YEARS))


def _linear_30d(t: np.ndarray, y: np.ndarray) -> float:
    ok = ~np.isnan(y)
    if not ok.any():
        return float("nan")
    return float(np.interp(TARGET_YEARS, t[ok], y[ok]))


def historical_vol(closes: pd.Series, sessions: int) -> float:
    returns = np.diff(np.log(closes.to_numpy(dtype="float64")))
    if len(returns) < sessions:
        return float("nan")
    return float(np.std(returns[-sessions:], ddof=1) * np.sqrt(TRADING_DAYS))


def iv_summary(chain: pd.DataFrame, closes: pd.Series, past_atm: pd.Series) -> dict | None:
    """The iv_history row (without keys) of a chain (snapshot rows with IVs, greeks, forward,
    years_to_expiry), the adjusted closes up to D and the stored atm_iv_30d of earlier sessions (oldest
    first, at most WINDOW - 1). None when the chain is empty."""
    if chain.empty:
        return None
    exp = per_expiry(chain)
    usable = exp[exp["t"] >= MIN_DAYS / 365.0]
    if usable.empty:
        usable = exp
    t = usable["t"].to_numpy()
    atm_30 = _at_30d(t, usable["atm_iv"].to_numpy())
    call_30 = _at_30d(t, usable["atm_call_iv"].to_numpy())
    put_30 = _at_30d(t, usable["atm_put_iv"].to_numpy())
    skew = _linear_30d(t, usable["skew_25d"].to_numpy())
    atm_known = usable.dropna(subset=["atm_iv"])
    slope = float("nan")
    if len(atm_known) >= 2:
        first, last = atm_known.iloc[0], atm_known.iloc[-1]
        slope = (last["atm_iv"] - first["atm_iv"]) / (last["t"] - first["t"])
    ivs = chain["implied_volatility"].dropna()
    past = past_atm.dropna().to_numpy(dtype="float64")[-(WINDOW - 1):]
    rank = percentile = float("nan")
    if not np.isnan(atm_30) and len(past):
        window = np.append(past, atm_30)
        lo, hi = window.min(), window.max()
        rank = float((atm_30 - lo) / (hi - lo)) if hi > lo else 0.5
        percentile = float((past < atm_30).mean())
    n_hist = len(past) + (0 if np.isnan(atm_30) else 1)
    return {
        "snapshot_ts": pd.Timestamp(chain["snapshot_ts"].iloc[0]),
        "underlying_price": float(chain["underlying_price"].iloc[0]),
        "atm_iv_30d": atm_30, "atm_call_iv": call_30, "atm_put_iv": put_30, "skew_25d": skew,
        "term_slope": slope,
        "iv_min": float(ivs.min()) if len(ivs) else np.nan, "iv_max": float(ivs.max()) if len(ivs) else np.nan,
        "iv_median": float(ivs.median()) if len(ivs) else np.nan,
        "hv_20": historical_vol(closes, 20), "hv_60": historical_vol(closes, 60),
        "iv_rank": rank, "iv_percentile": percentile,
        "history_sessions": max(n_hist, 1), "history_complete": n_hist >= WINDOW,
        "n_contracts": len(chain), "n_expirations": int(chain["expiration"].nunique()),
    }
