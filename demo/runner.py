"""The default pipeline, run headless (the demo): reference data; each market's daily pipeline for its
active symbols over recent closed sessions (one run per market for the whole range); the intraday
refresh of a session that is open now (what the 15-minute schedule would have done); one dbt build of
the analytics schema at the end. Each step reports progress while its run goes (`Progress`)."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import dagster as dg

from assets import keys as asset_keys
from assets.forecasts import model_partitions
from assets.partitions import symbol_partitions
from sensors.common import RUN_KIND_TAG, SESSION_TAG, range_tags
from sensors.universe import partition_changes
from swiftbolt import clock
from swiftbolt.calendars import timing
from swiftbolt.db.connection import connect
from swiftbolt.db.warehouse import warehouse_url
from swiftbolt.markets import MARKETS, get_market
from swiftbolt.settings import history_start
from swiftbolt.universe import active_symbols

# Dagster's console logger of each run: every event at INFO and above. The demo sends it to its log file.
RUN_LOGS = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
DBT_STEP = "swiftbolt_dbt_models"


class PipelineError(SystemExit):
    """A run of the default pipeline failed (one line, naming the run)."""


def _require_success(result: dg.ExecuteInProcessResult, what: str) -> None:
    if result.success:
        return
    failures = [e.message for e in result.all_events if e.is_step_failure or e.is_failure]
    reason = failures[-1].splitlines()[0] if failures and failures[-1] else "see the run in the UI"
    raise PipelineError(f"swiftbolt: error: {what} failed (run {result.run_id[:8]}): {reason}")


def sync_symbol_partitions(instance: dg.DagsterInstance, market: str, tickers: list[str]) -> None:
    """Make the market's dynamic symbol partitions equal to its active symbols, as the universe sensor does
    (the demo runs without the daemon)."""
    name = symbol_partitions(market).name
    assert name is not None
    added, removed = partition_changes(list(instance.get_dynamic_partitions(name)), tickers)
    if added:
        instance.add_dynamic_partitions(name, added)
    for stale in removed:
        instance.delete_dynamic_partition(name, stale)


class Progress:
    """Where a step reports: `start(title)`, `advance(label)` per finished step of its run, `done(text)`."""

    def start(self, title: str) -> None: ...

    def advance(self, label: str) -> None: ...

    def done(self, text: str) -> None: ...


def step_label(step_key: str) -> str:
    """A run step's short name: us_equity__feature_rows -> feature_rows, the dbt step -> dbt build."""
    if step_key == DBT_STEP:
        return "dbt build"
    return step_key.split("__", 1)[1] if "__" in step_key else step_key


