"""Freshness in trading sessions, from Dagster's materialization status: an asset partitioned by trading
day x symbol is fresh when every scheduled symbol's partition of the latest session past its deadline is
materialized. Wall-clock freshness policies would call every weekend and holiday stale."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pandas as pd

from assets.metadata import markdown_table, partition_key
from assets.partitions import symbol_partitions
from swiftbolt import clock
from swiftbolt.calendars.timing import last_session_past_deadline
from swiftbolt.markets import Market

FRESHNESS_CHECK_CRON = "*/30 * * * *"


def utc_now() -> dt.datetime:
    """The project's clock (swiftbolt.clock), which the sensors and the other checks read too."""
    return clock.utc_now()


def session_freshness(
    instance: dg.DagsterInstance, market: Market, key: dg.AssetKey, now: dt.datetime
) -> dg.AssetCheckResult:
    due = last_session_past_deadline(market.code, now)
    if due is None:
        return dg.AssetCheckResult(passed=True, description="no session past its deadline yet")
    session, deadline = due
    symbols = list(instance.get_dynamic_partitions(symbol_partitions(market.code).name or ""))
    materialized = instance.get_materialized_partitions(key)
    missing = [s for s in symbols if partition_key(s, session) not in materialized]
    what = f"{key.to_user_string()} for {session} (deadline {deadline:%Y-%m-%d %H:%M} UTC)"
    return dg.AssetCheckResult(
        passed=not missing, severity=dg.AssetCheckSeverity.WARN,
        description=(f"{len(missing)} of {len(symbols)} symbols not materialized: {what}" if missing
                     else f"all {len(symbols)} symbols materialized: {what}"),
        metadata={
            "session": str(session),
            "deadline": dg.MetadataValue.timestamp(deadline),
            "missing": markdown_table(pd.DataFrame({"symbol": missing, "session": str(session),
                                                    "reason": "not materialized by its deadline"})),
        },
    )
