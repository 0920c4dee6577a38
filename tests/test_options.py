"""Options domain: chain validation, vendor chain files (both real formats), IV/greeks against the vendor's
on the real SPX 2011 chains, and the four assets through real Dagster runs on a real PostgreSQL (no
look-ahead proven by changing later data; an unhealthy ranking raises an alert and fails its check)."""

from __future__ import annotations

import datetime as dt
import math

import dagster as dg
import numpy as np
import pandas as pd

from assets.options import build_assets
from assets.partitions import symbol_partitions
from resources import MarketDataResource, WarehouseResource
from swiftbolt.alerts import open_alerts
from swiftbolt.calendars.sessions import session_dates
from swiftbolt.db.connection import connect
from swiftbolt.forecasts import store as forecast_store
from swiftbolt.market_data.ingest import RunInfo, ingest_bars
from swiftbolt.market_data.types import Timeframe, option_chain_frame
from swiftbolt.markets import CRYPTO, US_EQUITY
from swiftbolt.options import pipeline, store
from swiftbolt.options.chains import validate_chain
from swiftbolt.options.greeks import chain_iv_greeks
from swiftbolt.options.ranking import rank_chains, rank_contracts
from swiftbolt.options.report import top_ranked_lines
from swiftbolt.providers.files import FilesProvider
from swiftbolt.providers.option_files import load_option_file
from swiftbolt.providers.synthetic import SyntheticProvider
from tests.helpers import FIXTURES, add_symbols, utc

SPX_DIR = FIXTURES / "spx_options_2011"
SPX_DAYS = [dt.date(2011, 1, d) for d in (3, 4, 5, 6, 7)]


# ------------------------------------------------------------------------------------------ validation

def _chain(**overrides) -> pd.DataFrame:
    base = {"underlying": "AAPL", "contract": "AAPL250620C00180000", "expiration": dt.date(2025, 6, 20),
            "strike": 180.0, "option_type": "call", "ts": pd.Timestamp("2025-06-02 20:00", tz="UTC"), "bid": 5.0,
            "ask": 5.2, "last": 5.1, "volume": 10.0, "open_interest": 100.0, "implied_volatility": 0.25,
            "delta": 0.5, "gamma": 0.01, "theta": -0.05, "vega": 0.2, "underlying_price": 180.0}
    rows = []
    for i, o in enumerate(overrides.get("rows", [{}])):
        row = dict(base)
        row["contract"] = f"AAPL250620C{int(180000 + i * 5000):08d}"
        row["strike"] = 180.0 + i * 5
        row.update(o)
        rows.append(row)
    return pd.DataFrame(rows)


def test_every_fault_is_quarantined_with_its_reason_and_nothing_is_dropped() -> None:
    frame = _chain(rows=[
        {},                                                   # clean
        {"bid": 5.5, "ask": 5.0},                             # crossed
        {"bid": -0.1},                                        # negative price
        {"expiration": dt.date(2025, 5, 30)},                 # expired
        {"strike": 50000.0},                                  # strike out of range
        {"implied_volatility": 7.5},                          # IV out of range
        {"contract": "AAPL250620C00999999", "bid": 1.0},      # conflicting duplicates (both versions)
        {"contract": "AAPL250620C00999999", "bid": 1.1},
        {"contract": "AAPL250620C00888888"},                  # identical duplicates: one kept
        {"contract": "AAPL250620C00888888"},
        {"contract": "junk"},                                 # malformed
        {"ask": math.inf},                                    # non-finite
        {"volume": -3.0},                                     # negative volume
    ])
    frame.loc[9, "strike"] = frame.loc[8, "strike"]
    result = validate_chain(frame, dt.date(2025, 6, 2))
    assert len(result.clean) + len(result.rejected) == len(frame)
    assert result.reasons == {
        "crossed quote (bid > ask)": 1, "negative price": 1, "expired contract": 1, "strike out of range": 1,
        "IV out of range": 1, "duplicate contract with conflicting values": 2, "identical duplicate (collapsed)": 1,
        "malformed contract symbol": 1, "non-finite value": 1, "negative volume or open interest": 1,
    }
    assert sorted(result.clean["contract"]) == ["AAPL250620C00180000", "AAPL250620C00888888"]
    assert result.faults == len(result.rejected) - 1
    assert '"ask":"Infinity"' in result.rejected.loc[result.rejected["reason"] == "non-finite value", "raw"].iloc[0]


