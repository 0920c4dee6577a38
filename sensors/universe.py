"""The symbol universe sensor: each market's dynamic symbol partitions follow its active symbols in
market.symbols, and a newly added symbol gets its history backfilled without anyone launching it."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from assets.partitions import symbol_partitions, trading_day_partitions
from resources import WarehouseResource
from sensors import common
from swiftbolt.calendars import timing
from swiftbolt.markets import Market
from swiftbolt.settings import after_close_buffer
from swiftbolt.universe import active_symbols

BACKFILL = "symbol_backfill"


def partition_changes(existing: list[str], active: list[str]) -> tuple[list[str], list[str]]:
    """(symbol partitions to add, to remove) so that the partitions equal the active symbols."""
    return [t for t in active if t not in set(existing)], [t for t in existing if t not in set(active)]


def build_universe_sensor(market: Market, job: dg.UnresolvedAssetJobDefinition) -> dg.SensorDefinition:
    code = market.code
    partitions_name = symbol_partitions(code).name
    assert partitions_name is not None

    @dg.sensor(
        name=f"{code}_symbol_universe_sensor",
        job=job,
        minimum_interval_seconds=120,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Keeps the {code} symbol partitions ({partitions_name}) equal to the active {code} symbols "
            "in market.symbols: adds new ones and requests one ranged history backfill run per new symbol "
            "(first partition .. last closed session, daily pipeline); removes deactivated ones, which "
            "stops their scheduling. Warehouse rows and Dagster materialization history are kept."
        ),
    )
    def _universe(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
        with warehouse.connection() as conn:
            active = list(active_symbols(conn, code))
        existing = common.scheduled_symbols(context.instance, code)
        added, removed = partition_changes(existing, active)
        if not added and not removed:
            return dg.SkipReason(f"{len(existing)} {code} symbol partitions match market.symbols")
        requests: list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest] = []
        if added:
            requests.append(dg.AddDynamicPartitionsRequest(partitions_name, added))
        if removed:
            requests.append(dg.DeleteDynamicPartitionsRequest(partitions_name, removed))
        context.log.info(f"{code}: adding symbol partitions {added}; removing {removed}, not active symbols of "
                         "market.symbols (deactivated, or added by hand in the UI); history kept")
        now = common.utc_now()
        first = trading_day_partitions(code).get_first_partition_key()
        last = timing.last_closed_session(code, now, after_close_buffer())
        runs = []
        if first is None or last is None or last.isoformat() < first:
            context.log.info(f"no closed {code} session since the history start; no backfill needed")
        else:
            start = dt.date.fromisoformat(first)
            for ticker in added:
                runs.append(dg.RunRequest(
                    run_key=f"{code}:{BACKFILL}:{ticker}:{start}:{last}",
                    tags={
                        **common.range_tags(start, last, ticker, ticker),
                        **common.run_tags(code, BACKFILL, retry_on_step_failure=True,
                                          **{common.SYMBOL_TAG: ticker}),
                    },
                ))
        return dg.SensorResult(dynamic_partitions_requests=requests, run_requests=runs)

    return _universe

