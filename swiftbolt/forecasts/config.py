"""Forecast settings, read from the environment (documented in the README's configuration table)."""

from __future__ import annotations

from dataclasses import dataclass

from swiftbolt.settings import int_env


@dataclass(frozen=True)
class ForecastSettings:
    lgbm_threads: int = 1
    """LightGBM threads. Measured on the 2-core machine (benchmarks/forecasts.py): 2 threads were slower
    than 1 on these matrix sizes; with deterministic=True the trees do not depend on the count."""
    train_sessions: int = 1000
    """Sessions of samples per training (rolling window ending at train_end - horizon)."""
    prophet_lookback: int = 500
    """Sessions of closes Prophet is fitted on (ending at D)."""
    prophet_processes: int = 1
    """Worker processes for Prophet fits (1 = in process)."""
    intraday_train_sessions: int = 60
    """Sessions of m15 bars per intraday training (about 1,560 bars per US equity symbol)."""


def load_forecast_settings() -> ForecastSettings:
    return ForecastSettings(
        lgbm_threads=int_env("SWIFTBOLT_LGBM_THREADS", 1, 1, 64, "a thread count"),
        train_sessions=int_env("SWIFTBOLT_FORECAST_TRAIN_SESSIONS", 1000, 100, 20000, "a number of sessions"),
        prophet_lookback=int_env("SWIFTBOLT_PROPHET_LOOKBACK", 500, 60, 5000, "a number of sessions"),
        prophet_processes=int_env("SWIFTBOLT_PROPHET_PROCESSES", 1, 1, 64, "a process count"),
        intraday_train_sessions=int_env("SWIFTBOLT_INTRADAY_TRAIN_SESSIONS", 60, 5, 2000, "a number of sessions"),
    )
