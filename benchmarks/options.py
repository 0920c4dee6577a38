"""Benchmark: the options pipeline against the bare work, and the top_ranked_options query.

    .venv/bin/python benchmarks/options.py [--url URL] [--underlyings 100] [--days 252] [--runs 200] [--repeats 5]

1. Throughput. A synthetic universe of `--underlyings` chains of 2,000 contracts (10 expirations x 100
   strikes x call/put, priced with Black-Scholes on a skewed smile, tick-rounded quotes, no provider IV)
   through the assets' path, every underlying in one run as a single-run backfill or the daily job does it:
   validation (swiftbolt/options/chains.py), IV solve and greeks on the parity forward (greeks.py) and the
   snapshot COPY (pipeline.store_snapshots), ranking in both modes (ranking.rank_chains) and the ranks'
   COPY (store.write_ranks_many); against the bare work over the same rows: one vectorised IV solve
   (pricing.implied_vol, the same prices, rates and forwards) and a raw COPY (copy_frame of frames already
   built: Arrow encoding and binary COPY only) of the rows the pipeline stores, i.e. the snapshot rows and
   the rank rows, into the same tables. `--repeats` interleaved repeats in this process, each on emptied
   tables; ratio = bare time / pipeline time per repeat (1.0 = the pipeline costs nothing beyond the bare
   work), median with min and max. The ratio against a bare work without the rank rows (solve + snapshot
   COPY: the previous sessions' reference) is printed too.
2. Query. The issue's dataset: a year (`--days` sessions) of daily ranks (100 contracts per mode) of 50
   underlyings written in SQL, their newest day being the throughput day's full chains (the other
   underlyings' ranks are deleted), then analytics.top_ranked_options built by dbt (`dbt build --select
   top_ranked_options`: the table, its indexes and its tests) and, for comparison, the same SELECT as a
   plain view (what migration 0020's view cost; `--runs` / 10 runs); `--runs` executions after a warm-up of
   (a) every underlying's rows (text and binary results), (b) one random underlying's rows and (c) its
   entry mode's; p50/p95/max in milliseconds.

The scratch database is `swiftbolt_bench_options` on SWIFTBOLT_DATABASE_URL's server or the embedded one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from resources.dbt import dbt_resource
from swiftbolt.db.connection import connect, ensure_database
from swiftbolt.db.copy import copy_frame
from swiftbolt.db.migrate import migrate
from swiftbolt.db.urls import validate_url, with_database
from swiftbolt.db.warehouse import embedded_server, warehouse_url
from swiftbolt.options import pipeline, store
from swiftbolt.options.greeks import years_to_expiry
from swiftbolt.options.pricing import bs_price, implied_vol
from swiftbolt.options.ranking import rank_chains
from swiftbolt.settings import load_settings
from swiftbolt.universe import SymbolSpec, active_symbols, sync_universe

BENCH_DB = "swiftbolt_bench_options"
DAY = dt.date(2025, 6, 2)
TS = pd.Timestamp("2025-06-02 20:00", tz="UTC")
MODEL = Path(__file__).resolve().parents[1] / "dbt_project" / "models" / "marts" / "top_ranked_options.sql"


def bench_url(args: argparse.Namespace) -> str:
    if args.url:
        return validate_url(args.url, "--url")
    settings = load_settings()
    if settings.uses_embedded_server:
        embedded_server(settings).start()
    return with_database(warehouse_url(settings), BENCH_DB)


def synthetic_chain(ticker: str, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    spot = float(rng.uniform(20, 500))
    exps = [DAY + dt.timedelta(days=d) for d in (4, 11, 18, 25, 32, 46, 74, 109, 200, 380)]
    strikes = np.round(spot * np.linspace(0.7, 1.3, 100), 2)
    exp = np.repeat(np.array(exps, dtype=object), 200)
    k = np.tile(np.concatenate([strikes, strikes]), len(exps))
    is_call = np.tile(np.repeat([True, False], 100), len(exps))
    t = years_to_expiry(pd.Series(exp), TS)
    atm = float(rng.uniform(0.15, 0.6))
    iv = atm * (1 - 0.4 * np.log(k / spot) + 0.8 * np.log(k / spot) ** 2)
    mid = bs_price(spot, k, t, iv, 0.04, 0.01, is_call)
    half = 0.01 + 0.03 * mid
    bid = np.maximum(np.floor((mid - half) * 100) / 100, 0.0)
    ask = np.ceil((mid + half) * 100) / 100
    root = ticker[:6]
    contract = [f"{root}{e:%y%m%d}{'C' if c else 'P'}{round(s * 1000):08d}" for e, c, s in zip(exp, is_call, k,
                                                                                                     strict=True)]
    return pd.DataFrame({"underlying": ticker, "contract": contract, "expiration": exp, "strike": k,
                         "option_type": np.where(is_call, "call", "put"), "ts": TS, "bid": bid, "ask": ask,
                         "last": np.round(mid, 2), "volume": rng.integers(0, 500, len(k)).astype(float),
                         "open_interest": rng.integers(0, 5000, len(k)).astype(float), "implied_volatility": np.nan,
                         "delta": np.nan, "gamma": np.nan, "theta": np.nan, "vega": np.nan, "underlying_price": spot})


def setup(url: str, n: int) -> dict[str, int]:
    ensure_database(url)
    migrate(url)
    with connect(url) as conn, conn.transaction():
        specs = [SymbolSpec(f"B{i:03d}", "us_equity", "stock") for i in range(n)]
        sync_universe(conn, specs, primary_source="synthetic")
        ids = active_symbols(conn, "us_equity")
        conn.execute("TRUNCATE options.options_chain_snapshots, options.options_ranks, options.iv_history, "
                     "options.ranking_evaluations, ops.option_chain_quarantine")
    return ids


def _clear(url: str) -> None:
    with connect(url) as conn, conn.transaction():
        conn.execute("TRUNCATE options.options_chain_snapshots, options.options_ranks, ops.option_chain_quarantine")


def run_pipeline(url: str, ids: dict[str, int], chains: dict[str, pd.DataFrame]) -> float:
    """The assets' path over every underlying in one run: validation, IV/greeks, snapshot COPY
    (pipeline.store_snapshots), ranking in both modes (ranking.rank_chains) and the ranks' COPY."""
    iv_terms = {"hv_20": 0.3, "iv_rank": 0.5, "iv_percentile": 0.5}
    t0 = time.perf_counter()
    with connect(url) as conn, conn.transaction():
        taken = [(pipeline.PartitionResult(t, DAY), ids[t], DAY, TS, "close", chain) for t, chain in chains.items()]
        priced = pipeline.store_snapshots(conn, taken, "synthetic", None)
        key = "_snapshot"
        context = pd.DataFrame({"day": DAY, **iv_terms}, index=pd.Index(range(len(taken)), name=key))
        ranks = rank_chains(priced, key, context, pd.DataFrame())
        parts = pd.DataFrame({"underlying_symbol_id": [sid for _, sid, *_ in taken], "snapshot_date": DAY,
                              "snapshot_ts": TS}, index=context.index)
        store.write_ranks_many(conn, parts, ranks, key, None)
    return time.perf_counter() - t0


