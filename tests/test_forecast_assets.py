"""Forecast assets through real Dagster runs on a real PostgreSQL: zero look-ahead proven by changing the
future (every bar after D, prices and volumes, every timeframe) and re-running the whole chain for D; the
model's hash as data version; per-partition metadata with the reason a symbol gets no forecast."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pandas as pd
import pytest

from assets.features import build_feature_rows, build_sr_levels, build_supertrend_signals
from assets.forecasts import build_assets, model_partitions
from assets.partitions import symbol_partitions
from resources import WarehouseResource
from swiftbolt.calendars.sessions import session_dates
from swiftbolt.db.connection import connect
from swiftbolt.market_data.ingest import RunInfo, ingest_bars
from swiftbolt.market_data.types import Timeframe
from swiftbolt.markets import US_EQUITY
from swiftbolt.providers.synthetic import SyntheticProvider
from tests.forecast_helpers import MARKET, seed_bars, seed_features

pytestmark = pytest.mark.warehouse

FIRST, D, LAST = dt.date(2023, 6, 1), dt.date(2024, 6, 12), dt.date(2024, 7, 31)
MODEL_WEEK = "2024-06-03"  # Mon 3 - Sun 9 June: training end Fri 7 June < D
TICKERS = ("AAA", "BBB", "CCC")


def _forecast_rows(url: str) -> pd.DataFrame:
    """Every forecast row and point of D, without the columns that name the run or the write time."""
    with connect(url) as conn:
        cur = conn.execute(
            "SELECT f.*, m.sha256 AS model_sha FROM ml.ml_forecasts f "
            "LEFT JOIN ml.ml_model_versions m ON m.id = f.model_version_id WHERE f.forecast_date = %s "
            "ORDER BY symbol_id, model_type, horizon", (D,))
        rows = pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])
        cur = conn.execute(
            "SELECT f.symbol_id, f.model_type, f.horizon, p.* FROM ml.forecast_points p "
            "JOIN ml.ml_forecasts f ON f.id = p.forecast_id WHERE f.forecast_date = %s "
            "ORDER BY 1, 2, 3, p.step", (D,))
        points = pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])
    rows = rows.drop(columns=["id", "created_at", "dagster_run_id", "model_version_id"])
    points = points.drop(columns=["forecast_id"])
    for col in ("base_predictions", "weights"):
        rows[col] = rows[col].astype(str)
    # values as text: repr of a float is exact, so equal text = bit-identical values
    return pd.concat([rows.astype(str), points.astype(str)], keys=["rows", "points"])


def _run_chain(instance: dg.DagsterInstance, resources: dict, symbol: str) -> dg.ExecuteInJobResult:
    """The whole chain for (D, symbol): features of D, the model used on D, base forecasts and ensemble."""
    key = dg.MultiPartitionKey({"date": D.isoformat(), "symbol": symbol})
    features = [build_feature_rows(US_EQUITY), build_sr_levels(US_EQUITY), build_supertrend_signals(US_EQUITY)]
    models, lgbm, prophet, ensemble = build_assets(US_EQUITY)
    assert dg.materialize(features, instance=instance, resources=resources, partition_key=key).success
    trained = dg.materialize([models], instance=instance, resources=resources, partition_key=MODEL_WEEK)
    assert trained.success
    result = dg.materialize([lgbm, prophet, ensemble], instance=instance, resources=resources, partition_key=key)
    assert result.success
    return trained


def _bump(url: str, where: str, params: tuple) -> int:
    with connect(url) as conn:
        n = conn.execute("UPDATE market.ohlc_bars SET open = open * 1.5, high = high * 1.5, low = low * 1.5, "
                         f"close = close * 1.5, volume = volume * 3 + 7 WHERE {where}", params).rowcount
        conn.commit()
    return n


def test_forecasts_of_d_ignore_every_later_bar_and_follow_bars_up_to_d(warehouse_url: str) -> None:
    ids = seed_bars(warehouse_url, dict.fromkeys(TICKERS, (FIRST, LAST)))
    intraday = session_dates(MARKET, D - dt.timedelta(days=10), D + dt.timedelta(days=14))
    ingest_bars(warehouse_url, SyntheticProvider(), MARKET, ids, intraday, [Timeframe.M15], RunInfo())
    seed_features(warehouse_url, ids, FIRST, LAST)
    resources = {"warehouse": WarehouseResource(database_url=warehouse_url)}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(symbol_partitions(MARKET).name, list(TICKERS))
        first = _run_chain(instance, resources, "AAA")
        before = _forecast_rows(warehouse_url)
        assert set(before.loc["rows", "model_type"]) == {"lightgbm", "prophet", "ensemble"}
        assert len(before.loc["rows"]) == 12 and len(before.loc["points"]) == 3 * (1 + 5 + 10 + 20)

        # every bar after D: all symbols, all timeframes (d1, m15 and the derived h1, h4, w1, mo1), prices, volumes
        with connect(warehouse_url) as conn:
            counts = dict(conn.execute("SELECT timeframe, count(*) FROM market.ohlc_bars WHERE session_date > %s "
                                       "GROUP BY timeframe", (D,)).fetchall())
        assert set(counts) == {"d1", "h1", "h4", "m15", "w1", "mo1"}
        assert _bump(warehouse_url, "session_date > %s", (D,)) == sum(counts.values())
        second = _run_chain(instance, resources, "AAA")
        after = _forecast_rows(warehouse_url)
        pd.testing.assert_frame_equal(before, after)  # bit-identical
        version = instance.get_latest_data_version_record(dg.AssetKey([MARKET, "forecast_models"]),
                                                          partition_key=MODEL_WEEK)
        assert first.get_asset_materialization_events()[0].materialization.tags["dagster/data_version"] == \
            second.get_asset_materialization_events()[0].materialization.tags["dagster/data_version"]
        assert version is not None

        # a bar at D changes D's forecasts (the d1 bar of AAA on D, and its intraday bars)
        with connect(warehouse_url) as conn:
            conn.execute("UPDATE market.ohlc_bars SET open = open * 0.97, high = high * 0.97, low = low * 0.97, "
                         "close = close * 0.97 WHERE session_date = %s AND symbol_id = %s", (D, ids["AAA"]))
            conn.commit()
        _run_chain(instance, resources, "AAA")
        changed = _forecast_rows(warehouse_url)
    assert not before.equals(changed)
    with connect(warehouse_url) as conn:
        diff = conn.execute("SELECT count(DISTINCT model_type) FROM ml.ml_forecasts WHERE forecast_date = %s",
                            (D,)).fetchone()
    assert diff == (3,)


def test_model_asset_data_version_is_the_model_hash_and_short_history_gets_a_reason(warehouse_url: str) -> None:
    ids = seed_bars(warehouse_url, {"AAA": (FIRST, LAST), "BBB": (FIRST, LAST), "NEW": (D - dt.timedelta(days=40),
                                                                                       LAST)})
    seed_features(warehouse_url, ids, FIRST, LAST)
    resources = {"warehouse": WarehouseResource(database_url=warehouse_url)}
    models, lgbm, prophet, ensemble = build_assets(US_EQUITY)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(symbol_partitions(MARKET).name, ["AAA", "BBB", "NEW"])
        trained = dg.materialize([models], instance=instance, resources=resources, partition_key=MODEL_WEEK)
        key = dg.MultiPartitionKey({"date": D.isoformat(), "symbol": "NEW"})
        result = dg.materialize([lgbm, prophet, ensemble], instance=instance, resources=resources, partition_key=key)
    assert trained.success and result.success
    event = trained.get_asset_materialization_events()[0].materialization
    with connect(warehouse_url) as conn:
        shas = dict(conn.execute("SELECT horizon, sha256 FROM ml.ml_model_versions WHERE train_end = %s",
                                 (dt.date(2024, 6, 7),)).fetchall())
        run = conn.execute("SELECT status, n_symbols FROM ml.training_runs").fetchall()
        forecasts = conn.execute("SELECT count(*) FROM ml.ml_forecasts WHERE symbol_id = %s", (ids["NEW"],)).fetchone()
    assert set(shas) == {"1D", "5D", "10D", "20D"} and run == [("trained", 3)]
    assert event.tags["dagster/data_version"] == event.metadata["model_hash"].value
    assert "lightgbm" in event.metadata["oos_figures"].value and "persistence" in event.metadata["oos_figures"].value
    assert event.metadata["plot"].value.startswith("![")
    assert forecasts == (0,)
    for materialization in result.get_asset_materialization_events():
        meta = materialization.materialization.metadata
        assert meta["dagster/row_count"].value == 0
        assert meta["no_forecast_reason"].value.startswith(("not enough history", "no base forecasts"))
    assert model_partitions(US_EQUITY).time_window_for_partition_key(MODEL_WEEK).end.date() == dt.date(2024, 6, 10)


def test_models_train_weekly_once_the_week_is_over() -> None:
    """The automation condition requests the week that just ended, once, after Monday 01:00 New York."""
    models = build_assets(US_EQUITY)[0]
    defs = dg.Definitions(assets=[models], resources={"warehouse": dg.ResourceDefinition.none_resource()})
    requested, cursor = [], None
    with dg.instance_for_test() as instance:
        for hour in (dt.datetime(2024, 6, 10, 4, tzinfo=dt.UTC), dt.datetime(2024, 6, 10, 6, tzinfo=dt.UTC),
                     dt.datetime(2024, 6, 10, 7, tzinfo=dt.UTC), dt.datetime(2024, 6, 17, 6, tzinfo=dt.UTC)):
            result = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=hour,
                                                       cursor=cursor)
            cursor = result.cursor
            requested.append(sorted(result.get_requested_partitions(models.key)))
    # 04:00 UTC = 00:00 New York: too early; 06:00: week of June 3 (trained on its last session, June 7)
    assert requested == [[], [MODEL_WEEK], [], ["2024-06-10"]]
    from definitions import defs as code_location

    sensor = code_location.get_sensor_def("automation_condition_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert models.key in sensor.asset_selection.resolve(code_location.resolve_asset_graph())
