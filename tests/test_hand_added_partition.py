"""A symbol partition added by hand in the UI ("Add partition" in the backfill dialog: the GraphQL mutation
addDynamicPartition) that is not in the universe: a run of it fails with a one-line reason, and the
symbol universe sensor removes it. Real GraphQL on the project's code location, real PostgreSQL."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.test_utils import InProcessTestWorkspaceLoadTarget, create_test_daemon_workspace_context
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster_graphql.test.utils import execute_dagster_graphql, infer_repository_selector

from assets.partitions import symbol_partitions
from definitions import defs
from resources import MarketDataResource, WarehouseResource
from sensors import common
from swiftbolt.settings import PROJECT_ROOT
from tests.helpers import add_symbols

pytestmark = pytest.mark.warehouse

ADD_PARTITION = """
mutation($repositorySelector: RepositorySelector!, $partitionsDefName: String!, $partitionKey: String!) {
  addDynamicPartition(repositorySelector: $repositorySelector, partitionsDefName: $partitionsDefName,
                      partitionKey: $partitionKey) {
    __typename
    ... on AddDynamicPartitionSuccess { partitionsDefName partitionKey }
    ... on PythonError { message }
  }
}
"""


def test_a_symbol_added_by_hand_is_refused_by_the_asset_and_removed_by_the_sensor(warehouse_url: str) -> None:
    add_symbols(warehouse_url, {"AAPL": "us_equity", "SPY": "us_equity"})
    name = symbol_partitions("us_equity").name
    origin = LoadableTargetOrigin(python_file=str(PROJECT_ROOT / "definitions.py"), attribute="defs",
                                  working_directory=str(PROJECT_ROOT))
    target = InProcessTestWorkspaceLoadTarget(InProcessCodeLocationOrigin(origin))
    with dg.instance_for_test() as instance, create_test_daemon_workspace_context(target, instance) as workspace:
        instance.add_dynamic_partitions(name, ["AAPL", "SPY"])
        context = workspace.create_request_context()
        added = execute_dagster_graphql(context, ADD_PARTITION, {
            "repositorySelector": infer_repository_selector(context), "partitionsDefName": name,
            "partitionKey": "ZZZZ"}).data["addDynamicPartition"]
        assert added["__typename"] == "AddDynamicPartitionSuccess", added
        assert instance.get_dynamic_partitions(name) == ["AAPL", "SPY", "ZZZZ"]

        # a run over the hand-added partition fails with one line saying why and what to do
        resources = {"warehouse": WarehouseResource(database_url=warehouse_url),
                     "market_data": MarketDataResource(provider="synthetic")}
        run = defs.resolve_job_def("us_equity_bars_job").execute_in_process(
            instance=instance, resources=resources, raise_on_error=False,
            tags=common.range_tags(dt.date(2025, 6, 3), dt.date(2025, 6, 3), "SPY", "ZZZZ"))
        assert not run.success
        (failure,) = run.get_step_failure_events()
        reason = failure.step_failure_data.user_failure_data.description
        assert "\n" not in reason
        assert reason.startswith("ZZZZ: not in the us_equity universe (active rows of market.symbols)")
        assert "removed by us_equity_symbol_universe_sensor" in reason and "universe.yaml" in reason

        # the universe sensor reconciles: the partition goes, nothing is requested for it
        tick = defs.resolve_sensor_def("us_equity_symbol_universe_sensor").evaluate_tick(dg.build_sensor_context(
            instance=instance, resources={"warehouse": WarehouseResource(database_url=warehouse_url)}))
        assert [(type(r).__name__, list(r.partition_keys)) for r in tick.dynamic_partitions_requests] == [
            ("DeleteDynamicPartitionsRequest", ["ZZZZ"])]
        assert not tick.run_requests
        instance.delete_dynamic_partition(name, "ZZZZ")  # what the daemon does with the request
        assert instance.get_dynamic_partitions(name) == ["AAPL", "SPY"]
