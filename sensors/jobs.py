"""Jobs the automation launches: per market the intraday refresh and the daily pipeline; the daily
reference refresh."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from assets.partitions import market_partitions
from sensors.common import MARKET_TAG, bars_key, daily_job_name, intraday_job_name, quotes_key

REFERENCE_KEYS = (dg.AssetKey(["market", "symbols"]), dg.AssetKey(["market", "market_calendar"]))
CORPORATE_ACTIONS_KEY = dg.AssetKey(["us_equity", "corporate_actions"])
DAILY_REFRESH_JOB = "daily_refresh_job"


def daily_pipeline_keys(market: str, assets: Sequence[dg.AssetsDefinition]) -> tuple[list[dg.AssetKey],
                                                                                     list[dg.AssetKey]]:
    """(selected, left out) of `AssetSelection.assets(bars).downstream()`: downstream assets partitioned
    differently from trading day x symbol are left out (one Dagster job has one partitions definition;
    such assets need their own automation, e.g. an automation condition), as are non-executable ones."""
    partitions_def = market_partitions(market)
    by_key = {key: a for a in assets for key in a.keys}
    downstream = dg.AssetSelection.assets(bars_key(market)).downstream().resolve(list(assets))
    selected, left_out = [], []
    for key in sorted(downstream):
        asset = by_key.get(key)
        fits = asset is not None and asset.is_executable and asset.partitions_def in (None, partitions_def)
        (selected if fits else left_out).append(key)
    return selected, left_out


def build_daily_job(market: str, assets: Sequence[dg.AssetsDefinition]) -> dg.UnresolvedAssetJobDefinition:
    _, left_out = daily_pipeline_keys(market, assets)
    note = f" Left out (other partitioning): {', '.join(k.to_user_string() for k in left_out)}." if left_out else ""
    return dg.define_asset_job(
        daily_job_name(market),
        # the bars asset and everything downstream of it, minus what a job with these partitions cannot run
        selection=dg.AssetSelection.assets(bars_key(market)).downstream() - dg.AssetSelection.assets(*left_out),
        partitions_def=market_partitions(market),
        tags={MARKET_TAG: market},
        description=(
            f"The daily pipeline of {market}: ohlc_bars and everything downstream of it, for a range of "
            "sessions x symbols in one run (after-close runs, new-symbol history backfills)." + note
        ),
    )


def build_intraday_job(market: str) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        intraday_job_name(market),
        selection=dg.AssetSelection.assets(bars_key(market), quotes_key(market)),
        partitions_def=market_partitions(market),
        tags={MARKET_TAG: market},
        description=f"Intraday refresh of {market}: today's bars of every symbol (one ranged run) and the quotes.",
    )


def build_daily_refresh_job(assets: Sequence[dg.AssetsDefinition]) -> dg.UnresolvedAssetJobDefinition:
    present = {k for a in assets for k in a.keys}
    keys = [k for k in (*REFERENCE_KEYS, CORPORATE_ACTIONS_KEY) if k in present]
    return dg.define_asset_job(
        DAILY_REFRESH_JOB,
        selection=dg.AssetSelection.assets(*keys),
        tags={MARKET_TAG: "all"},
        description="Daily refresh before the US open: symbol universe (market.symbols), market calendars "
                    "(one year ahead) and corporate actions.",
    )
