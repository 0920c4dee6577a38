"""Shared helpers for tests: fixtures as provider frames, symbol setup, table digests."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
from pathlib import Path

import pandas as pd

from resources.dbt import DBT_EXECUTABLE, DBT_PROJECT_DIR, dbt_env
from swiftbolt.db.connection import connect
from swiftbolt.market_data.types import BAR_COLUMNS
from swiftbolt.universe import SymbolSpec, active_symbols, sync_universe

FIXTURES = Path(__file__).parent / "fixtures"


def utc(*args: int) -> dt.datetime:
    """A UTC datetime: utc(2025, 6, 3, 21, 30)."""
    return dt.datetime(*args, tzinfo=dt.UTC)


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


def spy_2013_bars() -> pd.DataFrame:
    """Real SPY bars 2013-10-04..11 in the provider contract: 15-minute bars 04:00-20:00 ET (pre- and
    post-market included, as Alpaca serves them) and the daily bars of October 2013."""
    m15 = pd.read_csv(FIXTURES / "spy_m15_2013_10_04_11.csv")
    intraday = pd.DataFrame({
        "symbol": "SPY", "timeframe": "m15", "ts": pd.to_datetime(m15["bar_start_et"], utc=True),
        **{c: m15[c] for c in ("open", "high", "low", "close")}, "volume": m15["volume"].astype(float),
        "vwap": None, "trade_count": None,
    })
    day = pd.read_csv(FIXTURES / "spy_daily_2013_10.csv")
    daily = pd.DataFrame({
        "symbol": "SPY", "timeframe": "d1", "ts": pd.to_datetime(day["date"]).dt.tz_localize("UTC"),
        **{c: day[c] for c in ("open", "high", "low", "close")}, "volume": day["volume"].astype(float),
        "vwap": None, "trade_count": None,
    })
    frame = pd.concat([intraday, daily], ignore_index=True)
    frame["ts"] = frame["ts"].astype("datetime64[ns, UTC]")
    return frame[list(BAR_COLUMNS)]


def clock_hour_bars(m15: pd.DataFrame, timeframe: str = "h1") -> pd.DataFrame:
    """Alpaca-style hourly (or 4-hour) bars from 15-minute bars: clock-aligned, extended hours included
    (its 09:00 ET bar holds 09:00-10:00 trades, pre-market included)."""
    hours = 1 if timeframe == "h1" else 4
    key = m15["ts"].dt.floor(f"{hours}h")
    out = m15.sort_values("ts").groupby([m15["symbol"], key]).agg(
        open=("open", "first"), high=("high", "max"), low=("low", "min"), close=("close", "last"),
        volume=("volume", "sum")).reset_index().rename(columns={"level_1": "ts"})
    out.columns = ["symbol", "ts", "open", "high", "low", "close", "volume"]
    return out.assign(timeframe=timeframe, vwap=None, trade_count=None)[list(BAR_COLUMNS)]


def run_dbt(url: str, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`dbt <args> --quiet` by the project's dbt executable (dbt's own environment, resources/dbt.py) on the
    database at `url`, writing its target and logs under `tmp`. dbt's exit code: 0 success, 1 a model or
    test failed, 2 dbt itself failed."""
    return subprocess.run([
        DBT_EXECUTABLE, *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(tmp / "target"), "--log-path", str(tmp / "logs"), "--quiet",
    ], env={**os.environ, **dbt_env(url)}, capture_output=True, text=True, check=False)


def dbt_output(result: subprocess.CompletedProcess[str]) -> str:
    """The end of a dbt run's output, for an assertion message."""
    return (result.stdout + result.stderr)[-3000:]
