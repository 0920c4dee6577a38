"""Accuracy figures of return forecasts, always beside naive baselines (reusable by the evaluation domain).

Input: one row per (symbol, day) forecast of one horizon, with the realised log return. `score` computes,
for a prediction column (and an optional interval): n, direction hit rate with its Wilson interval, MAE,
time-series IC (Pearson per symbol over its days, averaged over symbols), rank IC (Spearman across symbols
per day, averaged over days, with ICIR = mean / std), pooled rank IC (Spearman over all rows), interval
coverage and the expected calibration error of P(up).

Baselines (`baseline_frame`):
* persistence: the last h-session return, repeated (direction = its sign);
* always_up: +1 (direction only);
* up_frequency: the symbol's share of positive h-session returns among labels realised before the forecast
  (direction = share >= 0.5; its score for IC is the share);
* zero: return 0 (MAE; its interval +-z*sigma*sqrt(h) is the random-walk interval).

With h > 1 consecutive labels overlap, so the effective sample is about n / h; `hit_low_eff`/`hit_high_eff`
give the Wilson interval at n / h.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

Z95 = 1.959963984540054
Z90 = 1.2815515655446004


def wilson_interval(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (NaN for n = 0)."""
    if n <= 0:
        return math.nan, math.nan
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return centre - half, centre + half


def hit_rate(pred: np.ndarray, realized: np.ndarray) -> tuple[float, int]:
    """Share of rows where sign(pred) == sign(realized), over rows where both are non-zero and finite."""
    pred, realized = np.asarray(pred, float), np.asarray(realized, float)
    ok = np.isfinite(pred) & np.isfinite(realized) & (pred != 0) & (realized != 0)
    n = int(ok.sum())
    return (float((np.sign(pred[ok]) == np.sign(realized[ok])).mean()) if n else math.nan), n


def mae(pred: np.ndarray, realized: np.ndarray) -> float:
    pred, realized = np.asarray(pred, float), np.asarray(realized, float)
    ok = np.isfinite(pred) & np.isfinite(realized)
    return float(np.abs(pred[ok] - realized[ok]).mean()) if ok.any() else math.nan


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 3:
        return math.nan
    xc, yc = x - x.mean(), y - y.mean()
    den = math.sqrt(float((xc * xc).sum()) * float((yc * yc).sum()))
    return float((xc * yc).sum() / den) if den > 0 else math.nan


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties); NaN with < 3 rows or a constant side."""
    from scipy.stats import rankdata  # scipy.stats costs ~0.5 s of import: not at code location load

    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    return _pearson(rankdata(x[ok]), rankdata(y[ok])) if ok.sum() >= 3 else math.nan


def time_series_ic(frame: pd.DataFrame, pred: str, realized: str = "realized", by: str = "symbol_id",
                   min_obs: int = 10) -> float:
    """Mean over symbols of the Pearson correlation of prediction and outcome over the symbol's days."""
    ics = []
    for _, g in frame[[by, pred, realized]].dropna().groupby(by):
        if len(g) >= min_obs:
            ics.append(_pearson(g[pred].to_numpy(float), g[realized].to_numpy(float)))
    ics = [v for v in ics if np.isfinite(v)]
    return float(np.mean(ics)) if ics else math.nan


def rank_ic_by_day(frame: pd.DataFrame, pred: str, realized: str = "realized", day: str = "session_date",
                   min_symbols: int = 3) -> tuple[float, float, int]:
    """(mean daily cross-sectional Spearman IC, ICIR = mean / std, number of days)."""
    ics = []
    for _, g in frame[[day, pred, realized]].dropna().groupby(day):
        if len(g) >= min_symbols:
            ics.append(spearman(g[pred].to_numpy(), g[realized].to_numpy()))
    ics = np.array([v for v in ics if np.isfinite(v)])
    if len(ics) == 0:
        return math.nan, math.nan, 0
    std = float(ics.std(ddof=1)) if len(ics) > 1 else math.nan
    return float(ics.mean()), (float(ics.mean()) / std if std and std > 0 else math.nan), len(ics)


def coverage(lower: np.ndarray, upper: np.ndarray, realized: np.ndarray) -> float:
    lower, upper, realized = (np.asarray(a, float) for a in (lower, upper, realized))
    ok = np.isfinite(lower) & np.isfinite(upper) & np.isfinite(realized)
    return float(((realized[ok] >= lower[ok]) & (realized[ok] <= upper[ok])).mean()) if ok.any() else math.nan


def expected_calibration_error(prob: np.ndarray, outcome: np.ndarray, bins: int = 10) -> float:
    """Sum over equal-width probability bins of |mean prob - mean outcome| weighted by the bin's share."""
    prob, outcome = np.asarray(prob, float), np.asarray(outcome, float)
    ok = np.isfinite(prob) & np.isfinite(outcome)
    prob, outcome = prob[ok], outcome[ok]
    if len(prob) == 0:
        return math.nan
    idx = np.minimum((prob * bins).astype(int), bins - 1)
    total = 0.0
    for b in np.unique(idx):
        m = idx == b
        total += m.mean() * abs(prob[m].mean() - outcome[m].mean())
    return float(total)


