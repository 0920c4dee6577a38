"""Schedules and sensors evaluated through Dagster's test APIs at frozen times: intraday refresh,
after-close daily pipeline, symbol universe sync with history backfills."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from assets import keys
from assets.partitions import market_partitions, symbol_partitions
from definitions import defs
from resources import MarketDataResource, WarehouseResource
from resources.dbt import dbt_resource
from sensors import common
from swiftbolt.db.connection import connect
from swiftbolt.markets import US_EQUITY
from tests.helpers import add_symbols, utc

UTC = dt.UTC
NY = ZoneInfo("America/New_York")
EQUITY = ["AAPL", "MSFT", "SPY"]
CRYPTO = ["BTC/USD", "ETH/USD"]




@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions(symbol_partitions("us_equity").name, EQUITY)
        inst.add_dynamic_partitions(symbol_partitions("crypto").name, CRYPTO)
        yield inst




def schedule_tick(name: str, instance: dg.DagsterInstance, when: dt.datetime):
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=when)
    return defs.resolve_schedule_def(name).evaluate_tick(context)


def sensor_tick(name: str, instance: dg.DagsterInstance, cursor: str | None = None, url: str | None = None):
    resources = {"warehouse": WarehouseResource(database_url=url)} if url else None
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    return defs.resolve_sensor_def(name).evaluate_tick(context)


def keys_of(request: dg.RunRequest, market: str, instance: dg.DagsterInstance) -> set[tuple[str, str]]:
    """(date, symbol) of every partition a ranged run request covers."""
    keys = market_partitions(market).get_partition_keys_in_range(request.partition_key_range,
                                                                 dynamic_partitions_store=instance)
    return {(k.keys_by_dimension["date"], k.keys_by_dimension["symbol"]) for k in keys}


def day_ticks(day: dt.date) -> list[dt.datetime]:
    start = dt.datetime(day.year, day.month, day.day, tzinfo=UTC)
    return [start + dt.timedelta(minutes=15 * i) for i in range(96)]


# -- intraday ---------------------------------------------------------------------------------------


def test_mlk_day_no_equity_runs_crypto_runs(instance, frozen) -> None:
    day = dt.date(2025, 1, 20)
    equity = [schedule_tick("us_equity_intraday_schedule", instance, t) for t in day_ticks(day)[::4]]
    assert all(not r.run_requests and "closed" in r.skip_message for r in equity)
    crypto = [schedule_tick("crypto_intraday_schedule", instance, t) for t in day_ticks(day)[::4]]
    assert all(len(r.run_requests) == 1 for r in crypto)
    assert keys_of(crypto[0].run_requests[0], "crypto", instance) == {("2025-01-20", s) for s in CRYPTO}
    # after close: nothing for equities (Friday was requested already), crypto gets Sunday and Monday
    frozen(utc(2025, 1, 20, 23, 30))
    assert not sensor_tick("us_equity_after_close_sensor", instance, cursor="2025-01-17").run_requests
    frozen(utc(2025, 1, 21, 0, 30))
    crypto_daily = sensor_tick("crypto_after_close_sensor", instance, cursor="2025-01-18")
    assert [r.tags[common.SESSION_TAG] for r in crypto_daily.run_requests] == ["2025-01-19", "2025-01-20"]
    assert crypto_daily.cursor == "2025-01-20"


def test_saturday_crypto_only(instance, frozen) -> None:
    saturday = dt.date(2025, 11, 22)
    assert not any(schedule_tick("us_equity_intraday_schedule", instance, t).run_requests
                   for t in day_ticks(saturday)[::2])
    assert schedule_tick("crypto_intraday_schedule", instance, utc(2025, 11, 22, 12, 0)).run_requests
    frozen(utc(2025, 11, 22, 23, 0))
    assert not sensor_tick("us_equity_after_close_sensor", instance, cursor="2025-11-21").run_requests
    assert sensor_tick("crypto_after_close_sensor", instance, cursor="2025-11-20").run_requests


def test_day_after_thanksgiving_ticks_stop_at_the_early_close(instance) -> None:
    day = dt.date(2025, 11, 28)
    around = day_ticks(day)[4 * 12 : 4 * 23]  # 12:00 .. 22:45 UTC
    runs = {t: schedule_tick("us_equity_intraday_schedule", instance, t).run_requests for t in around}
    ran = [t for t, r in runs.items() if r]
    assert ran[0] == dt.datetime(2025, 11, 28, 9, 30, tzinfo=NY)
    assert ran[-1] == dt.datetime(2025, 11, 28, 13, 0, tzinfo=NY)
    request = runs[ran[-1]][0]
    assert keys_of(request, "us_equity", instance) == {("2025-11-28", s) for s in EQUITY}
    assert request.tags[common.RUN_KIND_TAG] == "intraday"
    assert common.RETRY_ON_STEP_FAILURE_TAG not in request.tags  # the next tick repeats it anyway


def test_after_close_on_early_close_day_comes_at_1320_et_not_1600(instance, frozen) -> None:
    for minute in (utc(2025, 11, 28, 17, 59), utc(2025, 11, 28, 18, 19)):
        frozen(minute)
        result = sensor_tick("us_equity_after_close_sensor", instance, cursor="2025-11-26")
        assert not result.run_requests and result.skip_message
    frozen(utc(2025, 11, 28, 18, 20))  # 13:00 ET + 20 minutes
    result = sensor_tick("us_equity_after_close_sensor", instance, cursor="2025-11-26")
    (request,) = result.run_requests
    assert request.run_key == "us_equity:after_close:2025-11-28"
    assert request.job_name in (None, "us_equity_daily_job")
    assert keys_of(request, "us_equity", instance) == {("2025-11-28", s) for s in EQUITY}
    assert result.cursor == "2025-11-28"
    assert request.tags[common.RETRY_ON_STEP_FAILURE_TAG] == "true"  # resumes from provider checkpoints
    # the next ticks (including at 16:00 ET) request nothing more
    frozen(utc(2025, 11, 28, 21, 20))
    assert not sensor_tick("us_equity_after_close_sensor", instance, cursor=result.cursor).run_requests


@pytest.mark.parametrize(
    ("when", "runs"),
    [
        (utc(2025, 3, 10, 13, 30), True),
        (utc(2025, 3, 10, 13, 15), False),
        (utc(2025, 3, 10, 20, 0), True),
        (utc(2025, 3, 10, 20, 15), False),
        (utc(2025, 11, 3, 14, 30), True),
        (utc(2025, 11, 3, 14, 15), False),
        (utc(2025, 11, 3, 13, 30), False),
        (utc(2025, 11, 3, 21, 0), True),
    ],
)
def test_first_weekdays_after_dst_changes(instance, when, runs) -> None:
    assert bool(schedule_tick("us_equity_intraday_schedule", instance, when).run_requests) is runs


def test_run_keys_make_a_tick_idempotent(instance, frozen) -> None:
    at = utc(2025, 6, 3, 15, 45)
    first = schedule_tick("us_equity_intraday_schedule", instance, at).run_requests[0]
    again = schedule_tick("us_equity_intraday_schedule", instance, at).run_requests[0]
    later = schedule_tick("us_equity_intraday_schedule", instance, at + dt.timedelta(minutes=15)).run_requests[0]
    assert first.run_key == again.run_key == "us_equity:intraday:2025-06-03T15:45Z"
    assert later.run_key != first.run_key
    frozen(utc(2025, 6, 3, 21, 30))
    a = sensor_tick("us_equity_after_close_sensor", instance).run_requests
    b = sensor_tick("us_equity_after_close_sensor", instance).run_requests
    assert [r.run_key for r in a] == [r.run_key for r in b] == ["us_equity:after_close:2025-06-03"]


def test_intraday_skips_while_the_previous_intraday_run_is_active(instance) -> None:
    from dagster._core.test_utils import create_run_for_test

    at = utc(2025, 6, 3, 15, 45)
    run = create_run_for_test(instance, job_name="us_equity_intraday_job", status=dg.DagsterRunStatus.STARTED,
                              tags={common.MARKET_TAG: "us_equity"})
    result = schedule_tick("us_equity_intraday_schedule", instance, at)
    assert not result.run_requests and run.run_id[:8] in result.skip_message
    instance.report_run_failed(run)
    assert schedule_tick("us_equity_intraday_schedule", instance, at).run_requests


def test_after_close_catch_up_is_bounded(instance, frozen) -> None:
    frozen(utc(2025, 6, 30, 21, 30))
    result = sensor_tick("us_equity_after_close_sensor", instance, cursor="2025-05-30")
    assert [r.tags[common.SESSION_TAG] for r in result.run_requests] == [
        "2025-06-24", "2025-06-25", "2025-06-26", "2025-06-27", "2025-06-30"
    ]


def test_no_symbols_no_runs(frozen) -> None:
    with dg.instance_for_test() as empty:
        assert "no us_equity symbol" in schedule_tick("us_equity_intraday_schedule", empty,
                                                      utc(2025, 6, 3, 15, 45)).skip_message
        frozen(utc(2025, 6, 3, 21, 30))
        result = sensor_tick("us_equity_after_close_sensor", empty)
        assert not result.run_requests and result.cursor is None


# -- the runs these requests launch -------------------------------------------------------------------


@pytest.mark.warehouse
def test_after_close_request_runs_the_daily_pipeline_for_every_symbol_in_one_run(
    warehouse_url: str, instance, frozen
) -> None:
    add_symbols(warehouse_url, {s: "us_equity" for s in EQUITY})
    frozen(utc(2025, 6, 3, 21, 30))
    (request,) = sensor_tick("us_equity_after_close_sensor", instance).run_requests
    job = defs.resolve_job_def("us_equity_daily_job")
    result = job.execute_in_process(
        instance=instance, tags=request.tags, raise_on_error=False,
        resources={"warehouse": WarehouseResource(database_url=warehouse_url),
                   "market_data": MarketDataResource(provider="synthetic"), "dbt": dbt_resource(warehouse_url)},
    )
    assert result.success
    assert len(instance.get_run_records()) == 1
    with connect(warehouse_url) as conn:
        rows = conn.execute(
            "SELECT s.ticker, d.session_date FROM market.bar_datasets d JOIN market.symbols s ON s.id = d.symbol_id "
            "WHERE d.timeframe = 'd1' ORDER BY 1"
        ).fetchall()
    assert rows == [(s, dt.date(2025, 6, 3)) for s in EQUITY]


# -- symbol universe ----------------------------------------------------------------------------------


def apply(instance: dg.DagsterInstance, data) -> None:
    """What the sensor daemon does with a tick's dynamic partition requests."""
    for req in data.dynamic_partitions_requests or []:
        if isinstance(req, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
        else:
            for key in req.partition_keys:
                instance.delete_dynamic_partition(req.partitions_def_name, key)


@pytest.mark.warehouse
def test_new_symbol_gets_a_partition_and_a_history_backfill(warehouse_url: str, frozen) -> None:
    add_symbols(warehouse_url, {"AAPL": "us_equity", "SPY": "us_equity", "BTC/USD": "crypto"})
    frozen(utc(2025, 11, 24, 15, 0))  # Monday morning: last closed session is Friday 2025-11-21
    with dg.instance_for_test() as instance:
        first = sensor_tick("us_equity_symbol_universe_sensor", instance, url=warehouse_url)
        add = first.dynamic_partitions_requests
        assert [(type(r).__name__, list(r.partition_keys)) for r in add] == [
            ("AddDynamicPartitionsRequest", ["AAPL", "SPY"])
        ]
        assert len(first.run_requests) == 2
        apply(instance, first)
        assert sensor_tick("us_equity_symbol_universe_sensor", instance, url=warehouse_url).skip_message
        # a symbol inserted into market.symbols: next tick adds its partition and requests its history
        with connect(warehouse_url) as conn, conn.transaction():
            conn.execute("INSERT INTO market.symbols (ticker, market, asset_type) "
                         "VALUES ('MSFT', 'us_equity', 'stock')")
        tick = sensor_tick("us_equity_symbol_universe_sensor", instance, url=warehouse_url)
        assert [list(r.partition_keys) for r in tick.dynamic_partitions_requests] == [["MSFT"]]
        (backfill,) = tick.run_requests
        assert backfill.run_key == "us_equity:symbol_backfill:MSFT:2020-06-01:2025-11-21"
        assert backfill.tags[common.RUN_KIND_TAG] == "symbol_backfill"
        assert backfill.tags[common.RETRY_ON_STEP_FAILURE_TAG] == "true"
        apply(instance, tick)
        assert common.scheduled_symbols(instance, "us_equity") == ["AAPL", "SPY", "MSFT"]  # insertion order
        covered = keys_of(backfill, "us_equity", instance)
        assert {s for _, s in covered} == {"MSFT"}
        assert min(covered)[0] == "2020-06-01" and max(covered)[0] == "2025-11-21"
        assert len(covered) == len(market_partitions("us_equity").partitions_defs[0].partitions_def
                                   .get_partition_keys_in_range(dg.PartitionKeyRange("2020-06-01", "2025-11-21")))
        # the after-close range (first..last in insertion order) covers the new symbol too
        frozen(utc(2025, 11, 24, 21, 30))
        (daily,) = sensor_tick("us_equity_after_close_sensor", instance).run_requests
        assert keys_of(daily, "us_equity", instance) == {("2025-11-24", s) for s in ("AAPL", "SPY", "MSFT")}
        # crypto has its own sensor and partitions
        crypto = sensor_tick("crypto_symbol_universe_sensor", instance, url=warehouse_url)
        assert [list(r.partition_keys) for r in crypto.dynamic_partitions_requests] == [["BTC/USD"]]
        assert crypto.run_requests[0].run_key == "crypto:symbol_backfill:BTC/USD:2020-06-01:2025-11-23"


@pytest.mark.warehouse
def test_deactivated_symbol_stops_being_scheduled_and_keeps_its_history(warehouse_url: str, frozen) -> None:
    add_symbols(warehouse_url, {"AAPL": "us_equity", "TSLA": "us_equity"})
    # the daily job ends with the dbt models: their resource must point at the test database too
    resources = {"warehouse": WarehouseResource(database_url=warehouse_url),
                 "market_data": MarketDataResource(provider="synthetic"), "dbt": dbt_resource(warehouse_url)}
    with dg.instance_for_test() as instance:
        frozen(utc(2025, 6, 4, 12, 0))
        apply(instance, sensor_tick("us_equity_symbol_universe_sensor", instance, url=warehouse_url))
        history = defs.resolve_job_def("us_equity_daily_job").execute_in_process(
            instance=instance, resources=resources,
            tags=common.range_tags(dt.date(2025, 6, 2), dt.date(2025, 6, 3), "AAPL", "TSLA"),
        )
        assert history.success

        def tsla_rows() -> int:
            with connect(warehouse_url) as conn:
                row = conn.execute("SELECT count(*) FROM market.ohlc_bars b JOIN market.symbols s "
                                   "ON s.id = b.symbol_id WHERE s.ticker = 'TSLA'").fetchone()
            return int(row[0])

        before = tsla_rows()
        assert before > 0
        with connect(warehouse_url) as conn, conn.transaction():
            conn.execute("UPDATE market.symbols SET is_active = false WHERE ticker = 'TSLA'")
        tick = sensor_tick("us_equity_symbol_universe_sensor", instance, url=warehouse_url)
        assert [(type(r).__name__, list(r.partition_keys)) for r in tick.dynamic_partitions_requests] == [
            ("DeleteDynamicPartitionsRequest", ["TSLA"])
        ]
        assert not tick.run_requests
        apply(instance, tick)
        assert common.scheduled_symbols(instance, "us_equity") == ["AAPL"]
        # no longer scheduled: intraday and after-close runs cover AAPL only
        frozen(utc(2025, 6, 4, 21, 30))
        (daily,) = sensor_tick("us_equity_after_close_sensor", instance).run_requests
        assert keys_of(daily, "us_equity", instance) == {("2025-06-04", "AAPL")}
        (intraday,) = schedule_tick("us_equity_intraday_schedule", instance, utc(2025, 6, 5, 15, 0)).run_requests
        assert keys_of(intraday, "us_equity", instance) == {("2025-06-05", "AAPL")}
        # history kept: warehouse rows untouched, Dagster's materialization record still there
        assert tsla_rows() == before
        tsla_events = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=keys.ohlc_bars("us_equity"),
                                  asset_partitions=["2025-06-02|TSLA", "2025-06-03|TSLA"]), limit=10
        ).records
        assert len(tsla_events) == 2


