"""Forecast horizons (named as the old system named them) and session arithmetic on a market's
trading calendar: "h sessions ahead" is h sessions of the market (crypto: h days), never h calendar days."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from swiftbolt.calendars.sessions import session_dates

HORIZONS: dict[str, int] = {"1D": 1, "5D": 5, "10D": 10, "20D": 20}
MAX_HORIZON = max(HORIZONS.values())


def horizon_sessions(name: str) -> int:
    try:
        return HORIZONS[name]
    except KeyError:
        raise ValueError(f"unknown horizon {name!r}; expected one of {list(HORIZONS)}") from None


@dataclass(frozen=True)
class SessionIndex:
    """The market's sessions in [first, last] numbered 0..n-1 (a session number is what Prophet and the
    labels count in)."""

    market: str
    dates: tuple[dt.date, ...]

    @property
    def first(self) -> dt.date:
        return self.dates[0]

    @property
    def last(self) -> dt.date:
        return self.dates[-1]

    def _array(self) -> np.ndarray:
        return _as_datetime64(self.dates)

    def position(self, day: dt.date) -> int:
        """Index of the last session <= day (a closed day maps to the session before it); -1 if none."""
        return int(np.searchsorted(self._array(), np.datetime64(day, "D"), side="right")) - 1

    def positions(self, days: pd.Series | np.ndarray) -> np.ndarray:
        """Session index of each date (datetime-like), -1 where it is not a session of the index."""
        values = pd.to_datetime(pd.Series(days)).to_numpy().astype("datetime64[D]")
        arr = self._array()
        pos = np.searchsorted(arr, values, side="left")
        inside = pos < len(arr)
        exact = np.zeros(len(values), dtype=bool)
        exact[inside] = arr[pos[inside]] == values[inside]
        return np.where(exact, pos, -1)

    def shift(self, day: dt.date, sessions: int) -> dt.date:
        """The session `sessions` after (or before, when negative) the session `day`."""
        pos = self.position(day)
        target = pos + sessions
        if pos < 0 or not 0 <= target < len(self.dates):
            raise ValueError(f"{day} + {sessions} sessions is outside {self.first}..{self.last}")
        return self.dates[target]


def _as_datetime64(dates: tuple[dt.date, ...]) -> np.ndarray:
    return np.array(dates, dtype="datetime64[D]")


@lru_cache(maxsize=32)
def session_index(market: str, first: dt.date, last: dt.date) -> SessionIndex:
    """Sessions of `market` in [first, last]; `last` may lie in the future (the calendar library knows
    holidays about two years ahead)."""
    return SessionIndex(market, tuple(session_dates(market, first, last)))


def calendar_around(market: str, first: dt.date, last: dt.date, before: int, after: int) -> SessionIndex:
    """A session index covering `before` sessions before `first` and `after` sessions after `last`."""
    days_per_session = 1.0 if market == "crypto" else 1.5
    start = first - dt.timedelta(days=int(before * days_per_session) + 10)
    end = last + dt.timedelta(days=int(after * days_per_session) + 10)
    return session_index(market, start, end)
