"""Writes market.market_calendar: every day of a range per market, open or not."""

from __future__ import annotations

import datetime as dt

import psycopg

from swiftbolt.calendars.sessions import calendar_days
from swiftbolt.db.copy import copy_frame, create_temp_like
from swiftbolt.markets import get_market

_COLUMNS = ("market", "date", "is_open", "open_utc", "close_utc", "is_early_close", "source")


def write_market_calendar(
    conn: psycopg.Connection, market: str, start: dt.date, end: dt.date, source: str
) -> dict[str, int]:
    """Replace the calendar rows of `market` in [start, end] (inside the caller's transaction).
    Returns counts: days, open sessions, early closes, changed rows."""
    get_market(market)
    days = calendar_days(market, start, end)
    days.insert(0, "market", market)
    days["source"] = source
    create_temp_like(conn, "calendar_stage", "market.market_calendar", _COLUMNS)
    copy_frame(conn, "calendar_stage", _COLUMNS, days)
    changed = conn.execute(
        """
        INSERT INTO market.market_calendar AS c (market, date, is_open, open_utc, close_utc,
                                                 is_early_close, source)
        SELECT market, date, is_open, open_utc, close_utc, is_early_close, source FROM calendar_stage
        ON CONFLICT (market, date) DO UPDATE SET
            is_open = EXCLUDED.is_open, open_utc = EXCLUDED.open_utc, close_utc = EXCLUDED.close_utc,
            is_early_close = EXCLUDED.is_early_close, source = EXCLUDED.source, updated_at = now()
        WHERE (c.is_open, c.open_utc, c.close_utc, c.is_early_close, c.source)
              IS DISTINCT FROM (EXCLUDED.is_open, EXCLUDED.open_utc, EXCLUDED.close_utc,
                                EXCLUDED.is_early_close, EXCLUDED.source)
        """
    ).rowcount
    return {
        "days": len(days),
        "open_sessions": int(days["is_open"].sum()),
        "early_closes": int(days["is_early_close"].sum()),
        "changed_rows": int(changed),
    }
