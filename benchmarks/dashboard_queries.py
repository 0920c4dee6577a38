"""Benchmark: the dashboard's queries on a warehouse of 10 million bars, after a real `dbt build`.

    .venv/bin/python benchmarks/dashboard_queries.py [--url URL] [--rows 10000000] [--runs 200] [--reuse]

1. Populates a scratch database (default `swiftbolt_bench_dashboard` on SWIFTBOLT_DATABASE_URL's server or
   the embedded one; `--url` names another) with symbols, both markets' calendars and `--rows` bars
   generated in SQL (generate_series over the calendar's sessions: m15/h1/h4/d1 fetched, w1/mo1 derived
   from d1), plus bar_datasets, coverage_status and quotes as the ingestion would write them.
   One feature row per d1/h1/m15 bar (65 float8 values, as the feature_rows asset writes them).
2. Builds the dbt models the way the daily and analytics jobs do, through the Dagster dbt step
   (assets/dbt.py, in-process, on a scratch Dagster instance), with the project's profile pointed at that
   database: a full refresh; the post-close build after one more session of bars and feature rows
   (reported to Dagster as the daily job's steps report them); then `--repeats` builds with nothing new,
   each followed by the plain `dbt build` of everything that every build ran before issue 15 (the
   reference, interleaved). Prints their durations beside the queries, and the feature change detection
   alone: the hash of every feature row indicator_values used before issue 15 against the computed_at
   watermark it uses now.
3. Times, over `--runs` executions each after a warm-up, on one connection (prepared statements, as a
   dashboard's pool would): (a) SELECT * FROM analytics.dashboard_symbol_summary, (b) the chart query:
   the last 500 bars + indicators of a random symbol/timeframe up to a random time, (c) the same chart
   computed from the adjusted-bars view without dbt, (d) SELECT * FROM analytics.data_health.
   Prints p50/p95/p99/max in milliseconds. The seed's target is p95 < 100 ms.

`--reuse` keeps an already populated and built database (skips step 1; the first build then builds every
model incrementally, to stamp them in the new Dagster instance, instead of a full refresh).
"""

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from resources.dbt import dbt_env, dbt_resource, manifest_is_stale, prepare_dbt_manifest
from swiftbolt.calendars.store import write_market_calendar
from swiftbolt.db.connection import connect, ensure_database
from swiftbolt.db.migrate import migrate
from swiftbolt.db.urls import describe, validate_url, with_database
from swiftbolt.db.warehouse import embedded_server, warehouse_url
from swiftbolt.settings import load_settings

BENCH_DB = "swiftbolt_bench_dashboard"
RESULTS = Path(__file__).resolve().parent / "results"
# bars per session: m15 26 + h1 7 + h4 2 + d1 1 (+ w1/mo1 ~0.25) for equities; 96 + 24 + 6 + 1 for crypto
EQUITY_BARS_PER_YEAR = 252 * 36.25
CRYPTO_BARS_PER_YEAR = 365 * 127.2
INTRADAY = (("m15", 15), ("h1", 60), ("h4", 240))

# A smooth, deterministic, positive price path per symbol (t = epoch seconds): several sine waves of
# different periods around a per-symbol level. Bars are consistent: open = p(start), close = p(end),
# high/low outside both.
PRICE = ("{level} * exp(0.25 * sin({t} / 3456000.0 + {sid}) + 0.08 * sin({t} / 319680.0 + 2 * {sid})"
         " + 0.01 * sin({t} / 19080.0 + 3 * {sid}))")


def _price(level: str, t: str, sid: str) -> str:
    return PRICE.format(level=level, t=t, sid=sid)


def bench_url(args: argparse.Namespace) -> str:
    if args.url:
        return validate_url(args.url, "--url")
    settings = load_settings()
    if settings.uses_embedded_server:
        embedded_server(settings).start()
    return with_database(warehouse_url(settings), BENCH_DB)


def bar_count(url: str) -> int:
    with connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM market.ohlc_bars").fetchone()
    return int(row[0]) if row else 0


