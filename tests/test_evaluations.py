"""Forecast evaluations, the weights feedback loop and confidence calibration (issue 12).

Pure maths first (no database); then real Dagster runs on a real PostgreSQL over a constructed history in
which LightGBM is always right (its median is the realised return) and Prophet always wrong (the opposite
sign): evaluations, weights, calibration, the D-1 step, the ensemble, its evaluations and the performance
with baselines; look-ahead proven by changing what comes later; evaluations on real SPY bars
(tests/fixtures/vendor_equity_daily) recomputed by hand."""

from __future__ import annotations

import datetime as dt
import math

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from assets.evaluations import accuracy_drift, build_assets
from assets.forecasts import build_ml_forecasts
from assets.partitions import symbol_partitions
from resources import WarehouseResource
from swiftbolt.calendars.sessions import session_dates
from swiftbolt.db.connection import connect
from swiftbolt.evaluations import calibration, drift, pipeline
from swiftbolt.evaluations.evaluate import evaluate
from swiftbolt.evaluations.weights import compute_weights
from swiftbolt.forecasts import store as forecast_store
from swiftbolt.forecasts.dataset import forward_returns, load_closes, with_sessions
from swiftbolt.forecasts.horizons import calendar_around
from swiftbolt.forecasts.pipeline import _rows
from swiftbolt.market_data.ingest import RunInfo, ingest_bars
from swiftbolt.market_data.types import Timeframe
from swiftbolt.markets import US_EQUITY
from swiftbolt.providers.files import FilesProvider
from tests.forecast_helpers import MARKET, seed_bars
from tests.helpers import FIXTURES, add_symbols

# ------------------------------------------------------------------------------------------ pure maths


def _forecast(**kw) -> dict:
    base = {"id": 1, "symbol_id": 1, "model_type": "lightgbm", "horizon": "1D", "forecast_date": dt.date(2024, 1, 2),
            "target_date": dt.date(2024, 1, 3), "base_close": 100.0, "forecast_return": 0.01,
            "return_q50": math.log(1.01), "target_price": 101.0, "ci_lower": 98.0, "ci_upper": 103.0,
            "overall_label": "bullish", "confidence": 0.7, "prob_up": 0.7, "neutral_band": 0.001,
            "close_base": 50.0, "close_target": 49.0}
    return base | kw


def test_evaluation_by_hand_with_a_split_between_forecast_and_outcome() -> None:
    # adjusted closes 50 -> 49 (the raw closes may differ by a split: only the ratio counts): -2%
    rows = evaluate(pd.DataFrame([_forecast(), _forecast(id=2, overall_label="bearish", confidence=0.6,
                                                         close_target=52.0),
                                  _forecast(id=3, close_target=math.nan)]))
    assert len(rows) == 2  # no outcome, no evaluation
    a, b = rows.iloc[0], rows.iloc[1]
    assert a["realized_price"] == pytest.approx(98.0) and a["realized_return"] == pytest.approx(-0.02)
    assert not a["direction_correct"] and a["realized_label"] == "bearish" and not a["sign_correct"]
    assert a["price_error"] == pytest.approx(3.0) and a["price_error_pct"] == pytest.approx(3.0 / 98.0)
    assert a["inside_interval"]
    assert b["realized_price"] == pytest.approx(104.0) and not b["direction_correct"]  # bearish, +4%
    assert not b["inside_interval"] and b["price_error"] == pytest.approx(-3.0)


def test_weights_follow_the_errors_and_sum_to_one() -> None:
    rng = np.random.default_rng(1)
    rows = []
    for day in range(40):
        for sid in (1, 2, 3):
            r = rng.normal(0, 0.01)
            for model, pred in (("lightgbm", r + rng.normal(0, 0.001)), ("prophet", -r)):
                rows.append({"symbol_id": sid, "forecast_date": day, "horizon": "1D", "model_type": model,
                             "predicted_return": math.expm1(pred), "realized_log_return": r,
                             "direction_correct": np.sign(pred) == np.sign(r)})
    weights, skipped = compute_weights(pd.DataFrame(rows))
    assert not skipped
    market = weights[weights["symbol_id"].isna()].set_index("model_type")["weight"]
    assert market["lightgbm"] > 0.9 and 0.05 <= market["prophet"] < 0.06  # the floor, plus its tiny share
    for _, g in weights.groupby([weights["symbol_id"].fillna(-1), "horizon"]):
        assert g["weight"].sum() == pytest.approx(1.0, abs=1e-12)
    own = weights[weights["symbol_id"] == 1].set_index("model_type")["weight"]
    assert own["lightgbm"] > 0.9  # 40 pairs, shrunk toward a market that agrees
    few, why = compute_weights(pd.DataFrame(rows[:20]))
    assert few.empty and "too few evaluations" in why["1D"]


