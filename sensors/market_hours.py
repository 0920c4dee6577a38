"""Calendar-gated automation per market: the intraday refresh schedule (every 15 minutes while the
market is open) and the after-close sensor (each session's daily pipeline once it has closed)."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from sensors import common, materialized
from swiftbolt import automation
from swiftbolt.calendars import get_market

INTRADAY = "intraday"
AFTER_CLOSE = "after_close"
MAX_CATCH_UP_SESSIONS = 5
_ACTIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
           dg.DagsterRunStatus.STARTED]


def intraday_cron(market: str) -> str:
    # sessions of an exchange never span a UTC weekend; the calendar decides every tick anyway
    return "*/15 * * * *" if get_market(market).is_24_7 else "*/15 * * * 1-5"


def build_intraday_schedule(market: str, job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=f"{market}_intraday_schedule",
        job=job,
        cron_schedule=intraday_cron(market),
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            f"Every 15 minutes while {market} is open (calendar: holidays, early closes, DST): refresh "
            "today's bars of every symbol (one ranged run) and the quotes. Skips when closed or when the "
            "previous intraday run is still queued or running. Run key = market + tick time."
        ),
    )
    def _intraday(context: dg.ScheduleEvaluationContext):
        now = context.scheduled_execution_time or common.utc_now()
        session = automation.intraday_tick_due(market, now)
        if session is None:
            return dg.SkipReason(f"{market} is closed at {now:%Y-%m-%d %H:%M %Z}")
        symbols = common.scheduled_symbols(context.instance, market)
        if not symbols:
            return dg.SkipReason(f"no {market} symbol partitions yet (the symbol universe sensor adds them)")
        busy = context.instance.get_run_records(
            dg.RunsFilter(job_name=job.name, statuses=_ACTIVE, tags={common.MARKET_TAG: market}), limit=1
        )
        if busy:
            return dg.SkipReason(f"previous intraday run {busy[0].dagster_run.run_id[:8]} is still active")
        return dg.RunRequest(
            run_key=f"{market}:{INTRADAY}:{now.astimezone(dt.UTC):%Y-%m-%dT%H:%MZ}",
            tags={
                **common.range_tags(session, session, symbols[0], symbols[-1]),
                **common.run_tags(market, INTRADAY, **{common.SESSION_TAG: session.isoformat()}),
            },
        )

    return _intraday


def build_after_close_sensor(market: str, job: dg.UnresolvedAssetJobDefinition) -> dg.SensorDefinition:
    @dg.sensor(
        name=f"{market}_after_close_sensor",
        job=job,
        minimum_interval_seconds=300,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Once a {market} session has closed plus SWIFTBOLT_AFTER_CLOSE_BUFFER_MINUTES (default 20; "
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
        due = automation.after_close_sessions(market, now, since=since)
        if not due:
            return dg.SkipReason(f"no {market} session closed (plus buffer) since {since or 'start'} at "
                                 f"{now:%Y-%m-%d %H:%M} UTC")
        if len(due) > MAX_CATCH_UP_SESSIONS:
            context.log.warning(
                f"{len(due)} {market} sessions are due ({due[0]}..{due[-1]}); requesting the last "
                f"{MAX_CATCH_UP_SESSIONS}. Backfill {due[0]}..{due[-MAX_CATCH_UP_SESSIONS - 1]} from the UI."
            )
            due = due[-MAX_CATCH_UP_SESSIONS:]
        symbols = common.scheduled_symbols(context.instance, market)
        if not symbols:
            return dg.SkipReason(f"no {market} symbol partitions yet (the symbol universe sensor adds them)")
        # sessions already materialized whole, with the current code (e.g. by the demo or a backfill) are done
        todo, done = materialized.sessions_to_request(context, market, job.name, common.bars_key(market), due, symbols)
        for status in done:
            context.log.info(f"{market}: not requested: {status.reason}")
        if not todo:
            return dg.SensorResult(skip_reason=dg.SkipReason("; ".join(s.reason for s in done)),
                                   cursor=due[-1].isoformat())
        requests = [
            dg.RunRequest(
                run_key=f"{market}:{AFTER_CLOSE}:{session.isoformat()}",
                tags={
                    **common.range_tags(session, session, symbols[0], symbols[-1]),
                    **common.run_tags(market, AFTER_CLOSE, retry_on_step_failure=True,
                                      **{common.SESSION_TAG: session.isoformat()}),
                },
            )
            for session in todo
        ]
        context.log.info(f"{market}: daily pipeline for {', '.join(map(str, todo))} x {len(symbols)} symbols")
        return dg.SensorResult(run_requests=requests, cursor=due[-1].isoformat())

    return _after_close
