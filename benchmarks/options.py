"""Benchmark: the options pipeline against the bare work, and the top_ranked_options query.

    .venv/bin/python benchmarks/options.py [--url URL] [--underlyings 100] [--days 252] [--runs 200]

1. Throughput. A synthetic universe of `--underlyings` chains of 2,000 contracts (10 expirations x 100
   strikes x call/put, priced with Black-Scholes on a skewed smile, tick-rounded quotes, no provider IV),
   each run through the whole per-partition path: validation (swiftbolt/options/chains.py), IV solve and
   greeks on the parity forward (greeks.py), ranking in both modes (ranking.py) and the COPY of the
   snapshot and the ranks (store.py), against the bare path over the same rows: the vectorised IV solve
   alone (pricing.implied_vol, the same rate and forward) and a raw COPY of the same snapshot rows.
   ratio = bare time / pipeline time (1.0 = the pipeline costs nothing beyond the bare work).
2. Query. `--days` daily rankings (100 contracts per mode) of 50 underlyings written in SQL, the
   analytics.top_ranked_options view created from the dbt model, then `--runs` executions after a warm-up
   of (a) SELECT * FROM the view (every underlying's best contracts) and (b) one random underlying's rows;
   p50/p95/max in milliseconds.

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

from swiftbolt.db.connection import connect, ensure_database
from swiftbolt.db.copy import copy_frame
from swiftbolt.db.migrate import migrate
from swiftbolt.db.urls import validate_url, with_database
from swiftbolt.db.warehouse import embedded_server, warehouse_url
from swiftbolt.options import store
from swiftbolt.options.chains import validate_chain
from swiftbolt.options.greeks import chain_iv_greeks, parity_terms, years_to_expiry
from swiftbolt.options.pricing import bs_price, implied_vol
from swiftbolt.options.ranking import rank_contracts
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


def throughput(url: str, ids: dict[str, int]) -> None:
    chains = {t: synthetic_chain(t, i) for i, t in enumerate(sorted(ids))}
    rows = sum(len(c) for c in chains.values())
    # the pipeline, per partition, as the assets run it
    t0 = time.perf_counter()
    priced_all = {}
    with connect(url) as conn, conn.transaction():
        for t, chain in chains.items():
            checked = validate_chain(chain, DAY)
            priced = chain_iv_greeks(checked.clean, TS)
            store.write_snapshot(conn, ids[t], DAY, TS, "close", priced, checked.rejected, "synthetic", None)
            ranks = rank_contracts(priced, DAY, {"hv_20": 0.3, "iv_rank": 0.5, "iv_percentile": 0.5}, pd.DataFrame())
            store.write_ranks(conn, ids[t], DAY, ranks, None)
            priced_all[t] = priced
    pipeline_s = time.perf_counter() - t0
    # the bare work: the IV solve alone (same inputs) and a raw COPY of the same snapshot rows
    inputs = []
    for chain in chains.values():
        c = chain.assign(mark=(chain["bid"] + chain["ask"]) / 2, t=years_to_expiry(chain["expiration"], TS))
        rate, _, terms = parity_terms(c)
        c = c.merge(terms[["expiration", "dividend_yield"]], on="expiration")
        inputs.append((c, rate))
    frames = [p.assign(underlying_symbol_id=ids[t], snapshot_date=DAY, snapshot_ts=TS - pd.Timedelta(minutes=1),
                       snapshot_kind="intraday",
                       provider="synthetic", dagster_run_id=None) for t, p in priced_all.items()]
    raw = pd.concat(frames, ignore_index=True)
    t0 = time.perf_counter()
    for c, rate in inputs:
        implied_vol(c["mark"].to_numpy(), c["underlying_price"].to_numpy(), c["strike"].to_numpy(), c["t"].to_numpy(),
                    rate, c["dividend_yield"].to_numpy(), (c["option_type"] == "call").to_numpy())
    solve_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with connect(url) as conn, conn.transaction():
        copy_frame(conn, "options.options_chain_snapshots", list(store.SNAPSHOT_COLUMNS), raw)
    copy_s = time.perf_counter() - t0
    bare = solve_s + copy_s
    print(f"throughput: {len(chains)} underlyings x ~{rows // len(chains)} contracts = {rows} rows")
    print(f"  pipeline (validate + IV/greeks + rank both modes + COPY snapshot and ranks): {pipeline_s:.2f} s "
          f"({rows / pipeline_s:,.0f} contracts/s)")
    print(f"  bare (vectorised IV solve {solve_s:.2f} s + raw COPY of the snapshot rows {copy_s:.2f} s): {bare:.2f} s")
    print(f"  ratio bare / pipeline = {bare / pipeline_s:.2f}")


def view_sql() -> str:
    text = MODEL.read_text()
    text = re.sub(r"\{#-.*?-#\}", "", text, flags=re.S)
    text = re.sub(r"\{\{ config\(.*?\) \}\}", "", text)
    text = re.sub(r"\{%-? set top_n = .*?%\}", "", text)
    text = text.replace("{{ top_n }}", "10")
    text = re.sub(r"\{\{ source\('market', '(\w+)'\) \}\}", r"market.\1", text)
    text = re.sub(r"\{\{ source\('us_equity_options', '(\w+)'\) \}\}", r"options.\1", text)
    return "CREATE OR REPLACE VIEW analytics.top_ranked_options AS " + text


def query(url: str, ids: dict[str, int], days: int, runs: int) -> None:
    chosen = sorted(ids.values())[:50]
    sessions = pd.bdate_range(end=DAY - dt.timedelta(days=1), periods=days).date.tolist()
    t0 = time.perf_counter()
    with connect(url) as conn, conn.transaction():
        conn.execute("DELETE FROM options.options_ranks WHERE snapshot_date < %s", (DAY,))
        conn.execute(
            """INSERT INTO options.options_ranks (underlying_symbol_id, snapshot_date, contract, ranking_mode,
                   expiration, strike, option_type, bid, ask, mark, implied_volatility, delta, days_to_expiry,
                   spread_pct,
                   liquidity_spread_score, liquidity_oi_score, liquidity_volume_score, liquidity_score,
                   value_iv_realized_score, value_iv_forecast_score, value_iv_rank_score, value_score,
                   greeks_delta_score, greeks_theta_score, greeks_vega_score, greeks_score, forecast_alignment_score,
                   liquidity_confidence, composite_score, rank, signal)
               SELECT s, d, 'X' || lpad(r::text, 5, '0'), m, d + 30, 100 + r, 'call', 1, 1.1, 1.05, 0.3, 0.5, 30,
                      0.1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.66,
                      1 - r / 1000.0, r, 'weak'
               FROM unnest(%s::bigint[]) s, unnest(%s::date[]) d, unnest(ARRAY['entry', 'exit']) m,
                    generate_series(1, 100) r""", (chosen, sessions))
        conn.execute("ANALYZE options.options_ranks")
        conn.execute(view_sql())
        n = conn.execute("SELECT count(*) FROM options.options_ranks").fetchone()[0]
    print(f"query: {n:,} rank rows ({len(chosen)} underlyings x {days} sessions + the throughput day), "
          f"written in {time.perf_counter() - t0:.1f} s")
    tickers = {v: k for k, v in ids.items()}
    with psycopg.connect(url, prepare_threshold=0) as conn:
        for name, sql, params in (
            ("SELECT * FROM analytics.top_ranked_options", "SELECT * FROM analytics.top_ranked_options", None),
            ("one underlying", "SELECT * FROM analytics.top_ranked_options WHERE ticker = %s", "ticker"),
        ):
            times = []
            for i in range(runs + 10):
                args = (tickers[random.choice(chosen)],) if params else None
                t0 = time.perf_counter()
                conn.execute(sql, args).fetchall()
                if i >= 10:
                    times.append((time.perf_counter() - t0) * 1000)
            times.sort()
            p95 = times[int(0.95 * len(times)) - 1]
            print(f"  {name}: p50 {statistics.median(times):.2f} ms, p95 {p95:.2f} ms, max {times[-1]:.2f} ms "
                  f"({runs} runs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url")
    parser.add_argument("--underlyings", type=int, default=100)
    parser.add_argument("--days", type=int, default=252)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    url = bench_url(args)
    ids = setup(url, max(args.underlyings, 50))
    throughput(url, dict(sorted(ids.items())[: args.underlyings]))
    query(url, ids, args.days, args.runs)


if __name__ == "__main__":
    main()