def _insert_symbol_bars(conn, sid: int, market: str, first: dt.date, last: dt.date, run_id: int) -> int:
    level = f"(50.0 + mod({sid} * 37, 400))" if market == "us_equity" else f"(1000.0 + mod({sid} * 977, 40000))"
    written = 0
    sessions = ("SELECT date, open_utc, close_utc FROM market.market_calendar "
                "WHERE market = %(market)s AND is_open AND date BETWEEN %(first)s AND %(last)s")
    for tf, minutes in INTRADAY:
        t0, t1 = "extract(epoch FROM g.ts)", f"(extract(epoch FROM g.ts) + {minutes * 60})"
        written += conn.execute(
            f"""
            INSERT INTO market.ohlc_bars (symbol_id, timeframe, ts, session_date, open, high, low, close, volume,
                                          vwap, trade_count, provider, ingestion_run_id)
            SELECT %(sid)s, %(tf)s, g.ts, s.date, o, greatest(o, c) * 1.0015, least(o, c) * 0.9985, c,
                   v, (greatest(o, c) * 1.0015 + least(o, c) * 0.9985 + c) / 3, (v / 100)::bigint, 'bench',
                   %(run)s
            FROM ({sessions}) s
            CROSS JOIN LATERAL generate_series(s.open_utc, s.close_utc - interval '1 minute',
                                               %(step)s * interval '1 minute') AS g(ts)
            CROSS JOIN LATERAL (SELECT {_price(level, t0, str(sid))} AS o, {_price(level, t1, str(sid))} AS c,
                                       1000 + 900 * abs(sin(extract(epoch FROM g.ts) / 7777.0)) AS v) p
            """,
            {"sid": sid, "tf": tf, "market": market, "first": first, "last": last, "step": minutes, "run": run_id},
        ).rowcount
    written += conn.execute(
        f"""
        INSERT INTO market.ohlc_bars (symbol_id, timeframe, ts, session_date, open, high, low, close, volume,
                                      vwap, trade_count, provider, ingestion_run_id)
        SELECT %(sid)s, 'd1', s.date::timestamp AT TIME ZONE 'UTC', s.date, o, greatest(o, c) * 1.01,
               least(o, c) * 0.99, c, v, (greatest(o, c) * 1.01 + least(o, c) * 0.99 + c) / 3, (v / 100)::bigint,
               'bench', %(run)s
        FROM ({sessions}) s
        CROSS JOIN LATERAL (SELECT {_price(level, "extract(epoch FROM s.open_utc)", str(sid))} AS o,
                                   {_price(level, "extract(epoch FROM s.close_utc)", str(sid))} AS c,
                                   30000 + 20000 * abs(sin(extract(epoch FROM s.open_utc) / 777777.0)) AS v) p
        """,
        {"sid": sid, "market": market, "first": first, "last": last, "run": run_id},
    ).rowcount
    for tf, unit in (("w1", "week"), ("mo1", "month")):  # as bar_store.derive_period_bars does
        written += conn.execute(
            """
            INSERT INTO market.ohlc_bars (symbol_id, timeframe, ts, session_date, open, high, low, close, volume,
                                          vwap, trade_count, provider, ingestion_run_id)
            SELECT symbol_id, %(tf)s, period::timestamp AT TIME ZONE 'UTC', period,
                   (array_agg(open ORDER BY ts))[1], max(high), min(low), (array_agg(close ORDER BY ts DESC))[1],
                   sum(volume), sum(vwap * volume) / NULLIF(sum(volume), 0), sum(trade_count), 'bench', %(run)s
            FROM (SELECT b.*, date_trunc(%(unit)s, b.session_date)::date AS period FROM market.ohlc_bars b
                  WHERE b.symbol_id = %(sid)s AND b.timeframe = 'd1'
                    AND b.session_date BETWEEN %(first)s AND %(last)s) d
            GROUP BY symbol_id, period
            ON CONFLICT (symbol_id, timeframe, ts) DO UPDATE SET close = EXCLUDED.close,
                high = greatest(market.ohlc_bars.high, EXCLUDED.high), low = least(market.ohlc_bars.low, EXCLUDED.low),
                volume = market.ohlc_bars.volume + EXCLUDED.volume
            """,
            {"sid": sid, "tf": tf, "unit": unit, "first": first, "last": last, "run": run_id},
        ).rowcount
    return written


