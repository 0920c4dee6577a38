"""Alerting sensors: failed runs, sessions not materialized by their deadline, and calendar
differences with Alpaca. Alerts go to ops.alerts through swiftbolt.alerts (deduplicated while open)
and show in the sensors' tick logs and skip messages."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import dagster as dg
import pandas as pd

from resources import MarketDataResource, WarehouseResource
from sensors import common
from swiftbolt import alerts
from swiftbolt.calendars import timing
from swiftbolt.markets import MARKETS

FRESHNESS_SENSOR = "session_freshness_sensor"
CALENDAR_SENSOR = "calendar_reconciliation_sensor"
RUN_FAILURE_SENSOR = "run_failure_alert_sensor"
RUN_RECOVERY_SENSOR = "run_recovery_sensor"
_SOFT_FAILURE_KINDS = {"intraday"}  # the next tick (15 minutes later) retries these anyway


def run_market(run: dg.DagsterRun) -> str:
    """The market a run belongs to: its swiftbolt/market tag, else its job name's prefix, else 'all'."""
    tagged = run.tags.get(common.MARKET_TAG)
    if tagged in alerts.ALERT_MARKETS:
        return tagged
    # longest code first: us_equity_2_daily_job belongs to us_equity_2, not us_equity
    return next((m for m in sorted(MARKETS, key=len, reverse=True) if run.job_name.startswith(f"{m}_")), "all")


def run_failure_key(run: dg.DagsterRun) -> str:
    """One open alert per retry chain (retries and re-executions share the root run id); intraday runs,
    which every tick repeats, share one per session, so a failing feed does not add a row every 15 minutes."""
    session = run.tags.get(common.SESSION_TAG)
    if run.tags.get(common.RUN_KIND_TAG) in _SOFT_FAILURE_KINDS and session:
        return f"{alerts.RUN_FAILURE}:{run.job_name}:{session}"
    return f"{alerts.RUN_FAILURE}:{run.job_name}:{run.root_run_id or run.run_id}"


def build_run_failure_sensor() -> dg.SensorDefinition:
    @dg.run_failure_sensor(
        name=RUN_FAILURE_SENSOR,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Records an alert in ops.alerts for every failed run of this code location (critical; "
            "warning for intraday runs, which the next tick repeats). One open alert per retry chain "
            "(intraday: per session): a second evaluation or a failed retry updates it instead of adding a row."
        ),
    )
    def _run_failure(context: dg.RunFailureSensorContext, warehouse: WarehouseResource) -> None:
        run = context.dagster_run
        kind = run.tags.get(common.RUN_KIND_TAG, "manual")
        message = (context.failure_event.message or "run failed").strip()
        step_errors = [
            {"step": e.step_key, "error": (e.dagster_event.step_failure_data.error.message or "").strip()[:1000]}
            for e in context.instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)[:5]
            if e.dagster_event and e.dagster_event.step_failure_data and e.dagster_event.step_failure_data.error
        ]
        details = {
            "run_id": run.run_id,
            "root_run_id": run.root_run_id or run.run_id,
            "job_name": run.job_name,
            "run_kind": kind,
            "message": message[:2000],
            "step_errors": step_errors,
            "partition_range": [run.tags.get(common.RANGE_START_TAG), run.tags.get(common.RANGE_END_TAG)],
            "partition": run.tags.get("dagster/partition"),
            "session": run.tags.get(common.SESSION_TAG),
        }
        with warehouse.transaction() as conn:
            created = alerts.raise_alert(
                conn, market=run_market(run), symbol=run.tags.get(common.SYMBOL_TAG),
                alert_type=alerts.RUN_FAILURE, severity="warning" if kind in _SOFT_FAILURE_KINDS else "critical",
                details=details, dedupe_key=run_failure_key(run),
            )
        verb = "raised" if created else "already open (updated)"
        first_error = step_errors[0]["error"].splitlines()[0] if step_errors and step_errors[0]["error"] else message
        context.log.warning(f"alert {verb}: run {run.run_id[:8]} of {run.job_name} failed: {first_error[:300]}")

    return _run_failure