# ----------------------------------------------------------------------------------------- vendor files

def test_both_real_vendor_formats_load_through_the_files_provider() -> None:
    cr = load_option_file(SPX_DIR / "options" / "spx_2011_ivolatility_cr_bom.csv")
    assert (SPX_DIR / "options" / "spx_2011_ivolatility_cr_bom.csv").read_bytes()[:3] == b"\xef\xbb\xbf"
    lf = load_option_file(SPX_DIR / "options" / "spx_2011_ivolatility.csv")
    for frame in (cr, lf):
        assert sorted(frame["session_date"].unique()) == SPX_DAYS
        assert frame["contract"].str.match(r"^SPX[A-Z]{0,2}\d{6}[CP]\d{8}$").all()
        assert frame["underlying_price"].between(1270, 1277).all()
    assert cr["expiration"].min() == dt.date(2011, 1, 21) and lf["expiration"].min() == dt.date(2011, 1, 7)
    provider = FilesProvider(SPX_DIR)  # a directory with option files only
    chain = provider.option_chain("SPX", utc(2011, 1, 5, 23))
    assert len(chain) == int((cr["session_date"] == SPX_DAYS[2]).sum() + (lf["session_date"] == SPX_DAYS[2]).sum())
    assert list(chain.columns) == list(option_chain_frame().columns)
    assert (chain["ts"] == pd.Timestamp("2011-01-05 21:00", tz="UTC")).all()  # 16:00 New York
    assert provider.option_chain("SPX", utc(2010, 12, 31)).empty


def _spx_priced() -> pd.DataFrame:
    provider = FilesProvider(SPX_DIR)
    vendor = provider.option_chains()
    out = []
    for day in SPX_DAYS:
        raw = provider.option_chain("SPX", utc(day.year, day.month, day.day, 23))
        checked = validate_chain(raw, day)
        assert checked.rejected.empty, checked.reasons
        priced = chain_iv_greeks(checked.clean, raw["ts"].iloc[0], recompute=True)
        theirs = vendor[vendor["session_date"] == day].drop_duplicates("contract").set_index("contract")
        for col in ("implied_volatility", "delta", "gamma", "theta", "vega", "rho", "iv_interpolated"):
            priced[f"vendor_{col}"] = priced["contract"].map(theirs[col]).to_numpy()
        out.append(priced)
    return pd.concat(out, ignore_index=True)


