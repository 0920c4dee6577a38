"""Per-symbol Prophet on the market's trading calendar.

Prophet is fitted on y = log(adjusted close / close of D) of the last `lookback` sessions up to D, with
the session number as its time axis (ds = an epoch + session number days): "h sessions ahead" is h
sessions of the market, weekends and holidays do not exist for it, crypto trades every day anyway.
Because y is relative to D's close, a corporate action after D (one factor on every close <= D) does not
change the fit. Trend with changepoints only: no weekly or yearly seasonality (there are no weekends on
this axis, and a yearly term overfits two years of prices). The 80% interval gives the 0.1/0.9 quantiles.

Deterministic: the Stan optimisation is seeded, and the interval's simulation draws from a seeded numpy
state (saved and restored around the call, so nothing else's randomness changes).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

for _name in ("cmdstanpy", "prophet", "prophet.plot", "prophet.forecaster", "prophet.models"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)
logging.getLogger("cmdstanpy").disabled = True
# prophet (with cmdstanpy and matplotlib, ~0.6 s) is imported where a model is fitted, not when the code
# location loads

PROPHET_PARAMS: dict[str, object] = {
    "growth": "linear",
    "n_changepoints": 25,
    "changepoint_range": 0.9,
    "changepoint_prior_scale": 0.05,
    "yearly_seasonality": False,
    "weekly_seasonality": False,
    "daily_seasonality": False,
    "interval_width": 0.8,
    "uncertainty_samples": 300,
}
SEED = 20240611
EPOCH = pd.Timestamp("2000-01-01")


@contextlib.contextmanager
def _seeded_numpy(seed: int) -> Iterator[None]:
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


@dataclass(frozen=True)
class ProphetJob:
    """One fit: log closes relative to D's close at session numbers `pos` (last one = D)."""

    key: tuple
    pos: np.ndarray
    y: np.ndarray
    steps: int


def fit_predict(pos: np.ndarray, y: np.ndarray, steps: int) -> np.ndarray:
    """(steps, 3) quantiles 0.1/0.5/0.9 of log(close[D + k] / close[D]) for k = 1..steps.

    The median is the change of Prophet's fitted curve from D to D + k, applied to D's close (Prophet's
    level at D differs from the close by the residual; unanchored, a 1-session forecast would be mostly
    that residual). The interval is Prophet's 80% interval around its curve at D + k, moved with it."""
    from prophet import Prophet

    history = pd.DataFrame({"ds": EPOCH + pd.to_timedelta(pos, unit="D"), "y": y})
    model = Prophet(**PROPHET_PARAMS)  # type: ignore[arg-type]
    model.fit(history, seed=SEED)
    future = pd.DataFrame({"ds": EPOCH + pd.to_timedelta(int(pos[-1]) + np.arange(0, steps + 1), unit="D")})
    with _seeded_numpy(SEED):
        fc = model.predict(future)
    yhat = fc["yhat"].to_numpy(dtype=np.float64)
    median = yhat[1:] - yhat[0]
    lower = median + (fc["yhat_lower"].to_numpy(dtype=np.float64)[1:] - yhat[1:])
    upper = median + (fc["yhat_upper"].to_numpy(dtype=np.float64)[1:] - yhat[1:])
    return np.sort(np.column_stack([lower, median, upper]), axis=1)


def _run(job: ProphetJob) -> tuple[tuple, np.ndarray]:
    return job.key, fit_predict(job.pos, job.y, job.steps)


def fit_many(jobs: Sequence[ProphetJob], processes: int = 1) -> dict[tuple, np.ndarray]:
    """Run the fits in this process or across worker processes (Stan is single-threaded; processes, not
    threads, use more cores). Results are identical either way."""
    if processes <= 1 or len(jobs) < 2:
        return dict(_run(j) for j in jobs)
    ctx = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=processes, mp_context=ctx) as pool:
        return dict(pool.map(_run, jobs, chunksize=max(1, len(jobs) // (processes * 4))))


def params_fingerprint() -> dict[str, object]:
    import prophet

    return {**PROPHET_PARAMS, "seed": SEED, "axis": "session number", "target": "log(close / close_D)",
            "forecast": "yhat(D + k) - yhat(D), interval moved with it",
            "prophet": prophet.__version__}
