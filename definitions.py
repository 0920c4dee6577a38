"""The swiftbolt code location: one Definitions object built from assets/, resources/, sensors/."""

import os

import dagster as dg

from assets import dbt, features, market_data, reference
from assets.partitions import market_partitions
from resources import WarehouseResource
from resources.market_data import market_data_from_env
from sensors import build_automation
from swiftbolt.calendars import MARKETS
from swiftbolt.errors import ConfigError


def bars_job_name(market: str) -> str:
    return f"{market}_bars_job"


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
    assets: list[dg.AssetsDefinition] = [reference.symbols, reference.market_calendar]
    jobs = [
        dg.define_asset_job(
            "reference_job", selection=[reference.symbols, reference.market_calendar],
            description="Sync the symbol universe and the market calendars.",
        )
    ]
    for market in MARKETS:
        bars = market_data.build_ohlc_bars(market)
        market_assets = [bars, market_data.build_quotes(market)]
        if market == "us_equity":
            market_assets.append(market_data.build_corporate_actions(market))
        market_assets.extend(build(market) for build in features.FEATURE_BUILDERS)
        assets.extend(market_assets)
        jobs.append(
            dg.define_asset_job(
                bars_job_name(market), selection=[bars], partitions_def=market_partitions(market),
                description=f"Bars of {market} symbols for a range of trading days (one run per range).",
            )
        )
    # schedules, sensors and the jobs they launch (sensors/); keep this after every asset is in `assets`:
    # the daily jobs take the bars asset and everything downstream of it
    automation = build_automation([*assets, dbt.swiftbolt_dbt_models])
    jobs.extend(automation.jobs)
    jobs.append(dbt.analytics_job)
    checks = [market_data.build_bars_freshness_check(market) for market in MARKETS]
    return dg.Definitions(
        assets=[*assets, dbt.swiftbolt_dbt_models],  # dbt models are downstream of the features
        asset_checks=checks,
        jobs=jobs,
        schedules=automation.schedules,
        sensors=automation.sensors,
        executor=run_executor(),
        resources={
            "warehouse": WarehouseResource(),
            "market_data": market_data_from_env(),
            "dbt": dbt.dbt_resource(),
        },
    )


defs = build_definitions()