def test_calibration_moves_stated_confidence_to_the_realised_rate() -> None:
    rng = np.random.default_rng(7)
    stated = np.r_[np.full(4000, 0.8), np.full(4000, 0.6)]
    realised = np.r_[rng.random(4000) < 0.6, rng.random(4000) < 0.55]   # stated 0.8 -> 0.6, 0.6 -> 0.55
    curve = calibration.fit(stated, realised)
    mapped = curve.apply(np.array([0.8, 0.6]))
    assert mapped[0] == pytest.approx(0.6, abs=0.02) and mapped[1] == pytest.approx(0.55, abs=0.02)
    assert curve.ece_before == pytest.approx(0.125, abs=0.02) and curve.ece_after < 0.005
    assert (np.diff(curve.buckets["calibrated"]) >= 0).all()
    # isotonic: a violation is pooled
    assert calibration.isotonic_fit(np.array([1, 2, 3]), np.array([1.0, 0.0, 1.0])).tolist() == [0.5, 0.5, 1.0]


def test_psi_is_zero_for_the_same_population_and_large_for_a_shift() -> None:
    rng = np.random.default_rng(3)
    ref = rng.normal(0, 1, 5000)
    assert drift.psi(ref, rng.normal(0, 1, 2000)) < 0.02
    assert drift.psi(ref, rng.normal(1.5, 1, 2000)) > drift.PSI_ALERT


def test_accuracy_drift_uses_the_sampling_margin() -> None:
    perf = pd.DataFrame([
        {"horizon": "1D", "model": "always_up", "is_baseline": True, "n": 400, "hit_rate": 0.56, "ic": np.nan},
        {"horizon": "1D", "model": "lightgbm", "is_baseline": False, "n": 400, "hit_rate": 0.52, "ic": 0.01},
        {"horizon": "1D", "model": "prophet", "is_baseline": False, "n": 400, "hit_rate": 0.45, "ic": 0.0}])
    drifting = accuracy_drift(perf)   # margin 1.96 sqrt(.56 .44 / 400) = 0.049
    assert [d["model"] for d in drifting] == ["prophet"]


# ------------------------------------------------------------------------------ Dagster on PostgreSQL

FIRST, LAST = dt.date(2023, 6, 1), dt.date(2024, 4, 30)
F_FIRST, F_LAST = dt.date(2024, 1, 2), dt.date(2024, 3, 28)
TICKERS = ("AAA", "BBB", "CCC")
HORIZONS = {"1D": 1, "5D": 5}