# -- definitions ------------------------------------------------------------------------------------


def test_every_schedule_and_sensor_is_described() -> None:
    schedules = {s.name: s for s in defs.schedules}
    sensors = {s.name: s for s in defs.sensors}
    assert set(schedules) == {"us_equity_intraday_schedule", "crypto_intraday_schedule", "daily_refresh_schedule"}
    assert set(sensors) == {
        "us_equity_after_close_sensor", "crypto_after_close_sensor", "us_equity_symbol_universe_sensor",
        "crypto_symbol_universe_sensor", "run_failure_alert_sensor", "run_recovery_sensor",
        "session_freshness_sensor", "calendar_reconciliation_sensor", "automation_condition_sensor",
    }
    for item in [*schedules.values(), *sensors.values()]:
        assert item.description and len(item.description) > 40, item.name
    for market in ("us_equity", "crypto"):
        daily = defs.resolve_job_def(f"{market}_daily_job")
        assert keys.ohlc_bars(market) in daily.asset_layer.executable_asset_keys
        intraday = defs.resolve_job_def(f"{market}_intraday_job")
        chains = {keys.options_chain_snapshots(market)} if market == "us_equity" else set()
        assert intraday.asset_layer.executable_asset_keys == {
            keys.ohlc_bars(market), keys.quotes(market), keys.feature_rows(market),
            keys.market_asset(market, "intraday_forecasts"), keys.market_asset(market, "intraday_forecast_evaluations"),
            *chains}