def _write_lineage(conn, first: dt.date, last: dt.date, run_id: int) -> None:
    """bar_datasets and coverage_status as the ingestion writes them (written an hour after each bar)."""
    conn.execute(
        """
        INSERT INTO market.bar_datasets AS d (symbol_id, timeframe, session_date, provider, start_ts, end_ts, as_of_ts,
                                              bar_count, checksum, ingestion_run_id)
        SELECT b.symbol_id, b.timeframe, b.session_date, 'bench', min(b.ts), max(b.ts), max(b.ts) + interval '1 hour',
               count(*), 'bench', %(run)s
        FROM market.symbols s
        CROSS JOIN (VALUES ('m15'), ('h1'), ('h4'), ('d1')) AS tf(timeframe)
        JOIN market.ohlc_bars b ON b.symbol_id = s.id AND b.timeframe = tf.timeframe
         AND b.session_date BETWEEN %(first)s AND %(last)s
         AND b.ts >= %(first)s::date - 1 AND b.ts < %(last)s::date + 2
        GROUP BY b.symbol_id, b.timeframe, b.session_date
        ON CONFLICT (symbol_id, timeframe, session_date) DO UPDATE SET
            end_ts = EXCLUDED.end_ts, as_of_ts = EXCLUDED.as_of_ts, bar_count = EXCLUDED.bar_count
        """,
        {"run": run_id, "first": first, "last": last},
    )
    conn.execute(
        """
        INSERT INTO market.coverage_status AS c (symbol_id, timeframe, from_ts, to_ts, last_success_at,
                                                 last_rows_written, last_provider)
        SELECT symbol_id, timeframe, min(start_ts), max(end_ts), max(as_of_ts), sum(bar_count), 'bench'
        FROM market.bar_datasets GROUP BY symbol_id, timeframe
        ON CONFLICT (symbol_id, timeframe) DO UPDATE SET to_ts = EXCLUDED.to_ts,
            last_success_at = EXCLUDED.last_success_at, last_rows_written = EXCLUDED.last_rows_written
        """
    )


def populate(url: str, rows: int, equities: int, cryptos: int) -> tuple[list[int], dt.date]:
    years = rows / (equities * EQUITY_BARS_PER_YEAR + cryptos * CRYPTO_BARS_PER_YEAR)
    last = dt.date.today() - dt.timedelta(days=2)  # the newest session is added by the incremental build
    first = last - dt.timedelta(days=round(years * 365.25))
    print(f"populating {describe(url)}: {equities} equities + {cryptos} crypto pairs, "
          f"{first} .. {last} ({years:.1f} years)", flush=True)
    started = time.perf_counter()
    with connect(url) as conn:
        conn.execute("SET synchronous_commit = off")
        with conn.transaction():
            for market in ("us_equity", "crypto"):
                write_market_calendar(conn, market, first - dt.timedelta(days=10), last + dt.timedelta(days=30),
                                      "bench")
            specs = [(f"BQ{i:03d}", "us_equity", "stock") for i in range(equities)]
            specs += [(f"BC{i:03d}/USD", "crypto", "crypto") for i in range(cryptos)]
            ids = [conn.execute("INSERT INTO market.symbols (ticker, market, asset_type) VALUES (%s, %s, %s) "
                                "RETURNING id", s).fetchone()[0] for s in specs]
            run_id = conn.execute("INSERT INTO market.ingestion_runs (provider, code_version, status) "
                                  "VALUES ('bench', 'bench', 'success') RETURNING id").fetchone()[0]
            conn.execute("SELECT market.ensure_bar_partitions(%s::date - 40, %s::date + 40)", (first, last))
        written = 0
        for (ticker, market, _), sid in zip(specs, ids, strict=True):
            with conn.transaction():
                written += _insert_symbol_bars(conn, sid, market, first, last, run_id)
            print(f"  {ticker}: {written:,} bars ({time.perf_counter() - started:.0f} s)", flush=True)
        with conn.transaction():
            _write_lineage(conn, first, last, run_id)
            conn.execute("INSERT INTO market.quotes (symbol_id, ts, last, bid, ask, prev_close, provider) "
                         "SELECT id, now(), 100, 99.99, 100.01, 99, 'bench' FROM market.symbols")
    with connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    print(f"populated {written:,} bars in {time.perf_counter() - started:.0f} s", flush=True)
    return ids, last


