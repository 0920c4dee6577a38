"""Dagster's event settings of swiftbolt.instance.EVENT_ENV, on dagster-postgres (the instance `swiftbolt ui`
configures): a ranged run writes one planned event per asset instead of one per partition, its
materializations in batches, and Dagster still knows every partition it materialized."""

from __future__ import annotations

import dagster as dg
import pytest

from assets.market_data import build_ohlc_bars
from assets.partitions import symbol_partitions
from resources import MarketDataResource, WarehouseResource
from swiftbolt.instance import EVENT_ENV, apply_event_env, sqlalchemy_url
from swiftbolt.markets import US_EQUITY
from tests.helpers import add_symbols

pytestmark = pytest.mark.warehouse

SYMBOLS = ["AAPL", "MSFT"]
DAYS = ["2024-03-04", "2024-03-05", "2024-03-06"]
KEY = dg.AssetKey(["us_equity", "ohlc_bars"])


def test_apply_event_env_fills_in_defaults_and_keeps_what_is_set() -> None:
    env = {"DAGSTER_EVENT_BATCH_SIZE": "0"}
    assert apply_event_env(env) == {**EVENT_ENV, "DAGSTER_EVENT_BATCH_SIZE": "0"}
    assert env["DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"] == "true"


@pytest.mark.parametrize("tuned", [False, True], ids=["dagster_defaults", "event_env"])
def test_ranged_run_events(warehouse_url: str, empty_db_url: str, monkeypatch: pytest.MonkeyPatch,
                           tuned: bool) -> None:
    for name, value in EVENT_ENV.items():
        monkeypatch.setenv(name, value if tuned else "")
    if not tuned:
        monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "0")
    add_symbols(warehouse_url, {s: "us_equity" for s in SYMBOLS})
    resources = {"warehouse": WarehouseResource(database_url=warehouse_url),
                 "market_data": MarketDataResource(provider="synthetic")}
    tags = {
        "dagster/asset_partition_range_start": dg.MultiPartitionKey({"date": DAYS[0], "symbol": SYMBOLS[0]}),
        "dagster/asset_partition_range_end": dg.MultiPartitionKey({"date": DAYS[-1], "symbol": SYMBOLS[-1]}),
    }
    storage = {"storage": {"postgres": {"postgres_url": sqlalchemy_url(empty_db_url)}}}
    with dg.instance_for_test(overrides=storage) as instance:
        instance.add_dynamic_partitions(symbol_partitions("us_equity").name, SYMBOLS)
        result = dg.materialize([build_ohlc_bars(US_EQUITY)], instance=instance, resources=resources, tags=tags)
        assert result.success
        planned = instance.get_records_for_run(
            result.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED).records
        materialized = instance.get_records_for_run(
            result.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
        partitions = sorted(instance.get_materialized_partitions(KEY))
        latest = instance.get_latest_materialization_event(KEY)

    everything = sorted(f"{d}|{s}" for d in DAYS for s in SYMBOLS)
    assert len(planned) == (1 if tuned else len(everything))
    assert sorted(r.event_log_entry.dagster_event.partition for r in materialized) == everything
    assert partitions == everything
    assert latest is not None and latest.asset_materialization.metadata["run/partitions"].value == len(everything)