def test_iv_and_greeks_agree_with_the_vendor_on_real_spx_chains() -> None:
    """Our IV (Black-Scholes-Merton on the parity forward, from the mid) against iVolatility's solved IVs
    (interpolated ones left out), and our greeks at the vendor's IV against the vendor's greeks."""
    p = _spx_priced()
    solved = p[~p["vendor_iv_interpolated"].astype(bool) & p["implied_volatility"].notna()
               & p["vendor_implied_volatility"].notna()].copy()
    err = (solved["implied_volatility"] - solved["vendor_implied_volatility"]).abs()
    assert len(solved) > 800
    median, p95 = float(err.median()), float(err.quantile(0.95))
    print(f"\nIV vs vendor on {len(solved)} contracts: median {median:.4f}, p95 {p95:.4f} (vol points / 100)")
    assert median < 0.01 and p95 < 0.06
    # where it breaks: by moneyness in standard deviations and by days to expiry
    solved["sd"] = (np.log(solved["strike"] / solved["forward"]).abs()
                    / (solved["vendor_implied_volatility"] * np.sqrt(solved["years_to_expiry"])))
    solved["moneyness"] = pd.cut(solved["sd"], [0, 0.5, 1, 2, 100], labels=["<0.5sd", "0.5-1sd", "1-2sd", ">2sd"])
    solved["dte"] = pd.cut(solved["years_to_expiry"] * 365, [0, 7, 30, 1000], labels=["<=7d", "8-30d", ">30d"])
    solved["err"] = err
    by_m = solved.groupby("moneyness", observed=True)["err"].quantile([0.5, 0.95]).unstack()
    by_t = solved.groupby("dte", observed=True)["err"].quantile([0.5, 0.95]).unstack()
    print(by_m.round(4).to_string(), "\n", by_t.round(4).to_string())
    assert by_m.loc["<0.5sd", 0.5] < by_m.loc[">2sd", 0.5] or by_m.loc[">2sd", 0.95] > by_m.loc["<0.5sd", 0.95]
    # greeks at the vendor's own IV, so the model (not the IV) is compared
    at_vendor = solved.drop(columns=["delta", "gamma", "theta", "vega", "rho"]).assign(
        implied_volatility=solved["vendor_implied_volatility"])
    g = chain_iv_greeks(at_vendor.drop(columns=["years_to_expiry", "rate", "dividend_yield", "forward"]),
                        pd.Series(at_vendor["ts"].to_numpy()))
    delta_err = (g["delta"].to_numpy() - at_vendor["vendor_delta"].to_numpy())
    vega_rel = np.abs(g["vega"].to_numpy() / at_vendor["vendor_vega"].to_numpy() - 1)
    print(f"delta at vendor IV: median |err| {np.nanmedian(np.abs(delta_err)):.4f}, p95 "
          f"{np.nanpercentile(np.abs(delta_err), 95):.4f}; vega relative median {np.nanmedian(vega_rel):.4f}")
    assert np.nanmedian(np.abs(delta_err)) < 0.01


def test_spx_2011_through_the_pipeline_iv_history_ranks_and_1_session_evaluations(warehouse_url: str) -> None:
    ids = add_symbols(warehouse_url, {"SPX": "us_equity"}, source="file")
    by = {"SPX": SPX_DAYS}
    with connect(warehouse_url) as conn, conn.transaction():
        snaps = pipeline.take_snapshots(conn, FilesProvider(SPX_DIR), "us_equity", by, ids, utc(2011, 1, 10))
        ivs = pipeline.build_iv_history(conn, by, ids)
        ranks = pipeline.build_ranks(conn, by, ids)
        evals = pipeline.build_evaluations(conn, "us_equity", by, ids, horizons=(1,))
    assert [p.note for p in snaps.partitions] == [None] * 5
    assert all(p.figures["quarantined"] == 0 for p in snaps.partitions)
    iv = pd.DataFrame([{"day": p.session_date, **p.figures} for p in ivs.partitions])
    print("\n" + iv[["day", "atm_iv_30d", "atm_call_iv", "atm_put_iv", "skew_25d", "term_slope", "iv_rank",
                     "history_sessions"]].round(4).to_string())
    assert iv["atm_iv_30d"].between(0.12, 0.25).all() and (iv["skew_25d"] > 0).all()
    assert not iv["history_complete"].any() and list(iv["history_sessions"]) == [1, 2, 3, 4, 5]
    assert ranks.rows > 0
    rows = [e for p in evals.partitions for e in p.figures.get("evaluations", [])]
    print(pd.DataFrame(rows).to_string())
    assert len(rows) == 8 and all(r["h"] == 1 for r in rows)  # days 2..5 x entry/exit