FEATURE_COUNT = 65


def _feature_keys() -> list[str]:
    """The dbt project's Python feature keys (python_feature_columns), padded to the feature set's 65."""
    project = yaml.safe_load((Path(__file__).resolve().parent.parent / "dbt_project" / "dbt_project.yml").read_text())
    keys = list(dict.fromkeys(project["vars"]["python_feature_columns"].values()))
    return keys + [f"feature_{i}" for i in range(len(keys), FEATURE_COUNT)]


def write_feature_rows(conn, first: dt.date | None = None, computed_days_ago: int = 0) -> int:
    """One feature row per d1/h1/m15 bar (from `first` on), as the feature_rows asset would write them:
    65 float8 values (here one value in [10, 90] per bar, so the dbt tests' ranges hold), computed_at =
    now() - `computed_days_ago` days. The history is written as computed a day ago (as a backfill's rows
    were, long before a post-close build): rows computed within `indicator_recompute_overlap_hours` (1 h)
    before the previous build are rebuilt by design, so history written now would make every incremental
    build of the benchmark rebuild every row."""
    fs_id = conn.execute("SELECT id FROM ml.feature_sets WHERE name = 'bench'").fetchone()
    if fs_id is None:
        fs_id = conn.execute(
            "INSERT INTO ml.feature_sets (name, definition_hash, code_version, feature_keys, params, warmup_bars) "
            "VALUES ('bench', 'bench', 'bench', %s, '{}', 500) RETURNING id", (_feature_keys(),)).fetchone()
    cur = conn.execute(
        "INSERT INTO ml.feature_rows (symbol_id, timeframe, ts, session_date, feature_set_id, warmup_complete, "
        "feature_values, computed_at) SELECT b.symbol_id, b.timeframe, b.ts, b.session_date, %s, true, "
        f"array_fill(50 + 40 * sin(extract(epoch FROM b.ts) / 86400.0), ARRAY[{FEATURE_COUNT}]), "
        "now() - make_interval(days => %s) "
        "FROM market.ohlc_bars b "
        "WHERE b.timeframe IN ('m15', 'h1', 'd1') AND b.session_date >= %s",
        (fs_id[0], computed_days_ago, first or dt.date.min))
    return cur.rowcount


def append_session(url: str, day: dt.date) -> int:
    """One more session of bars and their feature rows for every symbol (what the daily pipeline adds)."""
    with connect(url) as conn, conn.transaction():
        run_id = conn.execute("SELECT max(id) FROM market.ingestion_runs").fetchone()[0]
        symbols = conn.execute("SELECT id, market FROM market.symbols ORDER BY id").fetchall()
        written = sum(_insert_symbol_bars(conn, sid, market, day, day, run_id) for sid, market in symbols)
        _write_lineage(conn, day, day, run_id)
        conn.execute("UPDATE market.bar_datasets SET as_of_ts = now() WHERE session_date = %s", (day,))
        write_feature_rows(conn, day)
    return written


