"""Alerts (ops.alerts via swiftbolt.alerts) and the sensors that raise them: run failures, stale
sessions, calendar differences with Alpaca. Real PostgreSQL, real Dagster runs, frozen clock."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg
import psycopg
import pytest

from assets.market_data import build_ohlc_bars
from assets.partitions import symbol_partitions
from definitions import defs
from resources import MarketDataResource, WarehouseResource
from sensors import alerting, common
from swiftbolt import alerts
from swiftbolt.calendars.sessions import sessions
from swiftbolt.calendars.store import write_market_calendar
from swiftbolt.db.connection import connect
from swiftbolt.markets import US_EQUITY
from tests.fake_alpaca import FakeAlpaca
from tests.helpers import add_symbols, utc

pytestmark = pytest.mark.warehouse

UTC = dt.UTC
NY = ZoneInfo("America/New_York")
EQUITY_BARS = build_ohlc_bars(US_EQUITY)






def all_alerts(url: str) -> list[tuple]:
    with connect(url) as conn:
        return conn.execute(
            "SELECT alert_type, market, symbol, severity, dedupe_key, occurrences, resolved_at IS NOT NULL "
            "FROM ops.alerts ORDER BY id"
        ).fetchall()


# -- swiftbolt.alerts -----------------------------------------------------------------------------------


def test_raise_is_deduplicated_while_open_and_resolve_keeps_history(warehouse_url: str) -> None:
    with connect(warehouse_url) as conn, conn.transaction():
        assert alerts.raise_alert(conn, market="us_equity", symbol="SPY", alert_type="stale_session",
                                  severity="warning", details={"session": "2025-06-02"}, dedupe_key="k1")
        assert not alerts.raise_alert(conn, market="us_equity", symbol="SPY", alert_type="stale_session",
                                      severity="critical", details={"session": "2025-06-02", "n": 2},
                                      dedupe_key="k1")
        (alert,) = alerts.open_alerts(conn, market="us_equity")
        assert (alert.occurrences, alert.severity, alert.details["n"]) == (2, "critical", 2)
        assert alerts.resolve_alerts(conn, dedupe_keys=["k1"]) == ["k1"]
        assert alerts.open_alerts(conn) == []
        # raised again after it was resolved: a new alert, the old one stays as history
        assert alerts.raise_alert(conn, market="us_equity", alert_type="stale_session", severity="info",
                                  dedupe_key="k1")
        assert alerts.raise_alert(conn, market="crypto", alert_type="run_failure", severity="critical")
        assert alerts.resolve_alerts(conn, alert_type="run_failure", keep=["run_failure:crypto:-"]) == []
        assert alerts.resolve_alerts(conn, alert_type="run_failure") == ["run_failure:crypto:-"]
    assert [(r[4], r[6]) for r in all_alerts(warehouse_url)] == [
        ("k1", True), ("k1", False), ("run_failure:crypto:-", True)
    ]


def test_bad_values_are_refused(warehouse_url: str) -> None:
    with connect(warehouse_url) as conn:
        with pytest.raises(ValueError, match="severity"):
            alerts.raise_alert(conn, market="us_equity", alert_type="x", severity="fatal")
        with pytest.raises(ValueError, match="market"):
            alerts.raise_alert(conn, market="forex", alert_type="x", severity="info")
        with pytest.raises(ValueError):
            alerts.resolve_alerts(conn)
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("INSERT INTO ops.alerts (market, alert_type, severity, dedupe_key) "
                         "VALUES ('us_equity', 'x', 'error', 'k')")
        conn.rollback()
        conn.execute("INSERT INTO ops.alerts (market, alert_type, severity, dedupe_key) "
                     "VALUES ('us_equity', 'x', 'info', 'dup')")
        with pytest.raises(psycopg.errors.UniqueViolation):  # the partial unique index
            conn.execute("INSERT INTO ops.alerts (market, alert_type, severity, dedupe_key) "
                         "VALUES ('us_equity', 'x', 'info', 'dup')")


# -- run failures ---------------------------------------------------------------------------------------


def _failure_context(instance, run, event, url):
    return dg.build_run_status_sensor_context(
        sensor_name=alerting.RUN_FAILURE_SENSOR, dagster_event=event, dagster_instance=instance,
        dagster_run=run, resources={"warehouse": WarehouseResource(database_url=url)},
    ).for_run_failure()


def test_failed_run_produces_one_alert_and_a_second_tick_does_not_duplicate_it(warehouse_url: str) -> None:
    add_symbols(warehouse_url, {"SPY": "us_equity"})
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(symbol_partitions("us_equity").name, ["SPY", "ZZZZ"])
        # a real failed run: ZZZZ is a partition but not an active symbol in market.symbols
        failed = dg.materialize(
            [EQUITY_BARS], instance=instance, raise_on_error=False,
            resources={"warehouse": WarehouseResource(database_url=warehouse_url),
                       "market_data": MarketDataResource(provider="synthetic")},
            tags={**common.range_tags(dt.date(2025, 6, 2), dt.date(2025, 6, 3), "ZZZZ", "ZZZZ"),
                  **common.run_tags("us_equity", "after_close")},
        )
        assert not failed.success
        sensor = defs.resolve_sensor_def(alerting.RUN_FAILURE_SENSOR)
        event = failed.get_run_failure_event()
        sensor(_failure_context(instance, failed.dagster_run, event, warehouse_url))
        sensor(_failure_context(instance, failed.dagster_run, event, warehouse_url))  # second tick
        rows = all_alerts(warehouse_url)
        assert rows == [("run_failure", "us_equity", None, "critical",
                         f"run_failure:{failed.dagster_run.job_name}:{failed.run_id}", 2, False)]
        with connect(warehouse_url) as conn:
            (alert,) = alerts.open_alerts(conn)
        assert alert.details["run_id"] == failed.run_id and alert.details["run_kind"] == "after_close"
        (step_error,) = alert.details["step_errors"]
        assert step_error["step"] == "us_equity__ohlc_bars" and "ZZZZ" in step_error["error"]

        # a retry of the same chain that fails again updates the alert; one that succeeds resolves it
        retry = failed.dagster_run.with_status(dg.DagsterRunStatus.FAILURE)._replace(
            run_id="retry-1", root_run_id=failed.run_id, parent_run_id=failed.run_id)
        sensor(_failure_context(instance, retry, event, warehouse_url))
        assert len(all_alerts(warehouse_url)) == 1
        ok = dg.materialize(
            [EQUITY_BARS], instance=instance,
            resources={"warehouse": WarehouseResource(database_url=warehouse_url),
                       "market_data": MarketDataResource(provider="synthetic")},
            tags=common.range_tags(dt.date(2025, 6, 2), dt.date(2025, 6, 2), "SPY", "SPY"),
        )
        success_event = next(e for e in ok.all_events if e.event_type == dg.DagsterEventType.RUN_SUCCESS)
        recovered = ok.dagster_run._replace(root_run_id=failed.run_id, job_name=failed.dagster_run.job_name)
        recovery = defs.resolve_sensor_def(alerting.RUN_RECOVERY_SENSOR)
        recovery(dg.build_run_status_sensor_context(
            sensor_name=alerting.RUN_RECOVERY_SENSOR, dagster_event=success_event, dagster_instance=instance,
            dagster_run=recovered, resources={"warehouse": WarehouseResource(database_url=warehouse_url)},
        ))
        assert all_alerts(warehouse_url)[0][6] is True


def test_failure_alert_keys_per_retry_chain_and_per_intraday_session() -> None:
    intraday = common.run_tags("us_equity", "intraday", **{common.SESSION_TAG: "2025-06-03"})
    a = dg.DagsterRun(job_name="us_equity_intraday_job", run_id="a", tags=intraday)
    b = dg.DagsterRun(job_name="us_equity_intraday_job", run_id="b", tags=intraday)
    assert alerting.run_failure_key(a) == alerting.run_failure_key(b) == "run_failure:us_equity_intraday_job:2025-06-03"
    daily = common.run_tags("us_equity", "after_close", **{common.SESSION_TAG: "2025-06-03"})
    first = dg.DagsterRun(job_name="us_equity_daily_job", run_id="r1", tags=daily)
    retry = dg.DagsterRun(job_name="us_equity_daily_job", run_id="r2", root_run_id="r1", parent_run_id="r1", tags=daily)
    other = dg.DagsterRun(job_name="us_equity_daily_job", run_id="r3", tags=daily)
    assert alerting.run_failure_key(first) == alerting.run_failure_key(retry) != alerting.run_failure_key(other)


def test_run_market_follows_the_run_tags() -> None:
    run = dg.DagsterRun(job_name="crypto_intraday_job", tags={})
    assert alerting.run_market(run) == "crypto"
    assert alerting.run_market(dg.DagsterRun(job_name="reference_job")) == "all"
    assert alerting.run_market(dg.DagsterRun(job_name="x", tags={common.MARKET_TAG: "us_equity"})) == "us_equity"


# -- freshness ------------------------------------------------------------------------------------------


def _materialize(url: str, instance, day: dt.date, first: str, last: str) -> None:
    result = dg.materialize(
        [EQUITY_BARS], instance=instance,
        resources={"warehouse": WarehouseResource(database_url=url),
                   "market_data": MarketDataResource(provider="synthetic")},
        tags=common.range_tags(day, day, first, last),
    )
    assert result.success


def test_session_not_materialized_by_its_deadline_raises_stale_alerts(warehouse_url: str, frozen) -> None:
    add_symbols(warehouse_url, {"SPY": "us_equity", "AAPL": "us_equity", "BTC/USD": "crypto"})
    day = dt.date(2025, 11, 28)  # early close 13:00 ET = 18:00 UTC; deadline 18:00 + 20 + 60 minutes
    sensor = defs.resolve_sensor_def(alerting.FRESHNESS_SENSOR)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(symbol_partitions("us_equity").name, ["AAPL", "SPY"])
        _materialize(warehouse_url, instance, day, "SPY", "SPY")

        def tick() -> str:
            ctx = dg.build_sensor_context(instance=instance,
                                          resources={"warehouse": WarehouseResource(database_url=warehouse_url)})
            return sensor.evaluate_tick(ctx).skip_message or ""

        frozen(utc(2025, 11, 28, 19, 20))
        message = tick()
        assert "us_equity session 2025-11-28" in message and "missing AAPL" in message
        open_keys = [r[4] for r in all_alerts(warehouse_url) if not r[6]]
        assert open_keys == ["stale_session:us_equity:AAPL:2025-11-28", "stale_session:crypto:BTC/USD:2025-11-27"]
        tick()  # a second tick does not duplicate
        assert len(all_alerts(warehouse_url)) == 2
        # the data arrives: resolved on the next tick
        _materialize(warehouse_url, instance, day, "AAPL", "AAPL")
        assert "1 alert(s) resolved" in tick()
        # a deactivated symbol's alert resolves too (it is no longer expected)
        with connect(warehouse_url) as conn, conn.transaction():
            conn.execute("UPDATE market.symbols SET is_active = false WHERE ticker = 'BTC/USD'")
        tick()
        assert all(r[6] for r in all_alerts(warehouse_url))


# -- calendar reconciliation ----------------------------------------------------------------------------


def _alpaca_days(first: dt.date, last: dt.date) -> list[dict[str, str]]:
    s = sessions("us_equity", first, last)
    return [
        {"date": d.isoformat(), "open": o.tz_convert(NY).strftime("%H:%M"), "close": c.tz_convert(NY).strftime("%H:%M")}
        for d, o, c in zip(s["date"], s["open_utc"], s["close_utc"], strict=True)
    ]


def test_calendar_differences_with_alpaca_raise_one_alert(warehouse_url: str, frozen) -> None:
    first, last = dt.date(2025, 11, 1), dt.date(2025, 12, 31)
    with connect(warehouse_url) as conn, conn.transaction():
        write_market_calendar(conn, "us_equity", first, last, "exchange_calendars:XNYS")
    frozen(utc(2025, 11, 20, 12, 0))
    sensor = defs.resolve_sensor_def(alerting.CALENDAR_SENSOR)
    with FakeAlpaca() as fake, dg.instance_for_test() as instance:
        alpaca = MarketDataResource(provider="alpaca", alpaca_api_key=fake.api_key, alpaca_secret_key=fake.secret_key,
                                    data_url=fake.data_url, trading_url=fake.trading_url)

        def tick(market_data: MarketDataResource) -> str:
            ctx = dg.build_sensor_context(instance=instance, resources={
                "warehouse": WarehouseResource(database_url=warehouse_url), "market_data": market_data})
            return sensor.evaluate_tick(ctx).skip_message or ""

        assert "not configured" in tick(MarketDataResource(provider="synthetic"))
        fake.calendar = _alpaca_days(first, last)
        assert "agrees" in tick(alpaca)
        assert all_alerts(warehouse_url) == []
        # Alpaca says the day after Thanksgiving closes at 16:00: one critical alert naming the day
        fake.calendar = [d if d["date"] != "2025-11-28" else {**d, "close": "16:00"} for d in fake.calendar]
        assert "2025-11-28" in tick(alpaca)
        assert "2025-11-28" in tick(alpaca)  # second tick: no duplicate
        (row,) = all_alerts(warehouse_url)
        assert row[:4] == ("calendar_mismatch", "us_equity", None, "critical") and row[5] == 2
        with connect(warehouse_url) as conn:
            (alert,) = alerts.open_alerts(conn)
        assert [(d["date"], d["kind"]) for d in alert.details["differences"]] == [("2025-11-28", "times_differ")]
        fake.calendar = _alpaca_days(first, last)
        assert "resolved 1" in tick(alpaca)
        assert all(r[6] for r in all_alerts(warehouse_url))
