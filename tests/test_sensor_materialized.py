"""The after-close sensor does not request a session that is already materialized whole with the
current code versions, judged from Dagster's own materialization records (real runs, real
PostgreSQL, frozen clock)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import dagster as dg
import pytest

from assets import keys
from assets.partitions import symbol_partitions
from definitions import defs
from resources import MarketDataResource, WarehouseResource
from resources.dbt import dbt_resource
from sensors import common, materialized
from swiftbolt.calendars.timing import holds_whole_session, session_close
from tests.helpers import add_symbols, utc

pytestmark = pytest.mark.warehouse

UTC = dt.UTC
EQUITY = ["AAPL", "MSFT", "SPY"]
BARS = keys.ohlc_bars("us_equity")
TUESDAY, WEDNESDAY = dt.date(2025, 6, 3), dt.date(2025, 6, 4)




@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions(symbol_partitions("us_equity").name, EQUITY)
        yield inst




def _run(job: str, instance, url: str, tags: dict[str, str]) -> dg.ExecuteInProcessResult:
    resources = {"warehouse": WarehouseResource(database_url=url),
                 "market_data": MarketDataResource(provider="synthetic"), "dbt": dbt_resource(url)}
    result = defs.resolve_job_def(job).execute_in_process(instance=instance, tags=tags, resources=resources,
                                                          raise_on_error=False)
    assert result.success
    return result


def _after_close_tick(instance, cursor: str | None = None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, repository_def=defs.get_repository_def())
    return defs.resolve_sensor_def("us_equity_after_close_sensor").evaluate_tick(context)


def _session_tags(session: dt.date, **extra: str) -> dict[str, str]:
    return {**common.range_tags(session, session, EQUITY[0], EQUITY[-1]), **extra}


def test_a_session_materialized_whole_is_not_requested_again(warehouse_url: str, instance, frozen) -> None:
    add_symbols(warehouse_url, {s: "us_equity" for s in EQUITY})
    frozen(utc(2025, 6, 3, 21, 30))  # Tuesday after the close plus buffer
    assert [r.tags[common.SESSION_TAG] for r in _after_close_tick(instance).run_requests] == ["2025-06-03"]
    # what the demo does: the daily pipeline for the closed session, outside the sensor
    _run("us_equity_daily_job", instance, warehouse_url, _session_tags(TUESDAY))
    tick = _after_close_tick(instance)
    assert not tick.run_requests
    assert tick.cursor == "2025-06-03"
    assert "2025-06-03 is already materialized for all 3 symbols with the current code version" in tick.skip_message
    # the bars rewritten alone (e.g. a bars backfill): the features are older than their bars -> requested
    _run("us_equity_bars_job", instance, warehouse_url, _session_tags(TUESDAY))
    (request,) = _after_close_tick(instance, cursor="2025-06-02").run_requests
    assert request.tags[common.SESSION_TAG] == "2025-06-03"


def test_partial_sessions_and_new_code_versions_are_not_done(warehouse_url: str, instance, frozen) -> None:
    add_symbols(warehouse_url, {s: "us_equity" for s in EQUITY})
    frozen(utc(2025, 6, 4, 15, 0))
    # Wednesday's intraday refresh at 11:00 ET wrote the bars of the session so far
    _run("us_equity_intraday_job", instance, warehouse_url,
         _session_tags(WEDNESDAY, **{common.RUN_KIND_TAG: "intraday"}))
    closes = {WEDNESDAY: session_close("us_equity", WEDNESDAY)}
    current = {BARS: defs.get_repository_def().asset_graph.get(BARS).code_version}
    (status,) = materialized.session_statuses(instance, BARS, current, closes, EQUITY).values()
    assert not status.done and "written by an intraday refresh" in status.reason
    frozen(utc(2025, 6, 4, 21, 30))
    (request,) = _after_close_tick(instance, cursor="2025-06-03").run_requests
    assert request.tags[common.SESSION_TAG] == "2025-06-04"
    # after the daily pipeline ran, the session is done; a new code version of the bars makes it not done
    _run("us_equity_daily_job", instance, warehouse_url, _session_tags(WEDNESDAY))
    versions = materialized.daily_pipeline_code_versions(defs.get_repository_def(), "us_equity_daily_job", BARS)
    assert set(versions) == {BARS, *(dg.AssetKey(["us_equity", n]) for n in (
        "feature_rows", "sr_levels", "supertrend_signals", "lgbm_forecasts", "prophet_forecasts", "ml_forecasts",
        "forecast_evaluations", "ensemble_evaluations", "intraday_forecasts", "intraday_forecast_evaluations",
        "options_chain_snapshots", "iv_history", "options_ranks", "ranking_evaluations"))}
    assert materialized.session_statuses(instance, BARS, versions, closes, EQUITY)[WEDNESDAY].done
    changed = {**versions, BARS: "a-new-version"}
    status = materialized.session_statuses(instance, BARS, changed, closes, EQUITY)[WEDNESDAY]
    assert not status.done and "the current one is a-new-version" in status.reason


def test_a_run_holds_the_whole_session_only_once_it_closed() -> None:
    close = utc(2025, 11, 28, 18, 0)  # early close 13:00 ET
    assert not holds_whole_session(utc(2025, 11, 28, 17, 45), close)
    assert not holds_whole_session(utc(2025, 11, 28, 18, 0), close)  # the closing tick: last bar not published
    assert holds_whole_session(utc(2025, 11, 28, 18, 5), close)
    assert not holds_whole_session(utc(2025, 11, 28, 18, 30), close, run_kind="intraday")