# indicator_values' change detection of feature rows before issue 15: a hash of every feature row, fully
# joined with the built rows (timed beside the builds; the model now reads a computed_at watermark)
HASH_DETECTION = """
SELECT count(*) FROM (
    SELECT coalesce(t.symbol_id, f.symbol_id), coalesce(t.timeframe, f.timeframe), min(coalesce(t.ts, f.ts))
    FROM (SELECT symbol_id, timeframe, ts, _features_hash FROM analytics.indicator_values
          WHERE _features_hash IS NOT NULL) t
    FULL JOIN (
        SELECT DISTINCT ON (fr.symbol_id, fr.timeframe, fr.ts) fr.symbol_id, fr.timeframe, fr.ts,
               md5(fr.feature_set_id::text || ':' || fr.warmup_complete::text || ':' || fr.feature_values::text)
                   AS features_hash
        FROM ml.feature_rows fr JOIN ml.feature_sets fs ON fs.id = fr.feature_set_id
        ORDER BY fr.symbol_id, fr.timeframe, fr.ts, fr.feature_set_id DESC
    ) f ON f.symbol_id = t.symbol_id AND f.timeframe = t.timeframe AND f.ts = t.ts
    WHERE t._features_hash IS DISTINCT FROM f.features_hash
    GROUP BY 1, 2
) changed
"""
WATERMARK_DETECTION = """
SELECT count(*) FROM (
    SELECT fr.symbol_id, fr.timeframe, min(fr.ts) FROM ml.feature_rows fr
    WHERE fr.computed_at > (SELECT max(_built_at) FROM analytics.indicator_values) - interval '1 hour'
    GROUP BY 1, 2
) changed
"""


def time_query(url: str, query: str, repeats: int = 3) -> float:
    with connect(url, autocommit=True) as conn:
        took = []
        for _ in range(repeats):
            started = time.perf_counter()
            conn.execute(query).fetchall()
            took.append(time.perf_counter() - started)
    return statistics.median(took)


def dbt_build(url: str, *args: str) -> float:
    started = time.perf_counter()
    invocation = dbt_resource(url).cli(["build", *args], raise_on_error=False)
    invocation.wait()
    elapsed = time.perf_counter() - started
    if not invocation.is_successful():
        raise SystemExit(f"dbt build {' '.join(args)} failed; see {invocation.target_path}/dbt.log")
    return elapsed


def report_upstream(instance: dg.DagsterInstance) -> None:
    """What the daily jobs' steps report after writing a session: the bars and feature rows of both markets."""
    for market in ("us_equity", "crypto"):
        for asset in ("ohlc_bars", "feature_rows"):
            instance.report_runless_asset_event(dg.AssetMaterialization(dg.AssetKey([market, asset])))


def dagster_build(instance: dg.DagsterInstance, url: str, **config: object) -> tuple[float, float, list[str]]:
    """The dbt assets materialized by Dagster in-process, as the daily and analytics jobs run them: wall time,
    the dbt step's own time (step start to success in the event log) and the models it built."""
    from assets.dbt import swiftbolt_dbt_models

    started = time.perf_counter()
    result = dg.materialize([swiftbolt_dbt_models], instance=instance, resources={"dbt": dbt_resource(url)},
                            run_config={"ops": {swiftbolt_dbt_models.op.name: {"config": config}}},
                            raise_on_error=False)
    took = time.perf_counter() - started
    if not result.success:
        raise SystemExit(f"the dbt step failed (run {result.run_id})")
    times = {e.dagster_event_type: e.timestamp for e in instance.all_logs(result.run_id)
             if e.dagster_event_type in (dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS)}
    built = sorted(e.asset_key.path[-1] for e in result.get_asset_materialization_events())
    return took, times[dg.DagsterEventType.STEP_SUCCESS] - times[dg.DagsterEventType.STEP_START], built


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    return {"p50_ms": pct(50), "p95_ms": pct(95), "p99_ms": pct(99), "max_ms": ordered[-1],
            "mean_ms": statistics.fmean(ordered)}