def score(frame: pd.DataFrame, pred: str, h: int, lower: str | None = None, upper: str | None = None,
          prob_up: str | None = None, direction: str | None = None, realized: str = "realized") -> dict[str, float]:
    """Every figure of one prediction column (see the module docstring). `direction` (a column of +-1 or a
    score whose sign is the call) defaults to `pred`."""
    real = frame[realized].to_numpy(float)
    hit, n_hit = hit_rate(frame[direction or pred].to_numpy(float), real)
    lo, hi = wilson_interval(hit * n_hit, n_hit) if n_hit else (math.nan, math.nan)
    n_eff = n_hit / max(h, 1)
    lo_e, hi_e = wilson_interval(hit * n_eff, n_eff) if n_hit else (math.nan, math.nan)
    ric, ricir, days = rank_ic_by_day(frame, pred, realized)
    out = {
        "n": int(np.isfinite(real).sum()), "hit_rate": hit, "hit_n": n_hit, "hit_low": lo, "hit_high": hi,
        "hit_low_eff": lo_e, "hit_high_eff": hi_e,
        "mae": mae(frame[pred].to_numpy(float), real),
        "ic": time_series_ic(frame, pred, realized), "rank_ic": ric, "rank_icir": ricir, "rank_ic_days": days,
        "pooled_rank_ic": spearman(frame[pred].to_numpy(float), real),
        "coverage": coverage(frame[lower], frame[upper], real) if lower and upper else math.nan,
        "ece": (expected_calibration_error(frame[prob_up].to_numpy(float), (real > 0).astype(float))
                if prob_up else math.nan),
    }
    return out


def baseline_frame(frame: pd.DataFrame, h: int) -> pd.DataFrame:
    """The baselines' predictions for the rows of `frame` (needs past_return, up_frequency, sigma_60)."""
    sigma_h = frame["sigma_60"].to_numpy(float) * math.sqrt(h)
    up = frame["up_frequency"].to_numpy(float)
    return frame.assign(
        persistence=frame["past_return"].to_numpy(float),
        always_up=1.0,
        up_frequency_score=up, up_frequency_dir=np.where(np.isfinite(up), np.where(up >= 0.5, 1.0, -1.0), np.nan),
        zero=0.0, zero_lower=-Z90 * sigma_h, zero_upper=Z90 * sigma_h,
    )


NOT_APPLICABLE: dict[str, tuple[str, ...]] = {
    "always_up": ("mae", "ic", "rank_ic", "rank_icir", "pooled_rank_ic", "coverage", "ece"),
    "up_frequency": ("mae", "coverage", "ece"),
    "zero": ("hit_rate", "hit_low", "hit_high", "hit_low_eff", "hit_high_eff", "ic", "rank_ic", "rank_icir",
             "pooled_rank_ic", "ece"),
    "persistence": ("coverage", "ece"),
}


def score_baselines(frame: pd.DataFrame, h: int) -> dict[str, dict[str, float]]:
    """Figures of the four naive baselines on the rows of `frame` (NaN where a figure does not apply)."""
    b = baseline_frame(frame, h)
    out = {
        "persistence": score(b, "persistence", h),
        "always_up": score(b, "always_up", h),
        "up_frequency": score(b, "up_frequency_score", h, direction="up_frequency_dir"),
        "zero": score(b, "zero", h, lower="zero_lower", upper="zero_upper"),
    }
    for name, fields in NOT_APPLICABLE.items():
        for f in fields:
            out[name][f] = math.nan
    return out


def up_frequency(train_rows: pd.DataFrame, rows: pd.DataFrame) -> np.ndarray:
    """Per row of `rows`, the share of positive labels of its symbol in `train_rows` (realised labels only)."""
    realised = train_rows[np.isfinite(train_rows["label"].to_numpy(float))]
    share = (realised["label"] > 0).groupby(realised["symbol_id"]).mean()
    return rows["symbol_id"].map(share).to_numpy(float)


FIGURE_COLUMNS = ("n", "hit_rate", "hit_low", "hit_high", "mae", "ic", "rank_ic", "pooled_rank_ic", "coverage",
                  "ece")


def figures_table(figures: dict[str, dict[str, dict[str, float]]]) -> pd.DataFrame:
    """{horizon: {model or baseline: figures}} as one tidy table (horizon, model, figure columns)."""
    rows = [{"horizon": h, "model": m, **{k: v.get(k, math.nan) for k in FIGURE_COLUMNS}}
            for h, by_model in figures.items() for m, v in by_model.items()]
    return pd.DataFrame(rows, columns=["horizon", "model", *FIGURE_COLUMNS])


def markdown_table(table: pd.DataFrame, digits: int = 4) -> str:
    """A figures table as markdown (NaN shown as '-')."""
    def cell(v: object) -> str:
        if isinstance(v, float):
            return "-" if not np.isfinite(v) else f"{v:.{digits}f}"
        return str(v)
    header = "| " + " | ".join(table.columns) + " |"
    sep = "|" + "|".join("---" for _ in table.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, sep, *body])
