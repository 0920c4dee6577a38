"""Benchmark: the user's path end to end. A backfill of every daily asset (bars, features, forecasts) through
Dagster on the embedded PostgreSQL, with a real DagsterInstance on dagster-postgres configured by the project's
generated dagster.yaml (swiftbolt.instance, as `swiftbolt ui` writes it), launched the way the UI launches a
backfill of an asset partition range under `BackfillPolicy.single_run()`: one run of the market's daily job
whose partition range tags (`dagster/asset_partition_range_start/end`) cover dates x symbols. Dagster splits a
rectangle of S symbols x N sessions into min(S, N) such runs along the smaller dimension
(tests/test_backfill_policy.py): 1 x 252 is one run, 20 x 63 is 20 runs of one symbol x 63 sessions.

    PYTHONPATH=. .venv/bin/python benchmarks/backfill_through_dagster.py \
        [--cases 1x252,20x63] [--assets bars,features,forecasts] [--levers default,tuned] [--repeats 1] \
        [--close-symbols 190]

Per case and lever setting it prints:
- wall: the whole `execute_in_process` call (plan, run creation with its planned events, steps, events);
- before start: from the call to the run's RUN_START event (execution plan + run creation + planned events);
- work: the sum over steps of STEP_START -> the step's first output event (the asset body: the core's work,
  its SQL and the metadata it builds); events: STEP_SUCCESS - that first output (Dagster writing the step's
  materializations and check evaluations);
- events written (rows of event_logs for the run), their bytes, and the ratio work / wall (target >= 0.5).
Then the run creation of a daily close (one session x `--close-symbols` symbols, the after-close sensor's run
of the whole daily job, dbt models included): `create_run_for_job` timed (target < 5 s), nothing executed.

Lever settings (environment variables Dagster reads at each call, so they are toggled in one process and the
settings are interleaved over the repeats): `default` = Dagster's defaults (no event batching, one planned
event per partition); `tuned` = swiftbolt.instance.EVENT_ENV (DAGSTER_EVENT_BATCH_SIZE and one planned event
per asset with the partition subset); `batch` and `subset` each alone.

Scratch databases `swiftbolt_bench_dagster` (warehouse) and `swiftbolt_bench_dagster_instance` (Dagster's
storage) on the embedded server (or SWIFTBOLT_DATABASE_URL's); the Dagster home is a temporary directory.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import statistics
import string
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

HISTORY_START = "2023-01-03"
LAST_SESSION = dt.date(2024, 12, 31)
LEVERS = {
    "default": {"DAGSTER_EVENT_BATCH_SIZE": "0", "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": ""},
    "batch": {"DAGSTER_EVENT_BATCH_SIZE": "1000", "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": ""},
    "subset": {"DAGSTER_EVENT_BATCH_SIZE": "0", "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "true"},
}
ASSET_GROUPS = {
    "bars": ("ohlc_bars",),
    "features": ("feature_rows", "sr_levels", "supertrend_signals"),
    "forecasts": ("lgbm_forecasts", "prophet_forecasts", "ml_forecasts"),
}
# the run's console log at INFO, as the demo runs it (Dagster's default DEBUG prints every event)
RUN_LOGS = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
OUTPUT_EVENTS = ("ASSET_MATERIALIZATION", "STEP_OUTPUT", "ASSET_CHECK_EVALUATION")


def tickers(n: int) -> list[str]:
    return ["".join(p) for p in itertools.islice(itertools.product(string.ascii_uppercase, repeat=3), n)]


def scratch_urls() -> tuple[str, str]:
    from psycopg import sql

    from swiftbolt.db.connection import connect, ensure_database
    from swiftbolt.db.migrate import migrate
    from swiftbolt.db.urls import with_database
    from swiftbolt.db.warehouse import prepare

    server = prepare().url
    urls = (with_database(server, "swiftbolt_bench_dagster"), with_database(server, "swiftbolt_bench_dagster_instance"))
    with connect(with_database(server, "postgres"), autocommit=True) as conn:
        for name in ("swiftbolt_bench_dagster", "swiftbolt_bench_dagster_instance"):
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    for url in urls:
        ensure_database(url)
    migrate(urls[0])
    return urls


def set_lever(name: str) -> None:
    from swiftbolt.instance import EVENT_ENV

    values = dict(EVENT_ENV) if name == "tuned" else LEVERS[name]
    for key, value in values.items():
        os.environ[key] = value


def run_stats(dagster_url: str, run_id: str, t0: float, wall: float) -> dict:
    """Timings and event counts of one run, from its event log."""
    from swiftbolt.db.connection import connect

    with connect(dagster_url) as conn:
        rows = conn.execute(
            "SELECT dagster_event_type, step_key, extract(epoch FROM timestamp)::float8, length(event) "
            "FROM event_logs WHERE run_id = %s ORDER BY id", (run_id,)).fetchall()
    events = len(rows)
    size = sum(r[3] for r in rows)
    by_type: dict[str, int] = {}
    for kind, *_ in rows:
        by_type[kind or "log"] = by_type.get(kind or "log", 0) + 1
    start = next(r[2] for r in rows if r[0] in ("RUN_START", "PIPELINE_START"))
    first_ts = rows[0][2]
    steps: dict[str, dict[str, float]] = {}
    for kind, step, ts, _ in rows:
        if not step:
            continue
        s = steps.setdefault(step, {})
        if kind == "STEP_START":
            s["start"] = ts
        elif kind in OUTPUT_EVENTS and "output" not in s:
            s["output"] = ts
        elif kind == "STEP_SUCCESS":
            s["end"] = ts
    work = {k: s["output"] - s["start"] for k, s in steps.items() if "start" in s and "output" in s}
    step_events = {k: s["end"] - s["output"] for k, s in steps.items() if "end" in s and "output" in s}
    # event timestamps are the storage's clock; align with ours through the first event
    before_start = start - first_ts
    return {"wall": wall, "before_start": before_start, "work": sum(work.values()),
            "step_events": sum(step_events.values()), "events": events, "bytes": size, "by_type": by_type,
            "work_by_step": work, "ratio": sum(work.values()) / wall}


def ui_runs(symbols: list[str], days: list[dt.date]) -> list[tuple[list[str], list[dt.date]]]:
    """The runs a UI backfill of the rectangle becomes under BackfillPolicy.single_run() on a multi-partitioned
    asset (tests/test_backfill_policy.py): one run per value of the dimension with fewer keys (ties: one
    run per date), each over the whole other dimension."""
    if len(symbols) < len(days):
        return [([s], days) for s in symbols]
    return [(symbols, [d]) for d in days]


def backfill(defs, instance, dagster_url: str, symbols: list[str], days: list[dt.date], assets: list[str]) -> dict:
    """The runs of a UI backfill of symbols x days, one after the other (the backfill's tag limit allows one
    at a time); their figures summed."""
    import dagster as dg

    from sensors.common import range_tags

    job = defs.resolve_job_def("us_equity_daily_job")
    keys = [dg.AssetKey(["us_equity", name]) for name in assets]
    total: dict = {}
    for run_symbols, run_days in ui_runs(symbols, days):
        tags = {**range_tags(run_days[0], run_days[-1], run_symbols[0], run_symbols[-1]), "dagster/backfill": "bench"}
        t0 = time.perf_counter()
        result = job.execute_in_process(instance=instance, tags=tags, asset_selection=keys, raise_on_error=False,
                                        run_config=RUN_LOGS)
        wall = time.perf_counter() - t0
        if not result.success:
            failures = [e.message for e in result.all_events if e.is_step_failure or e.is_failure]
            raise SystemExit(f"run {result.run_id} failed: {failures[-1] if failures else '?'}")
        one = run_stats(dagster_url, result.run_id, t0, wall)
        for key, value in one.items():
            if isinstance(value, dict):
                merged = total.setdefault(key, {})
                for k, v in value.items():
                    merged[k.split("__")[-1]] = merged.get(k.split("__")[-1], 0) + v
            else:
                total[key] = total.get(key, 0) + value
    total["runs"] = len(ui_runs(symbols, days))
    total["ratio"] = total["work"] / total["wall"]
    return total


def close_run_creation(defs, instance, symbols: list[str], session: dt.date) -> float:
    """The after-close sensor's run for one session x all symbols: create_run_for_job, timed; then deleted."""
    from sensors.common import range_tags

    job = defs.resolve_job_def("us_equity_daily_job")
    tags = range_tags(session, session, symbols[0], symbols[-1])
    t0 = time.perf_counter()
    run = instance.create_run_for_job(job_def=job, tags=tags)
    took = time.perf_counter() - t0
    instance.delete_run(run.run_id)
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="1x252,20x63", help="symbols x sessions, comma-separated")
    parser.add_argument("--assets", default="bars,features,forecasts")
    parser.add_argument("--levers", default="default,tuned")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--close-symbols", type=int, default=190)
    args = parser.parse_args()

    os.environ.setdefault("SWIFTBOLT_HISTORY_START", HISTORY_START)
    os.environ.setdefault("SWIFTBOLT_PROVIDER", "synthetic")
    os.environ.setdefault("SWIFTBOLT_LGBM_THREADS", "1")
    warehouse, dagster_url = scratch_urls()
    os.environ["SWIFTBOLT_DATABASE_URL"] = warehouse
    home = Path(tempfile.mkdtemp(prefix="swiftbolt_bench_home_"))
    os.environ["DAGSTER_HOME"] = str(home)

    import dagster as dg

    from swiftbolt.calendars.sessions import session_dates
    from swiftbolt.calendars.store import write_market_calendar
    from swiftbolt.db.connection import connect
    from swiftbolt.instance import sqlalchemy_url, write_instance_config
    from swiftbolt.universe import SymbolSpec, sync_universe

    os.environ["SWIFTBOLT_DAGSTER_STORAGE_URL"] = sqlalchemy_url(dagster_url)
    write_instance_config(home, dagster_url)
    t0 = time.perf_counter()
    import definitions
    print(f"code location imported and built in {time.perf_counter() - t0:.1f}s")
    defs = definitions.defs

    n_max = max(args.close_symbols, *(int(c.split("x")[0]) for c in args.cases.split(",")))
    syms = tickers(n_max)
    with connect(warehouse) as conn, conn.transaction():
        write_market_calendar(conn, "us_equity", dt.date.fromisoformat(HISTORY_START), dt.date(2025, 12, 31),
                              "exchange_calendars")
        sync_universe(conn, [SymbolSpec(t, "us_equity", "stock") for t in syms], "synthetic")
    assets = [a for group in args.assets.split(",") for a in ASSET_GROUPS[group]]
    sessions = session_dates("us_equity", dt.date.fromisoformat(HISTORY_START), LAST_SESSION)
    levers = args.levers.split(",")
    print(f"assets: {', '.join(assets)}; levers: {', '.join(levers)}; load average {os.getloadavg()[0]:.1f}")

    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("us_equity_symbols", syms)
        results: dict[tuple[str, str], list[dict]] = {}
        for repeat in range(args.repeats):
            for case in args.cases.split(","):
                n_sym, n_days = (int(x) for x in case.split("x"))
                days = sessions[-n_days:]
                # the same rows every time: repeats and lever settings re-materialize the same partitions
                for lever in (levers if repeat % 2 == 0 else levers[::-1]):
                    set_lever(lever)
                    s = backfill(defs, instance, dagster_url, syms[:n_sym], days, assets)
                    results.setdefault((case, lever), []).append(s)
                    print(f"[{repeat + 1}] {case:>7} {lever:>8}: {s['runs']} run(s), wall {s['wall']:7.1f}s  "
                          f"before start {s['before_start']:5.1f}s  work {s['work']:6.1f}s  "
                          f"step events {s['step_events']:6.1f}s  "
                          f"events {s['events']:6d} ({s['bytes'] / 1e6:5.1f} MB)  work/wall {s['ratio']:.2f}  "
                          f"load {os.getloadavg()[0]:.1f}", flush=True)
                    print("        work by step: " + ", ".join(
                        f"{k.split('__')[-1]} {v:.1f}s" for k, v in s["work_by_step"].items()), flush=True)
        print("\nmedians (spread = min..max over repeats)")
        for (case, lever), runs in results.items():
            ratios = [r["ratio"] for r in runs]
            walls = [r["wall"] for r in runs]
            print(f"  {case:>7} {lever:>8}: work/wall {statistics.median(ratios):.2f} "
                  f"({min(ratios):.2f}..{max(ratios):.2f}), wall {statistics.median(walls):.1f}s, "
                  f"events {runs[0]['events']} {runs[0]['by_type']}")

        if args.close_symbols:
            last = sessions[-1]
            for lever in levers:
                set_lever(lever)
                took = [close_run_creation(defs, instance, syms[:args.close_symbols], last)
                        for _ in range(max(1, args.repeats))]
                print(f"daily close run creation, {args.close_symbols} symbols x 1 session, {lever}: "
                      f"{statistics.median(took):.2f}s ({min(took):.2f}..{max(took):.2f}) target < 5 s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
