"""The swiftbolt code location: one Definitions object built from assets/, resources/, sensors/."""

import os

import dagster as dg

from assets import MARKET_DOMAINS, dbt, reference
from resources import WarehouseResource
from resources.dbt import dbt_resource
from resources.market_data import market_data_from_env
from sensors import build_automation
from swiftbolt.errors import ConfigError
from swiftbolt.markets import MARKETS

EXECUTOR_ENV = "SWIFTBOLT_EXECUTOR"


def run_executor() -> dg.ExecutorDefinition:
    """How a launched run executes its steps. Default `in_process`: one process per run. The multiprocess
    executor starts a process per step, and each loads this code location (4-5 s on a 2-core machine, x6
    steps per daily run; 30-50 s each while two runs and the UI compete for the cores): that, not the
    work, made daemon-launched runs ~10x slower than the demo. SWIFTBOLT_EXECUTOR=multiprocess brings it
    back for machines with cores to spare (Celery/Kubernetes executors are configured the same way)."""
    choice = os.environ.get(EXECUTOR_ENV, "in_process").strip() or "in_process"
    if choice == "in_process":
        return dg.in_process_executor
    if choice == "multiprocess":
        return dg.multiprocess_executor
    raise ConfigError(f"{EXECUTOR_ENV}={choice!r}: expected in_process or multiprocess")


def build_definitions() -> dg.Definitions:
    per_market = [item for market in MARKETS.values() for domain in MARKET_DOMAINS
                  for item in domain.build_assets(market)]
    checks = [c for c in per_market if isinstance(c, dg.AssetChecksDefinition)]
    automation = build_automation()
    return dg.Definitions(
        assets=[*reference.build_assets(), *(a for a in per_market if a not in checks), dbt.swiftbolt_dbt_models],
        asset_checks=checks,
        jobs=automation.jobs,
        schedules=automation.schedules,
        sensors=automation.sensors,
        executor=run_executor(),
        resources={
            "warehouse": WarehouseResource(),
            "market_data": market_data_from_env(),
            "dbt": dbt_resource(),
        },
    )


defs = build_definitions()
