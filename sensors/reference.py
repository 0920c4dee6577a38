"""The daily reference refresh: its job and the schedule that launches it before the US open."""

from __future__ import annotations

import dagster as dg

from assets import keys
from assets.partitions import MARKET_TAG
from sensors import common
from swiftbolt.markets import MARKETS

DAILY_REFRESH_JOB = "daily_refresh_job"
DAILY_REFRESH_SCHEDULE = "daily_refresh_schedule"


def build_daily_refresh_job() -> dg.UnresolvedAssetJobDefinition:
    corporate_actions = [keys.corporate_actions(m) for m in MARKETS.values() if m.has_corporate_actions]
    return dg.define_asset_job(
        DAILY_REFRESH_JOB,
        selection=dg.AssetSelection.assets(keys.SYMBOLS, keys.MARKET_CALENDAR, *corporate_actions),
        tags={MARKET_TAG: "all"},
        description="Daily refresh before the US open: symbol universe (market.symbols), market calendars "
                    "(one year ahead) and corporate actions.",
    )


def build_daily_refresh_schedule(job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=DAILY_REFRESH_SCHEDULE,
        job=job,
        cron_schedule="0 11 * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Every day at 11:00 UTC (before the US open): refresh the symbol universe, the market "
                    "calendars (one year ahead) and corporate actions. Run key = date.",
    )
    def _daily_refresh(context: dg.ScheduleEvaluationContext):
        day = context.scheduled_execution_time or common.utc_now()
        return dg.RunRequest(run_key=f"daily_refresh:{day:%Y-%m-%d}", tags={common.RUN_KIND_TAG: "daily_refresh"})

    return _daily_refresh