CHART = """
SELECT ts, open, high, low, close, volume, session_vwap, sma_20, sma_50, volatility_20, return_1,
       pivot_pp, pivot_r1, pivot_s1, rsi_14, macd, macd_signal, atr_14, bb_upper, bb_lower, supertrend
FROM analytics.indicator_values
WHERE symbol_id = %s AND timeframe = %s AND ts <= %s
ORDER BY ts DESC
LIMIT 500
"""
CHART_FROM_VIEW = """
SELECT ts, open, high, low, close, volume, vwap
FROM market.ohlc_bars_adjusted
WHERE symbol_id = %s AND timeframe = %s AND ts <= %s
ORDER BY ts DESC
LIMIT 500
"""


def measure(url: str, runs: int, seed: int = 7) -> dict[str, dict[str, float]]:
    rng = random.Random(seed)
    with connect(url, autocommit=True) as conn:
        pairs = conn.execute(
            "SELECT symbol_id, timeframe, from_ts, to_ts FROM market.coverage_status "
            "WHERE timeframe IN ('m15', 'h1', 'h4', 'd1')").fetchall()
        charts = []
        for _ in range(runs + 20):
            sid, tf, lo, hi = rng.choice(pairs)
            charts.append((sid, tf, lo + (hi - lo) * (0.2 + 0.8 * rng.random())))
        queries = {
            "dashboard_symbol_summary": ("SELECT * FROM analytics.dashboard_symbol_summary", lambda i: ()),
            "chart_500_bars_indicator_values": (CHART, lambda i: charts[i]),
            "chart_500_bars_from_adjusted_view": (CHART_FROM_VIEW, lambda i: charts[i]),
            "data_health": ("SELECT * FROM analytics.data_health", lambda i: ()),
        }
        out: dict[str, dict[str, float]] = {}
        for name, (query, params) in queries.items():
            samples, rows = [], 0
            for i in range(runs + 20):
                started = time.perf_counter()
                rows = len(conn.execute(query, params(i), prepare=True).fetchall())
                if i >= 20:  # warm-up: plan caching, buffers
                    samples.append((time.perf_counter() - started) * 1000)
            out[name] = {**_percentiles(samples), "rows_last_run": rows, "runs": len(samples)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help=f"postgresql:// URL of a scratch database (default: {BENCH_DB} on the "
                                      "project's server)")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--equities", type=int, default=40)
    parser.add_argument("--crypto", type=int, default=10)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--reuse", action="store_true", help="keep a populated database")
    parser.add_argument("--repeats", type=int, default=3, help="nothing-new builds (Dagster step and plain dbt)")
    args = parser.parse_args()
    repeats = args.repeats

    url = bench_url(args)
    if manifest_is_stale(dbt_env(url)):  # the manifest and the partial parse of this database's profile
        prepare_dbt_manifest(dbt_env(url))
    report: dict[str, object] = {"database": describe(url), "started": dt.datetime.now(dt.UTC).isoformat()}
    populated = args.reuse and bar_count(url) >= args.rows * 0.9
    if not populated:
        if args.url:  # someone else's database: only fill it when it is empty
            ensure_database(url)
            migrate(url)
            if bar_count(url):
                raise SystemExit(f"{describe(url)} already holds bars; pass --reuse or an empty database")
        else:  # our scratch database: start afresh
            with connect(with_database(url, "postgres"), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
            ensure_database(url)
            migrate(url)
        populate(url, args.rows, args.equities, args.crypto)
        with connect(url) as conn, conn.transaction():
            started = time.perf_counter()
            features = write_feature_rows(conn, computed_days_ago=1)
        with connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE ml.feature_rows")
        print(f"{features:,} feature rows in {time.perf_counter() - started:.0f} s", flush=True)
    with connect(url) as conn:
        built = conn.execute("SELECT to_regclass('analytics.indicator_values') IS NOT NULL").fetchone()[0]
        day = conn.execute("SELECT max(session_date) + 1 FROM market.bar_datasets").fetchone()[0]
    with tempfile.TemporaryDirectory() as home, dg.DagsterInstance.local_temp(home) as instance:
        # the stamps the dbt step reads live in the Dagster instance: a kept database is built once (every
        # model, incrementally) to stamp them, a new one from scratch
        first = {"rebuild_all": True} if populated and built else {"full_refresh": True}
        report["full_build_s"] = round(dagster_build(instance, url, **first)[0], 1)
        print(f"first build (the Dagster dbt step, {first}): {report['full_build_s']} s", flush=True)
        with connect(url, autocommit=True) as conn:  # as autovacuum would (it may be off on a scratch server)
            for (table,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'analytics'").fetchall():
                conn.execute(f'ANALYZE analytics."{table}"')
        report["appended_bars"] = append_session(url, day)
        report_upstream(instance)
        took, step, built = dagster_build(instance, url)
        report["post_close_build"] = {"s": round(took, 2), "step_s": round(step, 2), "built": built}
        print(f"post-close build after one more session ({report['appended_bars']:,} bars on {day}), the Dagster "
              f"dbt step: {took:.1f} s (step {step:.1f} s); built {', '.join(built)}", flush=True)
        # nothing new: the Dagster step (what the daily/analytics job runs) interleaved with the plain
        # `dbt build` of everything it replaced (the reference)
        pipeline, reference = [], []
        for _ in range(repeats):
            took, step, built = dagster_build(instance, url)
            if built:
                raise SystemExit(f"nothing new, yet the dbt step built {built}")
            pipeline.append((took, step))
            reference.append(dbt_build(url))
        ratios = sorted(r / step for (_, step), r in zip(pipeline, reference, strict=True))
        report["nothing_new_build"] = {
            "dagster_step_s": round(statistics.median(s for _, s in pipeline), 3),
            "dagster_materialize_s": round(statistics.median(t for t, _ in pipeline), 2),
            "plain_dbt_build_s": round(statistics.median(reference), 1),
            "runs": repeats, "ratio_median": round(statistics.median(ratios), 1),
            "ratio_range": [round(ratios[0], 1), round(ratios[-1], 1)],
        }
        print(f"nothing new: {report['nothing_new_build']}", flush=True)
    with connect(url) as conn:
        report["bars"] = int(conn.execute("SELECT count(*) FROM market.ohlc_bars").fetchone()[0])
        report["indicator_values_rows"] = int(conn.execute(
            "SELECT count(*) FROM analytics.indicator_values").fetchone()[0])
        report["sizes"] = dict(conn.execute(
            "SELECT relname, pg_size_pretty(pg_total_relation_size(c.oid)) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'analytics' AND c.relkind IN ('r', 'v')"
        ).fetchall())
    report["queries"] = measure(url, args.runs)
    print(f"\n{report['bars']:,} bars; analytics.indicator_values {report['indicator_values_rows']:,} rows; "
          f"{args.runs} runs per query after 20 warm-up runs")
    post, idle = report["post_close_build"], report["nothing_new_build"]
    print(f"post-close dbt build (one more session of bars and features; the Dagster dbt step): {post['s']} s "
          f"(step {post['step_s']} s); nothing new: step {idle['dagster_step_s']} s, in-process run "
          f"{idle['dagster_materialize_s']} s (plain `dbt build` of everything: {idle['plain_dbt_build_s']} s; "
          f"median of {idle['runs']}, plain / step {idle['ratio_median']} [{idle['ratio_range'][0]}, "
          f"{idle['ratio_range'][1]}]); first build: {report['full_build_s']} s")
    print(f"{'query':36} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} {'rows':>6}")
    for name, q in report["queries"].items():  # type: ignore[union-attr]
        print(f"{name:36} {q['p50_ms']:8.2f} {q['p95_ms']:8.2f} {q['p99_ms']:8.2f} {q['max_ms']:8.2f} "
              f"{q['rows_last_run']:6d}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"dashboard_queries_{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(report, indent=2, default=str))
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