@contextmanager
def watch_run(instance: dg.DagsterInstance, run_id: str, on_step: Callable[[str], None],
              interval: float = 0.5) -> Iterator[None]:
    """While the block runs, call on_step("<step> 1.2s") for every step of the run that finishes (read from
    the run's event log by a background thread)."""
    stop = threading.Event()
    kinds = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE}

    def poll() -> None:
        cursor: str | None = None
        started: dict[str, float] = {}
        while True:
            finished = stop.wait(interval)
            try:
                conn = instance.get_records_for_run(run_id, cursor=cursor, of_type=kinds)
            except Exception:  # the run's storage is not ready yet; the next poll tries again
                conn = None
            if conn is not None:
                cursor = conn.cursor
                for record in conn.records:
                    entry = record.event_log_entry
                    key, kind = entry.step_key or "", entry.dagster_event_type
                    if kind == dg.DagsterEventType.STEP_START:
                        started[key] = entry.timestamp
                        continue
                    took = entry.timestamp - started.get(key, entry.timestamp)
                    failed = " FAILED" if kind == dg.DagsterEventType.STEP_FAILURE else ""
                    on_step(f"{step_label(key)} {took:.1f}s{failed}")
            if finished:
                return

    thread = threading.Thread(target=poll, name=f"watch-{run_id[:8]}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


@dataclass
class StepOutcome:
    title: str
    run_id: str
    seconds: float
    checks: list[dg.AssetCheckEvaluation] = field(default_factory=list)


def _execute(job: dg.JobDefinition, instance: dg.DagsterInstance, progress: Progress, title: str, *,
             tags: dict[str, str] | None = None, asset_selection: list[dg.AssetKey] | None = None,
             ops: dict | None = None) -> tuple[dg.ExecuteInProcessResult, StepOutcome]:
    run_id = str(uuid.uuid4())
    progress.start(f"{title} (run {run_id[:8]})")
    began = time.monotonic()
    with watch_run(instance, run_id, progress.advance):
        result = job.execute_in_process(instance=instance, raise_on_error=False,
                                        run_config={**RUN_LOGS, **({"ops": ops} if ops else {})},
                                        run_id=run_id, tags=tags, asset_selection=asset_selection)
    _require_success(result, job.name)
    outcome = StepOutcome(title, run_id, time.monotonic() - began, list(result.get_asset_check_evaluations()))
    return result, outcome


def _bars_summary(result: dg.ExecuteInProcessResult, market: str) -> str:
    for mat in result.asset_materializations_for_node(f"{market}__ohlc_bars"):
        md = mat.metadata
        return f"{md['run/rows_written'].value} bars written, {md['run/rejected_rows'].value} rejected"
    return "no bars written"


def range_run(defs: dg.Definitions, instance: dg.DagsterInstance, progress: Progress, market: str,
              tickers: list[str], first: dt.date, last: dt.date, assets: list[str],
              what: str = "history backfill") -> tuple[dg.ExecuteInProcessResult, StepOutcome]:
    """One run of `assets` (names of day x symbol assets of the market's daily job) over the rectangle
    [first, last] x tickers: a backfill like any other, through the daily job (single-run policy)."""
    job = defs.resolve_job_def(f"{market}_daily_job")
    selection = [asset_keys.market_asset(get_market(market), name) for name in assets]
    tags = range_tags(first, last, tickers[0], tickers[-1])
    title = (f"{market} {what}, {len(tickers)} symbols x {len(session_dates_between(market, first, last))} "
             f"sessions ({first}..{last}), {', '.join(assets)}")
    result, outcome = _execute(job, instance, progress, title, tags=tags, asset_selection=selection)
    done = _bars_summary(result, market) if "ohlc_bars" in assets else _forecasts_summary(result, market)
    progress.done(f"{done}; {outcome.seconds:.0f}s")
    return result, outcome


class _Silent(Progress):
    """Progress of one run among several of a step: only its finished steps' names are forwarded."""


def backfill_per_symbol(defs: dg.Definitions, instance: dg.DagsterInstance, progress: Progress, market: str,
                        tickers: list[str], first: dt.date, last: dt.date, assets: list[str],
                        what: str = "history backfill", bar_timeframes: list[str] | None = None) -> list[StepOutcome]:
    """A backfill of [first, last] x tickers as Dagster's backfill daemon splits it (min(symbols, days) runs:
    one ranged run per symbol here). Dagster's `add_asset_metadata(partition_key=...)` validates each key
    against every key of the run's range, so a run's per-partition metadata costs O(partitions^2): 7 symbols
    x 491 sessions in one run spent minutes there, one run per symbol a seventh of it. `bar_timeframes`: the
    timeframes ohlc_bars fetches (config; e.g. ["d1"]: what the daily models need)."""
    job = defs.resolve_job_def(f"{market}_daily_job")
    selection = [asset_keys.market_asset(get_market(market), name) for name in assets]
    sessions = len(session_dates_between(market, first, last))
    ops = ({f"{market}__ohlc_bars": {"config": {"timeframes": bar_timeframes}}}
           if bar_timeframes is not None and "ohlc_bars" in assets else None)
    only = f" ({'/'.join(bar_timeframes)} bars)" if ops else ""
    progress.start(f"{market} {what}, {len(tickers)} symbols x {sessions} sessions ({first}..{last}), "
                   f"{', '.join(assets)}{only}, one run per symbol")
    outcomes, written, rejected = [], 0, 0
    for ticker in tickers:
        result, outcome = _execute(job, instance, _Silent(), ticker, tags=range_tags(first, last, ticker, ticker),
                                   asset_selection=selection, ops=ops)
        for mat in result.asset_materializations_for_node(f"{market}__ohlc_bars"):
            written += mat.metadata["run/rows_written"].value
            rejected += mat.metadata["run/rejected_rows"].value
            break
        progress.advance(f"{ticker} {outcome.seconds:.0f}s")
        outcomes.append(outcome)
    progress.done(f"{written} bars written, {rejected} rejected; {sum(o.seconds for o in outcomes):.0f}s")
    return outcomes


def _forecasts_summary(result: dg.ExecuteInProcessResult, market: str) -> str:
    written = []
    for name in ("lgbm_forecasts", "prophet_forecasts", "ml_forecasts", "intraday_forecasts",
                 "intraday_forecast_evaluations"):
        for mat in result.asset_materializations_for_node(f"{market}__{name}"):
            if "run/rows_written" in mat.metadata:
                written.append(f"{name} {mat.metadata['run/rows_written'].value}")
                break
    return "forecast rows written: " + (", ".join(written) or "none")


def session_dates_between(market: str, first: dt.date, last: dt.date) -> list[dt.date]:
    from swiftbolt.calendars.sessions import session_dates

    return session_dates(market, first, last)


def model_weeks(market: str, first: dt.date, last: dt.date) -> list[str]:
    """Keys of the weekly forecast_models partitions whose week ends in [first, last] (complete weeks only:
    the partitions definition holds no week that is not over)."""
    parts = model_partitions(get_market(market))
    out = []
    for key in parts.get_partition_keys():
        window = parts.time_window_for_partition_key(key)
        end = (window.end - dt.timedelta(days=1)).date()
        if first <= end <= last:
            out.append(key)
    return out


def train_models(defs: dg.Definitions, instance: dg.DagsterInstance, progress: Progress, market: str,
                 weeks: list[str], name: str = "forecast_models") -> StepOutcome:
    """One run of the weekly `<market>/<name>` (forecast_models or intraday_forecast_models) over the weekly
    partitions `weeks` (single-run backfill)."""
    key = asset_keys.market_asset(get_market(market), name)
    job = defs.resolve_implicit_job_def_def_for_assets([key])
    assert job is not None
    tags = {"dagster/asset_partition_range_start": weeks[0], "dagster/asset_partition_range_end": weeks[-1]}
    what = name.replace("_", " ")
    title = f"{market} {what}, {len(weeks)} weekly training ends ({weeks[0]}..{weeks[-1]})"
    result, outcome = _execute(job, instance, progress, title, tags=tags, asset_selection=[key])
    mats = result.asset_materializations_for_node(f"{market}__{name}")
    meta = mats[-1].metadata if mats else {}
    models = meta["dagster/row_count"].value if "dagster/row_count" in meta else 0
    digest = str(meta["model_hash"].value)[:12] if "model_hash" in meta else "none"
    progress.done(f"{models} models of the last week (hash {digest}); {outcome.seconds:.0f}s")
    return outcome


DEMO_HISTORY_ASSETS = ["ohlc_bars", "feature_rows"]
"""The history the forecast models train on: d1 bars (w1/mo1 derived) and their feature rows. Intraday bars of
two years would only make the history run and the first dbt build of indicator_values longer."""


def run_default_pipeline(defs: dg.Definitions, instance: dg.DagsterInstance, days: int,
                         progress: Progress | None = None, history: int = 0) -> list[StepOutcome]:
    """Materialize reference data; per market, the d1 history of its active symbols over the `history`
    closed sessions before the last `days` (bars and feature rows, one ranged run) and the weekly forecast
    models trained on it (one run), then its daily pipeline for the last `days` closed sessions (one ranged
    run per market, without dbt, forecasts included); the intraday refresh of every session open now, then
    one dbt build of the analytics schema. Returns each step's outcome (run, time, checks)."""
    progress = progress or Progress()
    outcomes: list[StepOutcome] = []
    result, outcome = _execute(defs.resolve_job_def("daily_refresh_job"), instance, progress, "reference data")
    refreshed = sorted(e.asset_key.to_user_string() for e in result.get_asset_materialization_events())
    progress.done(f"{', '.join(refreshed)} in {outcome.seconds:.0f}s")
    outcomes.append(outcome)
    url = warehouse_url()
    now = clock.utc_now()
    dbt_keys = set(defs.resolve_job_def("analytics_job").asset_layer.executable_asset_keys)
    open_sessions: list[tuple[str, dt.date, list[str]]] = []
    for market in MARKETS:
        with connect(url) as conn:
            tickers = list(active_symbols(conn, market))
        if not tickers:
            continue
        sync_symbol_partitions(instance, market, tickers)
        closed = timing.last_closed_sessions(market, now, days + history)
        past = [d for d in closed[:-days] if d >= history_start()]
        if past:
            outcomes += backfill_per_symbol(defs, instance, progress, market, tickers, past[0], past[-1],
                                            DEMO_HISTORY_ASSETS, bar_timeframes=["d1"])
            # every week whose training end can serve a demo day: from the last one ending before the first
            weeks = model_weeks(market, closed[-days] - dt.timedelta(days=7), closed[-1] - dt.timedelta(days=1))
            if weeks:
                outcomes.append(train_models(defs, instance, progress, market, weeks))
        dates = [d.isoformat() for d in closed[-days:]]
        job = defs.resolve_job_def(f"{market}_daily_job")
        keys = sorted(job.asset_layer.executable_asset_keys - dbt_keys)
        tags = range_tags(dt.date.fromisoformat(dates[0]), dt.date.fromisoformat(dates[-1]), tickers[0], tickers[-1])
        title = f"{market} daily pipeline, {len(tickers)} symbols x {len(dates)} sessions ({dates[0]}..{dates[-1]})"
        result, outcome = _execute(job, instance, progress, title, tags=tags, asset_selection=keys)
        progress.done(f"{_bars_summary(result, market)}; {outcome.seconds:.0f}s")
        outcomes.append(outcome)
        # the intraday models learn from the demo's own m15 bars (the history is d1 only): weeks that end
        # inside the demo's sessions, then the intraday forecasts of every bar they can serve
        intraday_weeks = model_weeks(market, closed[-days], closed[-1] - dt.timedelta(days=1))
        if intraday_weeks:
            outcomes.append(train_models(defs, instance, progress, market, intraday_weeks,
                                         name="intraday_forecast_models"))
            _, outcome = range_run(defs, instance, progress, market, tickers, closed[-days], closed[-1],
                                   ["intraday_forecasts", "intraday_forecast_evaluations"], what="intraday forecasts")
            outcomes.append(outcome)
        session = timing.intraday_tick_due(market, now)
        if session is not None and session.isoformat() not in dates:
            open_sessions.append((market, session, tickers))
    for market, session, tickers in open_sessions:
        close = timing.session_close(market, session)
        tags = {**range_tags(session, session, tickers[0], tickers[-1]),
                RUN_KIND_TAG: "intraday", SESSION_TAG: session.isoformat()}
        title = f"{market} intraday refresh of {session} (open until {close:%H:%M} UTC)"
        result, outcome = _execute(defs.resolve_job_def(f"{market}_intraday_job"), instance, progress, title,
                                   tags=tags)
        progress.done(f"bars ended so far and quotes: {_bars_summary(result, market)}; {outcome.seconds:.0f}s")
        outcomes.append(outcome)
    result, outcome = _execute(defs.resolve_job_def("analytics_job"), instance, progress,
                               "analytics (dbt build of analytics.*)")
    models = len(result.get_asset_materialization_events())
    progress.done(f"{models} models, {len(outcome.checks)} dbt tests as asset checks; {outcome.seconds:.0f}s")
    outcomes.append(outcome)
    return outcomes
