"""Benchmark: end-to-end bar ingest (provider payload -> validated -> market.ohlc_bars with lineage)
against a raw COPY of the same rows into the same table, measured in the same process, interleaved
over repeats.

    .venv/bin/python benchmarks/ingest_bars.py [--symbols 60] [--sessions 500] [--repeats 5]

Uses SWIFTBOLT_DATABASE_URL's server or the embedded one; works in a scratch database
`swiftbolt_bench` that it drops and re-creates. The reference (a raw binary COPY of exactly the rows the
pipeline stores, pre-encoded) and the pipeline alternate over `--repeats` (which goes first alternates
too), each starting from empty bar, dataset, quarantine, coverage and checkpoint tables. Prints bars/s
for both (medians) and the median ratio with its spread (min-max); target >= 0.5.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import statistics
import string
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from psycopg import sql

from swiftbolt.calendars.sessions import session_dates
from swiftbolt.db.connection import connect, ensure_database
from swiftbolt.db.copy import binary_copy_payload, copy_binary_payload
from swiftbolt.db.migrate import migrate
from swiftbolt.db.urls import with_database
from swiftbolt.db.warehouse import prepare
from swiftbolt.market_data.bar_store import BAR_TABLE_COLUMNS
from swiftbolt.market_data.ingest import RunInfo, ingest_bars
from swiftbolt.market_data.session_bars import SESSION_DERIVED, derive_session_bars
from swiftbolt.market_data.types import FETCHED_TIMEFRAMES, Timeframe
from swiftbolt.market_data.validation import validate_bars
from swiftbolt.providers.synthetic import SyntheticProvider
from swiftbolt.universe import SymbolSpec, sync_universe


class PayloadProvider:
    """Serves pre-generated provider frames, so generation time is not part of either measurement."""

    name = "synthetic"

    def __init__(self, frames: dict[Timeframe, pd.DataFrame]) -> None:
        self.frames = frames

    def bars(self, symbols, timeframe, start, end):
        return self.frames[timeframe]


def tickers(n: int) -> list[str]:
    letters = string.ascii_uppercase
    return ["".join(p) for p in itertools.islice(itertools.product(letters, repeat=3), n)]


def scratch_database() -> str:
    server_url = prepare().url
    url = with_database(server_url, "swiftbolt_bench")
    with connect(with_database(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS swiftbolt_bench WITH (FORCE)"))
    ensure_database(url)
    migrate(url)
    return url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", type=int, default=60)
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5, help="pipeline/reference pairs, interleaved")
    args = parser.parse_args()

    url = scratch_database()
    syms = tickers(args.symbols)
    days = session_dates("us_equity", dt.date(2022, 1, 3), dt.date(2025, 12, 31))[: args.sessions]
    with connect(url) as conn, conn.transaction():
        sync_universe(conn, [SymbolSpec(t, "us_equity", "stock") for t in syms], "synthetic")
        ids = dict(conn.execute("SELECT ticker, id FROM market.symbols").fetchall())

    t0 = time.perf_counter()
    provider = SyntheticProvider()
    start = pd.Timestamp(days[0], tz="UTC").to_pydatetime()
    end = pd.Timestamp(days[-1] + dt.timedelta(days=1), tz="UTC").to_pydatetime()
    frames = {tf: provider.bars(syms, tf, start, end) for tf in FETCHED_TIMEFRAMES}
    n_bars = sum(len(f) for f in frames.values())
    print(f"payload: {n_bars:,} bars ({args.symbols} symbols x {len(days)} sessions x "
          f"{'/'.join(t.value for t in FETCHED_TIMEFRAMES)}; h1/h4 are derived), generated in "
          f"{time.perf_counter() - t0:.1f}s")

    # Reference: raw COPY of exactly the rows the pipeline stores (fetched m15/d1 and the h1/h4 derived
    # from m15), into the same table, pre-encoded in COPY's binary format (the fastest way PostgreSQL
    # ingests rows): only the server's work.
    fetched = {tf: validate_bars(frames[tf], "us_equity", tf).clean for tf in FETCHED_TIMEFRAMES}
    derived = [derive_session_bars(fetched[Timeframe.M15], "us_equity", tf) for tf in SESSION_DERIVED]
    clean = pd.concat([*fetched.values(), *derived], ignore_index=True)
    clean["symbol_id"] = clean["symbol"].map(ids)
    clean["provider"], clean["ingestion_run_id"] = "synthetic", 0
    with connect(url) as conn:
        payload = binary_copy_payload(conn, "market.ohlc_bars", BAR_TABLE_COLUMNS, clean)
        conn.execute("SELECT market.ensure_bar_partitions(%s, %s)", (clean["ts"].min(), clean["ts"].max()))
        conn.commit()

    def reset() -> None:
        with connect(url) as conn:
            conn.execute("TRUNCATE market.ohlc_bars, market.bar_datasets, ops.bar_quarantine, "
                         "market.coverage_status, market.provider_checkpoints")
            conn.commit()

    def reference() -> float:
        with connect(url) as conn:
            t0 = time.perf_counter()
            with conn.transaction():
                copy_binary_payload(conn, "market.ohlc_bars", BAR_TABLE_COLUMNS, payload)
            return time.perf_counter() - t0

    chunks = [0]

    def pipeline() -> float:
        # validate (plausibility against stored neighbours included), map symbols, derive h1/h4,
        # per-partition delete + COPY, quarantine, datasets, coverage, checkpoints and derived w1/mo1, in
        # month-sized transactions
        t0 = time.perf_counter()
        report = ingest_bars(url, PayloadProvider(frames), "us_equity", ids, days, list(FETCHED_TIMEFRAMES),
                             RunInfo(dagster_run_id="bench", dagster_root_run_id="bench"))
        took = time.perf_counter() - t0
        assert report.rows_written == len(clean), (report.rows_written, len(clean))
        chunks[0] = report.chunks
        return took

    copies: list[float] = []
    pipes: list[float] = []
    ratios: list[float] = []
    for repeat in range(args.repeats):
        order = (reference, pipeline) if repeat % 2 == 0 else (pipeline, reference)
        for measure in order:
            reset()
            (copies if measure is reference else pipes).append(measure())
        ratios.append(copies[-1] / pipes[-1])
        print(f"repeat {repeat + 1} ({order[0].__name__} first): raw COPY {copies[-1]:6.2f}s, "
              f"pipeline {pipes[-1]:6.2f}s, ratio {ratios[-1]:.2f}")

    copy_s, pipe_s = statistics.median(copies), statistics.median(pipes)
    print(f"raw COPY (median of {len(copies)}): {len(clean):,} bars in {copy_s:6.2f}s = "
          f"{len(clean) / copy_s:10,.0f} bars/s")
    print(f"pipeline (median of {len(pipes)}): {len(clean):,} bars in {pipe_s:6.2f}s = "
          f"{len(clean) / pipe_s:10,.0f} bars/s ({chunks[0]} transactions, "
          f"lineage + derived h1/h4/w1/mo1 included)")
    print(f"ratio pipeline/raw COPY = {statistics.median(ratios):.2f} median (spread {min(ratios):.2f}-"
          f"{max(ratios):.2f} over {len(ratios)} interleaved pairs; target >= 0.50)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