def build_run_recovery_sensor() -> dg.SensorDefinition:
    @dg.run_status_sensor(
        run_status=dg.DagsterRunStatus.SUCCESS,
        name=RUN_RECOVERY_SENSOR,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Resolves a run_failure alert when a retry or re-execution of the failed run succeeds (for "
                    "intraday runs: when a later intraday run of the same session succeeds).",
    )
    def _run_recovery(context: dg.RunStatusSensorContext, warehouse: WarehouseResource) -> None:
        run = context.dagster_run
        with warehouse.transaction() as conn:
            resolved = alerts.resolve_alerts(conn, dedupe_keys=[run_failure_key(run)])
        if resolved:
            context.log.info(f"run {run.run_id[:8]} succeeded: resolved {resolved}")

    return _run_recovery


def build_freshness_sensor() -> dg.SensorDefinition:
    @dg.sensor(
        name=FRESHNESS_SENSOR,
        minimum_interval_seconds=600,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Per market, the last session past its deadline (close + after-close buffer + 60 min): every "
            "active symbol must have its daily bar set in market.bar_datasets. Missing ones raise a "
            "stale_session alert (one per symbol and session); alerts resolve when the data arrives or the "
            "symbol is deactivated."
        ),
    )
    def _freshness(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
        now = common.utc_now()
        lines = []
        with warehouse.transaction() as conn:
            for market in MARKETS:
                due = timing.last_session_past_deadline(market, now)
                if due is None:
                    continue
                report = alerts.record_session_freshness(conn, market, *due)
                (context.log.warning if report.missing else context.log.info)(report.summary())
                lines.append(report.summary())
        return dg.SkipReason("; ".join(lines) or "no session past its deadline")

    return _freshness


def _warehouse_sessions(conn, first: dt.date, last: dt.date) -> pd.DataFrame:
    rows = conn.execute(
        "SELECT date, open_utc, close_utc FROM market.market_calendar "
        "WHERE market = 'us_equity' AND is_open AND date BETWEEN %s AND %s ORDER BY date",
        (first, last),
    ).fetchall()
    return pd.DataFrame(rows, columns=["date", "open_utc", "close_utc"])


def build_calendar_reconciliation_sensor() -> dg.SensorDefinition:
    @dg.sensor(
        name=CALENDAR_SENSOR,
        minimum_interval_seconds=6 * 3600,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "When Alpaca is configured: compares the us_equity sessions in market.market_calendar "
            "(exchange-calendars) with Alpaca's calendar API over the dates both cover (history start to "
            "one year ahead). Any difference raises one critical calendar_mismatch alert listing the "
            "dates; it resolves when the calendars agree again."
        ),
    )
    def _calendar(context: dg.SensorEvaluationContext, warehouse: WarehouseResource,
                  market_data: MarketDataResource):
        if market_data.provider_name() != "alpaca":
            return dg.SkipReason("Alpaca is not configured; nothing to reconcile the calendar with")
        today = common.utc_now().date()
        with warehouse.connection() as conn:
            ours = _warehouse_sessions(conn, dt.date(1990, 1, 1), today + dt.timedelta(days=366))
        if ours.empty:
            return dg.SkipReason("market.market_calendar has no us_equity sessions; materialize it first")
        first, last = min(ours["date"]), max(ours["date"])
        theirs = market_data.get_provider().calendar(first, last)
        diffs = timing.calendar_differences(ours, theirs)
        with warehouse.transaction() as conn:
            if not diffs:
                resolved = alerts.resolve_alerts(conn, alert_type=alerts.CALENDAR_MISMATCH, market="us_equity")
                msg = f"calendar agrees with Alpaca on {len(ours)} sessions {first}..{last}"
                if resolved:
                    msg += f"; resolved {len(resolved)} alert(s)"
                context.log.info(msg)
                return dg.SkipReason(msg)
            digest = hashlib.sha256(json.dumps(diffs, sort_keys=True).encode()).hexdigest()[:16]
            key = f"{alerts.CALENDAR_MISMATCH}:us_equity:{digest}"
            created = alerts.raise_alert(
                conn, market="us_equity", alert_type=alerts.CALENDAR_MISMATCH, severity="critical",
                details={"differences": diffs[:100], "count": len(diffs), "compared": [str(first), str(last)],
                         "expected": "market.market_calendar (exchange-calendars XNYS)",
                         "actual": "Alpaca /v2/calendar"},
                dedupe_key=key,
            )
            alerts.resolve_alerts(conn, alert_type=alerts.CALENDAR_MISMATCH, market="us_equity", keep=[key])
        dates = ", ".join(d["date"] for d in diffs[:10])
        msg = f"{len(diffs)} session(s) differ from Alpaca ({dates}{' ...' if len(diffs) > 10 else ''})"
        context.log.warning(("alert raised: " if created else "alert already open: ") + msg)
        return dg.SkipReason(msg)

    return _calendar
