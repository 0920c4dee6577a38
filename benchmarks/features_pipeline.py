"""Benchmark: the feature pipeline exactly as the `feature_rows` asset runs it (adjusted bars with
warm-up -> compute_features -> rows of the partition's days -> ml.feature_rows, in one transaction per
run) against the same computation followed by a raw COPY of the same rows into the same table, measured in
the same process, interleaved over repeats.

    .venv/bin/python benchmarks/features_pipeline.py [--symbols 40] [--daily-years 6] [--intraday-sessions 760] \
        [--repeats 5]

Loads d1 bars for `--daily-years` and h1 + m15 bars for the last `--intraday-sessions` sessions of
`--symbols` synthetic symbols (defaults: ~1.05M bars) into the scratch database `swiftbolt_bench` (dropped
and re-created, as benchmarks/ingest_bars.py does: don't run both at once), through the production ingest
(`ingest_bars`) with pre-generated provider payloads.

The pipeline is timed as a backfill of every session after the first WARMUP_BARS daily sessions: Dagster
runs such a single-run backfill as one run per symbol (tests/test_backfill_policy.py), so each symbol is
one transaction doing what the asset does for it (swiftbolt.features.pipeline.compute_feature_rows):
ensure_feature_set, load_adjusted_bars_by_timeframe (d1, h1 and m15 raw bars with WARMUP_BARS of warm-up
and the symbol's adjustment factor ranges in one round trip, adjusted in numpy), then per timeframe
compute_features, the filter to the partition's days, write_feature_rows (DELETE of the days, numpy
encoding in COPY's binary format, COPY). Nothing else is timed (no Dagster overhead).

The reference is the work the pipeline cannot avoid, on the same rows: compute_features (+ the filter to the
partitions' days) on the very bars the pipeline loads (read once beforehand, untimed), then a raw binary
COPY of the resulting rows, pre-encoded in COPY's binary format exactly as write_feature_rows encodes them
(feature_rows_payload; encoding untimed), into the same table `ml.feature_rows` in one transaction (commit
included). So the ratio reference / pipeline (= pipeline rate / reference rate) prices what the pipeline
adds: reading and adjusting the bars, encoding, the per-partition DELETE, one transaction per symbol, the
per-partition counts. Anything that makes the table itself cheaper to write (fewer indexes, cheaper
foreign-key checks) speeds up both sides by the same seconds and so lowers the ratio. The table is emptied
before each measurement; pipeline and reference alternate (which goes first alternates too) over
`--repeats`, and the median ratio is printed with its spread (min-max). Target >= 0.8.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest_bars import PayloadProvider, scratch_database, tickers

from assets.features import FEATURES_CODE_VERSION
from swiftbolt.calendars.sessions import session_dates
from swiftbolt.db.connection import connect
from swiftbolt.db.copy import copy_binary_payload
from swiftbolt.features.feature_set import default_feature_set
from swiftbolt.features.indicators import WARMUP_BARS, compute_features, feature_columns
from swiftbolt.features.pipeline import FEATURE_TIMEFRAMES, Timings, compute_feature_rows, in_dates
from swiftbolt.features.store import (
    FEATURE_ROW_COLUMNS,
    ensure_feature_set,
    feature_rows_payload,
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
    write: float = 0.0  # write_feature_rows (DELETE of the days, binary encoding, COPY)
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


def run_pipeline(url: str, ids: dict[str, int], dates: list[dt.date],
                 bars_by_series: dict[tuple[str, str], pd.DataFrame]) -> PipelineTimes:
    """The feature_rows asset's core call (swiftbolt.features.pipeline.compute_feature_rows), one run
    (= one transaction) per symbol over `dates`; returns the timings. Bars computed are counted from
    `bars_by_series` (the same load_adjusted_bars calls, made beforehand)."""
    times = PipelineTimes()
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
                times.bars[tf] = times.bars.get(tf, 0) + len(bars_by_series[(symbol, tf)])
    return times


def load_series(url: str, ids: dict[str, int], dates: list[dt.date]) -> dict[tuple[str, str], pd.DataFrame]:
    """The bars the pipeline computes on (load_adjusted_bars with the warm-up), per (symbol, timeframe)."""
    with connect(url) as conn:
        out = {(symbol, tf): load_adjusted_bars(conn, ids[symbol], tf, dates[0], dates[-1], WARMUP_BARS)
               for symbol in sorted(ids) for tf in FEATURE_TIMEFRAMES}
        conn.commit()
    return out


def run_reference(url: str, ids: dict[str, int], dates: list[dt.date],
                  bars_by_series: dict[tuple[str, str], pd.DataFrame]) -> tuple[float, float, int]:
    """compute_features + the filter to `dates` on the pipeline's bars (timed), encoding (untimed), one
    raw binary COPY transaction of all the rows into ml.feature_rows (timed). Returns (compute s, copy s,
    rows)."""
    columns = feature_columns()
    clock = time.perf_counter
    with connect(url) as conn:
        set_id = ensure_feature_set(conn, default_feature_set(), FEATURES_CODE_VERSION)
        conn.commit()
        computed: list[tuple[str, str, pd.DataFrame]] = []
        t0 = clock()
        for (symbol, tf), bars in bars_by_series.items():
            if bars.empty:
                continue
            feats = compute_features(bars)
            feats["session_date"] = bars["session_date"].to_numpy()
            feats["close"] = bars["close"].to_numpy()
            computed.append((symbol, tf, in_dates(feats, dates)))
        compute_s = clock() - t0
        payloads = [feature_rows_payload(ids[symbol], tf, set_id, rows, columns)
                    for symbol, tf, rows in computed if not rows.empty]
        n_rows = sum(len(rows) for _s, _t, rows in computed)
        t0 = clock()
        with conn.transaction():
            for payload in payloads:
                copy_binary_payload(conn, "ml.feature_rows", FEATURE_ROW_COLUMNS, payload)
        copy_s = clock() - t0
    return compute_s, copy_s, n_rows


def empty_feature_rows(url: str) -> None:
    with connect(url) as conn:
        conn.execute("TRUNCATE ml.feature_rows")
        conn.commit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=40)
    parser.add_argument("--daily-years", type=int, default=6, help="years of d1 bars, ending 2025-12-31")
    parser.add_argument("--intraday-sessions", type=int, default=760, help="last sessions with h1 + m15 bars")
    parser.add_argument("--repeats", type=int, default=5, help="pipeline/reference pairs, interleaved")
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
    bars_by_series = load_series(url, ids, dates)
    n_bars = sum(len(b) for b in bars_by_series.values())
    pipes: list[PipelineTimes] = []
    refs: list[tuple[float, float]] = []
    ratios: list[float] = []
    for repeat in range(args.repeats):
        order = ("pipeline", "reference") if repeat % 2 == 0 else ("reference", "pipeline")
        for which in order:
            empty_feature_rows(url)
            if which == "pipeline":
                times = run_pipeline(url, ids, dates, bars_by_series)
                n_rows = sum(times.rows.values())
                with connect(url) as conn:
                    row = conn.execute("SELECT count(*) FROM ml.feature_rows").fetchone()
                assert row is not None and row[0] == n_rows, (row, n_rows)
                assert sum(times.bars.values()) == n_bars
                pipes.append(times)
            else:
                compute_s, copy_s, ref_rows = run_reference(url, ids, dates, bars_by_series)
                refs.append((compute_s, copy_s))
        assert ref_rows == n_rows, (ref_rows, n_rows)
        ratios.append(sum(refs[-1]) / pipes[-1].total)
        print(f"repeat {repeat + 1} ({order[0]} first): pipeline {pipes[-1].total:6.2f}s, reference "
              f"{sum(refs[-1]):6.2f}s (compute {refs[-1][0]:.2f} + COPY {refs[-1][1]:.2f}), "
              f"ratio {ratios[-1]:.3f}")

    pipe_s = statistics.median(p.total for p in pipes)
    ref_s = statistics.median(sum(r) for r in refs)
    print(f"pipeline: {len(ids)} runs (one transaction per symbol) over {len(dates)} sessions "
          f"({dates[0]}..{dates[-1]}), WARMUP_BARS={WARMUP_BARS}, {len(feature_columns())} features")
    print(f"  bars computed by timeframe: {pipes[0].bars}; feature rows written: {pipes[0].rows}")
    print(f"pipeline  (median of {len(pipes)}): {n_bars:,} bars in {pipe_s:7.2f}s = {n_bars / pipe_s:10,.0f} bars/s "
          f"({n_rows / pipe_s:,.0f} rows written/s)")
    print(f"reference (median of {len(refs)}): {n_bars:,} bars in {ref_s:7.2f}s = {n_bars / ref_s:10,.0f} bars/s "
          f"(compute {statistics.median(r[0] for r in refs):.2f}s + raw COPY of {n_rows:,} rows "
          f"{statistics.median(r[1] for r in refs):.2f}s)")
    print(f"ratio pipeline / (compute + raw COPY) = {statistics.median(ratios):.3f} median "
          f"(spread {min(ratios):.3f}-{max(ratios):.3f} over {len(ratios)} interleaved pairs; target >= 0.8)")
    print("pipeline breakdown, median per phase (s):")
    for name in ("load", "compute", "write", "commit", "other"):
        value = statistics.median(getattr(p, name) for p in pipes)
        print(f"  {name:<8}{value:8.2f}  {100 * value / pipe_s:5.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
