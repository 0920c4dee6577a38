"""The path of a quantile forecast to its horizon, used by the daily LightGBM forecasts and the intraday
ones: the median grows linearly with the step (a constant drift) and the interval's half-widths with the
square root of the step (a random walk's spread), so step h is the forecast itself."""

from __future__ import annotations

import numpy as np


def quantile_path(q: np.ndarray, steps: int) -> np.ndarray:
    """(n, steps, 3) log-return quantiles (q10, q50, q90) at steps 1..steps from the (n, 3) quantiles of the
    whole horizon."""
    frac = np.arange(1, steps + 1) / steps
    median = q[:, 1:2] * frac
    return np.stack([median + (q[:, 0:1] - q[:, 1:2]) * np.sqrt(frac), median,
                     median + (q[:, 2:3] - q[:, 1:2]) * np.sqrt(frac)], axis=2)
