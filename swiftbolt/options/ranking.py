"""Option ranks: every contract of the day's snapshot scored, per ranking mode, with every component kept.

Components (each in [0, 1], higher = better *for the mode*; a missing input gives the neutral 0.5, except
liquidity, where a missing quote gives 0):

* liquidity: spread = (ask - bid) / mid, score 1 - spread / 0.5 (a 10% spread 0.8, 50% and more 0; no
  two-sided quote 0); open interest and volume, log1p-scaled by the chain's largest; liquidity =
  0.5 spread + 0.25 OI + 0.25 volume. liquidity_confidence = share of those three inputs the provider
  gave (Alpaca has no open interest: 2/3).
* value: the contract's IV against realized vol (HV20 of D) and against the forecast vol (the ensemble's
  80% interval of D for the matched horizon, annualised): score 1 - IV / (2 ref), 0.5 when IV = ref;
  against the IV rank of the underlying: 1 - iv_rank. value = their mean.
* greeks: delta band (|delta| in [0.30, 0.60] scores 1, falling to 0 at 0.30 away), theta per premium
  (1 + (theta / mark) / 0.10: a 10%-a-day decay scores 0), vega per premium (percentile within the chain);
  greeks = their mean.
* forecast alignment: the ensemble forecast of D (ml.ml_forecasts, model_type 'ensemble', forecast_date =
  D; nothing later) for the horizon nearest the contract's expiry in sessions (capped at 20D): prob_up for a
  call, 1 - prob_up for a put, i.e. the forecast's probability that the underlying moves the contract's way.

Modes: `entry` (what to buy) and `exit` (which held contract to close). Exit turns value, theta and
alignment around (1 - score: rich IV, heavy decay and a forecast against the contract argue for closing)
and keeps liquidity and delta. composite = 0.30 liquidity + 0.25 value + 0.20 greeks + 0.25 alignment;
rank 1 = best per underlying, day and mode (ties by contract). signal: strong >= 0.70, moderate >= 0.55,
weak >= 0.40, else avoid.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from swiftbolt.options.store import RANK_COMPONENTS

MODES = ("entry", "exit")
WEIGHTS = {"liquidity_score": 0.30, "value_score": 0.25, "greeks_score": 0.20, "forecast_alignment_score": 0.25}
DELTA_BAND = (0.30, 0.60)
HORIZONS = {"1D": 1, "5D": 5, "10D": 10, "20D": 20}
Z80 = 1.2815515655446004  # the 90% normal quantile: the 80% interval is +-Z80 sigma


def _clip(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0.0, 1.0)


def _neutral(x: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(x), 0.5, _clip(x))


def _log_share(x: np.ndarray) -> np.ndarray:
    top = np.nanmax(x) if np.isfinite(x).any() else np.nan
    if not np.isfinite(top) or top <= 0:
        return np.where(np.isnan(x), 0.5, 0.0)
    return np.where(np.isnan(x), 0.5, np.log1p(np.maximum(x, 0)) / np.log1p(top))


def _match_forecasts(days_to_expiry: np.ndarray, forecasts: pd.DataFrame) -> pd.DataFrame:
    """The forecast row per contract: the horizon nearest its expiry in sessions (~ calendar days x 252/365)."""
    n = len(days_to_expiry)
    if forecasts.empty:
        return pd.DataFrame({"horizon": [None] * n, "overall_label": [None] * n, "confidence": np.nan,
                             "prob_up": np.nan, "vol": np.nan})
    fc = forecasts.sort_values("horizon_sessions").reset_index(drop=True)
    h = fc["horizon_sessions"].to_numpy(dtype="float64")
    sessions = np.maximum(days_to_expiry * 252.0 / 365.0, 1.0)
    pick = np.abs(np.log(sessions)[:, None] - np.log(h)[None, :]).argmin(axis=1)
    sigma = (fc["return_q90"].astype(float) - fc["return_q10"].astype(float)) / (2.0 * Z80)
    vol = (sigma / np.sqrt(h) * np.sqrt(252.0)).to_numpy()
    return pd.DataFrame({"horizon": fc["horizon"].to_numpy()[pick],
                         "overall_label": fc["overall_label"].to_numpy()[pick],
                         "confidence": fc["confidence"].astype(float).to_numpy()[pick],
                         "prob_up": fc["prob_up"].astype(float).to_numpy()[pick], "vol": vol[pick]})


def rank_contracts(chain: pd.DataFrame, day: dt.date, iv_row: dict | None, forecasts: pd.DataFrame) -> pd.DataFrame:
    """Both modes' ranks of the snapshot `chain` of `day` (rows of RANK_COLUMNS without keys and run id).

    `iv_row`: the iv_history row of D (hv_20, iv_rank, iv_percentile) or None; `forecasts`: the ensemble
    rows of D (horizon, horizon_sessions, overall_label, confidence, prob_up, return_q10, return_q90)."""
    if chain.empty:
        return pd.DataFrame()
    c = chain.reset_index(drop=True)
    bid, ask, mark = (c[k].to_numpy(dtype="float64") for k in ("bid", "ask", "mark"))
    iv = c["implied_volatility"].to_numpy(dtype="float64")
    delta = c["delta"].to_numpy(dtype="float64")
    theta = c["theta"].to_numpy(dtype="float64")
    vega = c["vega"].to_numpy(dtype="float64")
    oi = c["open_interest"].to_numpy(dtype="float64")
    volume = c["volume"].to_numpy(dtype="float64")
    is_call = (c["option_type"] == "call").to_numpy()
    dte = np.array([(e - day).days for e in c["expiration"]], dtype="int64")

    two_sided = (bid > 0) & (ask > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = np.where(two_sided, (ask - bid) / mark, np.nan)
        theta_share = np.where(mark > 0, theta / mark, np.nan)
        vega_share = np.where(mark > 0, vega / mark, np.nan)
    spread_score = np.where(np.isnan(spread), 0.0, _clip(1.0 - spread / 0.5))
    oi_score = _log_share(oi)
    volume_score = _log_share(volume)
    liquidity = 0.5 * spread_score + 0.25 * oi_score + 0.25 * volume_score
    confidence = (two_sided.astype(float) + ~np.isnan(oi) + ~np.isnan(volume)) / 3.0

    hv = np.nan if iv_row is None or iv_row.get("hv_20") is None else float(iv_row["hv_20"])
    iv_rank = np.nan if iv_row is None or iv_row.get("iv_rank") is None else float(iv_row["iv_rank"])
    iv_pct = np.nan if iv_row is None or iv_row.get("iv_percentile") is None else float(iv_row["iv_percentile"])
    fc = _match_forecasts(dte, forecasts)
    fvol = fc["vol"].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        v_real = _neutral(1.0 - iv / (2.0 * hv))
        v_fore = _neutral(1.0 - iv / (2.0 * fvol))
    v_rank = np.full(len(c), 0.5 if np.isnan(iv_rank) else 1.0 - iv_rank)
    value = (v_real + v_fore + v_rank) / 3.0

    abs_delta = np.abs(delta)
    off_band = np.maximum(DELTA_BAND[0] - abs_delta, 0.0) + np.maximum(abs_delta - DELTA_BAND[1], 0.0)
    delta_score = _neutral(1.0 - off_band / 0.30)
    theta_score = _neutral(1.0 + theta_share / 0.10)
    vega_score = pd.Series(vega_share).rank(pct=True).to_numpy()
    vega_score = np.where(np.isnan(vega_score), 0.5, vega_score)

    prob_up = fc["prob_up"].to_numpy(dtype="float64")
    alignment = np.where(np.isnan(prob_up), 0.5, np.where(is_call, prob_up, 1.0 - prob_up))

    base = pd.DataFrame({
        "contract": c["contract"], "expiration": c["expiration"], "strike": c["strike"],
        "option_type": c["option_type"], "bid": bid, "ask": ask, "mark": mark, "implied_volatility": iv,
        "delta": delta, "days_to_expiry": dte, "spread_pct": spread,
        "liquidity_spread_score": spread_score, "liquidity_oi_score": oi_score,
        "liquidity_volume_score": volume_score, "liquidity_score": liquidity,
        "forecast_horizon": fc["horizon"].to_numpy(), "forecast_label": fc["overall_label"].to_numpy(),
        "forecast_confidence": fc["confidence"].to_numpy(), "forecast_volatility": fvol,
        "iv_percentile": iv_pct, "liquidity_confidence": confidence, "greeks_delta_score": delta_score,
    })
    out = []
    for mode in MODES:
        flip = (lambda x: 1.0 - x) if mode == "exit" else (lambda x: x)
        m = base.copy()
        m["ranking_mode"] = mode
        m["value_iv_realized_score"] = flip(v_real)
        m["value_iv_forecast_score"] = flip(v_fore)
        m["value_iv_rank_score"] = flip(v_rank)
        m["value_score"] = flip(value)
        m["greeks_theta_score"] = flip(theta_score)
        m["greeks_vega_score"] = vega_score
        m["greeks_score"] = (delta_score + m["greeks_theta_score"] + vega_score) / 3.0
        m["forecast_alignment_score"] = flip(alignment)
        m["composite_score"] = sum(w * m[k] for k, w in WEIGHTS.items())
        m = m.sort_values(["composite_score", "contract"], ascending=[False, True], kind="stable")
        m["rank"] = np.arange(1, len(m) + 1)
        s = m["composite_score"].to_numpy()
        m["signal"] = np.select([s >= 0.70, s >= 0.55, s >= 0.40], ["strong", "moderate", "weak"], "avoid")
        out.append(m)
    ranks = pd.concat(out, ignore_index=True)
    for col in RANK_COMPONENTS:
        ranks[col] = ranks[col].astype("float64").clip(0.0, 1.0)
    ranks["composite_score"] = ranks["composite_score"].clip(0.0, 1.0)
    return ranks
