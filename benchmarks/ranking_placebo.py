"""Does the placebo IC of the ranking evaluations (the rank IC of the score against the contract's return
*before* the ranking) tell honest ranks from ranks that saw the future? Measured, not assumed.

    PYTHONPATH=. .venv/bin/python benchmarks/ranking_placebo.py [--source synthetic|spx] [--url URL]

`synthetic`: three underlyings' chains from the synthetic provider (the SSVI chain) over the sessions of
2024-04-01..2024-05-31, with d1 bars from 2024-01-02 for their realized volatility; `spx`: the five real SPX
sessions of 2011-01-03..07 in tests/fixtures/spx_options_2011 through the file provider. Snapshots, IV
history and ranks are built by the production code (swiftbolt/options/pipeline.py) in a scratch database.
For every ranking day D0 (with a session before and after) and mode, within calls and within puts as the
evaluation does (swiftbolt/options/evaluation.py), the Spearman IC of the composite score against:

* the mid return over the session before D0 (the placebo) and over the session after (forward);
* the same returns delta-hedged (minus delta x the underlying's move, delta at the window's start), which
  removes the underlying's direction from both;

for the *honest* ranks of D0 and for *leaked* ranks: the ranks of the next session D0 + 1 put in D0's place,
i.e. a ranking that knew a whole session of the future (its quotes, IV, bars and forecast). A placebo that
detects look-ahead must be near zero for the first and move for the second. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from swiftbolt.calendars.sessions import session_dates
from swiftbolt.db.connection import connect, ensure_database
from swiftbolt.db.migrate import migrate
from swiftbolt.db.urls import database_of, validate_url, with_database
from swiftbolt.db.warehouse import embedded_server, warehouse_url
from swiftbolt.market_data.ingest import RunInfo, ingest_bars
from swiftbolt.market_data.types import Timeframe
from swiftbolt.options import pipeline
from swiftbolt.options.evaluation import spearman
from swiftbolt.providers.files import FilesProvider
from swiftbolt.providers.synthetic import SyntheticProvider
from swiftbolt.settings import load_settings
from swiftbolt.universe import SymbolSpec, active_symbols, sync_universe

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"


def scratch_url(args: argparse.Namespace) -> str:
    if args.url:
        url = validate_url(args.url, "--url")
    else:
        settings = load_settings()
        if settings.uses_embedded_server:
            embedded_server(settings).start()
        url = with_database(warehouse_url(settings), f"swiftbolt_bench_placebo_{args.source}")
    with connect(with_database(url, "postgres"), autocommit=True) as conn:  # a clean scratch database each run
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database_of(url))))
    ensure_database(url)
    migrate(url)
    return url


def build(url: str, source: str) -> tuple[pd.DataFrame, pd.DataFrame, list[dt.date]]:
    """The close snapshots and the ranks of the ranking days, built by the production pipeline."""
    if source == "synthetic":
        tickers, kind, provider = ("AAPL", "MSFT", "XOM"), "synthetic", SyntheticProvider()
        days = session_dates("us_equity", dt.date(2024, 4, 1), dt.date(2024, 5, 31))
        now = dt.datetime(2024, 6, 3, tzinfo=dt.UTC)
    else:
        tickers, kind, provider = ("SPX",), "file", FilesProvider(FIXTURES / "spx_options_2011")
        days = [dt.date(2011, 1, d) for d in (3, 4, 5, 6, 7)]
        now = dt.datetime(2011, 1, 10, tzinfo=dt.UTC)
    with connect(url) as conn, conn.transaction():
        sync_universe(conn, [SymbolSpec(t, "us_equity", "stock") for t in tickers], primary_source=kind)
        ids = active_symbols(conn, "us_equity")
    if source == "synthetic":
        bar_days = session_dates("us_equity", dt.date(2024, 1, 2), days[-1])
        ingest_bars(url, provider, "us_equity", ids, bar_days, [Timeframe.D1], RunInfo())
    by = dict.fromkeys(ids, days)
    with connect(url) as conn, conn.transaction():
        pipeline.take_snapshots(conn, provider, "us_equity", by, ids, now)
        pipeline.build_iv_history(conn, by, ids)
        pipeline.build_ranks(conn, by, ids)
    with connect(url) as conn:
        snaps = pd.DataFrame(conn.execute(
            "SELECT underlying_symbol_id, snapshot_date, contract, mark, delta, underlying_price "
            "FROM options.options_chain_snapshots WHERE snapshot_kind = 'close'").fetchall(),
            columns=["sid", "day", "contract", "mark", "delta", "spot"])
        ranks = pd.DataFrame(conn.execute(
            "SELECT r.underlying_symbol_id, r.snapshot_date, r.contract, r.ranking_mode, r.composite_score, "
            "s.option_type FROM options.options_ranks r JOIN options.options_chain_snapshots s "
            "USING (underlying_symbol_id, snapshot_date, snapshot_ts, contract)").fetchall(),
            columns=["sid", "day", "contract", "mode", "score", "option_type"])
    return snaps, ranks, days


def _within_sides(ranked: pd.DataFrame, ret: pd.Series) -> float:
    """The evaluation's placebo statistic: Spearman IC within calls and within puts, averaged."""
    score = ranked["score"].to_numpy(dtype="float64")
    side = ranked["option_type"].to_numpy()
    ics = [spearman(score[side == s], ret.to_numpy(dtype="float64")[side == s]) for s in ("call", "put")]
    ics = [x for x in ics if not np.isnan(x)]
    return float(np.mean(ics)) if ics else float("nan")