def _constructed_forecasts(url: str, ids: dict[str, int]) -> None:
    """Base forecasts of every session in [F_FIRST, F_LAST]: LightGBM's median is the realised log return
    (always right), Prophet's its opposite (always wrong); intervals +-0.02 around the median."""
    index = calendar_around(MARKET, FIRST, LAST, before=5, after=25)
    with connect(url) as conn, conn.transaction():
        fs = conn.execute("INSERT INTO ml.feature_sets (name, definition_hash, code_version, feature_keys, params,"
                          " warmup_bars) VALUES ('test', 'x', '1', '{f}', '{}', 0) RETURNING id").fetchone()[0]
        run = forecast_store.start_training_run(conn, MARKET, F_FIRST, None, None, fs, dt.datetime.now(dt.UTC))
        mv = conn.execute(
            "INSERT INTO ml.ml_model_versions (model_type, market, horizon, horizon_sessions, train_start, train_end,"
            " last_sample_date, n_samples, n_symbols, n_features, feature_names, feature_set_id, feature_set_hash,"
            " parameters, quantiles, model_texts, sha256, training_run_id, library_version) VALUES ('lightgbm', %s,"
            " '1D', 1, '2023-06-01', '2023-12-29', '2023-12-28', 1, 1, 1, '{f}', %s, 'x', '{}', '{0.5}', '{t}', %s,"
            " %s, 'test') RETURNING id", (MARKET, fs, "0" * 64, run)).fetchone()[0]
        sessions = with_sessions(load_closes(conn, sorted(ids.values()), FIRST, LAST), index)
        for model, sign in (("lightgbm", 1.0), ("prophet", -1.0)):
            rows = []
            for horizon, h in HORIZONS.items():
                s = sessions.assign(fwd=forward_returns(sessions, h))
                s = s[(s["session_date"].dt.date >= F_FIRST) & (s["session_date"].dt.date <= F_LAST)]
                s = s.reset_index(drop=True)
                q50 = sign * s["fwd"].to_numpy(float)
                q = np.column_stack([q50 - 0.02, q50, q50 + 0.02])
                extra = {"model_version": "m" * 64, "model_version_id": mv} if model == "lightgbm" else \
                    {"model_version": "p" * 64}
                rows.append(_rows(s, q, horizon, model, index, None, **extra))
            parts = list(zip(s["symbol_id"], s["session_date"].dt.date, strict=True))
            forecast_store.write_forecasts(conn, model, parts, pd.concat(rows, ignore_index=True), pd.DataFrame())


def _day_tags(first: dt.date, last: dt.date) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat()}


def _grid_tags(first: dt.date, last: dt.date) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": f"{first.isoformat()}|{TICKERS[0]}",
            "dagster/asset_partition_range_end": f"{last.isoformat()}|{TICKERS[-1]}"}


def _table(url: str, query: str, params: tuple = ()) -> pd.DataFrame:
    with connect(url) as conn:
        cur = conn.execute(query, params)
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def _ensemble_of(url: str, day: dt.date) -> pd.DataFrame:
    rows = _table(url, "SELECT * FROM ml.ml_forecasts WHERE model_type = 'ensemble' AND forecast_date = %s "
                       "ORDER BY symbol_id, horizon", (day,))
    return rows.drop(columns=["id", "created_at", "dagster_run_id"]).astype(str)


