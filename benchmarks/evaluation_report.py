"""Benchmark and README figures of issue 12: a forecast history run through the evaluation assets, one run
per asset for the whole range, and per horizon the hit rate beside the best baseline, the IC and the ECE of
the ensemble's confidence before and after calibration.

    PYTHONPATH=. .venv/bin/python benchmarks/evaluation_report.py [--sources synthetic,files] \
        [--forecast-days 90] [--retrain-weeks 4] [--files-dir ../shared/data/equity_daily]

Per source (`synthetic`: the synthetic provider; `files`: the vendor files through the file provider,
SWIFTBOLT_PROVIDER=files and SWIFTBOLT_FILES_DIR, here the real daily bars of SPY, QQQ, IWM, IBM, BAC, AIG),
in the scratch database `swiftbolt_bench_evaluations_<source>`:

1. d1 bars 2016-01-04..2021-03-31 of the six tickers from the provider the resource chooses from the
   environment (its corporate actions too), and their d1 feature rows and S/R levels as the feature assets
   compute them (tests/forecast_helpers.seed_features);
2. through Dagster (`dg.materialize`, the single-run backfill policy: range tags over dates x symbols), each
   asset once for the whole range: forecast_models (one run per `--retrain-weeks`-th week: the daily models
   are retrained weekly in production; here every 4th week to fit the machine), lgbm_forecasts and
   prophet_forecasts for the last `--forecast-days` sessions F1..FN ending 20 sessions before the last bar
   (so every 20D forecast is realised), forecast_evaluations (F2..E, E = the last bar), model_weights,
   confidence_calibration, ensemble_inputs, ml_forecasts (the ensemble of D uses the weights and the
   calibration as of D-1), ensemble_evaluations, model_performance (as of E, window of 60 sessions);
3. the figures: per horizon, from ml.model_performance_history as of E, the hit rate of the ensemble and
   of the base models beside the best baseline (of persistence, always-up, up-frequency; zero return has no
   direction) and the IC (time-series, per symbol) and rank IC; the ECE of the ensemble's stated
   confidence against "the stated event happened", out of sample: its raw confidence (confidence_raw)
   and its calibrated one (confidence, through the curve as of D-1), over the evaluated ensemble forecasts
   that had a calibration; and the in-sample ECE before/after of the newest curve.

Each run's wall time is printed: the backfill of evaluations, weights and calibration for a range of days is
a handful of runs, not one per day. Nothing here is a test; the machine is shared.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MARKET = "us_equity"
TICKERS = ("AIG", "BAC", "IBM", "IWM", "QQQ", "SPY")
BARS_FIRST, BARS_LAST = dt.date(2016, 1, 4), dt.date(2021, 3, 31)
MAX_H = 20
DEFAULT_FILES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "equity_daily"  # ../shared


def scratch(source: str) -> str:
    from psycopg import sql

    from swiftbolt.db.connection import connect, ensure_database
    from swiftbolt.db.migrate import migrate
    from swiftbolt.db.urls import with_database
    from swiftbolt.db.warehouse import prepare

    name = f"swiftbolt_bench_evaluations_{source}"
    server = prepare().url
    with connect(with_database(server, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    url = with_database(server, name)
    ensure_database(url)
    migrate(url)
    return url


def load_market(url: str, source: str) -> dict[str, int]:
    """Bars (and corporate actions) from the provider the environment chooses, then features and S/R."""
    from resources.market_data import market_data_from_env
    from swiftbolt.calendars.sessions import session_dates
    from swiftbolt.calendars.store import write_market_calendar
    from swiftbolt.db.connection import connect
    from swiftbolt.market_data.corporate_actions import write_corporate_actions
    from swiftbolt.market_data.ingest import RunInfo, ingest_bars
    from swiftbolt.market_data.types import Timeframe
    from tests.forecast_helpers import seed_features
    from tests.helpers import add_symbols

    resource = market_data_from_env()
    provider = resource.get_provider()
    with connect(url) as conn, conn.transaction():
        write_market_calendar(conn, MARKET, BARS_FIRST, dt.date(2021, 12, 31), "exchange_calendars")
    ids = add_symbols(url, dict.fromkeys(TICKERS, MARKET), source=resource.provider_name())
    days = session_dates(MARKET, BARS_FIRST, BARS_LAST)
    ingest_bars(url, provider, MARKET, ids, days, [Timeframe.D1], RunInfo())
    actions = provider.corporate_actions(sorted(ids), BARS_FIRST, BARS_LAST)
    with connect(url) as conn, conn.transaction():
        stats = write_corporate_actions(conn, actions, ids, BARS_FIRST, BARS_LAST, provider.name)
    print(f"  {source}: {len(ids)} symbols x {len(days)} sessions of d1 bars from provider {provider.name!r}; "
          f"corporate actions {stats}", flush=True)
    seed_features(url, ids, BARS_FIRST, BARS_LAST)
    return ids


def _grid_tags(first: dt.date, last: dt.date) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": f"{first.isoformat()}|{TICKERS[0]}",
            "dagster/asset_partition_range_end": f"{last.isoformat()}|{TICKERS[-1]}"}


def _day_tags(first: dt.date, last: dt.date) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat()}


def run_history(url: str, forecast_days: int, retrain_weeks: int) -> tuple[list[dt.date], dict[str, float]]:
    import dagster as dg

    from assets import evaluations, forecasts
    from assets.forecasts import model_partitions
    from assets.partitions import symbol_partitions
    from resources import WarehouseResource
    from swiftbolt.calendars.sessions import session_dates
    from swiftbolt.markets import US_EQUITY

    sessions = session_dates(MARKET, BARS_FIRST, BARS_LAST)
    f_days = sessions[-MAX_H - forecast_days:-MAX_H]
    e_last = sessions[-1]
    models, lgbm, prophet, ml, *_ = forecasts.build_assets(US_EQUITY)
    evals, weights, calib, inputs, ens_evals, perf, *_ = evaluations.build_assets(US_EQUITY)
    resources = {"warehouse": WarehouseResource(database_url=url)}
    weeks_def = model_partitions(US_EQUITY)
    keys = weeks_def.get_partition_keys()
    first_week = max(k for k in keys if weeks_def.time_window_for_partition_key(k).end.date() <= f_days[0])
    last_week = max(k for k in keys if weeks_def.time_window_for_partition_key(k).end.date() <= f_days[-1])
    weeks = keys[keys.index(first_week):keys.index(last_week) + 1:retrain_weeks]
    timings: dict[str, float] = {}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(symbol_partitions(MARKET).name, list(TICKERS))

        def run(name: str, assets: list, **kw) -> None:
            t0 = time.perf_counter()
            result = dg.materialize(assets, instance=instance, resources=resources, raise_on_error=False, **kw)
            took = time.perf_counter() - t0
            if not result.success:
                raise SystemExit(f"{name} failed: {[e.message for e in result.all_events if e.is_failure][-1:]}")
            timings[name] = timings.get(name, 0.0) + took
            print(f"    {name}: {took:.1f}s (load {os.getloadavg()[0]:.1f})", flush=True)

        for week in weeks:
            run("forecast_models", [models], partition_key=week)
        run("lgbm_forecasts", [lgbm], tags=_grid_tags(f_days[0], f_days[-1]))
        run("prophet_forecasts", [prophet], tags=_grid_tags(f_days[0], f_days[-1]))
        t_backfill = time.perf_counter()
        run("forecast_evaluations", [evals], tags=_grid_tags(f_days[1], e_last))
        run("model_weights", [weights], tags=_day_tags(f_days[0], e_last))
        run("confidence_calibration", [calib], tags=_day_tags(f_days[0], e_last))
        timings["evaluations+weights+calibration"] = time.perf_counter() - t_backfill
        run("ensemble_inputs", [inputs], tags=_day_tags(f_days[0], f_days[-1]))
        run("ml_forecasts", [ml], tags=_grid_tags(f_days[0], f_days[-1]))
        run("ensemble_evaluations", [ens_evals], tags=_grid_tags(f_days[1], e_last))
        run("model_performance", [perf], tags=_day_tags(e_last, e_last))
    print(f"  {len(weeks)} model trainings ({', '.join(weeks)}); forecasts {f_days[0]}..{f_days[-1]} "
          f"({len(f_days)} sessions x {len(TICKERS)} symbols); evaluations to {e_last}", flush=True)
    return f_days, timings


def figures(url: str, as_of: dt.date):
    """The README table: per horizon, performance as of `as_of` and the ensemble's ECE before/after."""
    import numpy as np
    import pandas as pd

    from swiftbolt.db.connection import connect
    from swiftbolt.evaluations import calibration, store

    with connect(url) as conn:
        perf = store.load_performance(conn, MARKET, as_of)
        cur = conn.execute(
            "SELECT e.horizon, e.direction_correct, f.confidence, f.confidence_raw FROM ml.forecast_evaluations e "
            "JOIN ml.ml_forecasts f ON f.id = e.forecast_id WHERE e.model_type = 'ensemble' "
            "AND f.calibration_source = 'isotonic'")
        ens = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])
        cur = conn.execute(
            "SELECT horizon, max(n_window) AS n, max(ece_before) AS ece_before, max(ece_after) AS ece_after "
            "FROM ml.ml_confidence_calibration WHERE market = %s AND model_type = 'ensemble' AND as_of_date = "
            "(SELECT max(as_of_date) FROM ml.ml_confidence_calibration WHERE market = %s) GROUP BY horizon",
            (MARKET, MARKET))
        fitted = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description]).set_index("horizon")
    rows = []
    for horizon in ("1D", "5D", "10D", "20D"):
        p = perf[perf["horizon"] == horizon].set_index("model")
        if p.empty:
            continue
        base = p[p["is_baseline"] & p["hit_rate"].notna()]
        best = base["hit_rate"].astype(float).idxmax() if not base.empty else None
        e = ens[ens["horizon"] == horizon]
        ok = e["direction_correct"].to_numpy(bool)

        def hit(model: str, p=p) -> str:
            if model not in p.index or pd.isna(p.loc[model, "hit_rate"]):
                return "-"
            r = p.loc[model]
            return f"{r['hit_rate']:.3f} [{r['hit_low']:.2f}, {r['hit_high']:.2f}] (n {int(r['n'])})"

        def num(model: str, col: str, p=p) -> str:
            v = p.loc[model, col] if model in p.index else np.nan
            return "-" if v is None or pd.isna(v) else f"{float(v):+.3f}"

        rows.append({
            "horizon": horizon, "ensemble hit": hit("ensemble"), "lightgbm hit": hit("lightgbm"),
            "prophet hit": hit("prophet"),
            "best baseline hit": f"{best} {p.loc[best, 'hit_rate']:.3f}" if best else "-",
            "IC ens / lgbm / prophet": " / ".join(num(m, "ic") for m in ("ensemble", "lightgbm", "prophet")),
            "rank IC ens": num("ensemble", "rank_ic"),
            "ECE raw -> calibrated (out of sample, n)": (
                f"{calibration.ece(e['confidence_raw'].to_numpy(float), ok):.3f} -> "
                f"{calibration.ece(e['confidence'].to_numpy(float), ok):.3f} ({len(e)})" if len(e) else "-"),
            "ECE fitted window before -> after (n)": (
                f"{fitted.loc[horizon, 'ece_before']:.3f} -> {fitted.loc[horizon, 'ece_after']:.3f} "
                f"({int(fitted.loc[horizon, 'n'])})" if horizon in fitted.index else "-"),
        })
    return pd.DataFrame(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sources", default="synthetic,files")
    parser.add_argument("--forecast-days", type=int, default=90)
    parser.add_argument("--retrain-weeks", type=int, default=4)
    parser.add_argument("--files-dir", default=str(DEFAULT_FILES))
    args = parser.parse_args()
    os.environ.setdefault("SWIFTBOLT_HISTORY_START", BARS_FIRST.isoformat())
    os.environ.setdefault("SWIFTBOLT_LGBM_THREADS", "1")
    for source in args.sources.split(","):
        os.environ["SWIFTBOLT_PROVIDER"] = source
        if source == "files":
            os.environ["SWIFTBOLT_FILES_DIR"] = args.files_dir
        print(f"== {source} (load average {os.getloadavg()[0]:.1f})", flush=True)
        t0 = time.perf_counter()
        url = scratch(source)
        load_market(url, source)
        print(f"  loaded in {time.perf_counter() - t0:.1f}s", flush=True)
        _, timings = run_history(url, args.forecast_days, args.retrain_weeks)
        total = sum(v for k, v in timings.items() if "+" not in k)
        print(f"  runs: {', '.join(f'{k} {v:.1f}s' for k, v in timings.items())}; total {total:.1f}s", flush=True)
        table = figures(url, BARS_LAST)
        print(table.to_markdown(index=False), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
