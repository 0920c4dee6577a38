"""Shared by the schedules and sensors: the clock, run tags, the symbols a run covers."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from assets.partitions import DATE_DIM, MARKET_TAG, RUN_KIND_TAG, SYMBOL_DIM, symbol_partitions
from swiftbolt import clock

SESSION_TAG = "swiftbolt/session"
SYMBOL_TAG = "swiftbolt/symbol"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
# run retries (dagster.yaml run_retries) skip step failures by default; daily and backfill runs opt in: the
# ingestion resumes a retried run from the provider checkpoints of its root run
RETRY_ON_STEP_FAILURE_TAG = "dagster/retry_on_asset_or_op_failure"


def utc_now() -> dt.datetime:
    """The sensors' clock: swiftbolt.clock's (tests replace either to freeze time; schedules use their
    scheduled time)."""
    return clock.utc_now()


def scheduled_symbols(instance: dg.DagsterInstance, market: str) -> list[str]:
    """The market's symbol partitions in insertion order: the order a partition range follows."""
    name = symbol_partitions(market).name
    assert name is not None
    return list(instance.get_dynamic_partitions(name))


def range_tags(first_date: dt.date, last_date: dt.date, first_symbol: str, last_symbol: str) -> dict[str, str]:
    """Tags of one run covering the rectangle dates [first_date, last_date] x symbols [first, last]
    (symbols in partition insertion order)."""
    return {
        RANGE_START_TAG: dg.MultiPartitionKey({DATE_DIM: first_date.isoformat(), SYMBOL_DIM: first_symbol}),
        RANGE_END_TAG: dg.MultiPartitionKey({DATE_DIM: last_date.isoformat(), SYMBOL_DIM: last_symbol}),
    }


def run_tags(market: str, kind: str, *, retry_on_step_failure: bool = False, **extra: str) -> dict[str, str]:
    tags = {MARKET_TAG: market, RUN_KIND_TAG: kind, **extra}
    if retry_on_step_failure:
        tags[RETRY_ON_STEP_FAILURE_TAG] = "true"
    return tags