def test_many_chains_in_one_frame_equal_chain_by_chain() -> None:
    """The batched path (one frame for many underlyings: validation, IV/greeks, ranking) gives exactly the
    per-chain results; a contract symbol seen in two chains is no duplicate, a repeat within one is."""
    ts = pd.Timestamp("2025-06-02 20:00", tz="UTC")
    day = dt.date(2025, 6, 2)
    provider = SyntheticProvider(seed=3)
    chains = [provider.option_chain(t, ts.to_pydatetime()) for t in ("AAPL", "MSFT")]
    chains[1] = pd.concat([chains[1], chains[1].iloc[[0]].assign(bid=0.01, ask=0.02)], ignore_index=True)
    chains.append(chains[0].assign(underlying="COPY"))  # the same contract symbols in another chain
    batch = pd.concat([c.assign(_chain=i) for i, c in enumerate(chains)], ignore_index=True)
    checked = validate_chain(batch, np.full(len(batch), day, dtype=object), by="_chain")
    assert checked.rejected["_chain"].tolist() == [1, 1]  # the conflicting pair, in MSFT only
    priced = chain_iv_greeks(checked.clean, pd.Series(ts, index=checked.clean.index), by="_chain", recompute=True)
    context = pd.DataFrame({"day": day, "hv_20": [0.3, np.nan, 0.3], "iv_rank": [0.2, np.nan, 0.2],
                            "iv_percentile": [0.4, np.nan, 0.4]}, index=pd.Index([0, 1, 2], name="_chain"))
    ranks = rank_chains(priced, "_chain", context, pd.DataFrame())
    for i, chain in enumerate(chains):
        one = validate_chain(chain, day)
        alone = chain_iv_greeks(one.clean, ts, recompute=True)
        mine = priced[priced["_chain"] == i].drop(columns="_chain").reset_index(drop=True)
        pd.testing.assert_frame_equal(mine[alone.columns], alone, check_exact=False, rtol=1e-12, check_dtype=False)
        iv_row = None if i == 1 else {"hv_20": 0.3, "iv_rank": 0.2, "iv_percentile": 0.4}
        expected = rank_contracts(alone, day, iv_row, pd.DataFrame())
        got = ranks[ranks["_chain"] == i].drop(columns="_chain").reset_index(drop=True)
        pd.testing.assert_frame_equal(got[expected.columns], expected, check_exact=False, rtol=1e-12,
                                      check_dtype=False)


def test_ranks_keep_their_underlying_reference(warehouse_url: str) -> None:
    """Migration 0022 checks options_ranks' underlying per statement (not per row): a rank of an unknown
    underlying is refused, and so is deleting a ranked underlying."""
    import psycopg

    ids = add_symbols(warehouse_url, {"AAPL": "us_equity"}, source="synthetic")
    day = dt.date(2025, 6, 2)
    chain = chain_iv_greeks(validate_chain(SyntheticProvider(seed=1).option_chain(
        "AAPL", dt.datetime(2025, 6, 2, 20, tzinfo=dt.UTC)), day).clean, pd.Timestamp("2025-06-02 20:00", tz="UTC"))
    ranks = rank_contracts(chain, day, None, pd.DataFrame())
    ts = pd.Timestamp("2025-06-02 20:00", tz="UTC")
    with connect(warehouse_url) as conn, conn.transaction():
        assert store.write_ranks(conn, ids["AAPL"], day, ts, ranks, None) == len(ranks)
    for statement in (lambda c: store.write_ranks(c, ids["AAPL"] + 1000, day, ts, ranks, None),
                      lambda c: c.execute("DELETE FROM market.symbols WHERE id = %s", (ids["AAPL"],))):
        with connect(warehouse_url) as conn:
            try:
                with conn.transaction():
                    statement(conn)
            except psycopg.errors.ForeignKeyViolation:
                continue
            raise AssertionError("not refused")


# ---------------------------------------------------------------------------------- Dagster, synthetic

