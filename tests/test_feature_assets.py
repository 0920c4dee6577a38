"""Feature assets on a real PostgreSQL: partition-alone equals full history, no look-ahead,
feature set recorded, S/R and SuperTrend written."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from assets.features import build_feature_rows, build_sr_levels, build_supertrend_signals
from assets.partitions import symbol_partitions
from resources import WarehouseResource
from swiftbolt.calendars.sessions import session_dates
from swiftbolt.db.connection import connect
from swiftbolt.features.indicators import compute_features, feature_columns
from swiftbolt.features.store import load_adjusted_bars
from swiftbolt.market_data.ingest import RunInfo, ingest_bars
from swiftbolt.market_data.types import Timeframe
from swiftbolt.markets import US_EQUITY
from swiftbolt.providers.synthetic import SyntheticProvider
from tests.helpers import add_symbols

pytestmark = pytest.mark.warehouse


def _range_tags(first: str, last: str, symbol: str) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": dg.MultiPartitionKey({"date": first, "symbol": symbol}),
            "dagster/asset_partition_range_end": dg.MultiPartitionKey({"date": last, "symbol": symbol})}


def _feature_frame(url: str, timeframe: str = "d1") -> pd.DataFrame:
    with connect(url) as conn:
        rows = conn.execute("SELECT fr.ts, fr.warmup_complete, fr.feature_values, fs.feature_keys "
                            "FROM ml.feature_rows fr JOIN ml.feature_sets fs ON fs.id = fr.feature_set_id "
                            "WHERE fr.timeframe = %s ORDER BY fr.ts", (timeframe,)).fetchall()
    frame = pd.DataFrame([r[2] for r in rows], columns=rows[0][3] if rows else None).astype(float)
    frame.insert(0, "ts", [r[0] for r in rows])
    frame.insert(1, "warmup_complete", [r[1] for r in rows])
    return frame


def test_partition_alone_equals_full_history_and_features_are_recorded(warehouse_url: str) -> None:
    ids = add_symbols(warehouse_url, {"SPY": "us_equity"})
    days = session_dates("us_equity", pd.Timestamp("2021-06-01").date(), pd.Timestamp("2024-06-28").date())
    ingest_bars(warehouse_url, SyntheticProvider(), "us_equity", ids, days, [Timeframe.D1], RunInfo())
    resources = {"warehouse": WarehouseResource(database_url=warehouse_url)}
    asset = build_feature_rows(US_EQUITY)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(symbol_partitions("us_equity").name, ["SPY"])
        # the last day alone (its own warm-up window), and the first days of the history
        alone = dg.materialize([asset], instance=instance, resources=resources,
                               partition_key=dg.MultiPartitionKey({"date": days[-1].isoformat(), "symbol": "SPY"}))
        first = dg.materialize([asset], instance=instance, resources=resources,
                               tags=_range_tags(days[0].isoformat(), days[4].isoformat(), "SPY"))
        assert alone.success and first.success
    stored = _feature_frame(warehouse_url)
    # reference: the same features computed over the symbol's full history in one go
    with connect(warehouse_url) as conn:
        full_bars = load_adjusted_bars(conn, ids["SPY"], "d1", days[0], days[-1], 0)
    full = compute_features(full_bars)
    columns = feature_columns()
    np.testing.assert_allclose(stored.iloc[-1][columns].to_numpy(float), full.iloc[-1][columns].to_numpy(float),
                               rtol=1e-9, atol=1e-9, equal_nan=True)
    # the first bars of the history are marked incomplete, the late partition is complete
    assert list(stored["warmup_complete"]) == [False] * 5 + [True]
    with connect(warehouse_url) as conn:
        sets = conn.execute(
            "SELECT name, status, warmup_bars, cardinality(feature_keys) FROM ml.feature_sets").fetchall()
    assert sets == [("swiftbolt_core", "active", 500, len(columns))]


def test_changing_later_bars_changes_no_feature_of_day_d(warehouse_url: str) -> None:
    ids = add_symbols(warehouse_url, {"QQQ": "us_equity"})
    days = session_dates("us_equity", pd.Timestamp("2023-01-03").date(), pd.Timestamp("2023-12-29").date())
    ingest_bars(warehouse_url, SyntheticProvider(), "us_equity", ids, days, [Timeframe.D1], RunInfo())
    resources = {"warehouse": WarehouseResource(database_url=warehouse_url)}
    d = days[200]
    key = dg.MultiPartitionKey({"date": d.isoformat(), "symbol": "QQQ"})
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(symbol_partitions("us_equity").name, ["QQQ"])
        assert dg.materialize([build_feature_rows(US_EQUITY)], instance=instance, resources=resources,
                              partition_key=key).success
        before = _feature_frame(warehouse_url)
        with connect(warehouse_url) as conn:
            conn.execute("UPDATE market.ohlc_bars SET open = open * 1.5, high = high * 1.5, low = low * 1.5, "
                         "close = close * 1.5, volume = volume * 3 WHERE session_date > %s", (d,))
            conn.commit()
        assert dg.materialize([build_feature_rows(US_EQUITY)], instance=instance, resources=resources,
                              partition_key=key).success
    after = _feature_frame(warehouse_url)
    pd.testing.assert_frame_equal(before, after)


def test_sr_levels_and_supertrend_signals_are_written(warehouse_url: str) -> None:
    ids = add_symbols(warehouse_url, {"AAPL": "us_equity"})
    days = session_dates("us_equity", pd.Timestamp("2023-01-03").date(), pd.Timestamp("2023-12-29").date())
    ingest_bars(warehouse_url, SyntheticProvider(), "us_equity", ids, days, [Timeframe.D1], RunInfo())
    resources = {"warehouse": WarehouseResource(database_url=warehouse_url)}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(symbol_partitions("us_equity").name, ["AAPL"])
        tags = _range_tags(days[-40].isoformat(), days[-1].isoformat(), "AAPL")
        result = dg.materialize([build_sr_levels(US_EQUITY), build_supertrend_signals(US_EQUITY)],
                                instance=instance, resources=resources, tags=tags)
        assert result.success
    with connect(warehouse_url) as conn:
        sr = conn.execute("SELECT count(*), count(*) FILTER (WHERE nearest_support < close AND "
                          "nearest_resistance > close), bool_and(pivot_s1 < pivot_pp AND pivot_pp < pivot_r1)::int "
                          "FROM ml.sr_levels").fetchone()
        signals = conn.execute("SELECT side, outcome, entry_price, stop_price, target_price FROM "
                               "ml.supertrend_signals").fetchall()
    assert sr[0] == 40 and sr[1] > 0.8 * sr[0] and sr[2] == 1
    assert signals and {s[0] for s in signals} == {"BUY", "SELL"}
    for side, _, entry, stop, target in signals:
        assert (stop < entry < target) if side == "BUY" else (target < entry < stop)


def test_features_freshness_counts_sessions_from_dagster_status(warehouse_url: str) -> None:
    """features_fresh passes when every symbol's partition of the last session past its deadline is
    materialized in Dagster, and names the missing symbols otherwise; a weekend is not stale."""
    import datetime as dt

    from assets.features import build_features_freshness_check
    from assets.freshness import session_freshness
    from assets.keys import feature_rows

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(symbol_partitions("us_equity").name, ["AAPL", "MSFT"])
        saturday = dt.datetime(2024, 3, 9, 18, 0, tzinfo=dt.UTC)  # last session past deadline: Fri 03-08
        stale = session_freshness(instance, US_EQUITY, feature_rows(US_EQUITY), saturday)
        assert not stale.passed and "2 of 2 symbols" in (stale.description or "")
        instance.report_runless_asset_event(dg.AssetMaterialization(
            feature_rows(US_EQUITY), partition=dg.MultiPartitionKey({"date": "2024-03-08", "symbol": "AAPL"})))
        partly = session_freshness(instance, US_EQUITY, feature_rows(US_EQUITY), saturday)
        assert not partly.passed and "MSFT" in partly.metadata["missing"].value
        assert "AAPL" not in partly.metadata["missing"].value
        instance.report_runless_asset_event(dg.AssetMaterialization(
            feature_rows(US_EQUITY), partition=dg.MultiPartitionKey({"date": "2024-03-08", "symbol": "MSFT"})))
        sunday = dt.datetime(2024, 3, 10, 18, 0, tzinfo=dt.UTC)
        assert session_freshness(instance, US_EQUITY, feature_rows(US_EQUITY), sunday).passed
    check = build_features_freshness_check(US_EQUITY)
    assert check.check_specs and next(iter(check.check_specs)).automation_condition is not None
