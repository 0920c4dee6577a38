"""The swiftbolt code location: one Definitions object built from assets/, resources/, sensors/."""

import dagster as dg

from assets import MARKET_DOMAINS, dbt, reference
from resources import WarehouseResource
from resources.dbt import dbt_resource
from resources.executor import build_executor
from resources.market_data import market_data_from_env
from sensors import build_automation
from swiftbolt.markets import MARKETS


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
        executor=build_executor(),  # SWIFTBOLT_EXECUTOR: in_process (default), multiprocess, celery, celery_k8s
        resources={
            "warehouse": WarehouseResource(),
            "market_data": market_data_from_env(),
            "dbt": dbt_resource(),
        },
    )


defs = build_definitions()
