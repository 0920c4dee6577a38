"""Sensors and schedules, each module with the jobs it launches: market-calendar gating (market_hours),
the symbol universe (universe), the daily reference refresh (reference), alerts (alerting); jobs a
person launches are in manual. Time decisions live in swiftbolt.calendars.timing (pure functions);
these modules only turn them into run requests.

`build_automation()` returns everything definitions.py registers, including the automation condition
sensor that evaluates the assets' declarative automation conditions.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from sensors import alerting, manual, market_hours, reference, universe
from swiftbolt.markets import MARKETS

AUTOMATION_CONDITION_SENSOR = "automation_condition_sensor"


@dataclass(frozen=True)
class Automation:
    jobs: list[dg.UnresolvedAssetJobDefinition]
    schedules: list[dg.ScheduleDefinition]
    sensors: list[dg.SensorDefinition]


def build_automation() -> Automation:
    refresh = reference.build_daily_refresh_job()
    jobs = [refresh, manual.build_analytics_job()]
    schedules = [reference.build_daily_refresh_schedule(refresh)]
    sensors: list[dg.SensorDefinition] = [
        alerting.build_run_failure_sensor(),
        alerting.build_run_recovery_sensor(),
        alerting.build_freshness_sensor(),
        alerting.build_calendar_reconciliation_sensor(),
        dg.AutomationConditionSensorDefinition(
            AUTOMATION_CONDITION_SENSOR,
            target=dg.AssetSelection.all(),
            default_status=dg.DefaultSensorStatus.RUNNING,
            description="Evaluates the assets' automation conditions (assets that follow their upstreams or "
                        "run on their own cadence, e.g. models and evaluations) every 30 seconds.",
        ),
    ]
    for market in MARKETS.values():
        daily = market_hours.build_daily_job(market)
        intraday = market_hours.build_intraday_job(market)
        jobs += [daily, intraday, manual.build_bars_job(market)]
        schedules.append(market_hours.build_intraday_schedule(market, intraday))
        sensors += [market_hours.build_after_close_sensor(market, daily),
                    universe.build_universe_sensor(market, daily)]
    return Automation(jobs, schedules, sensors)