TICKERS = ("AAPL", "MSFT")
FIRST, D, LAST = dt.date(2024, 1, 2), dt.date(2024, 4, 10), dt.date(2024, 4, 19)


def _ensemble_rows(symbol_id: int, day: dt.date, prob_up: float) -> pd.DataFrame:
    """Valid ensemble forecast rows of `day` for 1D/5D/10D/20D, in the forecast store's columns."""
    later = session_dates("us_equity", day + dt.timedelta(days=1), day + dt.timedelta(days=40))
    rows = []
    for h_name, h in (("1D", 1), ("5D", 5), ("10D", 10), ("20D", 20)):
        q50 = 0.002 * h * (1 if prob_up > 0.5 else -1)
        q10, q90 = q50 - 0.02 * math.sqrt(h), q50 + 0.02 * math.sqrt(h)
        rows.append({
            "symbol_id": symbol_id, "forecast_date": day, "timeframe": "d1", "horizon": h_name, "horizon_sessions": h,
            "target_date": later[h - 1], "model_type": "ensemble", "base_close": 100.0,
            "forecast_return": math.exp(q50) - 1, "return_q10": q10, "return_q50": q50, "return_q90": q90,
            "target_price": 100 * math.exp(q50), "ci_lower": 100 * math.exp(q10), "ci_upper": 100 * math.exp(q90),
            "ci_level": 0.8, "overall_label": "bullish" if prob_up > 0.5 else "bearish",
            "confidence": abs(prob_up - 0.5) * 2, "prob_up": prob_up, "volatility": 0.015, "neutral_band": 0.001,
            "model_version": "test", "model_version_id": None, "feature_set_hash": None, "dagster_run_id": None,
            "base_predictions": {"lightgbm": {"return_q50": q50}}, "weights": {"lightgbm": 1.0},
            "weights_source": "equal_no_weights", "weights_as_of": None, "supertrend_state": None,
            "supertrend_line": None, "nearest_support": None, "nearest_resistance": None,
            "confidence_raw": abs(prob_up - 0.5) * 2, "calibration_as_of": None,
            "calibration_source": "uncalibrated_no_calibration"})
    return pd.DataFrame(rows)


def _write_forecasts(url: str, symbol_id: int, day: dt.date, prob_up: float) -> None:
    with connect(url) as conn, conn.transaction():
        forecast_store.write_forecasts(conn, "ensemble", [(symbol_id, day)], _ensemble_rows(symbol_id, day, prob_up),
                                       pd.DataFrame())


def _ranks_of(url: str, day: dt.date) -> pd.DataFrame:
    with connect(url) as conn:
        cur = conn.execute("SELECT * FROM options.options_ranks WHERE snapshot_date = %s "
                           "ORDER BY underlying_symbol_id, ranking_mode, rank", (day,))
        frame = pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])
    return frame.drop(columns=["dagster_run_id"]).astype(str)


