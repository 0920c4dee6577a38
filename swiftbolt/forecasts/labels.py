"""Direction labels and confidence from return quantiles.

* Neutral band: |median h-session log return| <= NEUTRAL_BAND_K * sigma * sqrt(h), sigma the symbol's
  daily volatility at D. A forecast move smaller than a tenth of the horizon's one-sigma move is not a
  direction (for a 20%-vol stock that is about 0.13% over one session, 0.6% over twenty).
* The return distribution implied by the quantiles q10 <= q50 <= q90 is a split normal with median q50,
  left scale (q50 - q10) / z and right scale (q90 - q50) / z, z = Phi^-1(0.9); it reproduces the three
  quantiles exactly. prob_up = P(r > 0).
* confidence = the probability of the stated direction: P(r > 0) for bullish, P(r < 0) for bearish,
  P(|r| <= band) for neutral.
"""

from __future__ import annotations

import numpy as np

Z90 = 1.2815515655446004  # Phi^-1(0.9)
NEUTRAL_BAND_K = 0.1


def neutral_band(sigma: np.ndarray | float, h: int) -> np.ndarray:
    return NEUTRAL_BAND_K * np.asarray(sigma, dtype=np.float64) * np.sqrt(h)


def split_normal_cdf(x: np.ndarray | float, q10: np.ndarray, q50: np.ndarray, q90: np.ndarray) -> np.ndarray:
    """P(r <= x) under the split normal through the three quantiles (a step at q50 when a side has no width)."""
    x, q10, q50, q90 = (np.asarray(a, dtype=np.float64) for a in (x, q10, q50, q90))
    left = (q50 - q10) / Z90
    right = (q90 - q50) / Z90
    scale = np.where(x <= q50, left, right)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (x - q50) / scale
    z = np.where(scale > 0, z, np.where(x < q50, -np.inf, np.where(x > q50, np.inf, 0.0)))
    from scipy.special import ndtr  # not at code location load (~0.15 s)

    return ndtr(z)


def label_and_confidence(q10: np.ndarray, q50: np.ndarray, q90: np.ndarray, band: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels 'bullish'/'bearish'/'neutral', confidence in [0, 1], prob_up) per row."""
    q10, q50, q90, band = (np.asarray(a, dtype=np.float64) for a in (q10, q50, q90, band))
    p_down = split_normal_cdf(0.0, q10, q50, q90)
    prob_up = 1.0 - p_down
    p_neutral = split_normal_cdf(band, q10, q50, q90) - split_normal_cdf(-band, q10, q50, q90)
    labels = np.where(q50 > band, "bullish", np.where(q50 < -band, "bearish", "neutral"))
    confidence = np.where(labels == "bullish", prob_up, np.where(labels == "bearish", p_down, p_neutral))
    return labels, np.clip(confidence, 0.0, 1.0), np.clip(prob_up, 0.0, 1.0)
