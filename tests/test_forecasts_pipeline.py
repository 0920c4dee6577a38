"""The forecast pipeline (swiftbolt/forecasts/pipeline.py) on a real PostgreSQL with a small synthetic
market, seeded once per module; every test works in a transaction that is rolled back. Purged gap,
determinism, idempotent re-runs, reasons instead of crashes, weights as of the day before."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator

import numpy as np
import psycopg
import pytest

from swiftbolt.db.connection import connect
from swiftbolt.forecasts import pipeline
from swiftbolt.forecasts.config import ForecastSettings
from swiftbolt.forecasts.horizons import session_index
from tests.conftest import _create_db, _drop_db
from tests.forecast_helpers import MARKET, seed_bars, seed_features

pytestmark = pytest.mark.warehouse

FIRST, LAST = dt.date(2023, 6, 1), dt.date(2024, 7, 31)
T = dt.date(2024, 5, 31)  # a Friday: training end
D1, D2 = dt.date(2024, 6, 3), dt.date(2024, 6, 4)
SETTINGS = ForecastSettings(lgbm_threads=1, train_sessions=1000, prophet_lookback=250)
TICKERS = ("AAA", "BBB", "CCC")


@pytest.fixture(scope="module")
def seeded(pg_admin_url: str, template_db: str) -> Iterator[tuple[str, dict[str, int]]]:
    name = f"swiftbolt_fc{os.getpid()}"
    url = _create_db(pg_admin_url, name, template=template_db)
    ids = seed_bars(url, {**dict.fromkeys(TICKERS, (FIRST, LAST)), "NEW": (dt.date(2024, 4, 22), LAST)})
    seed_features(url, ids, FIRST, LAST)
    yield url, ids
    _drop_db(pg_admin_url, name)


@pytest.fixture
def conn(seeded: tuple[str, dict[str, int]]) -> Iterator[psycopg.Connection]:
    """A connection whose work is rolled back at the end (the pipeline's transactions become savepoints)."""
    c = connect(seeded[0])
    try:
        yield c
    finally:
        c.rollback()
        c.close()


def _model(conn: psycopg.Connection, horizon: str) -> tuple:
    return conn.execute("SELECT sha256, train_start, last_sample_date, train_end, n_samples FROM ml.ml_model_versions "
                        "WHERE horizon = %s AND train_end = %s", (horizon, T)).fetchone()


def test_purged_gap_model_sees_samples_up_to_t_minus_h_only(conn: psycopg.Connection, seeded) -> None:
    ids = seeded[1]
    index = session_index(MARKET, FIRST, LAST)
    report = pipeline.train_models(conn, MARKET, T, settings=SETTINGS, horizons=("5D",))
    sha, first, last_sample, train_end, n = _model(conn, "5D")
    assert report.reasons == {} and report.data_version == sha
    assert train_end == T and last_sample == index.shift(T, -5)
    assert report.models[0].validation["lightgbm"]["n"] > 0
    # the samples after T - h, and every bar after T, do not reach the model: change them and retrain
    conn.execute("UPDATE ml.feature_rows SET feature_values = array_fill(0.5::float8, "
                 "ARRAY[cardinality(feature_values)]) WHERE session_date > %s", (last_sample,))
    conn.execute("UPDATE market.ohlc_bars SET close = close * 2, high = high * 2 WHERE session_date > %s", (T,))
    pipeline.train_models(conn, MARKET, T, settings=SETTINGS, horizons=("5D",))
    assert _model(conn, "5D") == (sha, first, last_sample, train_end, n)
    # the last sample (T - h) does: change its features and the hash changes
    conn.execute("UPDATE ml.feature_rows SET feature_values = array_fill(0.5::float8, "
                 "ARRAY[cardinality(feature_values)]) WHERE session_date = %s AND symbol_id = %s",
                 (last_sample, ids["AAA"]))
    pipeline.train_models(conn, MARKET, T, settings=SETTINGS, horizons=("5D",))
    assert _model(conn, "5D")[0] != sha


def _snapshot(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT f.id, f.symbol_id, f.forecast_date, f.horizon, f.model_type, f.return_q10, f.return_q50, f.return_q90,"
        " f.target_price, f.ci_lower, f.ci_upper, f.overall_label, f.confidence, f.model_version, f.weights::text,"
        " (SELECT array_agg(p.return_q50 ORDER BY p.step) FROM ml.forecast_points p WHERE p.forecast_id = f.id) "
        "FROM ml.ml_forecasts f ORDER BY 2, 3, 4, 5").fetchall()


def test_forecasts_are_deterministic_idempotent_and_short_history_gets_a_reason(conn: psycopg.Connection,
                                                                               seeded) -> None:
    requests = {t: [D1, D2] for t in (*TICKERS, "NEW")}
    first = pipeline.train_models(conn, MARKET, T, settings=SETTINGS, horizons=("1D", "20D"))
    reports = [pipeline.lgbm_forecasts(conn, MARKET, requests, run_id="r1"),
               pipeline.prophet_forecasts(conn, MARKET, requests, run_id="r1", settings=SETTINGS),
               pipeline.ensemble_forecasts(conn, MARKET, requests, run_id="r1")]
    snap = _snapshot(conn)
    # 3 symbols x 2 days: lightgbm 2 horizons, prophet 4, ensemble 4
    assert [r.rows_written for r in reports] == [12, 24, 24]
    assert [r.points_written for r in reports] == [6 * 21, 6 * 36, 6 * 36]
    for r in reports:  # NEW has 30 sessions up to D1: a reason, no row, no crash
        new = [p for p in r.partitions if p.symbol == "NEW"]
        assert [p.rows for p in new] == [0, 0]
        assert all(p.reason and p.reason.startswith("not enough history" if r.model_type != "ensemble"
                                                    else "no base forecasts") for p in new)
    lgbm = reports[0].partitions[0]
    assert set(lgbm.labels) == {"1D", "20D"} and set(lgbm.notes) == {"5D", "10D"}
    assert all(v.startswith("no model") for v in lgbm.notes.values())
    # everything again: same model hashes, same forecast ids and values
    again = pipeline.train_models(conn, MARKET, T, settings=SETTINGS, horizons=("1D", "20D"))
    assert again.data_version == first.data_version
    pipeline.lgbm_forecasts(conn, MARKET, requests, run_id="r2")
    pipeline.prophet_forecasts(conn, MARKET, requests, run_id="r2", settings=SETTINGS)
    pipeline.ensemble_forecasts(conn, MARKET, requests, run_id="r2")
    assert _snapshot(conn) == snap
    row = conn.execute("SELECT weights_source, weights, base_predictions ? 'prophet', supertrend_state, "
                       "nearest_support < base_close FROM ml.ml_forecasts WHERE model_type = 'ensemble' AND "
                       "horizon = '1D' LIMIT 1").fetchone()
    assert row[0] == "equal_no_weights" and row[1] == {"lightgbm": 0.5, "prophet": 0.5}
    assert row[2] is True and row[3] in ("bullish", "bearish") and row[4] is True


def test_ensemble_uses_weights_of_the_newest_day_before_d(conn: psycopg.Connection, seeded) -> None:
    ids = seeded[1]
    requests = {t: [D2] for t in TICKERS}
    pipeline.train_models(conn, MARKET, T, settings=SETTINGS, horizons=("1D",))
    pipeline.lgbm_forecasts(conn, MARKET, requests)
    pipeline.prophet_forecasts(conn, MARKET, requests, settings=SETTINGS)

    def weights(day: dt.date, w_lgbm: float, symbol_id: int | None = None) -> None:
        for model, w in (("lightgbm", w_lgbm), ("prophet", 1 - w_lgbm)):
            conn.execute("INSERT INTO ml.model_weights (market, as_of_date, horizon, symbol_id, model_type, weight, "
                         "reason) VALUES (%s, %s, '1D', %s, %s, %s, 'test')", (MARKET, day, symbol_id, model, w))

    weights(D1, 0.75)                   # the market's weights of D-1: used
    weights(D2, 0.10)                   # weights of D itself: never read for D
    weights(D1, 0.40, ids["CCC"])       # CCC's own weights of D-1: preferred
    weights(dt.date(2024, 5, 30), 0.9, ids["BBB"])  # BBB's are older than the market's: not used
    report = pipeline.ensemble_forecasts(conn, MARKET, requests)
    # 1D: AAA and BBB the market's, CCC its own; 5D/10D/20D: no weights stored, equal
    assert report.weights_sources == {"model_weights_market": 2, "model_weights_symbol": 1, "equal_no_weights": 9}
    rows = conn.execute(
        "SELECT s.ticker, e.horizon, e.weights_source, e.weights_as_of, (e.weights->>'lightgbm')::float8, "
        "e.return_q50, l.return_q50, p.return_q50 FROM ml.ml_forecasts e JOIN market.symbols s ON s.id = e.symbol_id "
        "JOIN ml.ml_forecasts p ON p.symbol_id = e.symbol_id AND p.forecast_date = e.forecast_date "
        "AND p.horizon = e.horizon AND p.model_type = 'prophet' "
        "LEFT JOIN ml.ml_forecasts l ON l.symbol_id = e.symbol_id AND l.forecast_date = e.forecast_date "
        "AND l.horizon = e.horizon AND l.model_type = 'lightgbm' "
        "WHERE e.model_type = 'ensemble' ORDER BY 1, 2").fetchall()
    by_key = {(r[0], r[1]): r for r in rows}
    for ticker, w in (("AAA", 0.75), ("BBB", 0.75), ("CCC", 0.40)):
        _, _, source, as_of, w_lgbm, q50, q50_l, q50_p = by_key[(ticker, "1D")]
        assert as_of == D1 and w_lgbm == pytest.approx(w)
        assert source == ("model_weights_symbol" if ticker == "CCC" else "model_weights_market")
        assert q50 == pytest.approx(w * q50_l + (1 - w) * q50_p, abs=1e-15)
        # 5D has no LightGBM model and no stored weights: Prophet alone, equal weights over what exists
        _, _, source5, as_of5, w5, q50_5, _, q50_p5 = by_key[(ticker, "5D")]
        assert (source5, as_of5, w5, q50_5) == ("equal_no_weights", None, None, pytest.approx(q50_p5))
    assert np.isfinite([r[5] for r in rows]).all()