@pytest.mark.warehouse
def test_feedback_loop_through_dagster_without_look_ahead(warehouse_url: str) -> None:
    ids = seed_bars(warehouse_url, dict.fromkeys(TICKERS, (FIRST, LAST)))
    _constructed_forecasts(warehouse_url, ids)
    resources = {"warehouse": WarehouseResource(database_url=warehouse_url)}
    evals, weights, calib, inputs, ens_evals, perf, *checks = build_assets(US_EQUITY)
    ml = build_ml_forecasts(US_EQUITY)
    days = session_dates(MARKET, F_FIRST, LAST)
    e_first, e_last = days[1], dt.date(2024, 4, 5)
    D = dt.date(2024, 3, 1)   # the ensemble day of the look-ahead test
    prev = days[days.index(D) - 1]
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(symbol_partitions(MARKET).name, list(TICKERS))

        def run(assets: list, tags: dict) -> dg.ExecuteInJobResult:
            result = dg.materialize(assets, instance=instance, resources=resources, tags=tags)
            assert result.success
            return result

        # one run per asset for the whole range (single-run backfill policy), not one per day
        run([evals], _grid_tags(e_first, e_last))
        run([weights], _day_tags(e_first, e_last))
        run([calib], _day_tags(e_first, e_last))
        run([inputs], _day_tags(D, D))
        run([ml], _grid_tags(D, D))
        stored = _table(warehouse_url, "SELECT e.*, f.target_date FROM ml.forecast_evaluations e "
                                       "JOIN ml.ml_forecasts f ON f.id = e.forecast_id")
        # evaluations: at the target session, never before, LightGBM always right, Prophet always wrong
        assert len(stored) > 0 and (stored["evaluation_date"] == stored["target_date"]).all()
        assert (stored["evaluation_date"] > stored["forecast_date"]).all()
        by_model = stored.groupby("model_type")["sign_correct"].mean()
        assert by_model["lightgbm"] == 1.0 and by_model["prophet"] == 0.0
        # weights: sum to 1 per scope, LightGBM gains, computed from the window up to the day only
        w = _table(warehouse_url, "SELECT * FROM ml.model_weights")
        sums = w.groupby(["as_of_date", "horizon", w["symbol_id"].fillna(-1)])["weight"].sum()
        assert np.allclose(sums, 1.0, atol=1e-9)
        assert (w["window_end"] <= w["as_of_date"]).all()
        latest = w[(w["as_of_date"] == e_last) & w["symbol_id"].isna()].set_index(["horizon", "model_type"])["weight"]
        assert latest[("1D", "lightgbm")] > 0.9 and latest[("1D", "prophet")] < 0.1
        # the ensemble of D used the weights and calibration of D-1
        ens = _table(warehouse_url, "SELECT * FROM ml.ml_forecasts WHERE model_type = 'ensemble'")
        assert len(ens) == len(TICKERS) * len(HORIZONS)
        assert (ens["weights_as_of"] == prev).all() and set(ens["weights_source"]) <= {
            "model_weights_market", "model_weights_symbol"}
        assert (ens["calibration_as_of"] == prev).all() and set(ens["calibration_source"]) == {"isotonic"}
        assert (ens["confidence_raw"].notna()).all()
        before = _ensemble_of(warehouse_url, D)

        # change the future: evaluations after D-1 and weights/calibration of D and later
        with connect(warehouse_url) as conn:
            conn.execute("UPDATE ml.forecast_evaluations SET direction_correct = NOT direction_correct, "
                         "realized_log_return = -realized_log_return WHERE evaluation_date >= %s", (D,))
            conn.execute("UPDATE ml.model_weights SET weight = 1 - weight WHERE as_of_date >= %s", (D,))
            conn.execute("UPDATE ml.ml_confidence_calibration SET calibrated = 1 - predicted, adjustment = "
                         "1 - 2 * predicted WHERE as_of_date >= %s AND predicted BETWEEN 0 AND 1", (D,))
            conn.commit()
        run([ml], _grid_tags(D, D))
        pd.testing.assert_frame_equal(before, _ensemble_of(warehouse_url, D))
        # weights of a day never read later evaluations: recomputing the weights of D-1 now gives the same
        w_prev = w[w["as_of_date"] == prev].drop(columns=["id", "created_at", "dagster_run_id"])
        run([weights], _day_tags(prev, prev))
        again = _table(warehouse_url, "SELECT * FROM ml.model_weights WHERE as_of_date = %s", (prev,))
        again = again.drop(columns=["id", "created_at", "dagster_run_id"])
        key = ["horizon", "symbol_id", "model_type"]
        pd.testing.assert_frame_equal(w_prev.sort_values(key).reset_index(drop=True),
                                      again.sort_values(key).reset_index(drop=True))

        # an evaluation never exists before its outcome: a session without bars gets none
        future = dt.date(2024, 5, 1)
        result = run([evals], _grid_tags(future, future))
        assert _table(warehouse_url, "SELECT count(*) AS n FROM ml.forecast_evaluations WHERE evaluation_date = %s",
                      (future,))["n"][0] == 0
        meta = [m for m in result.get_asset_materialization_events()]
        reasons = {e.materialization.metadata["no_evaluation_reason"].value for e in meta
                   if "no_evaluation_reason" in e.materialization.metadata}
        assert any("outcome not realized" in r for r in reasons)

        # the ensemble's evaluations and the performance beside the baselines; the checks (re-evaluating
        # the range restores the evaluations changed above: writes are idempotent per partition)
        run([evals], _grid_tags(e_first, e_last))
        run([ml], _grid_tags(days[0], D))
        run([ens_evals], _grid_tags(e_first, e_last))
        perf_run = run([perf, *checks[1:4]], _day_tags(e_last, e_last))
        table = _table(warehouse_url, "SELECT * FROM ml.model_performance_history WHERE as_of_date = %s", (e_last,))
        models = set(table["model"])
        assert {"lightgbm", "prophet", "ensemble", "persistence", "always_up", "up_frequency", "zero"} <= models
        one = table[table["horizon"] == "1D"].set_index("model")
        assert one.loc["lightgbm", "hit_rate"] == 1.0 and one.loc["prophet", "hit_rate"] == 0.0
        assert one.loc["lightgbm", "ic"] == pytest.approx(1.0) and one.loc["lightgbm", "mae"] == pytest.approx(0.0)
        assert one.loc["ensemble", "hit_rate"] > 0.9
        checks_by_name = {c.check_name: c for c in perf_run.get_asset_check_evaluations()}
        assert not checks_by_name["accuracy_drift"].passed  # prophet is always wrong
        with connect(warehouse_url) as conn:
            open_types = {r[0] for r in conn.execute(
                "SELECT alert_type FROM ops.alerts WHERE resolved_at IS NULL").fetchall()}
        assert "accuracy_drift" in open_types
        weights_check = dg.materialize([weights, checks[0]], instance=instance, resources=resources,
                                       tags=_day_tags(e_last, e_last))
        assert all(c.passed for c in weights_check.get_asset_check_evaluations())


