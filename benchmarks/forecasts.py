"""Benchmark: the forecast pipeline against the bare model calls on the same inputs, measured in one run.

    .venv/bin/python benchmarks/forecasts.py [--symbols 20] [--years 3] [--days 10]

Loads `--years` of synthetic d1 bars of `--symbols` symbols (ending 2025-12-31) through the production
ingest into the scratch database `swiftbolt_bench_forecasts`, and their d1 feature rows as the feature asset
computes them. Then, with SWIFTBOLT_LGBM_THREADS threads (default 1):

1. training: `pipeline.train_models` for the last session (load of feature rows and closes, samples, the
   validation fit and the final fit of 3 quantile boosters per horizon, validation figures, the write of
   four models) against bare `lightgbm.train` calls on the very matrices it fitted (validation and final),
   and against the final fits alone (what the validation costs);
2. forecasts for `--days` x `--symbols` symbol-days: `lgbm_forecasts` + `prophet_forecasts` +
   `ensemble_forecasts` (reads, eligibility, predictions, labels, paths, COPY upserts) against the bare
   calls on the same inputs: `Booster.predict` of the 3 x 4 boosters on the same feature rows, and
   Prophet fit + predict on the same series; also each model on its own;
3. LightGBM threads: bare `lightgbm.train` of one horizon's matrix with 1 and with 2 threads.

Ratios are bare time / pipeline time (1.0 = no overhead). Nothing here is a test; the machine is shared.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import math
import os
import string
import sys
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prophet import Prophet

from swiftbolt.calendars.sessions import session_dates
from swiftbolt.db.connection import connect, ensure_database
from swiftbolt.db.migrate import migrate
from swiftbolt.db.urls import with_database
from swiftbolt.db.warehouse import prepare
from swiftbolt.features.feature_set import default_feature_set
from swiftbolt.features.indicators import compute_features, feature_columns
from swiftbolt.features.store import ensure_feature_set, load_adjusted_bars, write_feature_rows
from swiftbolt.forecasts import lightgbm_models, pipeline, prophet_models
from swiftbolt.forecasts.config import load_forecast_settings
from swiftbolt.forecasts.dataset import (
    build_samples,
    current_feature_set,
    load_closes,
    load_feature_rows,
    training_samples,
    with_sessions,
)
from swiftbolt.forecasts.horizons import HORIZONS, calendar_around
from swiftbolt.market_data.ingest import RunInfo, ingest_bars
from swiftbolt.market_data.types import Timeframe
from swiftbolt.providers.synthetic import SyntheticProvider
from swiftbolt.universe import SymbolSpec, sync_universe

MARKET = "us_equity"
DB = "swiftbolt_bench_forecasts"


def scratch_database(name: str = DB) -> str:
    """A fresh, migrated database `name` on the project's server (embedded unless configured)."""
    server_url = prepare().url
    url = with_database(server_url, name)
    with connect(with_database(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    ensure_database(url)
    migrate(url)
    return url


def tickers(n: int) -> list[str]:
    letters = string.ascii_uppercase
    return ["".join(p) for p in itertools.islice(itertools.product(letters, repeat=3), n)]


def load_market(url: str, syms: list[str], days: list[dt.date]) -> dict[str, int]:
    with connect(url) as conn, conn.transaction():
        sync_universe(conn, [SymbolSpec(t, MARKET, "stock") for t in syms], "synthetic")
        ids = dict(conn.execute("SELECT ticker, id FROM market.symbols").fetchall())
    ingest_bars(url, SyntheticProvider(), MARKET, ids, days, [Timeframe.D1], RunInfo())
    with connect(url) as conn, conn.transaction():
        set_id = ensure_feature_set(conn, default_feature_set(), "1")
        for sid in ids.values():
            bars = load_adjusted_bars(conn, sid, "d1", days[0], days[-1], 0)
            feats = compute_features(bars)
            feats["session_date"] = bars["session_date"].to_numpy()
            write_feature_rows(conn, sid, "d1", set_id, days, feats, feature_columns())
        conn.execute("ANALYZE")
    return ids


def best_of(fn, repeat: int = 1) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def training_matrices(url: str, train_end: dt.date, window: int) -> dict[str, tuple]:
    """The matrices train_models fits per horizon: (validation fit X, y), (final X, y)."""
    with connect(url) as conn:
        fs = current_feature_set(conn)
        assert fs is not None
        ids = sorted(dict(conn.execute("SELECT ticker, id FROM market.symbols").fetchall()).values())
        index = calendar_around(MARKET, train_end, train_end, before=window + 90, after=0)
        pos_t = index.position(train_end)
        first = index.dates[max(0, pos_t - window - 20)]
        feats = load_feature_rows(conn, fs, ids, first, train_end)
        start = index.dates[max(0, index.position(first) - 61)]
        sessions = with_sessions(load_closes(conn, ids, start, train_end), index)
    out = {}
    for horizon, h in HORIZONS.items():
        train = training_samples(build_samples(feats, sessions, fs.model_features, h), index, train_end, h, window)
        pos = train.rows["pos"].to_numpy()
        uniq = np.unique(pos)
        n_val = int(min(pipeline.VALIDATION_SESSIONS, max(10, len(uniq) // 5)))
        fit = train.take(pos <= uniq[-n_val] - h)
        out[horizon] = ((fit.X, fit.rows["target"].to_numpy(float)), (train.X, train.rows["target"].to_numpy(float)),
                        fs.model_features)
    return out


def bare_train(X: np.ndarray, y: np.ndarray, names: list[str], threads: int) -> None:
    for alpha in lightgbm_models.QUANTILES:
        data = lgb.Dataset(X, label=y, feature_name=names, params={"max_bin": 63, "verbosity": -1})
        lgb.train(lightgbm_models.training_params(alpha, threads), data,
                  num_boost_round=lightgbm_models.NUM_BOOST_ROUND)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--days", type=int, default=10, help="forecast days (the last sessions)")
    args = parser.parse_args()
    settings = load_forecast_settings()
    days = session_dates(MARKET, dt.date(2026 - args.years, 1, 1), dt.date(2025, 12, 31))
    url = scratch_database()
    syms = tickers(args.symbols)
    t0 = time.perf_counter()
    load_market(url, syms, days)
    print(f"database: {args.symbols} symbols x {len(days)} sessions of d1 bars and feature rows "
          f"({time.perf_counter() - t0:.1f}s to load)")
    forecast_days = days[-args.days:]
    train_end = days[-args.days - 1]

    # 1. training
    with connect(url) as conn:
        t0 = time.perf_counter()
        report = pipeline.train_models(conn, MARKET, train_end, settings=settings)
        conn.commit()
        t_pipe = time.perf_counter() - t0
    mats = training_matrices(url, train_end, settings.train_sessions)
    t_final = t_val = 0.0
    for _, ((Xv, yv), (X, y), names) in mats.items():
        t_val += best_of(lambda Xv=Xv, yv=yv, names=names: bare_train(Xv, yv, names, settings.lgbm_threads))
        t_final += best_of(lambda X=X, y=y, names=names: bare_train(X, y, names, settings.lgbm_threads))
    n_samples = sum(m.n_samples for m in report.models)
    print(f"training (train_end {train_end}, {settings.lgbm_threads} thread(s), {n_samples:,} samples over 4 "
          f"horizons): pipeline {t_pipe:.2f}s; bare lightgbm.train on the same matrices (validation + final) "
          f"{t_val + t_final:.2f}s -> ratio {(t_val + t_final) / t_pipe:.2f}; final fits alone {t_final:.2f}s "
          f"-> ratio {t_final / t_pipe:.2f}")

    # 2. forecasts for days x symbols
    requests = {s: forecast_days for s in syms}
    n = len(syms) * len(forecast_days)
    with connect(url) as conn:
        t0 = time.perf_counter()
        lg = pipeline.lgbm_forecasts(conn, MARKET, requests)
        t_lgbm = time.perf_counter() - t0
        pr = pipeline.prophet_forecasts(conn, MARKET, requests, settings=settings)
        t_prophet = time.perf_counter() - t0 - t_lgbm
        en = pipeline.ensemble_forecasts(conn, MARKET, requests)
        t_ens = time.perf_counter() - t0 - t_lgbm - t_prophet
        conn.commit()
        fs = current_feature_set(conn)
        assert fs is not None
        ids = sorted(dict(conn.execute("SELECT ticker, id FROM market.symbols").fetchall()).values())
        feats = load_feature_rows(conn, fs, ids, forecast_days[0], forecast_days[-1])
        index = calendar_around(MARKET, forecast_days[0], forecast_days[-1], before=settings.prophet_lookback + 70,
                                after=21)
        start = index.dates[index.position(forecast_days[0]) - settings.prophet_lookback - 61]
        sessions = with_sessions(load_closes(conn, ids, start, forecast_days[-1]), index)
        bundles = [pipeline.store.load_bundle(conn, m.model_version_id) for m in report.models]
    assert lg.rows_written == 4 * n and pr.rows_written == 4 * n and en.rows_written == 4 * n, \
        (lg.reasons(), pr.reasons(), en.reasons())
    rows = feats.merge(sessions[["symbol_id", "session_date", "sigma_60"]], on=["symbol_id", "session_date"])
    X = rows[bundles[0].feature_names].to_numpy(float)
    t_predict = best_of(lambda: [b.predict(X) for b in bundles], 3)
    series = []
    for _, g in sessions.groupby("symbol_id"):
        pos, close = g["pos"].to_numpy(), g["close"].to_numpy(float)
        for d in forecast_days:
            p = index.position(d)
            w = (pos > p - settings.prophet_lookback) & (pos <= p)
            series.append((pos[w], np.log(close[w]) - math.log(close[w][-1])))

    def bare_prophet() -> None:
        for pos, y in series:
            m = Prophet(**prophet_models.PROPHET_PARAMS)
            m.fit(pd.DataFrame({"ds": prophet_models.EPOCH + pd.to_timedelta(pos, unit="D"), "y": y}))
            m.predict(pd.DataFrame({"ds": prophet_models.EPOCH + pd.to_timedelta(pos[-1] + np.arange(21), unit="D")}))

    t_bare_prophet = best_of(bare_prophet)
    t_all = t_lgbm + t_prophet + t_ens
    bare = t_predict + t_bare_prophet
    print(f"forecasts: {n} symbol-days x 4 horizons: pipeline lgbm {t_lgbm:.2f}s + prophet {t_prophet:.2f}s + "
          f"ensemble {t_ens:.2f}s = {t_all:.2f}s; bare LightGBM predict {t_predict * 1000:.1f}ms + Prophet "
          f"fit+predict {t_bare_prophet:.2f}s = {bare:.2f}s -> ratio {bare / t_all:.2f}"
          f" (prophet alone {t_bare_prophet / t_prophet:.2f}; lgbm alone {t_predict / t_lgbm:.3f}, "
          f"{t_lgbm / n * 1000:.1f}ms per symbol-day)")

    # 3. threads
    (_, (X, y), names) = mats["1D"]
    t1 = best_of(lambda: bare_train(X, y, names, 1))
    t2 = best_of(lambda: bare_train(X, y, names, 2))
    print(f"lightgbm.train threads ({len(y):,} x {X.shape[1]} matrix, 3 boosters, {os.cpu_count()} cores): "
          f"1 thread {t1:.2f}s, 2 threads {t2:.2f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