def run_bare(url: str, inputs: dict[str, np.ndarray], raw: pd.DataFrame, raw_ranks: pd.DataFrame
             ) -> tuple[float, float, float]:
    """The bare work over the same rows: one vectorised IV solve (same prices, rates and forwards) and a raw
    COPY (copy_frame: Arrow encoding and binary COPY, nothing else) of the rows the pipeline stores, the
    snapshot rows and then the rank rows, into the same tables. Returns (solve, snapshot COPY, ranks COPY)
    seconds."""
    t0 = time.perf_counter()
    implied_vol(inputs["mark"], inputs["spot"], inputs["strike"], inputs["t"], inputs["rate"], inputs["q"],
                inputs["is_call"])
    solve_s = time.perf_counter() - t0
    with connect(url) as conn, conn.transaction():
        t0 = time.perf_counter()
        copy_frame(conn, "options.options_chain_snapshots", list(store.SNAPSHOT_COLUMNS), raw)
        t1 = time.perf_counter()
        copy_frame(conn, "options.options_ranks", list(store.RANK_COLUMNS), raw_ranks)
        t2 = time.perf_counter()
    return solve_s, t1 - t0, t2 - t1


def throughput(url: str, ids: dict[str, int], repeats: int) -> None:
    chains = {t: synthetic_chain(t, i) for i, t in enumerate(sorted(ids))}
    rows = sum(len(c) for c in chains.values())
    # the bare path's inputs: the stored rows with the pipeline's own rate and forward terms
    _clear(url)
    run_pipeline(url, ids, chains)
    with connect(url) as conn:
        raw = pd.concat([store.load_snapshot(conn, ids[t], DAY) for t in chains], ignore_index=True)
        cur = conn.execute(f"SELECT {', '.join(store.RANK_COLUMNS)} FROM options.options_ranks "
                           "ORDER BY underlying_symbol_id, ranking_mode, contract")  # the pipeline's order
        raw_ranks = pd.DataFrame(cur.fetchall(), columns=list(store.RANK_COLUMNS))
    need = raw["bid"].to_numpy() > 0
    inputs = {"mark": raw["mark"], "spot": raw["underlying_price"], "strike": raw["strike"],
              "t": raw["years_to_expiry"], "rate": raw["rate"], "q": raw["dividend_yield"],
              "is_call": raw["option_type"] == "call"}
    inputs = {k: v.to_numpy()[need] for k, v in inputs.items()}
    pipeline_s, solve_s, copy_s, ranks_s, ratios, ratios_snap = [], [], [], [], [], []
    for _ in range(repeats):  # interleaved, each on empty tables
        _clear(url)
        pipeline_s.append(run_pipeline(url, ids, chains))
        _clear(url)
        solve, copy, copy_ranks = run_bare(url, inputs, raw, raw_ranks)
        solve_s.append(solve)
        copy_s.append(copy)
        ranks_s.append(copy_ranks)
        ratios.append((solve + copy + copy_ranks) / pipeline_s[-1])
        ratios_snap.append((solve + copy) / pipeline_s[-1])
    _clear(url)
    run_pipeline(url, ids, chains)  # the day's snapshot and ranks stay for the query part
    med = statistics.median
    print(f"throughput: {len(chains)} underlyings x ~{rows // len(chains)} contracts = {rows} rows "
          f"({len(raw_ranks)} rank rows of {len(store.RANK_COLUMNS)} columns), {repeats} interleaved repeats (medians)")
    print(f"  pipeline (validate + IV/greeks + COPY snapshot + rank both modes + COPY ranks): {med(pipeline_s):.2f} s "
          f"({rows / med(pipeline_s):,.0f} contracts/s; min {min(pipeline_s):.2f}, max {max(pipeline_s):.2f})")
    print(f"  bare: vectorised IV solve {med(solve_s):.2f} s + raw COPY of the snapshot rows {med(copy_s):.2f} s "
          f"+ raw COPY of the rank rows {med(ranks_s):.2f} s")
    print(f"  ratio bare (solve + both COPYs) / pipeline = {med(ratios):.2f} (min {min(ratios):.2f}, "
          f"max {max(ratios):.2f}; per repeat {', '.join(f'{r:.2f}' for r in ratios)})")
    print(f"  ratio without the rank rows in the bare work (solve + snapshot COPY) / pipeline = {med(ratios_snap):.2f} "
          f"(min {min(ratios_snap):.2f}, max {max(ratios_snap):.2f}; per repeat "
          f"{', '.join(f'{r:.2f}' for r in ratios_snap)})")


