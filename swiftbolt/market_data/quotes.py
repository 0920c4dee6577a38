"""Writes market.quotes: the latest quote per symbol (one row each, upserted)."""

from __future__ import annotations

import pandas as pd
import psycopg

from swiftbolt.db.copy import copy_frame, create_temp_like

_COLUMNS = ("symbol_id", "ts", "last", "bid", "ask", "day_high", "day_low", "prev_close", "provider")


def write_quotes(conn: psycopg.Connection, quotes: pd.DataFrame, symbol_ids: dict[str, int], provider: str) -> int:
    """Upsert quotes with a positive last price; a quote older than the stored one is ignored."""
    frame = quotes[quotes["symbol"].isin(symbol_ids) & (pd.to_numeric(quotes["last"], errors="coerce") > 0)].copy()
    frame["symbol_id"] = frame["symbol"].map(symbol_ids)
    frame["provider"] = provider
    for col in ("bid", "ask"):  # a zero/negative side means "no quote"
        frame.loc[pd.to_numeric(frame[col], errors="coerce") <= 0, col] = None
    crossed = frame["bid"].notna() & frame["ask"].notna() & (frame["ask"] < frame["bid"])
    frame.loc[crossed, ["bid", "ask"]] = None
    create_temp_like(conn, "quotes_stage", "market.quotes", _COLUMNS)
    copy_frame(conn, "quotes_stage", _COLUMNS, frame)
    return conn.execute(
        f"""
        INSERT INTO market.quotes AS q ({', '.join(_COLUMNS)})
        SELECT {', '.join(_COLUMNS)} FROM quotes_stage
        ON CONFLICT (symbol_id) DO UPDATE SET
            ts = EXCLUDED.ts, last = EXCLUDED.last, bid = EXCLUDED.bid, ask = EXCLUDED.ask,
            day_high = EXCLUDED.day_high, day_low = EXCLUDED.day_low, prev_close = EXCLUDED.prev_close,
            provider = EXCLUDED.provider, updated_at = now()
        WHERE EXCLUDED.ts >= q.ts
        """
    ).rowcount
