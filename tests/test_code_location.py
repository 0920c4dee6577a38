"""How the code location behaves when Dagster loads and runs it: runs in one process, a dbt manifest whose
partial parse is valid for the runs' profile, dbt tests that describe themselves, no BetaWarning noise."""

from __future__ import annotations

import os
import subprocess
import sys

import dagster as dg
import pytest

from definitions import defs
from resources import WarehouseResource
from resources.dbt import dbt_env, dbt_resource, manifest_is_stale, prepare_dbt_manifest
from resources.executor import build_executor
from swiftbolt.errors import ConfigError
from swiftbolt.settings import PROJECT_ROOT


def test_runs_execute_in_one_process_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    # a process per step loaded the code location 7 times per daily run (the ~10x slowdown under the daemon)
    for job in ("us_equity_daily_job", "crypto_intraday_job", "analytics_job", "us_equity_bars_job"):
        assert defs.resolve_job_def(job).executor_def.name == "in_process", job
    monkeypatch.setenv("SWIFTBOLT_EXECUTOR", "multiprocess")
    assert build_executor().name == "multiprocess"
    monkeypatch.setenv("SWIFTBOLT_EXECUTOR", "dask")
    with pytest.raises(ConfigError, match="SWIFTBOLT_EXECUTOR"):
        build_executor()


def test_every_dbt_test_has_a_one_line_description() -> None:
    graph = defs.resolve_asset_graph()
    dbt_checks = {k.name: graph.get_check_spec(k).description for k in graph.asset_check_keys
                  if k.asset_key.path[0] == "analytics"}
    assert len(dbt_checks) >= 28
    for name, description in dbt_checks.items():
        assert description and "\n" not in description and len(description) > 30, name
    # the test's own description from schema.yml, else one written from the generic test and its arguments
    assert dbt_checks["data_health_no_critical"].startswith("No symbol and timeframe is critical in data_health")
    assert dbt_checks["not_null_data_health_symbol_id"] == (
        "dbt test not_null: data_health.symbol_id is never NULL; fails with ERROR.")
    assert dbt_checks["relationships_indicator_values_symbol_id__id__source_market_symbols_"] == (
        "dbt test relationships: every indicator_values.symbol_id exists in market.symbols.id "
        "(rows computed by the recent builds); fails with ERROR.")


def test_loading_the_code_location_prints_no_beta_warning() -> None:
    probe = ("import warnings, dagster, definitions; "
             "warnings.warn('Parameter `x` of function `y` is currently in beta', dagster.BetaWarning)")
    result = subprocess.run([sys.executable, "-W", "default", "-c", probe], cwd=PROJECT_ROOT, capture_output=True,
                            text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    assert result.returncode == 0, result.stderr[-2000:]
    beta = [line for line in result.stderr.splitlines() if "BetaWarning" in line]
    assert len(beta) == 1 and "`x` of function `y`" in beta[0]  # only the backfill_policy one is filtered


@pytest.mark.warehouse
def test_dbt_partial_parsing_is_valid_for_the_runs_profile(warehouse_url: str, capfd: pytest.CaptureFixture) -> None:
    env = dbt_env(warehouse_url)
    prepare_dbt_manifest(env)
    assert not manifest_is_stale(env)
    assert manifest_is_stale({**env, "SWIFTBOLT_DBT_PORT": "1"})  # another server: parse again
    capfd.readouterr()
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("analytics_job").execute_in_process(
            instance=instance, raise_on_error=False,
            resources={"dbt": dbt_resource(warehouse_url), "warehouse": WarehouseResource(database_url=warehouse_url)})
    out = capfd.readouterr().out
    assert "Running with dbt" in out
    assert "Unable to do partial parsing" not in out
    assert result.success
