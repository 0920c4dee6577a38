"""Ranking evaluations: how the ranks of D0 did over the next h sessions (h = 1 and 5), judged on the day
D = D0 + h sessions when the horizon has realized.

* Forward contract return with realistic fills: entry buys at the ask of D0 and sells at the bid of D
  (bid_D / ask_D0 - 1); exit sells at the bid of D0 and buys back at the ask of D (1 - ask_D / bid_D0);
  the mid-to-mid return (mark) is the second view. Contracts without the quotes a fill needs, or no longer
  listed at D (expired), are left out and counted.
* rank_ic: Spearman correlation of the composite score with the fill return (rank_ic_mid: with the mid
  return). ic_mean / ic_std / ic_trend (slope per session) / ic_stability (mean / std) over the window of
  the last IC_WINDOW evaluations of the same underlying, mode and horizon (this one included).
* hit rate: share of the top-quintile contracts whose fill return beats the median of the bottom
  quintile, with a Wilson 95% interval.
* calibration: mean fill return per score quintile (q1 lowest), and the Spearman correlation of those means
  with the quintile (1 = returns rise with the score).
* leakage: the IC of the score against the return over the h sessions *before* D0 (mid to mid), taken
  within calls and within puts and averaged, must be near zero (|IC| <= LEAKAGE_IC_BOUND). Within a side,
  because the alignment component is a call/put bet by design: after a move of the underlying it
  correlates with the side's past return across the whole chain without knowing anything about the
  future (measured: -0.51 across sides on the synthetic market with a forecast flipping daily). Even
  within a side it is not ~0 for this score: the spread, theta-per-premium and vega-per-premium
  components are functions of today's premium, so a contract whose premium rose scores differently
  without any look-ahead (measured within sides: +0.42 and +0.50 on the synthetic market, above 0.3 on
  one real SPX exit ranking). Nor does it detect look-ahead here (benchmarks/ranking_placebo.py): ranks
  that saw a whole session of the future (those of D0 + 1 in D0's place) have the same placebo IC as the
  honest ranks (synthetic market, 42 days x 3 underlyings, mean |IC| entry 0.23 vs 0.23, exit 0.26 vs 0.26;
  SPX 2011 0.19 vs 0.19 and 0.22 vs 0.25), also with delta-hedged returns: a score built from the day's
  premiums barely re-ranks from one session to the next. So the placebo IC is stored and a value above
  LEAKAGE_IC_BOUND is listed in the reasons, but it does not decide is_healthy. The leakage test that
  decides is the exact one: the ranks of D0 recomputed from data cut at D0 must equal the stored ones
  (`features_match`, by the caller).
* permutation test: p-value of |rank_ic| against N_PERMUTATIONS shuffles of the scores (seeded by the
  underlying and day): significance, not leakage.
* is_healthy, with reasons: unhealthy on stored ranks that the data cut at D0 does not reproduce, or on a
  mean IC below zero over at least MIN_JUDGED_WINDOW sessions with a stability below -0.5. Fewer than
  MIN_CONTRACTS contracts: no IC, healthy, with the reason "not judged".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

HORIZONS = (1, 5)
IC_WINDOW = 20
MIN_CONTRACTS = 10
MIN_JUDGED_WINDOW = 10
LEAKAGE_IC_BOUND = 0.30
N_PERMUTATIONS = 500


def _ranks(x: np.ndarray) -> np.ndarray:
    return pd.Series(x).rank(method="average").to_numpy()


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ok = ~np.isnan(a) & ~np.isnan(b)
    if ok.sum() < 3:
        return float("nan")
    ra, rb = _ranks(a[ok]), _ranks(b[ok])
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def permutation_p_value(score: np.ndarray, ret: np.ndarray, seed: int, n: int = N_PERMUTATIONS) -> float:
    """Two-sided p-value of the Spearman IC against `n` shuffles of the scores (vectorised)."""
    rs = _ranks(score)
    rr = _ranks(ret)
    rs, rr = rs - rs.mean(), rr - rr.mean()
    denom = math.sqrt((rs * rs).sum() * (rr * rr).sum())
    if denom == 0:
        return float("nan")
    observed = abs((rs * rr).sum() / denom)
    rng = np.random.default_rng(seed)
    perms = rng.permuted(np.tile(rs, (n, 1)), axis=1)
    ics = np.abs(perms @ rr / denom)
    return float((1 + (ics >= observed - 1e-12).sum()) / (n + 1))


def wilson(hits: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    if n == 0:
        return float("nan"), float("nan")
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def forward_returns(ranks: pd.DataFrame, later: pd.DataFrame, mode: str) -> pd.DataFrame:
    """ranks (contract, composite_score, bid, ask, mark of D0) joined to the quotes of D: fill and mid returns."""
    m = ranks[["contract", "composite_score", "bid", "ask", "mark"]].merge(
        later[["contract", "bid", "ask", "mark"]], on="contract", how="left", suffixes=("", "_later"))
    with np.errstate(divide="ignore", invalid="ignore"):
        if mode == "entry":
            fill = np.where(m["ask"] > 0, m["bid_later"] / m["ask"] - 1.0, np.nan)
        else:
            fill = np.where(m["bid"] > 0, 1.0 - m["ask_later"] / m["bid"], np.nan)
        mid = np.where(m["mark"] > 0, m["mark_later"] / m["mark"] - 1.0, np.nan)
    sign = 1.0 if mode == "entry" else -1.0
    m["fill_return"] = fill.astype("float64")
    m["mid_return"] = sign * mid.astype("float64")
    return m


def prior_returns(ranks: pd.DataFrame, before: pd.DataFrame, mode: str) -> np.ndarray:
    """The mid return of each ranked contract over the h sessions before D0 (sign as the mode's)."""
    m = ranks[["contract", "mark"]].merge(before[["contract", "mark"]], on="contract", how="left",
                                          suffixes=("", "_before"))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(m["mark_before"] > 0, m["mark"] / m["mark_before"] - 1.0, np.nan)
    return (1.0 if mode == "entry" else -1.0) * r.astype("float64")


@dataclass(frozen=True)
class EvaluationInputs:
    mode: str
    horizon: int
    ranks: pd.DataFrame            # the stored ranks of D0 for the mode
    later: pd.DataFrame            # quotes of D (contract, bid, ask, mark)
    before: pd.DataFrame | None    # quotes of D0 - h sessions, None when not stored
    past_ics: pd.Series            # stored rank ICs of earlier evaluations (oldest first)
    features_match: bool | None
    iv_rank: float | None
    seed: int


def evaluate(inp: EvaluationInputs) -> dict:
    """One ranking_evaluations row (without keys, evaluation date and run id)."""
    fwd = forward_returns(inp.ranks, inp.later, inp.mode)
    usable = fwd.dropna(subset=["fill_return"])
    n = len(usable)
    score = usable["composite_score"].to_numpy(dtype="float64")
    ret = usable["fill_return"].to_numpy(dtype="float64")
    reasons: list[str] = []
    row: dict = {"ranking_mode": inp.mode, "horizon_sessions": inp.horizon, "n_contracts": n,
                 "features_match": inp.features_match}
    regime = "unknown"
    if inp.iv_rank is not None and not np.isnan(inp.iv_rank):
        regime = "low_iv" if inp.iv_rank < 0.2 else "high_iv" if inp.iv_rank > 0.8 else "normal_iv"
    row["regime"] = regime
    ic = ic_mid = p_value = leak = np.nan
    hit = lo = hi = mono = np.nan
    calibration: dict = {}
    if n >= MIN_CONTRACTS:
        ic = spearman(score, ret)
        ic_mid = spearman(fwd["composite_score"].to_numpy(dtype="float64"), fwd["mid_return"].to_numpy(dtype="float64"))
        p_value = permutation_p_value(score, ret, inp.seed) if not np.isnan(ic) else np.nan
        q = pd.qcut(pd.Series(score).rank(method="first"), 5, labels=False).to_numpy()
        top, bottom = ret[q == 4], ret[q == 0]
        hits = int((top > np.median(bottom)).sum())
        hit = hits / len(top)
        lo, hi = wilson(hits, len(top))
        means = pd.Series(ret).groupby(q).mean()
        calibration = {f"q{int(k) + 1}": float(v) for k, v in means.items()}
        mono = spearman(means.index.to_numpy(dtype="float64"), means.to_numpy())
        if inp.before is not None and not inp.before.empty:
            prior = prior_returns(inp.ranks, inp.before, inp.mode)
            scores = inp.ranks["composite_score"].to_numpy(dtype="float64")
            sides = inp.ranks["option_type"].to_numpy()
            per_side = [spearman(scores[sides == s], prior[sides == s]) for s in ("call", "put")]
            per_side = [x for x in per_side if not np.isnan(x)]
            leak = float(np.mean(per_side)) if per_side else np.nan
    else:
        reasons.append(f"not judged: {n} contracts with fills at both ends (< {MIN_CONTRACTS})")
    window = pd.concat([inp.past_ics.dropna().iloc[-(IC_WINDOW - 1):], pd.Series([ic])]).dropna().to_numpy()
    ic_mean = float(window.mean()) if len(window) else np.nan
    ic_std = float(window.std(ddof=1)) if len(window) > 1 else np.nan
    trend = float(np.polyfit(np.arange(len(window)), window, 1)[0]) if len(window) > 2 else np.nan
    stability = ic_mean / ic_std if ic_std and not np.isnan(ic_std) and ic_std > 0 else np.nan
    healthy = True
    if not np.isnan(leak) and abs(leak) > LEAKAGE_IC_BOUND:
        reasons.append(f"placebo: IC against the return before the ranking is {leak:+.2f} (|IC| > "
                       f"{LEAKAGE_IC_BOUND}; reported, not a gate: see the module docstring)")
    if inp.features_match is False:
        healthy = False
        reasons.append("the ranks recomputed from data cut at the ranking day differ from the stored ranks")
    if len(window) >= MIN_JUDGED_WINDOW and ic_mean < 0 and not np.isnan(stability) and stability < -0.5:
        healthy = False
        reasons.append(f"mean rank IC {ic_mean:+.3f} over {len(window)} sessions (stability {stability:+.2f})")
    row.update({
        "rank_ic": ic, "rank_ic_mid": ic_mid, "ic_mean": ic_mean, "ic_std": ic_std, "ic_trend": trend,
        "ic_stability": stability, "window_sessions": max(len(window), 1), "hit_rate": hit,
        "hit_rate_lower": lo, "hit_rate_upper": hi, "calibration": calibration,
        "calibration_monotonicity": mono, "leakage_ic_prior": leak, "permutation_p_value": p_value,
        "is_healthy": healthy, "reasons": reasons,
    })
    return row
