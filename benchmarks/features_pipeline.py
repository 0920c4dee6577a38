"""Benchmark: the feature pipeline exactly as the `feature_rows` asset runs it (adjusted bars with
warm-up -> compute_features -> rows of the partition's days -> ml.feature_rows, in one transaction per
run) against the bare TA-Lib calls on the same numpy arrays, measured in the same run.

    .venv/bin/python benchmarks/features_pipeline.py [--symbols 40] [--daily-years 6] [--intraday-sessions 760]

Loads d1 bars for `--daily-years` and h1 + m15 bars for the last `--intraday-sessions` sessions of
`--symbols` synthetic symbols (defaults: ~1.05M bars) into the scratch database `swiftbolt_bench` (dropped
and re-created, as benchmarks/ingest_bars.py does: don't run both at once), through the production ingest
(`ingest_bars`) with pre-generated provider payloads.

The pipeline is timed as a backfill of every session after the first WARMUP_BARS daily sessions: Dagster
runs such a single-run backfill as one run per symbol (tests/test_backfill_policy.py), so each symbol is
one transaction doing what the asset does for it: ensure_feature_set, then per timeframe (d1, h1, m15)
load_adjusted_bars with WARMUP_BARS of warm-up, compute_features, the filter to the partition's days,
write_feature_rows. Nothing else is timed (no Dagster overhead). The reference is the TA-Lib calls of
compute_features (RSI, MACD, ADX, ATR, NATR, BBANDS, STOCH, WILLR, CCI, MFI, OBV, same parameters) on the
very arrays the pipeline loaded (best of 3). Both rates count bars computed (warm-up bars included).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import talib

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest_bars import PayloadProvider, scratch_database, tickers

from assets.features import FEATURES_CODE_VERSION
from swiftbolt.calendars.sessions import session_dates
from swiftbolt.db.connection import connect
from swiftbolt.features.indicators import FEATURE_PARAMS, WARMUP_BARS, feature_columns
from swiftbolt.features.pipeline import FEATURE_TIMEFRAMES, Timings, compute_feature_rows
from swiftbolt.features.store import (
    load_adjusted_bars,
)
from swiftbolt.market_data.ingest import RunInfo, ingest_bars
from swiftbolt.market_data.types import Timeframe
from swiftbolt.providers.synthetic import SyntheticProvider
from swiftbolt.universe import SymbolSpec, sync_universe

DAILY = [Timeframe.D1]
INTRADAY = [Timeframe.M15]  # fetched; h1 (and h4) are derived from it by the ingest


@dataclass
class PipelineTimes:
    load: float = 0.0
    compute: float = 0.0  # compute_features + session_date + the filter to the partition's days
    write: float = 0.0  # write_feature_rows (DELETE of the days, JSON encoding, COPY)
    commit: float = 0.0
    other: float = 0.0  # BEGIN, ensure_feature_set, per-partition counts
    bars: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return self.load + self.compute + self.write + self.commit + self.other


def load_bars(url: str, syms: list[str], daily_days: list[dt.date], intraday_days: list[dt.date]) -> int:
    """Synthetic bars through the production ingest; generation is not timed. Returns bars written."""
    with connect(url) as conn, conn.transaction():
        sync_universe(conn, [SymbolSpec(t, "us_equity", "stock") for t in syms], "synthetic")
        ids = dict(conn.execute("SELECT ticker, id FROM market.symbols").fetchall())
    provider = SyntheticProvider()
    total = 0
    for days, timeframes in ((daily_days, DAILY), (intraday_days, INTRADAY)):
        t0 = time.perf_counter()
        start = pd.Timestamp(days[0], tz="UTC").to_pydatetime()
        end = pd.Timestamp(days[-1] + dt.timedelta(days=2), tz="UTC").to_pydatetime()
        frames = {tf: provider.bars(syms, tf, start, end) for tf in timeframes}
        gen_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = ingest_bars(url, PayloadProvider(frames), "us_equity", ids, days, timeframes,
                             RunInfo(dagster_run_id="bench-features", dagster_root_run_id="bench-features"))
        total += report.rows_written
        print(f"loaded {report.rows_written:>9,} bars {report.rows_by_timeframe} over {len(days)} sessions "
              f"(generated in {gen_s:.1f}s, ingested in {time.perf_counter() - t0:.1f}s)")
    return total


def run_pipeline(url: str, ids: dict[str, int], dates: list[dt.date]
                 ) -> tuple[PipelineTimes, list[tuple[np.ndarray, ...]]]:
    """The feature_rows asset's core call (swiftbolt.features.pipeline.compute_feature_rows), one run
    (= one transaction) per symbol over `dates`; returns the timings and the (open, high, low, close,
    volume) arrays it computed on (re-read afterwards, untimed)."""
    times = PipelineTimes()
    arrays: list[tuple[np.ndarray, ...]] = []
    clock = time.perf_counter
    with connect(url) as conn:
        for symbol in sorted(ids):
            phases = Timings()
            t = clock()
            with conn.transaction():
                report = compute_feature_rows(conn, {symbol: ids[symbol]}, {symbol: dates}, FEATURES_CODE_VERSION,
                                              timings=phases)
                t_commit = clock()
            times.commit += clock() - t_commit  # leaving the block commits
            elapsed = t_commit - t
            times.load += phases.get("load", 0.0)
            times.compute += phases.get("compute", 0.0)
            times.write += phases.get("write", 0.0)
            times.other += elapsed - sum(phases.values())
            for tf in FEATURE_TIMEFRAMES:
                times.rows[tf] = times.rows.get(tf, 0) + int(report.partitions[f"rows_{tf}"].sum())
                bars = load_adjusted_bars(conn, ids[symbol], tf, dates[0], dates[-1], WARMUP_BARS)
                conn.commit()
                times.bars[tf] = times.bars.get(tf, 0) + len(bars)
                if not bars.empty:
                    arrays.append(tuple(bars[c].to_numpy(dtype=np.float64) for c in
                                        ("open", "high", "low", "close", "volume")))
    return times, arrays


def bare_talib(arrays: list[tuple[np.ndarray, ...]]) -> float:
    """Seconds for the TA-Lib calls of compute_features (same parameters) over every series."""
    p = {k: v for k, v in FEATURE_PARAMS.items() if isinstance(v, int | float)}
    t0 = time.perf_counter()
    for _o, h, lo, c, v in arrays:
        talib.RSI(c, timeperiod=p["rsi_period"])
        talib.MACD(c, fastperiod=p["macd_fast"], slowperiod=p["macd_slow"], signalperiod=p["macd_signal"])
        talib.ADX(h, lo, c, timeperiod=p["adx_period"])
        talib.ATR(h, lo, c, timeperiod=p["atr_period"])
        talib.NATR(h, lo, c, timeperiod=p["atr_period"])
        talib.BBANDS(c, timeperiod=p["bb_period"], nbdevup=p["bb_nbdev"], nbdevdn=p["bb_nbdev"], matype=0)
        talib.STOCH(h, lo, c, fastk_period=p["stoch_fastk"], slowk_period=p["stoch_slowk"],
                    slowk_matype=p["stoch_matype"], slowd_period=p["stoch_slowd"], slowd_matype=p["stoch_matype"])
        talib.WILLR(h, lo, c, timeperiod=p["willr_period"])
        talib.CCI(h, lo, c, timeperiod=p["cci_period"])
        talib.MFI(h, lo, c, v, timeperiod=p["mfi_period"])
        talib.OBV(c, v)
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=40)
    parser.add_argument("--daily-years", type=int, default=6, help="years of d1 bars, ending 2025-12-31")
    parser.add_argument("--intraday-sessions", type=int, default=760, help="last sessions with h1 + m15 bars")
    args = parser.parse_args()

    daily_days = session_dates("us_equity", dt.date(2026 - args.daily_years, 1, 1), dt.date(2025, 12, 31))
    intraday_days = daily_days[-args.intraday_sessions:]
    if len(daily_days) <= WARMUP_BARS:
        parser.error(f"--daily-years gives {len(daily_days)} sessions; more than {WARMUP_BARS} are needed")
    url = scratch_database()
    syms = tickers(args.symbols)
    n_loaded = load_bars(url, syms, daily_days, intraday_days)
    with connect(url) as conn:
        conn.execute("ANALYZE market.ohlc_bars")
        conn.commit()
        ids = dict(conn.execute("SELECT ticker, id FROM market.symbols").fetchall())
    print(f"database: {n_loaded:,} bars ({args.symbols} symbols; d1 {daily_days[0]}..{daily_days[-1]}, "
          f"h1 + m15 {intraday_days[0]}..{intraday_days[-1]})")

    # a backfill of every session after the first WARMUP_BARS daily ones: d1 loads its full warm-up
    dates = daily_days[WARMUP_BARS:]
    times, arrays = run_pipeline(url, ids, dates)
    n_bars = sum(times.bars.values())
    n_rows = sum(times.rows.values())
    with connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM ml.feature_rows").fetchone()
    assert row is not None and row[0] == n_rows, (row, n_rows)
    assert sum(len(a[0]) for a in arrays) == n_bars
    talib_s = min(bare_talib(arrays) for _ in range(3))

    pipe_rate, talib_rate = n_bars / times.total, n_bars / talib_s
    print(f"pipeline: {len(ids)} runs (one transaction per symbol) over {len(dates)} sessions "
          f"({dates[0]}..{dates[-1]}), WARMUP_BARS={WARMUP_BARS}, {len(feature_columns())} features")
    print(f"  bars computed by timeframe: {times.bars}; feature rows written: {times.rows}")
    print(f"pipeline    : {n_bars:,} bars in {times.total:7.2f}s = {pipe_rate:12,.0f} bars/s "
          f"({n_rows / times.total:,.0f} rows written/s)")
    print(f"bare TA-Lib : {n_bars:,} bars in {talib_s:7.2f}s = {talib_rate:12,.0f} bars/s "
          f"(11 indicator calls per series, {len(arrays)} series, best of 3)")
    print(f"ratio pipeline / bare TA-Lib = {pipe_rate / talib_rate:.4f} "
          f"(TA-Lib alone is {talib_rate / pipe_rate:,.0f}x faster)")
    print("breakdown (s):")
    for name in ("load", "compute", "write", "commit", "other"):
        value = getattr(times, name)
        print(f"  {name:<8}{value:8.2f}  {100 * value / times.total:5.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
