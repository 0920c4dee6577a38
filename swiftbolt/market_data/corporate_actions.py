"""Writes market.corporate_actions: splits, reverse splits and cash dividends as events.
Raw bars are never touched; market.ohlc_bars_adjusted derives adjusted prices from these."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import psycopg

from swiftbolt.db.copy import copy_frame, create_temp_like

_COLUMNS = ("symbol_id", "action_type", "ex_date", "record_date", "payment_date", "ratio",
            "cash_amount", "provider")


def write_corporate_actions(
    conn: psycopg.Connection, actions: pd.DataFrame, symbol_ids: dict[str, int], start: dt.date,
    end: dt.date, provider: str,
) -> dict[str, int]:
    """Replace the events of these symbols with ex_date in [start, end] (caller's transaction)."""
    frame = actions[actions["symbol"].isin(symbol_ids)].copy()
    frame["symbol_id"] = frame["symbol"].map(symbol_ids)
    frame["provider"] = provider
    frame.loc[frame["action_type"] == "cash_dividend", "ratio"] = None
    frame.loc[frame["action_type"] != "cash_dividend", "cash_amount"] = None
    frame = frame.drop_duplicates(["symbol_id", "action_type", "ex_date"], keep="last")
    create_temp_like(conn, "corporate_actions_stage", "market.corporate_actions", _COLUMNS)
    copy_frame(conn, "corporate_actions_stage", _COLUMNS, frame)
    deleted = conn.execute(
        "DELETE FROM market.corporate_actions WHERE symbol_id = ANY(%s) AND ex_date BETWEEN %s AND %s",
        (list(symbol_ids.values()), start, end),
    ).rowcount
    inserted = conn.execute(
        f"INSERT INTO market.corporate_actions ({', '.join(_COLUMNS)}) "
        f"SELECT {', '.join(_COLUMNS)} FROM corporate_actions_stage"
    ).rowcount
    by_type = frame["action_type"].value_counts().to_dict()
    return {"events": int(inserted), "replaced": int(deleted), **{str(k): int(v) for k, v in by_type.items()}}
