"""How many runs a UI backfill of us_equity/ohlc_bars (trading day x symbol, BackfillPolicy.single_run())
becomes, measured with Dagster's own machinery: the UI's GraphQL mutation `launchPartitionBackfill` (the
exact parameters the webserver's launch dialog sends) and the backfill daemon's iteration
(`dagster._daemon.backfill.execute_backfill_iteration`), in a test instance.

What Dagster 1.13 does (read in `DefaultPartitionsSubset.get_partition_key_ranges` and
`_build_run_requests_with_backfill_policy`, asserted below): `single_run()` on a MultiPartitionsDefinition
is *not* one run per backfill. The requested keys are split into contiguous ranges along ONE dimension -
whichever has fewer distinct keys among the requested partitions (ties go to the primary, time dimension) -
and each range becomes one run, tagged `dagster/asset_partition_range_start`/`_end` (no partition tag). So:

* 1 symbol x N sessions          -> 1 run  (start = first|SYM, end = last|SYM); weekends and holidays
                                     are not partitions, so a range spanning them stays one run;
* S symbols x N sessions, S < N  -> S runs, one per symbol, each over the whole date range
                                     (2 symbols x N >= 3 days: 2 runs);
* S symbols x N sessions, S >= N -> N runs, one per session, each spanning the symbols
                                     (2 symbols x 1 day: ONE run; 2 x 2: two runs, one per day);
* a gap in the dates, or symbols that are not adjacent in the dynamic partition's order (insertion order,
  not alphabetical), splits the range: more runs.

Runs = min(symbols, sessions) for a full rectangle of adjacent symbols and contiguous sessions, never one
run for the whole rectangle. A job backfill (the launch dialog of `us_equity_bars_job`: a partition-set
selector) groups the same way (`job_backfill._get_partitions_chunk`).

The counting tests leave the runs queued (the default QueuedRunCoordinator, no run-queue daemon); the
last test executes the 1-symbol backfill synchronously with the synthetic provider on a real database
and checks that the one run wrote every session in one ingest, and that the daemon then completes the
backfill. The code location is this module's `defs`: the same `build_ohlc_bars(US_EQUITY)` asset as
definitions.py (same partitions and policy), with the synthetic provider.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import pytest
from dagster._core.execution.backfill import BulkActionStatus
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    BACKFILL_ID_TAG,
    PARTITION_NAME_TAG,
)
from dagster._core.test_utils import InProcessTestWorkspaceLoadTarget, create_test_daemon_workspace_context
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._daemon.backfill import execute_backfill_jobs
from dagster._daemon.daemon import get_default_daemon_logger
from dagster_graphql.client.query import LAUNCH_PARTITION_BACKFILL_MUTATION
from dagster_graphql.test.utils import execute_dagster_graphql, infer_repository_selector

from assets.market_data import build_ohlc_bars
from assets.partitions import market_partitions, symbol_partitions, trading_day_partitions
from resources import MarketDataResource, WarehouseResource
from swiftbolt.db.connection import connect
from swiftbolt.markets import US_EQUITY
from swiftbolt.settings import PROJECT_ROOT
from tests.helpers import add_symbols

EQUITY_BARS = build_ohlc_bars(US_EQUITY)
BARS_KEY = EQUITY_BARS.key
BARS_JOB = "us_equity_bars_job"  # as definitions.bars_job_name("us_equity")
SYMBOLS = ["AAPL", "MSFT", "NVDA"]  # dynamic partitions, added in this order

# The code location the test workspace loads (in process), like definitions.py's for this asset.
defs = dg.Definitions(
    assets=[EQUITY_BARS],
    jobs=[dg.define_asset_job(BARS_JOB, selection=[EQUITY_BARS], partitions_def=market_partitions("us_equity"))],
    resources={"warehouse": WarehouseResource(), "market_data": MarketDataResource(provider="synthetic")},
    executor=dg.in_process_executor,  # the executed run's step runs in this process: no child process start-up
)

# 2025-06-16 .. 2025-06-24: six sessions across a weekend and the Juneteenth holiday (Thu 2025-06-19)
SESSIONS = ["2025-06-16", "2025-06-17", "2025-06-18", "2025-06-20", "2025-06-23", "2025-06-24"]


def _key(date: str, symbol: str) -> str:
    return str(dg.MultiPartitionKey({"date": date, "symbol": symbol}))


@contextmanager
def _workspace(instance: dg.DagsterInstance) -> Iterator[WorkspaceProcessContext]:
    origin = LoadableTargetOrigin(module_name=__name__, attribute="defs", working_directory=str(PROJECT_ROOT))
    target = InProcessTestWorkspaceLoadTarget(InProcessCodeLocationOrigin(origin))
    with create_test_daemon_workspace_context(target, instance) as workspace:
        yield workspace


def _launch_from_ui(workspace: WorkspaceProcessContext, partition_keys: list[str], via_job: bool = False) -> str:
    """The webserver's launch dialog: a pure asset backfill (asset selection + partition names), or with
    via_job the backfill of the asset job's partition set. Returns the backfill id."""
    context = workspace.create_request_context()
    params: dict = {"assetSelection": [{"path": BARS_KEY.path}], "partitionNames": partition_keys}
    if via_job:
        params |= {"fromFailure": False, "selector": {"partitionSetName": f"{BARS_JOB}_partition_set",
                                                      "repositorySelector": infer_repository_selector(context)}}
    result = execute_dagster_graphql(context, LAUNCH_PARTITION_BACKFILL_MUTATION, {"backfillParams": params})
    launched = result.data["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    return launched["backfillId"]


def _daemon_iteration(workspace: WorkspaceProcessContext, backfill_id: str) -> None:
    """One iteration of the backfill daemon (what `execute_backfill_iteration` does for each requested
    backfill), for this backfill only: the module's instance holds the other tests' backfills too."""
    backfill = workspace.instance.get_backfill(backfill_id)
    assert backfill is not None
    logger = get_default_daemon_logger("BackfillDaemon")
    errors = [e for e in execute_backfill_jobs(workspace, logger, [backfill]) if e is not None]
    assert not errors, errors[0].to_string()


def _run_ranges(instance: dg.DagsterInstance, backfill_id: str) -> set[tuple[str, str]]:
    runs = instance.get_runs(filters=dg.RunsFilter(tags={BACKFILL_ID_TAG: backfill_id}))
    for run in runs:
        assert PARTITION_NAME_TAG not in run.tags  # range runs, not single-partition runs
        assert run.asset_selection == {BARS_KEY}
    ranges = {(r.tags[ASSET_PARTITION_RANGE_START_TAG], r.tags[ASSET_PARTITION_RANGE_END_TAG]) for r in runs}
    assert len(ranges) == len(runs)
    return ranges


@pytest.fixture(scope="module")
def queued() -> Iterator[WorkspaceProcessContext]:
    """A test instance whose runs stay queued (QueuedRunCoordinator, no run-queue daemon), and its workspace."""
    with dg.instance_for_test() as instance, _workspace(instance) as workspace:
        instance.add_dynamic_partitions(symbol_partitions("us_equity").name, SYMBOLS)
        yield workspace


def _backfill_runs(workspace: WorkspaceProcessContext, partition_keys: list[str], via_job: bool = False
                   ) -> set[tuple[str, str]]:
    backfill_id = _launch_from_ui(workspace, partition_keys, via_job)
    _daemon_iteration(workspace, backfill_id)
    ranges = _run_ranges(workspace.instance, backfill_id)
    _daemon_iteration(workspace, backfill_id)  # nothing more is requested while those runs are in flight
    assert _run_ranges(workspace.instance, backfill_id) == ranges
    return ranges


def test_sessions_span_a_weekend_and_a_holiday_without_a_gap() -> None:
    days = trading_day_partitions("us_equity").get_partition_keys_in_range(
        dg.PartitionKeyRange(SESSIONS[0], SESSIONS[-1]))
    assert days == SESSIONS


@pytest.mark.parametrize("via_job", [False, True], ids=["asset_backfill", "job_backfill"])
def test_one_symbol_range_of_days_is_one_run(queued: WorkspaceProcessContext, via_job: bool) -> None:
    keys = [_key(d, "MSFT") for d in SESSIONS]
    assert _backfill_runs(queued, keys, via_job) == {(_key(SESSIONS[0], "MSFT"), _key(SESSIONS[-1], "MSFT"))}


@pytest.mark.parametrize("via_job", [False, True], ids=["asset_backfill", "job_backfill"])
def test_two_symbols_range_of_days_is_one_run_per_symbol(queued: WorkspaceProcessContext, via_job: bool) -> None:
    keys = [_key(d, s) for d in SESSIONS for s in ("AAPL", "MSFT")]
    assert _backfill_runs(queued, keys, via_job) == {
        (_key(SESSIONS[0], s), _key(SESSIONS[-1], s)) for s in ("AAPL", "MSFT")
    }


@pytest.mark.parametrize(
    ("symbols", "dates", "expected"),
    [
        # more symbols than days: grouped by day instead, one run per session spanning the symbols
        (SYMBOLS, SESSIONS[:2], {(_key(d, "AAPL"), _key(d, "NVDA")) for d in SESSIONS[:2]}),
        (["AAPL", "MSFT"], SESSIONS[:1], {(_key(SESSIONS[0], "AAPL"), _key(SESSIONS[0], "MSFT"))}),
        # a tie goes to the primary (time) dimension: one run per session
        (["AAPL", "MSFT"], SESSIONS[:2], {(_key(d, "AAPL"), _key(d, "MSFT")) for d in SESSIONS[:2]}),
        # symbols not adjacent in the dynamic partitions' order (MSFT between them): one run each
        (["AAPL", "NVDA"], SESSIONS[:1], {(_key(SESSIONS[0], s), _key(SESSIONS[0], s)) for s in ("AAPL", "NVDA")}),
        # a gap in the sessions (06-18 left out): one run per contiguous stretch
        (["MSFT"], SESSIONS[:2] + SESSIONS[3:],
         {(_key(SESSIONS[0], "MSFT"), _key(SESSIONS[1], "MSFT")),
          (_key(SESSIONS[3], "MSFT"), _key(SESSIONS[-1], "MSFT"))}),
    ],
    ids=["3_symbols_x_2_days", "2_symbols_x_1_day", "2_symbols_x_2_days", "non_adjacent_symbols", "gap_in_days"],
)
def test_ranges_follow_the_dimension_with_fewer_keys(queued: WorkspaceProcessContext, symbols: list[str],
                                                     dates: list[str], expected: set[tuple[str, str]]) -> None:
    assert _backfill_runs(queued, [_key(d, s) for d in dates for s in symbols]) == expected


@pytest.mark.warehouse
def test_one_symbol_backfill_runs_once_and_writes_every_session(warehouse_url: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWIFTBOLT_DATABASE_URL", warehouse_url)  # WarehouseResource() reads it at run time
    add_symbols(warehouse_url, {s: "us_equity" for s in SYMBOLS})
    keys = [_key(d, "MSFT") for d in SESSIONS]
    with dg.instance_for_test(synchronous_run_coordinator=True, synchronous_run_launcher=True) as instance, \
            _workspace(instance) as workspace:
        instance.add_dynamic_partitions(symbol_partitions("us_equity").name, SYMBOLS)
        backfill_id = _launch_from_ui(workspace, keys)
        _daemon_iteration(workspace, backfill_id)  # submits the run, which executes in this process
        runs = instance.get_runs(filters=dg.RunsFilter(tags={BACKFILL_ID_TAG: backfill_id}))
        assert len(runs) == 1 and runs[0].status == dg.DagsterRunStatus.SUCCESS
        assert (runs[0].tags[ASSET_PARTITION_RANGE_START_TAG], runs[0].tags[ASSET_PARTITION_RANGE_END_TAG]) == (
            keys[0], keys[-1])
        assert instance.get_materialized_partitions(BARS_KEY) == set(keys)
        _daemon_iteration(workspace, backfill_id)  # sees the materializations: the backfill is complete
        backfill = instance.get_backfill(backfill_id)
        assert backfill is not None and backfill.status == BulkActionStatus.COMPLETED_SUCCESS
        run_id = runs[0].run_id
    with connect(warehouse_url) as conn:
        d1_sessions = [r[0] for r in conn.execute(
            "SELECT b.session_date FROM market.ohlc_bars b JOIN market.symbols s ON s.id = b.symbol_id "
            "WHERE s.ticker = 'MSFT' AND b.timeframe = 'd1' ORDER BY 1").fetchall()]
        other_symbols = conn.execute(
            "SELECT count(*) FROM market.ohlc_bars b JOIN market.symbols s ON s.id = b.symbol_id "
            "WHERE s.ticker <> 'MSFT'").fetchone()
        h1_days = conn.execute(
            "SELECT count(DISTINCT session_date) FROM market.ohlc_bars WHERE timeframe = 'h1'").fetchone()
        ingests = conn.execute("SELECT dagster_run_id, status FROM market.ingestion_runs").fetchall()
    assert d1_sessions == [dt.date.fromisoformat(d) for d in SESSIONS]
    assert other_symbols == (0,) and h1_days == (len(SESSIONS),)
    assert ingests == [(run_id, "success")]  # the whole range was one ingest of the one run