VIEW = "analytics.top_ranked_options_as_view"


def view_sql() -> str:
    """The model's SELECT as a plain view (what 0020's view cost, for comparison with the table)."""
    text = MODEL.read_text()
    text = re.sub(r"\{#-.*?-#\}", "", text, flags=re.S)
    text = re.sub(r"\{\{ config\(.*?\) \}\}", "", text, flags=re.S)
    text = re.sub(r"\{%-? set top_n = .*?%\}", "", text)
    text = text.replace("{{ top_n }}", "10")
    schemas = {"market": "market", "us_equity_options": "options", "us_equity_forecasts": "ml"}
    text = re.sub(r"\{\{ source\('(\w+)', '(\w+)'\) \}\}", lambda m: f"{schemas[m[1]]}.{m[2]}", text)
    return f"CREATE SCHEMA IF NOT EXISTS analytics; CREATE OR REPLACE VIEW {VIEW} AS " + text


def _p95(times: list[float]) -> float:
    return sorted(times)[max(0, int(0.95 * len(times)) - 1)]


def query(url: str, ids: dict[str, int], days: int, runs: int) -> None:
    chosen = sorted(ids.values())[:50]
    sessions = pd.bdate_range(end=DAY - dt.timedelta(days=1), periods=days).date.tolist()
    t0 = time.perf_counter()
    with connect(url) as conn, conn.transaction():
        # the dataset: a year of daily ranks of 50 underlyings (the throughput day's ranks of the
        # others go; the 50 keep theirs, with their snapshot, as their newest day)
        conn.execute("DELETE FROM options.options_ranks WHERE snapshot_date < %s OR underlying_symbol_id <> ALL(%s)",
                     (DAY, chosen))
        conn.execute(
            """INSERT INTO options.options_ranks (underlying_symbol_id, snapshot_date, contract, ranking_mode,
                   snapshot_ts,
                   liquidity_spread_score, liquidity_oi_score, liquidity_volume_score, liquidity_score,
                   value_iv_realized_score, value_iv_forecast_score, value_iv_rank_score, value_score,
                   greeks_delta_score, greeks_theta_score, greeks_vega_score, greeks_score, forecast_alignment_score,
                   composite_score, rank, signal, forecast_horizon)
               SELECT s, d, 'X' || lpad(r::text, 5, '0'), m, d + time '20:00' AT TIME ZONE 'UTC',
                      0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5,
                      1 - r / 1000.0, r, 'weak', '20D'
               FROM unnest(%s::bigint[]) s, unnest(%s::date[]) d, unnest(ARRAY['entry', 'exit']) m,
                    generate_series(1, 100) r""", (chosen, sessions))
        conn.execute("ANALYZE options.options_ranks")  # as autovacuum would after these writes
        conn.execute("ANALYZE options.options_chain_snapshots")
        conn.execute(view_sql())
        n = conn.execute("SELECT count(*) FROM options.options_ranks").fetchone()[0]
    print(f"query: {n:,} rank rows ({len(chosen)} underlyings x {days} sessions x 2 modes x 100 contracts, + the "
          f"throughput day's {len(chosen)} chains as their newest day), "
          f"written in {time.perf_counter() - t0:.1f} s")
    started = time.perf_counter()
    invocation = dbt_resource(url).cli(["build", "--select", "top_ranked_options"], raise_on_error=False)
    invocation.wait()
    if not invocation.is_successful():
        raise SystemExit(f"dbt build of top_ranked_options failed; see {invocation.target_path}/dbt.log")
    print(f"  dbt build --select top_ranked_options (table, indexes and its 8 tests): "
          f"{time.perf_counter() - started:.1f} s")
    with connect(url) as conn:
        took = []
        for _ in range(5):
            t0 = time.perf_counter()
            conn.execute("SELECT * FROM " + VIEW).fetchall()
            took.append(time.perf_counter() - t0)
        print(f"  the table's SELECT alone (what a rebuild runs): median {statistics.median(took) * 1000:.0f} ms")
    tickers = {v: k for k, v in ids.items()}
    with psycopg.connect(url, prepare_threshold=0) as conn:
        for relation in ("analytics.top_ranked_options", VIEW):
            kind = "table" if relation == "analytics.top_ranked_options" else "as a view (0020's SQL, 0022's indexes)"
            n_runs = runs if relation != VIEW else max(runs // 10, 5)  # the view costs ~0.25 s a run
            for name, sql, params, binary in (
                ("every underlying", f"SELECT * FROM {relation}", None, False),
                ("every underlying, binary results", f"SELECT * FROM {relation}", None, True),
                ("one underlying", f"SELECT * FROM {relation} WHERE ticker = %s", "ticker", False),
                ("one underlying, entry mode", f"SELECT * FROM {relation} WHERE ticker = %s "
                 "AND ranking_mode = 'entry' ORDER BY rank", "ticker", False),
            ):
                times = []
                for i in range(n_runs + 10):
                    args = (tickers[random.choice(chosen)],) if params else None
                    t0 = time.perf_counter()
                    cur = conn.cursor(binary=binary)
                    got = cur.execute(sql, args).fetchall()
                    if i >= 10:
                        times.append((time.perf_counter() - t0) * 1000)
                print(f"  {kind}, {name} ({len(got)} rows x {len(cur.description)} columns): p50 "
                      f"{statistics.median(times):.2f} ms, p95 {_p95(times):.2f} ms, max {max(times):.2f} ms "
                      f"({n_runs} runs)")
        plan = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM analytics.top_ranked_options").fetchone()[0]
        print(f"  table, every underlying, server execution: {plan[0]['Execution Time']:.2f} ms (the rest of the "
              "fetch is transfer and decoding the rows in the client)")
        conn.execute(f"DROP VIEW {VIEW}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url")
    parser.add_argument("--underlyings", type=int, default=100)
    parser.add_argument("--days", type=int, default=252)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    url = bench_url(args)
    ids = setup(url, max(args.underlyings, 50))
    throughput(url, dict(sorted(ids.items())[: args.underlyings]), args.repeats)
    query(url, ids, args.days, args.runs)


if __name__ == "__main__":
    main()
