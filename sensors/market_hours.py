"""Calendar-gated automation per market, each job beside what launches it: the intraday job and its
schedule (every 15 minutes while the market is open), the daily job and the after-close sensor (each
session's daily pipeline once it has closed)."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from assets import keys
from assets.partitions import MARKET_TAG, PARTITIONING_TAG, TRADING_DAY_X_SYMBOL, market_partitions
from sensors import common, materialized
from swiftbolt.calendars import timing
from swiftbolt.markets import Market

INTRADAY = "intraday"
AFTER_CLOSE = "after_close"
MAX_CATCH_UP_SESSIONS = 5
_ACTIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
           dg.DagsterRunStatus.STARTED]


def daily_selection(market: Market) -> dg.AssetSelection:
    """The bars and everything downstream of them that is partitioned by trading day x symbol, plus the
    unpartitioned dbt models downstream (they rebuild from the warehouse). Assets with other partitions
    (a weekly model, market-wide daily weights) follow their upstreams by automation conditions."""
    downstream = dg.AssetSelection.assets(keys.ohlc_bars(market)).downstream()
    per_partition = dg.AssetSelection.tag(PARTITIONING_TAG, TRADING_DAY_X_SYMBOL)
    return downstream & (per_partition | dg.AssetSelection.kind("dbt"))


def build_daily_job(market: Market) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        f"{market.code}_daily_job",
        selection=daily_selection(market),
        partitions_def=market_partitions(market.code),
        tags={MARKET_TAG: market.code},
        description=(
            f"The daily pipeline of {market.code}: ohlc_bars and everything downstream of it partitioned by "
            "trading day x symbol, and the dbt models, for a range of sessions x symbols in one run "
            "(after-close runs, new-symbol history backfills)."
        ),
    )


def intraday_assets(market: Market) -> list[dg.AssetKey]:
    """What the intraday job refreshes: the bars and quotes, today's feature rows and the intraday forecasts
    with the evaluations of those that expired, and the option chain snapshots where the market lists
    options (the closing snapshot is the daily job's)."""
    selected = [keys.ohlc_bars(market), keys.quotes(market), keys.feature_rows(market),
                keys.market_asset(market, "intraday_forecasts"),
                keys.market_asset(market, "intraday_forecast_evaluations")]
    if market.has_options:
        selected.append(keys.options_chain_snapshots(market))
    return selected


def build_intraday_job(market: Market) -> dg.UnresolvedAssetJobDefinition:
    chains = " and the option chain snapshots" if market.has_options else ""
    return dg.define_asset_job(
        f"{market.code}_intraday_job",
        selection=dg.AssetSelection.assets(*intraday_assets(market)),
        partitions_def=market_partitions(market.code),
        tags={MARKET_TAG: market.code},
        description=(f"Intraday refresh of {market.code}: today's bars of every symbol (one ranged run), the "
                     "quotes, today's feature rows, the intraday forecasts at the newest ended m15 bar and the "
                     f"evaluations of the forecasts that expired{chains}."),
    )


def intraday_cron(market: Market) -> str:
    # sessions of an exchange never span a UTC weekend; the calendar decides every tick anyway
    return "*/15 * * * *" if market.is_24_7 else "*/15 * * * 1-5"


def build_intraday_schedule(market: Market, job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    code = market.code

    @dg.schedule(
        name=f"{code}_intraday_schedule",
        job=job,
        cron_schedule=intraday_cron(market),
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            f"Every 15 minutes while {code} is open (calendar: holidays, early closes, DST): refresh "
            "today's bars of every symbol (one ranged run) and the quotes. Skips when closed or when the "
            "previous intraday run is still queued or running. Run key = market + tick time."
        ),
    )
    def _intraday(context: dg.ScheduleEvaluationContext):
        now = context.scheduled_execution_time or common.utc_now()
        session = timing.intraday_tick_due(code, now)
        if session is None:
            return dg.SkipReason(f"{code} is closed at {now:%Y-%m-%d %H:%M %Z}")
        symbols = common.scheduled_symbols(context.instance, code)
        if not symbols:
            return dg.SkipReason(f"no {code} symbol partitions yet (the symbol universe sensor adds them)")
        busy = context.instance.get_run_records(
            dg.RunsFilter(job_name=job.name, statuses=_ACTIVE, tags={common.MARKET_TAG: code}), limit=1
        )
        if busy:
            return dg.SkipReason(f"previous intraday run {busy[0].dagster_run.run_id[:8]} is still active")
        return dg.RunRequest(
            run_key=f"{code}:{INTRADAY}:{now.astimezone(dt.UTC):%Y-%m-%dT%H:%MZ}",
            tags={
                **common.range_tags(session, session, symbols[0], symbols[-1]),
                **common.run_tags(code, INTRADAY, **{common.SESSION_TAG: session.isoformat()}),
            },
        )

    return _intraday


def build_after_close_sensor(market: Market, job: dg.UnresolvedAssetJobDefinition) -> dg.SensorDefinition:
    code = market.code

    @dg.sensor(
        name=f"{code}_after_close_sensor",
        job=job,
        minimum_interval_seconds=300,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Once a {code} session has closed plus SWIFTBOLT_AFTER_CLOSE_BUFFER_MINUTES (default 20; "
            "early closes respected), materialize the daily pipeline (ohlc_bars and downstream) for that "
            "session and every symbol as one ranged run. The cursor is the last requested session, so "
            f"sessions missed while the daemon was down are caught up (at most {MAX_CATCH_UP_SESSIONS}). "
            "A session already materialized whole with the current code versions (Dagster's materialization "
            "records: every partition, code version tag, written after the close) is not requested again. "
            "Run key = market + session."
        ),
    )
    def _after_close(context: dg.SensorEvaluationContext):
        now = common.utc_now()
        since = dt.date.fromisoformat(context.cursor) if context.cursor else None
        due = timing.after_close_sessions(code, now, since=since)
        if not due:
            return dg.SkipReason(f"no {code} session closed (plus buffer) since {since or 'start'} at "
                                 f"{now:%Y-%m-%d %H:%M} UTC")
        if len(due) > MAX_CATCH_UP_SESSIONS:
            context.log.warning(
                f"{len(due)} {code} sessions are due ({due[0]}..{due[-1]}); requesting the last "
                f"{MAX_CATCH_UP_SESSIONS}. Backfill {due[0]}..{due[-MAX_CATCH_UP_SESSIONS - 1]} from the UI."
            )
            due = due[-MAX_CATCH_UP_SESSIONS:]
        symbols = common.scheduled_symbols(context.instance, code)
        if not symbols:
            return dg.SkipReason(f"no {code} symbol partitions yet (the symbol universe sensor adds them)")
        # sessions already materialized whole, with the current code (e.g. by the demo or a backfill) are done
        todo, done = materialized.sessions_to_request(
            context, code, job.name, keys.ohlc_bars(market), due, symbols)
        for status in done:
            context.log.info(f"{code}: not requested: {status.reason}")
        if not todo:
            return dg.SensorResult(skip_reason=dg.SkipReason("; ".join(s.reason for s in done)),
                                   cursor=due[-1].isoformat())
        requests = [
            dg.RunRequest(
                run_key=f"{code}:{AFTER_CLOSE}:{session.isoformat()}",
                tags={
                    **common.range_tags(session, session, symbols[0], symbols[-1]),
                    **common.run_tags(code, AFTER_CLOSE, retry_on_step_failure=True,
                                      **{common.SESSION_TAG: session.isoformat()}),
                },
            )
            for session in todo
        ]
        context.log.info(f"{code}: daily pipeline for {', '.join(map(str, todo))} x {len(symbols)} symbols")
        return dg.SensorResult(run_requests=requests, cursor=due[-1].isoformat())

    return _after_close