def test_options_assets_in_real_dagster_runs_without_look_ahead(warehouse_url: str, frozen) -> None:
    assert build_assets(CRYPTO) == []
    ids = add_symbols(warehouse_url, dict.fromkeys(TICKERS, "us_equity"))
    days = session_dates("us_equity", FIRST, LAST)
    ingest_bars(warehouse_url, SyntheticProvider(), "us_equity", ids, days, [Timeframe.D1], RunInfo())
    for sid in ids.values():
        for i, day in enumerate(session_dates("us_equity", D - dt.timedelta(days=10), LAST)):
            _write_forecasts(warehouse_url, sid, day, 0.62 if i % 2 == 0 else 0.4)
    frozen(utc(2024, 4, 22, 12))
    run_days = session_dates("us_equity", D - dt.timedelta(days=8), D + dt.timedelta(days=7))
    resources = {"warehouse": WarehouseResource(database_url=warehouse_url),
                 "market_data": MarketDataResource(provider="synthetic")}
    snapshots, iv_history, ranks, evaluations = build_assets(US_EQUITY)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(symbol_partitions("us_equity").name, list(TICKERS))

        def run(assets, first: dt.date, last: dt.date) -> dg.ExecuteInJobResult:
            tags = {"dagster/asset_partition_range_start": f"{first.isoformat()}|{TICKERS[0]}",
                    "dagster/asset_partition_range_end": f"{last.isoformat()}|{TICKERS[-1]}"}
            result = dg.materialize(assets, instance=instance, resources=resources, tags=tags)
            assert result.success
            return result

        result = run([snapshots, iv_history, ranks, evaluations], run_days[0], run_days[-1])
        checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
        assert checks["chain_quality"].passed and checks["ranks_complete"].passed
        assert checks["atm_iv_present"].passed and checks["rankings_healthy"].passed, checks["rankings_healthy"]
        mats = result.asset_materializations_for_node("us_equity__options_ranks")
        assert len(mats) == 2 * len(run_days) and all("top_entry" in m.metadata for m in mats)
        before = _ranks_of(warehouse_url, D)
        assert len(before) > 0 and before["forecast_horizon"].ne("None").all()
        with connect(warehouse_url) as conn:  # a rank row's quote is its ranked snapshot's row (migration 0023)
            joined = store.load_ranks(conn, ids[TICKERS[0]], D)
        assert len(joined) > 0 and joined["option_type"].notna().all() and joined["strike"].notna().all()
        with connect(warehouse_url) as conn:
            n_eval = conn.execute("SELECT count(*), bool_and(features_match), count(DISTINCT horizon_sessions) "
                                  "FROM options.ranking_evaluations").fetchone()
        assert n_eval[0] > 0 and n_eval[1] is True and n_eval[2] == 2

        # change everything after D: forecasts, bars, chain snapshots; the ranks of D must not move
        for sid in ids.values():
            for day in session_dates("us_equity", D + dt.timedelta(days=1), LAST):
                _write_forecasts(warehouse_url, sid, day, 0.99)
        with connect(warehouse_url) as conn:
            conn.execute("UPDATE market.ohlc_bars SET open = open * 2, high = high * 2, low = low * 2, "
                         "close = close * 2 WHERE session_date > %s", (D,))
            conn.execute("UPDATE options.options_chain_snapshots SET bid = bid * 0.5, mark = mark * 0.75, "
                         "implied_volatility = implied_volatility * 1.5 WHERE snapshot_date > %s", (D,))
            conn.execute("UPDATE options.iv_history SET atm_iv_30d = atm_iv_30d * 3 WHERE snapshot_date > %s", (D,))
            conn.commit()
        run([iv_history, ranks], D, D)
        assert _ranks_of(warehouse_url, D).equals(before)
        # ...and the forecast of D itself does move them (the alignment reads D's ensemble)
        for sid in ids.values():
            _write_forecasts(warehouse_url, sid, D, 0.05)
        run([ranks], D, D)
        assert not _ranks_of(warehouse_url, D).equals(before)

        # tampered stored ranks: the evaluation recomputes them from data cut at D, finds the difference,
        # raises an alert and fails its check
        with connect(warehouse_url) as conn:
            conn.execute("UPDATE options.options_ranks SET composite_score = 1 - composite_score "
                         "WHERE snapshot_date = %s", (D,))
            conn.commit()
        later = session_dates("us_equity", D + dt.timedelta(days=1), LAST)[0]
        result = run([evaluations], later, later)
        check = result.get_asset_check_evaluations()[0]
        assert not check.passed and "recomputed from data cut" in check.description
        with connect(warehouse_url) as conn:
            raised = open_alerts(conn, alert_type=pipeline.RANKING_UNHEALTHY)
        assert {a.symbol for a in raised} == set(TICKERS)
        assert top_ranked_lines(warehouse_url, "us_equity", n=2)[0].startswith("top-ranked contracts")
