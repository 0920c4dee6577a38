"""Live operation with the clock frozen mid-session: the intraday job succeeds and its checks pass on a
normal day and on an early close; after the close without a daily bar the coverage check fails and
says which sessions, symbols and why. Real Dagster runs, real PostgreSQL, the synthetic market served
"as of" the frozen clock (only bars that have ended)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator

import dagster as dg
import pytest

from assets.partitions import symbol_partitions
from definitions import defs
from resources import MarketDataResource, WarehouseResource
from sensors import common
from swiftbolt.db.connection import connect
from swiftbolt.market_data.bar_checks import NO_DAILY_BAR, judge_sessions
from swiftbolt.providers.synthetic import SyntheticProvider
from tests.helpers import add_symbols, utc

UTC = dt.UTC
EQUITY = ["AAPL", "MSFT", "SPY"]




class StoppedFeed(MarketDataResource):
    """The synthetic market as a feed that published nothing after `stopped_at` (ISO time)."""

    stopped_at: str

    def get_provider(self) -> SyntheticProvider:
        return SyntheticProvider(seed=self.synthetic_seed, as_of=dt.datetime.fromisoformat(self.stopped_at))


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions(symbol_partitions("us_equity").name, EQUITY)
        yield inst




def _resources(url: str, market_data: MarketDataResource | None = None) -> dict:
    return {"warehouse": WarehouseResource(database_url=url),
            "market_data": market_data or MarketDataResource(provider="synthetic")}


def _bars_run(instance, url: str, first: str, last: str, market_data=None) -> dg.ExecuteInProcessResult:
    """What a backfill / manual run of the bars does: us_equity_bars_job over sessions x every symbol."""
    tags = common.range_tags(dt.date.fromisoformat(first), dt.date.fromisoformat(last), EQUITY[0], EQUITY[-1])
    return defs.resolve_job_def("us_equity_bars_job").execute_in_process(
        instance=instance, tags=tags, resources=_resources(url, market_data), raise_on_error=False)


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {c.check_name: c for c in result.get_asset_check_evaluations()}


def _intraday_tick(instance, url: str, when: dt.datetime) -> dg.ExecuteInProcessResult:
    """The intraday schedule's tick at `when`, launched as the daemon would (same job, same tags)."""
    tick = defs.resolve_schedule_def("us_equity_intraday_schedule").evaluate_tick(
        dg.build_schedule_context(instance=instance, scheduled_execution_time=when))
    (request,) = tick.run_requests
    return defs.resolve_job_def("us_equity_intraday_job").execute_in_process(
        instance=instance, tags=request.tags, resources=_resources(url), raise_on_error=False)


def _stored(url: str, session: dt.date) -> dict[tuple[str, str], int]:
    with connect(url) as conn:
        rows = conn.execute(
            "SELECT s.ticker, d.timeframe, d.bar_count FROM market.bar_datasets d "
            "JOIN market.symbols s ON s.id = d.symbol_id WHERE d.session_date = %s", (session,)).fetchall()
    return {(t, tf): int(n) for t, tf, n in rows}


@pytest.mark.warehouse
@pytest.mark.parametrize(
    ("previous", "session", "now", "m15_so_far", "close"),
    [
        # a normal Tuesday, 11:45 ET: the 09:30 .. 11:30 bars have ended
        ("2025-06-02", dt.date(2025, 6, 3), utc(2025, 6, 3, 15, 45), 9, "20:00 UTC"),
        # the day after Thanksgiving closes at 13:00 ET; at 12:30 ET twelve bars have ended
        ("2025-11-26", dt.date(2025, 11, 28), utc(2025, 11, 28, 17, 30), 12, "18:00 UTC (early close)"),
    ],
)
def test_intraday_run_mid_session_succeeds_and_its_checks_pass(
    warehouse_url: str, instance, frozen, previous, session, now, m15_so_far, close
) -> None:
    add_symbols(warehouse_url, {s: "us_equity" for s in EQUITY})
    frozen(now)
    assert _bars_run(instance, warehouse_url, previous, previous).success  # last night's after-close run
    result = _intraday_tick(instance, warehouse_url, now)
    assert result.success
    checks = _checks(result)
    assert {"bar_quality", "session_coverage", "bars_fresh"} <= set(checks)
    bar_checks = {n: c for n, c in checks.items() if n in ("bar_quality", "session_coverage", "bars_fresh")}
    assert all(c.passed for c in bar_checks.values()), {n: c.description for n, c in bar_checks.items()}
    # the tick also computes the day's feature rows (for the intraday forecasts): with two sessions of history
    # they are warm-up rows, and last night's run made bars only, so the feature checks may warn, never error
    assert all(c.passed or c.severity == dg.AssetCheckSeverity.WARN for c in checks.values()), \
        {n: c.description for n, c in checks.items()}
    coverage = checks["session_coverage"]
    assert f"{session} is open until {close}" in coverage.description
    assert "no daily bar yet" in coverage.description
    stored = _stored(warehouse_url, session)
    assert {stored[(s, "m15")] for s in EQUITY} == {m15_so_far}
    assert {stored.get((s, "d1"), 0) for s in EQUITY} == {0}  # the session is open: no daily bar yet


