"""Benchmark: one intraday tick for the whole universe against the bare model calls, in one run.

    .venv/bin/python benchmarks/intraday_tick.py [--symbols 100] [--sessions 12] [--repeat 5]

Loads `--sessions` sessions of synthetic m15 bars (h1 derived) of `--symbols` symbols into the scratch
database `swiftbolt_bench_intraday`, with their m15 and h1 feature rows as the feature asset computes them,
and trains the intraday models on all but the last session. Then, at a clock in the middle of the last
session, interleaved over `--repeat` repeats:

* tick: `intraday.intraday_forecasts(latest_only=True)` for every symbol (what the intraday job's
  intraday_forecasts step does: reads, labels, paths, expiries, upsert by COPY) and
  `intraday.evaluate_intraday` of the forecasts that expired by then;
* bare: `Booster.predict` of the 3 quantile boosters of both horizons on the tick's own feature matrix,
  timed inside the pipeline (report.model_seconds), and the same calls again outside it on a matrix of
  the same shape.

Prints the median tick time with its spread, the ratio bare / tick, and the share of the 15-minute
budget one tick uses. Nothing here is a test; the machine is shared.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.forecasts import scratch_database, tickers
from swiftbolt.calendars.sessions import sessions
from swiftbolt.db.connection import connect
from swiftbolt.features.feature_set import default_feature_set
from swiftbolt.features.indicators import compute_features, feature_columns
from swiftbolt.features.store import ensure_feature_set, load_adjusted_bars, write_feature_rows
from swiftbolt.forecasts import intraday, store
from swiftbolt.forecasts.config import ForecastSettings
from swiftbolt.forecasts.intraday_dataset import INTRADAY_HORIZONS
from swiftbolt.forecasts.metrics import markdown_table
from swiftbolt.market_data.ingest import RunInfo, ingest_bars
from swiftbolt.market_data.types import Timeframe
from swiftbolt.providers.synthetic import SyntheticProvider
from swiftbolt.universe import SymbolSpec, sync_universe

MARKET = "us_equity"
DB = "swiftbolt_bench_intraday"
LAST = dt.date(2025, 11, 26)


def load(url: str, syms: list[str], days: list[dt.date]) -> dict[str, int]:
    with connect(url) as conn, conn.transaction():
        sync_universe(conn, [SymbolSpec(t, MARKET, "stock") for t in syms], "synthetic")
        ids = dict(conn.execute("SELECT ticker, id FROM market.symbols").fetchall())
    ingest_bars(url, SyntheticProvider(), MARKET, ids, days, [Timeframe.M15, Timeframe.D1], RunInfo())
    with connect(url) as conn, conn.transaction():
        set_id = ensure_feature_set(conn, default_feature_set(), "1")
        for sid in ids.values():
            for timeframe in ("m15", "h1"):
                bars = load_adjusted_bars(conn, sid, timeframe, days[0], days[-1], 0)
                feats = compute_features(bars)
                feats["session_date"] = bars["session_date"].to_numpy()
                write_feature_rows(conn, sid, timeframe, set_id, days, feats, feature_columns())
        conn.execute("ANALYZE")
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--sessions", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cal = sessions(MARKET, LAST - dt.timedelta(days=args.sessions * 2 + 10), LAST).tail(args.sessions)
    days = list(cal["date"])
    url = scratch_database(DB)
    t0 = time.perf_counter()
    ids = load(url, tickers(args.symbols), days)
    print(f"loaded {args.symbols} symbols x {len(days)} sessions of m15 bars and features in "
          f"{time.perf_counter() - t0:.0f}s")
    settings = ForecastSettings(intraday_train_sessions=len(days) - 1)
    with connect(url) as conn, conn.transaction():
        trained = intraday.train_intraday_models(conn, MARKET, days[-2], settings=settings)
    print(f"trained {sorted(trained.models)} in {trained.seconds:.1f}s ({trained.reasons or 'all horizons'}); "
          "out-of-sample (last fifth of the bars, purged gap = horizon):")
    print(markdown_table(trained.figures))
    now = cal["open_utc"].iloc[-1].to_pydatetime() + dt.timedelta(hours=3, minutes=2)
    requests = {s: [days[-1]] for s in ids}
    bundles = {}
    with connect(url) as conn:
        for horizon in INTRADAY_HORIZONS:
            model = store.newest_before(store.models_before(conn, MARKET, horizon, days[-1]
                                                            + dt.timedelta(days=1)), days[-1])
            bundles[horizon] = store.load_bundle(conn, model.id)
    ticks, bares, inside, evals = [], [], [], []
    rows = 0
    for _ in range(args.repeat):
        with connect(url) as conn, conn.transaction():
            t = time.perf_counter()
            report = intraday.intraday_forecasts(conn, MARKET, requests, now, latest_only=True)
            evaluated = intraday.evaluate_intraday(conn, MARKET, requests, now)
            ticks.append(time.perf_counter() - t)
            evals.append(evaluated.seconds)
            inside.append(report.model_seconds)
            rows = report.rows_written
        X = np.random.default_rng(0).normal(size=(len(ids), len(bundles["15m"].feature_names)))
        t = time.perf_counter()
        for bundle in bundles.values():
            bundle.predict(X)
        bares.append(time.perf_counter() - t)
    tick, bare = statistics.median(ticks), statistics.median(bares)
    ratios = [b / t for b, t in zip(inside, ticks, strict=True)]
    print(f"one tick, {args.symbols} symbols: {rows} forecast rows; median {tick:.3f}s "
          f"(min {min(ticks):.3f}, max {max(ticks):.3f}), of which evaluations {statistics.median(evals):.3f}s")
    print(f"bare predict of both horizons' boosters: on the tick's matrix {statistics.median(inside) * 1000:.1f} ms, "
          f"outside the pipeline on a matrix of the same shape {bare * 1000:.1f} ms")
    print(f"ratio bare / tick: median {statistics.median(ratios):.4f} (min {min(ratios):.4f}, max {max(ratios):.4f})")
    print(f"share of the 15-minute budget: {tick / 900:.2%}")


if __name__ == "__main__":
    main()
