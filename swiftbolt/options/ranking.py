"""Option ranks: every contract of the day's snapshot scored, per ranking mode, with every component kept.

Components (each in [0, 1], higher = better *for the mode*; a missing input gives the neutral 0.5, except
liquidity, where a missing quote gives 0):

* liquidity: spread = (ask - bid) / mid, score 1 - spread / 0.5 (a 10% spread 0.8, 50% and more 0; no
  two-sided quote 0); open interest and volume, log1p-scaled by the chain's largest; liquidity =
  0.5 spread + 0.25 OI + 0.25 volume. liquidity_confidence (top_ranked_options, from the snapshot) = share
  of those three inputs the provider gave (Alpaca has no open interest: 2/3).
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


def _log_share(x: np.ndarray, chain: np.ndarray) -> np.ndarray:
    """log1p(x) / log1p(the chain's largest x); 0.5 where x is missing, 0 when the chain has no positive x."""
    top = pd.Series(x).groupby(chain).transform("max").to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(np.isfinite(top) & (top > 0), np.log1p(np.maximum(x, 0)) / np.log1p(top), 0.0)
    return np.where(np.isnan(x), 0.5, share)


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


def _forecasts_per_contract(chain: np.ndarray, dte: np.ndarray, forecasts: pd.DataFrame, by: str) -> pd.DataFrame:
    """_match_forecasts for every chain, each against its own forecasts (rows of `forecasts` with its `by`)."""
    out = _match_forecasts(dte, pd.DataFrame())
    if forecasts.empty:
        return out
    out = out.astype({"horizon": object, "overall_label": object})
    rows = pd.Series(np.arange(len(chain))).groupby(chain).indices
    for key, fc in forecasts.groupby(by, sort=False):
        idx = rows.get(key)
        if idx is not None:
            out.iloc[idx] = _match_forecasts(dte[idx], fc).to_numpy()
    return out.astype({"confidence": "float64", "prob_up": "float64", "vol": "float64"})


def rank_chains(chain: pd.DataFrame, by: str, context: pd.DataFrame, forecasts: pd.DataFrame) -> pd.DataFrame:
    """Both modes' ranks of many snapshots at once, one per value of column `by` of `chain` (rows of
    RANK_COLUMNS without keys, snapshot time and run id, plus `by`), ordered by chain, mode and contract.

    `context`: one row per chain, indexed by its `by` value: day (the ranking day D) and the iv_history
    terms of D (hv_20, iv_rank, iv_percentile; NaN without a row); `forecasts`: the ensemble rows of D of
    every chain (`by`, horizon, horizon_sessions, overall_label, confidence, prob_up, return_q10,
    return_q90)."""
    if chain.empty:
        return pd.DataFrame()
    c = chain.reset_index(drop=True)
    group = c[by].to_numpy()
    ctx = context.reindex(group)
    bid, ask, mark = (c[k].to_numpy(dtype="float64") for k in ("bid", "ask", "mark"))
    iv = c["implied_volatility"].to_numpy(dtype="float64")
    delta = c["delta"].to_numpy(dtype="float64")
    theta = c["theta"].to_numpy(dtype="float64")
    vega = c["vega"].to_numpy(dtype="float64")
    oi = c["open_interest"].to_numpy(dtype="float64")
    volume = c["volume"].to_numpy(dtype="float64")
    is_call = (c["option_type"] == "call").to_numpy()
    expiration = pd.to_datetime(c["expiration"]).to_numpy(dtype="datetime64[D]")
    dte = (expiration - pd.to_datetime(ctx["day"]).to_numpy(dtype="datetime64[D]")).astype("int64")

    two_sided = (bid > 0) & (ask > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = np.where(two_sided, (ask - bid) / mark, np.nan)
        theta_share = np.where(mark > 0, theta / mark, np.nan)
        vega_share = np.where(mark > 0, vega / mark, np.nan)
    spread_score = np.where(np.isnan(spread), 0.0, _clip(1.0 - spread / 0.5))
    oi_score = _log_share(oi, group)
    volume_score = _log_share(volume, group)
    liquidity = 0.5 * spread_score + 0.25 * oi_score + 0.25 * volume_score

    hv, iv_rank = (pd.to_numeric(ctx[k], errors="coerce").to_numpy(dtype="float64") for k in ("hv_20", "iv_rank"))
    fc = _forecasts_per_contract(group, dte, forecasts, by)
    fvol = fc["vol"].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        v_real = _neutral(1.0 - iv / (2.0 * hv))
        v_fore = _neutral(1.0 - iv / (2.0 * fvol))
    v_rank = np.where(np.isnan(iv_rank), 0.5, 1.0 - iv_rank)
    value = (v_real + v_fore + v_rank) / 3.0

    abs_delta = np.abs(delta)
    off_band = np.maximum(DELTA_BAND[0] - abs_delta, 0.0) + np.maximum(abs_delta - DELTA_BAND[1], 0.0)
    delta_score = _neutral(1.0 - off_band / 0.30)
    theta_score = _neutral(1.0 + theta_share / 0.10)
    vega_score = pd.Series(vega_share).groupby(group).rank(pct=True).to_numpy()
    vega_score = np.where(np.isnan(vega_score), 0.5, vega_score)

    prob_up = fc["prob_up"].to_numpy(dtype="float64")
    alignment = np.where(np.isnan(prob_up), 0.5, np.where(is_call, prob_up, 1.0 - prob_up))

    # what a rank row stores beside the per-mode values (store.RANK_COLUMNS): the quote, IV, delta, days to
    # expiry and spread are the snapshot's, the forecast's terms its ml_forecasts row's (migration 0023)
    shared = {
        by: group, "contract": c["contract"].to_numpy(),
        "liquidity_spread_score": spread_score, "liquidity_oi_score": oi_score,
        "liquidity_volume_score": volume_score, "liquidity_score": liquidity,
        "forecast_horizon": fc["horizon"].to_numpy(), "greeks_delta_score": delta_score,
    }
    n = len(c)
    chain_code = np.tile(pd.factorize(group, sort=True)[0], len(MODES))
    contract_code = np.tile(pd.factorize(c["contract"].to_numpy(), sort=True)[0], len(MODES))
    modes = []
    for mode_code, mode in enumerate(MODES):
        flip = (lambda x: 1.0 - x) if mode == "exit" else (lambda x: x)
        cols = {"value_iv_realized_score": flip(v_real), "value_iv_forecast_score": flip(v_fore),
                "value_iv_rank_score": flip(v_rank), "value_score": flip(value),
                "greeks_theta_score": flip(theta_score), "greeks_vega_score": vega_score,
                "forecast_alignment_score": flip(alignment)}
        cols["greeks_score"] = (delta_score + cols["greeks_theta_score"] + vega_score) / 3.0
        composite = (WEIGHTS["liquidity_score"] * liquidity + WEIGHTS["value_score"] * cols["value_score"]
                     + WEIGHTS["greeks_score"] * cols["greeks_score"]
                     + WEIGHTS["forecast_alignment_score"] * cols["forecast_alignment_score"])
        modes.append((mode_code, mode, cols, composite))
    # rows of every chain and mode, flat index mode * n + contract row. The rank: one sort by chain, mode,
    # composite (best first), contract; the rows are returned in the table's key order (chain, mode,
    # contract), which the primary key's index takes in ascending order (a cheaper COPY than rank order).
    composite = np.concatenate([m[3] for m in modes])
    mode_codes = np.repeat(np.arange(len(MODES)), n)
    by_score = np.lexsort((contract_code, -composite, mode_codes, chain_code))
    starts = np.r_[0, np.flatnonzero(np.diff(chain_code[by_score] * len(MODES) + mode_codes[by_score])) + 1]
    rank = np.empty(len(by_score), dtype="int64")
    rank[by_score] = np.arange(len(by_score)) - np.repeat(starts, np.diff(np.r_[starts, len(by_score)])) + 1
    order = np.lexsort((contract_code, mode_codes, chain_code))
    rows = order % n
    ranks = pd.DataFrame({k: v[rows] for k, v in shared.items()})
    ranks["ranking_mode"] = np.asarray(MODES, dtype=object)[mode_codes[order]]
    for name in modes[0][2]:
        ranks[name] = np.concatenate([m[2][name] for m in modes])[order]
    score = composite[order]
    ranks["rank"] = rank[order]
    ranks["composite_score"] = np.clip(score, 0.0, 1.0)
    ranks["signal"] = np.select([score >= 0.70, score >= 0.55, score >= 0.40], ["strong", "moderate", "weak"], "avoid")
    for col in RANK_COMPONENTS:
        ranks[col] = np.clip(ranks[col].to_numpy(dtype="float64"), 0.0, 1.0)
    return ranks


def rank_contracts(chain: pd.DataFrame, day: dt.date, iv_row: dict | None, forecasts: pd.DataFrame) -> pd.DataFrame:
    """Both modes' ranks of the snapshot `chain` of `day` (rows of RANK_COLUMNS without keys, snapshot time and
    run id), ordered by mode and contract.

    `iv_row`: the iv_history row of D (hv_20, iv_rank, iv_percentile) or None; `forecasts`: the ensemble
    rows of D (horizon, horizon_sessions, overall_label, confidence, prob_up, return_q10, return_q90)."""
    if chain.empty:
        return pd.DataFrame()
    row = iv_row or {}
    context = pd.DataFrame({"day": [day], **{k: [_number(row.get(k))] for k in ("hv_20", "iv_rank", "iv_percentile")}},
                           index=pd.Index([0], name="_chain"))
    ranks = rank_chains(chain.assign(_chain=0), "_chain", context, forecasts.assign(_chain=0))
    return ranks.drop(columns=["_chain"])


def _number(value: object) -> float:
    return np.nan if value is None else float(value)
