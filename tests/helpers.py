"""Shared helpers for tests: fixtures as provider frames, symbol setup, table digests."""

from __future__ import annotations

import socket
from pathlib import Path

import pandas as pd

from swiftbolt.db.connection import connect
from swiftbolt.market_data.types import BAR_COLUMNS
from swiftbolt.universe import SymbolSpec, active_symbols, sync_universe

FIXTURES = Path(__file__).parent / "fixtures"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now (for test servers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def add_symbols(url: str, tickers: dict[str, str], source: str = "synthetic") -> dict[str, int]:
    """Create symbols {ticker: market}; returns ticker -> id for all active symbols."""
    specs = [
        SymbolSpec(t, m, "crypto" if m == "crypto" else "stock") for t, m in tickers.items()
    ]
    with connect(url) as conn, conn.transaction():
        sync_universe(conn, specs, primary_source=source)
        out: dict[str, int] = {}
        for market in {m for m in tickers.values()}:
            out.update(active_symbols(conn, market))
    return out


def spy_fixture_bars() -> pd.DataFrame:
    """Real SPY hourly + daily bars in the provider contract (BAR_COLUMNS)."""
    hour = pd.read_csv(FIXTURES / "spy_hour_2021_01_02.csv")
    ts = pd.to_datetime(hour["bar_label_et"]).dt.tz_localize("America/New_York").dt.tz_convert("UTC")
    h1 = pd.DataFrame({"symbol": "SPY", "timeframe": "h1", "ts": ts, **{c: hour[c] for c in
                       ("open", "high", "low", "close", "volume")}, "vwap": None, "trade_count": None})
    day = pd.read_csv(FIXTURES / "spy_daily_2021_01_02.csv")
    d1 = pd.DataFrame({"symbol": "SPY", "timeframe": "d1", "ts": pd.to_datetime(day["date"]).dt.tz_localize("UTC"),
                       **{c: day[c] for c in ("open", "high", "low", "close", "volume")},
                       "vwap": None, "trade_count": None})
    frame = pd.concat([h1, d1], ignore_index=True)
    frame["volume"] = frame["volume"].astype(float)
    return frame[list(BAR_COLUMNS)]


def bars_digest(url: str) -> tuple[int, str]:
    """(row count, md5 of every stored bar's key and values), independent of lineage columns."""
    with connect(url) as conn:
        row = conn.execute(
            """SELECT count(*), md5(string_agg(concat_ws(',', symbol_id, timeframe, ts, session_date,
                      open, high, low, close, volume, vwap, trade_count), ';'
                      ORDER BY symbol_id, timeframe, ts))
               FROM market.ohlc_bars"""
        ).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


def markdown_counts(value: object) -> dict[str, int]:
    """{key: count} from a two-column markdown table as assets/metadata.counts_table renders it."""
    text = getattr(value, "value", value)
    rows = [line.strip().strip("|").split("|") for line in str(text).splitlines()[2:] if line.startswith("|")]
    return {key.strip(): int(count) for key, count in rows}
