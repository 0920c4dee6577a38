"""Jobs that no schedule or sensor launches: a person starts them from the UI (Jobs > launch, or a
backfill from an asset's partitions)."""

from __future__ import annotations

import dagster as dg

from assets import keys
from assets.partitions import MARKET_TAG, market_partitions
from swiftbolt.markets import Market

ANALYTICS_JOB = "analytics_job"


def build_bars_job(market: Market) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        f"{market.code}_bars_job", selection=dg.AssetSelection.assets(keys.ohlc_bars(market)),
        partitions_def=market_partitions(market.code), tags={MARKET_TAG: market.code},
        description=f"Bars of {market.code} symbols for a range of trading days (one run per range), nothing "
                    "downstream: a bars-only backfill.",
    )


def build_analytics_job() -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        ANALYTICS_JOB,
        selection=dg.AssetSelection.kind("dbt"),
        description="dbt build of the analytics schema (adjusted bars, indicators, dashboard marts, data health).",
    )
