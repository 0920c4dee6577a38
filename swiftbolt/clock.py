"""The project's clock: every "what time is it" decision (sensors, asset checks, the synthetic
market's "bars that have ended") calls `clock.utc_now()` (looked up at call time). Tests freeze time
by replacing it: `monkeypatch.setattr(swiftbolt.clock, "utc_now", lambda: frozen)`."""

from __future__ import annotations

import datetime as dt


def utc_now() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)