@pytest.mark.warehouse
def test_after_the_close_without_a_daily_bar_the_check_fails_and_says_so(warehouse_url: str, instance,
                                                                         frozen) -> None:
    add_symbols(warehouse_url, {s: "us_equity" for s in EQUITY})
    frozen(utc(2025, 6, 3, 15, 45))
    assert _intraday_tick(instance, warehouse_url, utc(2025, 6, 3, 15, 45)).success
    # 17:30 ET: the session closed at 16:00 ET, but the feed stopped publishing at 11:45 ET
    frozen(utc(2025, 6, 3, 21, 30))
    result = _bars_run(instance, warehouse_url, "2025-06-03", "2025-06-03",
                       StoppedFeed(provider="synthetic", stopped_at="2025-06-03T15:45:00+00:00"))
    assert not result.success
    coverage = _checks(result)["session_coverage"]
    assert not coverage.passed and coverage.severity == dg.AssetCheckSeverity.ERROR
    assert coverage.description == (
        f"3 of 3 partitions incomplete (3 ERROR): 2025-06-03 (closed 20:00 UTC): {NO_DAILY_BAR} for AAPL, MSFT, SPY"
    )
    table = coverage.metadata["incomplete"].value
    assert "| session | judged as | symbols | reason | severity |" in table
    assert f"| 2025-06-03 | closed 20:00 UTC | AAPL, MSFT, SPY | {NO_DAILY_BAR} | ERROR |" in table
    assert _checks(result)["bar_quality"].passed  # nothing was wrong with the rows that did arrive
    # the run's log says it too, beside Dagster's DagsterAssetCheckFailedError
    errors = [e.user_message for e in instance.all_logs(result.run_id) if e.level == logging.ERROR]
    assert f"session_coverage fails: {coverage.description}" in errors


def test_judge_sessions_by_what_should_exist_at_the_moment() -> None:
    tuesday, friday = dt.date(2025, 6, 3), dt.date(2025, 11, 28)  # friday: early close 13:00 ET
    full = {("AAPL", tuesday, "m15"): 26, ("AAPL", tuesday, "d1"): 1}
    # before the open nothing is expected; at the open nothing has ended yet
    assert not judge_sessions("us_equity", {"AAPL": [tuesday]}, {}, utc(2025, 6, 3, 13, 0)).issues
    assert not judge_sessions("us_equity", {"AAPL": [tuesday]}, {}, utc(2025, 6, 3, 13, 34)).issues
    # mid-session: bars ended by now - 5 minutes are due, no daily bar
    (short,) = judge_sessions("us_equity", {"AAPL": [tuesday]}, {("AAPL", tuesday, "m15"): 3},
                              utc(2025, 6, 3, 15, 0)).issues
    assert (short.severity, short.reason) == ("WARN", "3/5 m15 bars ended by 14:55 UTC")
    # within the grace after the close the session is still judged open; after it, closed
    assert not judge_sessions("us_equity", {"AAPL": [tuesday]}, {("AAPL", tuesday, "m15"): 26},
                              utc(2025, 6, 3, 20, 4)).issues
    (missing,) = judge_sessions("us_equity", {"AAPL": [tuesday]}, {("AAPL", tuesday, "m15"): 26},
                                utc(2025, 6, 3, 20, 5)).issues
    assert (missing.severity, missing.reason, missing.state) == ("ERROR", NO_DAILY_BAR, "closed 20:00 UTC")
    assert not judge_sessions("us_equity", {"AAPL": [tuesday]}, full, utc(2025, 6, 3, 20, 5)).issues
    # early close: 14 m15 bars make the whole session, the close is 18:00 UTC
    early = {("AAPL", friday, "m15"): 14, ("AAPL", friday, "d1"): 1}
    judged = judge_sessions("us_equity", {"AAPL": [friday]}, early, utc(2025, 11, 28, 18, 30))
    assert not judged.issues and judged.states[friday] == "closed 18:00 UTC (early close)"
    (short,) = judge_sessions("us_equity", {"AAPL": [friday]}, {**early, ("AAPL", friday, "m15"): 13},
                              utc(2025, 11, 28, 18, 30)).issues
    assert short.reason == "13/14 m15 bars"
    # a holiday is not a session; crypto's current day is open until midnight UTC
    (holiday,) = judge_sessions("us_equity", {"AAPL": [dt.date(2025, 11, 27)]}, {}, utc(2025, 11, 28)).issues
    assert holiday.severity == "ERROR" and "not a trading session" in holiday.reason
    today = dt.date(2026, 12, 1)
    crypto = judge_sessions("crypto", {"BTC/USD": [today]}, {("BTC/USD", today, "m15"): 86}, utc(2026, 12, 1, 21, 40))
    assert not crypto.issues and crypto.states[today] == "open until 00:00 UTC"