def test_daily_job_selects_by_tag_and_kind_downstream_of_the_bars() -> None:
    """The daily job is a selection, not a list: what is downstream of the bars and tagged trading day x
    symbol, plus dbt models; an asset with other partitions (a market-wide daily asset) is left to its own
    automation condition, and says so by not carrying the tag."""
    from assets.market_data import build_ohlc_bars
    from assets.partitions import market_tags, trading_day_partitions
    from sensors.market_hours import build_daily_job

    bars = build_ohlc_bars(US_EQUITY)

    @dg.asset(key=["us_equity", "features"], deps=[bars], partitions_def=market_partitions("us_equity"),
              tags=market_tags(US_EQUITY, per_partition=True))
    def features() -> None: ...

    @dg.asset(key=["us_equity", "daily_summary"], deps=[features], partitions_def=trading_day_partitions("us_equity"),
              tags=market_tags(US_EQUITY, per_partition=False))
    def daily_summary() -> None: ...

    @dg.asset(key=["analytics", "dashboard"], deps=[features], kinds={"dbt"})
    def dashboard() -> None: ...

    @dg.asset(key=["us_equity", "unrelated"], partitions_def=market_partitions("us_equity"),
              tags=market_tags(US_EQUITY, per_partition=True))
    def unrelated() -> None: ...

    assets = [bars, features, daily_summary, dashboard, unrelated]
    job = build_daily_job(US_EQUITY)
    resources = {"warehouse": WarehouseResource(), "market_data": MarketDataResource(provider="synthetic")}
    resolved = dg.Definitions(assets=assets, jobs=[job], resources=resources).resolve_job_def(job.name)
    assert resolved.asset_layer.executable_asset_keys == {
        dg.AssetKey(["us_equity", "ohlc_bars"]), dg.AssetKey(["us_equity", "features"]),
        dg.AssetKey(["analytics", "dashboard"]),
    }
