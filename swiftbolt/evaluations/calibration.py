"""Confidence calibration: stated confidence (the probability a forecast gives its own label) against the
realised rate of that label being right, fitted by isotonic regression (pool-adjacent-violators) on
evaluations whose outcomes are known, and stored as buckets.

* Buckets: BUCKETS equal-width bins of stated confidence on [0, 1]; per non-empty bucket the mean stated
  confidence (`predicted`), the realised rate (`actual`), n, and `calibrated` = the isotonic fit averaged
  over the bucket's rows (so it is monotone in `predicted`), `adjustment` = calibrated - predicted.
* Applying: a confidence c maps to the piecewise-linear curve through (predicted, calibrated) of the buckets,
  flat beyond the first and last bucket; monotone, so the order of confidences is kept.
* ECE (expected calibration error) over the same buckets: sum of |mean stated - realised| weighted by share.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

BUCKETS = 10
MIN_CALIBRATION_SAMPLES = 50
"""A (horizon, model) gets a curve only with at least this many evaluations in the window: with fewer, a
bucket of ~5 outcomes moves the curve by +-0.2 and calibration adds noise, not information."""


def isotonic_fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-decreasing least-squares fit of y on x (pool adjacent violators); returns the fitted value per
    input row (ties in x share one value)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    order = np.argsort(x, kind="stable")
    xs, ys = x[order], y[order]
    # tie groups first (equal x must get equal values)
    _, start = np.unique(xs, return_index=True)
    sums = np.add.reduceat(ys, start) if len(ys) else np.array([])
    counts = np.diff(np.r_[start, len(ys)]).astype(float)
    values, weights, sizes = [], [], []
    for s, c in zip(sums, counts, strict=True):
        values.append(s / c)
        weights.append(c)
        sizes.append(1)
        while len(values) > 1 and values[-2] > values[-1]:
            w = weights[-2] + weights[-1]
            v = (values[-2] * weights[-2] + values[-1] * weights[-1]) / w
            n = sizes[-2] + sizes[-1]
            values[-2:], weights[-2:], sizes[-2:] = [v], [w], [n]
    per_group = np.repeat(values, sizes)
    fitted_sorted = np.repeat(per_group, counts.astype(int))
    out = np.empty(len(x))
    out[order] = fitted_sorted
    return out


def bucket_of(confidence: np.ndarray, buckets: int = BUCKETS) -> np.ndarray:
    return np.minimum((np.asarray(confidence, float) * buckets).astype(int), buckets - 1)


def ece(confidence: np.ndarray, outcome: np.ndarray, buckets: int = BUCKETS) -> float:
    """Expected calibration error of stated probabilities against 0/1 outcomes (equal-width buckets)."""
    c, o = np.asarray(confidence, float), np.asarray(outcome, float)
    if len(c) == 0:
        return math.nan
    frame = pd.DataFrame({"b": bucket_of(c, buckets), "c": c, "o": o})
    g = frame.groupby("b").agg(c=("c", "mean"), o=("o", "mean"), n=("c", "size"))
    return float((g["n"] / len(c) * (g["c"] - g["o"]).abs()).sum())


@dataclass(frozen=True)
class Curve:
    """A fitted calibration curve: bucket table and the ECE of the fitted rows before and after."""

    buckets: pd.DataFrame  # bucket, bucket_lower, bucket_upper, predicted, actual, n, calibrated, adjustment
    n: int
    ece_before: float
    ece_after: float

    def apply(self, confidence: np.ndarray) -> np.ndarray:
        return apply_curve(self.buckets["predicted"].to_numpy(float), self.buckets["calibrated"].to_numpy(float),
                           confidence)


def fit(confidence: np.ndarray, correct: np.ndarray, buckets: int = BUCKETS) -> Curve:
    """Isotonic calibration of `confidence` against `correct` (bool/0-1), summarised in buckets."""
    c = np.clip(np.asarray(confidence, float), 0.0, 1.0)
    o = np.asarray(correct, float)
    ok = np.isfinite(c) & np.isfinite(o)
    c, o = c[ok], o[ok]
    fitted = isotonic_fit(c, o)
    frame = pd.DataFrame({"bucket": bucket_of(c, buckets), "c": c, "o": o, "f": fitted})
    g = frame.groupby("bucket").agg(predicted=("c", "mean"), actual=("o", "mean"), n=("c", "size"),
                                    calibrated=("f", "mean")).reset_index()
    g["bucket_lower"] = g["bucket"] / buckets
    g["bucket_upper"] = (g["bucket"] + 1) / buckets
    g["calibrated"] = np.clip(np.maximum.accumulate(g["calibrated"].to_numpy(float)), 0.0, 1.0)
    g["adjustment"] = g["calibrated"] - g["predicted"]
    table = g[["bucket", "bucket_lower", "bucket_upper", "predicted", "actual", "n", "calibrated", "adjustment"]]
    after = apply_curve(table["predicted"].to_numpy(float), table["calibrated"].to_numpy(float), c)
    return Curve(table.reset_index(drop=True), len(c), ece(c, o, buckets), ece(after, o, buckets))


def apply_curve(predicted: np.ndarray, calibrated: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """Map confidences through the curve (linear between bucket points, flat outside), clipped to [0, 1]."""
    conf = np.asarray(confidence, float)
    if len(predicted) == 0:
        return conf
    return np.clip(np.interp(conf, predicted, calibrated), 0.0, 1.0)


def realized_correct(label: np.ndarray, realized_log_return: np.ndarray, band: np.ndarray) -> np.ndarray:
    """Whether the event each label states happened: bullish r > 0, bearish r < 0, neutral |r| <= band (the
    label's neutral band): the event whose probability `confidence` is (swiftbolt.forecasts.labels)."""
    label = np.asarray(label)
    r = np.asarray(realized_log_return, float)
    band = np.asarray(band, float)
    return np.where(label == "bullish", r > 0, np.where(label == "bearish", r < 0, np.abs(r) <= band))
