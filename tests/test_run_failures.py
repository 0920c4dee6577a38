"""A run that fails or dies says why in one line: the database going away mid-run is a dagster.Failure
whose description is the one-line reason, and ingestion runs left 'running' by a killed or cut-off run
are marked abandoned by the next run of the same asset."""

from __future__ import annotations

import uuid

import dagster as dg
import pandas as pd
import pytest

import swiftbolt.market_data.ingest as ingest_module
from assets.market_data import build_ohlc_bars
from assets.partitions import symbol_partitions
from resources import MarketDataResource, WarehouseResource
from swiftbolt.db.connection import connect
from swiftbolt.market_data.types import Timeframe
from swiftbolt.markets import US_EQUITY
from swiftbolt.providers.synthetic import SyntheticProvider
from tests.helpers import add_symbols

pytestmark = pytest.mark.warehouse

EQUITY_BARS = build_ohlc_bars(US_EQUITY)
KEY = dg.MultiPartitionKey({"date": "2025-03-04", "symbol": "AAPL"})


class _DatabaseGoesAway(SyntheticProvider):
    """The synthetic market, but while serving the d1 request every other connection to the warehouse
    database is terminated (what a server shutdown or an administrator does: SQLSTATE 57P01)."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def bars(self, symbols, timeframe, start, end):  # type: ignore[override]
        if Timeframe(timeframe) == Timeframe.D1:
            with connect(self.url, autocommit=True) as conn:
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        return super().bars(symbols, timeframe, start, end)


class _GoneResource(MarketDataResource):
    url: str = ""

    def get_provider(self):  # type: ignore[override]
        return _DatabaseGoesAway(self.url)


def _materialize(url: str, instance: dg.DagsterInstance, market_data: MarketDataResource,
                 key: dg.MultiPartitionKey = KEY) -> dg.ExecuteInProcessResult:
    return dg.materialize([EQUITY_BARS], instance=instance, raise_on_error=False, partition_key=key,
                          resources={"warehouse": WarehouseResource(database_url=url), "market_data": market_data})


def test_database_going_away_mid_run_is_a_one_line_failure(warehouse_url: str) -> None:
    add_symbols(warehouse_url, {"AAPL": "us_equity"})
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(symbol_partitions("us_equity").name, ["AAPL"])
        result = _materialize(warehouse_url, instance, _GoneResource(provider="synthetic", url=warehouse_url))
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    description = failure.step_failure_data.user_failure_data.description
    assert "\n" not in description
    assert description.startswith(f"us_equity/ohlc_bars run {result.run_id[:8]}: the warehouse database went "
                                   "away mid-run (AdminShutdown, SQLSTATE 57P01: terminating connection due to "
                                   "administrator command)")
    with connect(warehouse_url) as conn:
        status, error = conn.execute("SELECT status, error FROM market.ingestion_runs").fetchone()
        bars = conn.execute("SELECT count(*) FROM market.ohlc_bars").fetchone()[0]
    assert status == "failed" and error == "terminating connection due to administrator command"
    assert bars == 0


def test_runs_killed_or_cut_off_are_marked_abandoned(warehouse_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    add_symbols(warehouse_url, {"AAPL": "us_equity"})
    synthetic = MarketDataResource(provider="synthetic")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(symbol_partitions("us_equity").name, ["AAPL"])
        # a run whose process dies after its data committed but before it recorded its end
        finish = ingest_module._finish_run
        monkeypatch.setattr(ingest_module, "_finish_run", lambda *args, **kwargs: None)
        killed = _materialize(warehouse_url, instance, synthetic)
        monkeypatch.setattr(ingest_module, "_finish_run", finish)
        assert killed.success
        # a run that is still going (another process), one the instance never heard of, and a dead run
        # of another asset
        alive = dg.DagsterRun(job_name="us_equity_daily_job", run_id=str(uuid.uuid4()),
                              status=dg.DagsterRunStatus.STARTED)
        instance.add_run(alive)
        unknown = str(uuid.uuid4())
        with connect(warehouse_url, autocommit=True) as conn:
            for run_id, asset in ((alive.run_id, "us_equity/ohlc_bars"), (unknown, "us_equity/ohlc_bars"),
                                  (killed.run_id, "crypto/ohlc_bars")):
                conn.execute("INSERT INTO market.ingestion_runs (provider, dagster_run_id, code_version, asset_key) "
                             "VALUES ('synthetic', %s, '1', %s)", (run_id, asset))
        later = _materialize(warehouse_url, instance, synthetic)
        assert instance.get_run_by_id(alive.run_id).status == dg.DagsterRunStatus.STARTED
    assert later.success
    with connect(warehouse_url) as conn:
        rows = pd.DataFrame(conn.execute(
            "SELECT id, dagster_run_id, asset_key, status, error, finished_at IS NOT NULL "
            "FROM market.ingestion_runs ORDER BY id").fetchall(),
            columns=["id", "dagster_run_id", "asset_key", "status", "error", "finished"])
    by_run = {(r.dagster_run_id, r.asset_key): r for r in rows.itertuples()}
    dead = by_run[(killed.run_id, "us_equity/ohlc_bars")]
    assert dead.status == "abandoned" and dead.finished
    assert dead.error.startswith(f"abandoned: dagster run {killed.run_id} is SUCCESS and never recorded an end")
    lost = by_run[(unknown, "us_equity/ohlc_bars")]
    assert lost.status == "abandoned" and "unknown to this Dagster instance" in lost.error
    assert by_run[(alive.run_id, "us_equity/ohlc_bars")].status == "running"  # still alive: left alone
    assert by_run[(killed.run_id, "crypto/ohlc_bars")].status == "running"  # another asset's
    assert by_run[(later.run_id, "us_equity/ohlc_bars")].status == "success"
    md = later.asset_materializations_for_node("us_equity__ohlc_bars")[0].metadata
    assert sorted(md["run/abandoned_ingestion_runs"].value) == sorted([dead.id, lost.id])