@pytest.mark.warehouse
def test_evaluations_on_real_spy_bars_equal_a_recomputation_from_the_file(warehouse_url: str) -> None:
    """SPY 2020-2021 daily bars (tests/fixtures/vendor_equity_daily, QuantConnect Lean sample data): three
    hand-made forecasts evaluated against the file's closes."""
    ids = add_symbols(warehouse_url, {"SPY": MARKET}, source="file")
    days = session_dates(MARKET, dt.date(2020, 6, 1), dt.date(2020, 9, 30))
    ingest_bars(warehouse_url, FilesProvider(FIXTURES / "vendor_equity_daily"), MARKET, ids, days, [Timeframe.D1],
                RunInfo())
    spy = pd.read_csv(FIXTURES / "vendor_equity_daily" / "SPY.csv", parse_dates=["date"]).set_index("date")["close"]
    index = calendar_around(MARKET, days[0], days[-1], before=5, after=25)
    d0 = dt.date(2020, 8, 3)
    with connect(warehouse_url) as conn, conn.transaction():
        sessions = with_sessions(load_closes(conn, [ids["SPY"]], days[0], days[-1]), index)
        s = sessions[sessions["session_date"].dt.date == d0].reset_index(drop=True)
        rows = [_rows(s, np.array([[q50 - 0.02, q50, q50 + 0.02]]), horizon, "prophet", index, None,
                      model_version="p" * 64) for horizon, q50 in (("1D", 0.004), ("5D", -0.01))]
        forecast_store.write_forecasts(conn, "prophet", [(ids["SPY"], d0)], pd.concat(rows), pd.DataFrame())
    targets = {"1D": dt.date(2020, 8, 4), "5D": dt.date(2020, 8, 10)}
    with connect(warehouse_url) as conn:
        report = pipeline.evaluate_forecasts(conn, MARKET, {"SPY": list(targets.values())}, ("prophet",))
        conn.commit()
    assert report.rows_written == 2
    got = _table(warehouse_url, "SELECT * FROM ml.forecast_evaluations ORDER BY horizon").set_index("horizon")
    base = spy[pd.Timestamp(d0)]
    for horizon, q50 in (("1D", 0.004), ("5D", -0.01)):
        realized = spy[pd.Timestamp(targets[horizon])]   # no corporate action in between: raw = adjusted ratio
        r = math.log(realized / base)
        row = got.loc[horizon]
        assert row["realized_price"] == pytest.approx(realized, rel=1e-9)
        assert row["realized_return"] == pytest.approx(realized / base - 1, rel=1e-9)
        assert row["price_error"] == pytest.approx(base * math.exp(q50) - realized, rel=1e-9)
        assert row["sign_correct"] == (np.sign(q50) == np.sign(r))
        assert row["inside_interval"] == (base * math.exp(q50 - 0.02) <= realized <= base * math.exp(q50 + 0.02))
