"""Sensors and schedules: market-calendar gating, symbol universe sync, run-failure alerts.

`build_automation(assets)` returns the jobs, schedules and sensors that definitions.py registers.
The time decisions live in swiftbolt.calendars.timing (pure functions); these modules only turn them into
run requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg

from sensors import alerting, common, jobs, market_hours, universe
from swiftbolt.markets import MARKETS

DAILY_REFRESH_SCHEDULE = "daily_refresh_schedule"


@dataclass(frozen=True)
class Automation:
    jobs: list[dg.UnresolvedAssetJobDefinition]
    schedules: list[dg.ScheduleDefinition]
    sensors: list[dg.SensorDefinition]


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


def build_automation(assets: Sequence[dg.AssetsDefinition]) -> Automation:
    built_jobs: list[dg.UnresolvedAssetJobDefinition] = []
    schedules: list[dg.ScheduleDefinition] = []
    sensors: list[dg.SensorDefinition] = [
        alerting.build_run_failure_sensor(),
        alerting.build_run_recovery_sensor(),
        alerting.build_freshness_sensor(),
        alerting.build_calendar_reconciliation_sensor(),
    ]
    for market in MARKETS:
        daily = jobs.build_daily_job(market, assets)
        intraday = jobs.build_intraday_job(market)
        built_jobs += [daily, intraday]
        schedules.append(market_hours.build_intraday_schedule(market, intraday))
        sensors += [market_hours.build_after_close_sensor(market, daily), universe.build_universe_sensor(market, daily)]
    refresh = jobs.build_daily_refresh_job(assets)
    built_jobs.append(refresh)
    schedules.append(build_daily_refresh_schedule(refresh))
    return Automation(built_jobs, schedules, sensors)
