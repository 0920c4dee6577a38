"""The swiftbolt code location: one Definitions object built from assets/, resources/, sensors/."""


import dagster as dg

from assets import reference
from resources import WarehouseResource
from resources.market_data import market_data_from_env


def build_definitions() -> dg.Definitions:
    return dg.Definitions(
        assets=[reference.symbols, reference.market_calendar],
        jobs=[
            dg.define_asset_job(
                "reference_job", selection=[reference.symbols, reference.market_calendar],
                description="Sync the symbol universe and the market calendars.",
            )
        ],
        resources={
            "warehouse": WarehouseResource(),
            "market_data": market_data_from_env(),
        },
    )


defs = build_definitions()
