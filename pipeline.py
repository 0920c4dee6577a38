"""The default pipeline, run headless: reference data, then every market's partitioned assets for
its active symbols over recent sessions (one run per market for the whole range)."""

import datetime as dt

import dagster as dg

from assets.partitions import symbol_partitions, trading_day_partitions
from swiftbolt.db.connection import connect
from swiftbolt.db.warehouse import warehouse_url
from swiftbolt.markets import MARKETS
from swiftbolt.universe import active_symbols


def _require_success(result: dg.ExecuteInProcessResult, what: str) -> None:
    if result.success:
        return
    failures = [e.message for e in result.all_events if e.is_step_failure or e.is_failure]
    reason = failures[-1].splitlines()[0] if failures and failures[-1] else "see the run in the UI"
    raise SystemExit(f"swiftbolt: error: {what} failed (run {result.run_id[:8]}): {reason}")


def sync_symbol_partitions(instance: dg.DagsterInstance, market: str, tickers: list[str]) -> None:
    """Make the market's dynamic symbol partitions equal to its active symbols."""
    name = symbol_partitions(market).name
    assert name is not None
    existing = set(instance.get_dynamic_partitions(name))
    missing = [t for t in tickers if t not in existing]
    if missing:
        instance.add_dynamic_partitions(name, missing)
    for stale in existing - set(tickers):
        instance.delete_dynamic_partition(name, stale)


def recent_closed_sessions(market: str, days: int, now: dt.datetime | None = None) -> list[str]:
    """The last `days` trading-day partition keys whose session has closed."""
    from swiftbolt.calendars.sessions import sessions

    now = now or dt.datetime.now(dt.UTC)
    keys = trading_day_partitions(market).get_partition_keys()
    cal = sessions(market, dt.date.fromisoformat(keys[0]), dt.date.fromisoformat(keys[-1])).set_index("date")
    closed = [k for k in keys if cal.loc[dt.date.fromisoformat(k), "close_utc"] <= now]
    return closed[-days:]


# The console shows warnings only: the summary is the demo's output; every event is in the UI's run view.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def run_default_pipeline(defs: dg.Definitions, instance: dg.DagsterInstance, days: int) -> list[str]:
    """Materialize reference data, then each market's bars for all active symbols over the last
    `days` closed sessions as one ranged run. Returns summary lines."""
    summary: list[str] = []
    result = defs.resolve_job_def("daily_refresh_job").execute_in_process(
        instance=instance, raise_on_error=False, run_config=QUIET
    )
    _require_success(result, "daily_refresh_job")
    refreshed = sorted(e.asset_key.to_user_string() for e in result.get_asset_materialization_events())
    summary.append(f"daily_refresh_job run {result.run_id[:8]}: {', '.join(refreshed)}")
    url = warehouse_url()
    for market in MARKETS:
        with connect(url) as conn:
            tickers = list(active_symbols(conn, market))
        if not tickers:
            continue
        sync_symbol_partitions(instance, market, tickers)
        dates = recent_closed_sessions(market, days)
        start = dg.MultiPartitionKey({"date": dates[0], "symbol": tickers[0]})
        end = dg.MultiPartitionKey({"date": dates[-1], "symbol": tickers[-1]})
        job = defs.resolve_job_def(f"{market}_daily_job")
        result = job.execute_in_process(
            instance=instance, raise_on_error=False, run_config=QUIET,
            tags={"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end},
        )
        _require_success(result, f"{market}_daily_job")
        for mat in result.asset_materializations_for_node(f"{market}__ohlc_bars"):
            md = mat.metadata
            summary.append(
                f"{market}/ohlc_bars run {result.run_id[:8]}: {len(tickers)} symbols x {len(dates)} sessions "
                f"({dates[0]}..{dates[-1]}), {md['run/rows_written'].value} bars written, "
                f"{md['run/rejected_rows'].value} rejected"
            )
            break
        others = sorted({e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
                        - {f"{market}/ohlc_bars"})
        summary.append(f"{market} downstream in the same run: {', '.join(others)}")
    result = defs.resolve_job_def("analytics_job").execute_in_process(
        instance=instance, raise_on_error=False, run_config=QUIET
    )
    _require_success(result, "analytics_job")
    checks = result.get_asset_check_evaluations()
    failed = [c.check_name for c in checks if not c.passed]
    summary.append(
        f"analytics_job run {result.run_id[:8]}: dbt build of analytics.* "
        f"({len(result.get_asset_materialization_events())} models, {len(checks)} dbt tests as asset checks, "
        f"{len(failed)} failed{': ' + ', '.join(failed) if failed else ''})"
    )
    return summary