def measure(snaps: pd.DataFrame, ranks: pd.DataFrame, days: list[dt.date]) -> pd.DataFrame:
    rows = []
    for sid in sorted(ranks["sid"].unique()):
        quotes = {d: g.set_index("contract") for d, g in snaps[snaps["sid"] == sid].groupby("day")}
        mine = ranks[ranks["sid"] == sid]
        for before, d0, after in zip(days, days[1:], days[2:], strict=False):
            if not {before, d0, after} <= set(quotes):
                continue
            a, b, f = quotes[before], quotes[d0], quotes[after]
            for mode in ("entry", "exit"):
                sign = 1.0 if mode == "entry" else -1.0
                for label, ranked_on in (("honest", d0), ("leaked (D0 + 1)", after)):
                    ranked = mine[(mine["day"] == ranked_on) & (mine["mode"] == mode)].set_index("contract")
                    common = ranked.index.intersection(a.index).intersection(b.index).intersection(f.index)
                    r, pa, pb, pf = ranked.loc[common], a.loc[common], b.loc[common], f.loc[common]
                    ok = ((pa["mark"] > 0) & (pb["mark"] > 0) & (pf["mark"] > 0)).to_numpy()
                    r, pa, pb, pf = r[ok], pa[ok], pb[ok], pf[ok]
                    rows.append({
                        "underlying": sid, "d0": d0, "mode": mode, "ranks": label, "n": len(r),
                        "placebo": _within_sides(r, sign * (pb["mark"] / pa["mark"] - 1)),
                        "forward": _within_sides(r, sign * (pf["mark"] / pb["mark"] - 1)),
                        "placebo_hedged": _within_sides(
                            r, sign * (pb["mark"] - pa["mark"] - pa["delta"] * (pb["spot"] - pa["spot"])) / pa["mark"]),
                        "forward_hedged": _within_sides(
                            r, sign * (pf["mark"] - pb["mark"] - pb["delta"] * (pf["spot"] - pb["spot"])) / pb["mark"]),
                    })
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=("synthetic", "spx"), default="synthetic")
    parser.add_argument("--url")
    args = parser.parse_args()
    url = scratch_url(args)
    frame = measure(*build(url, args.source))
    stats = ["placebo", "forward", "placebo_hedged", "forward_hedged"]
    grouped = frame.groupby(["ranks", "mode"])
    pd.set_option("display.width", 160)
    print(f"{args.source}: {frame['d0'].nunique()} ranking days x {frame['underlying'].nunique()} underlyings, "
          f"{int(frame['n'].median())} contracts per ranking (median); within-side Spearman IC")
    print("mean |IC|:")
    print(grouped[stats].apply(lambda x: x.abs().mean()).round(3).to_string())
    print("mean IC (std):")
    means, stds = grouped[stats].mean(), grouped[stats].std()
    print((means.round(3).astype(str) + " (" + stds.round(3).astype(str) + ")").to_string())


if __name__ == "__main__":
    main()
