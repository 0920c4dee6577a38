"""The ohlc_bars asset end to end: real Dagster execution on a real PostgreSQL, providers real
(alpaca-py against the local fake Alpaca server, or the synthetic market)."""

from __future__ import annotations

import datetime as dt
import itertools
import math

import dagster as dg
import pandas as pd
import pytest

from assets.market_data import build_corporate_actions, build_ohlc_bars, build_quotes
from assets.partitions import symbol_partitions
from resources import MarketDataResource, WarehouseResource
from swiftbolt.db.connection import connect
from swiftbolt.markets import US_EQUITY
from tests.fake_alpaca import FakeAlpaca, snapshot
from tests.helpers import add_symbols, bars_digest, markdown_counts, spy_fixture_bars

pytestmark = pytest.mark.warehouse

EQUITY_BARS = build_ohlc_bars(US_EQUITY)


def _range_tags(first_date: str, last_date: str, first_symbol: str, last_symbol: str) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": dg.MultiPartitionKey({"date": first_date, "symbol": first_symbol}),
        "dagster/asset_partition_range_end": dg.MultiPartitionKey({"date": last_date, "symbol": last_symbol}),
    }


def _materialize(assets, url: str, market_data: MarketDataResource, instance: dg.DagsterInstance,
                 **kwargs) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        assets, instance=instance, raise_on_error=False,
        resources={"warehouse": WarehouseResource(database_url=url), "market_data": market_data}, **kwargs,
    )


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def test_alpaca_bars_stored_equal_bars_served_across_pages(warehouse_url: str, instance) -> None:
    """The server holds real SPY hourly and daily bars and no 15-minute bars: the asset asks for m15 and
    d1 only (h1/h4 of US equities are derived from the regular-session m15 bars, so none are requested),
    and stores every daily bar exactly as served, across pages."""
    add_symbols(warehouse_url, {"SPY": "us_equity"}, source="alpaca")
    instance.add_dynamic_partitions(symbol_partitions("us_equity").name, ["SPY"])
    served = spy_fixture_bars()
    with FakeAlpaca(page_size=7) as fake:
        fake.bars = served
        resource = MarketDataResource(provider="alpaca", alpaca_api_key=fake.api_key,
                                      alpaca_secret_key=fake.secret_key, data_url=fake.data_url,
                                      trading_url=fake.trading_url)
        result = _materialize([EQUITY_BARS], warehouse_url, resource, instance,
                              tags=_range_tags("2021-01-04", "2021-02-26", "SPY", "SPY"))
        assert result.success
        bar_requests = fake.requests_to("/v2/stocks/bars")
    assert len(instance.get_run_records()) == 1  # the whole range is one run
    with connect(warehouse_url) as conn:
        stored = pd.DataFrame(
            conn.execute("SELECT timeframe, ts, open, high, low, close, volume FROM market.ohlc_bars "
                         "WHERE timeframe <> ALL('{w1,mo1}') ORDER BY timeframe, ts").fetchall(),
            columns=["timeframe", "ts", "open", "high", "low", "close", "volume"],
        )
    expected = served[served["timeframe"] == "d1"].sort_values("ts").reset_index(drop=True)
    assert len(stored) == len(expected) == 38
    pd.testing.assert_frame_equal(
        stored.assign(ts=pd.to_datetime(stored["ts"], utc=True)),
        expected[["timeframe", "ts", "open", "high", "low", "close", "volume"]].astype({"ts": "datetime64[ns, UTC]"}),
        check_dtype=False,
    )
    # one paginated request per fetched timeframe: pages = ceil(rows / 7), at least one page when empty;
    # the 266 hourly bars the server holds are never asked for
    pages = {tf: max(1, math.ceil(n / 7)) for tf, n in {"15Min": 0, "1Day": 38}.items()}
    by_tf: dict[str, int] = {}
    for q in bar_requests:
        by_tf[q["timeframe"]] = by_tf.get(q["timeframe"], 0) + 1
    assert by_tf == pages
    mat = result.asset_materializations_for_node("us_equity__ohlc_bars")[0]
    assert mat.metadata["provider"].value == "alpaca"
    assert mat.metadata["run/provider_requests"].value == 2
    assert markdown_counts(mat.metadata["run/rows_by_timeframe"]) == {"d1": 38}
    assert mat.metadata["run/rows_received"].value == mat.metadata["run/rows_stored"].value == 38
    # no m15 data was served: coverage warns (WARN does not block) and names the short sessions
    coverage = next(c for c in result.get_asset_check_evaluations() if c.check_name == "session_coverage")
    assert not coverage.passed and coverage.severity == dg.AssetCheckSeverity.WARN


def test_rematerializing_a_range_leaves_identical_rows(warehouse_url: str, instance) -> None:
    add_symbols(warehouse_url, {"AAPL": "us_equity", "MSFT": "us_equity"})
    instance.add_dynamic_partitions(symbol_partitions("us_equity").name, ["AAPL", "MSFT"])
    synthetic = MarketDataResource(provider="synthetic")
    tags = _range_tags("2025-06-02", "2025-06-13", "AAPL", "MSFT")
    first = _materialize([EQUITY_BARS], warehouse_url, synthetic, instance, tags=tags)
    assert first.success
    digest_1 = bars_digest(warehouse_url)
    with connect(warehouse_url) as conn:
        datasets_1 = conn.execute("SELECT symbol_id, timeframe, session_date, bar_count, checksum "
                                  "FROM market.bar_datasets ORDER BY 1, 2, 3").fetchall()
    second = _materialize([EQUITY_BARS], warehouse_url, synthetic, instance, tags=tags)
    assert second.success
    assert bars_digest(warehouse_url) == digest_1
    with connect(warehouse_url) as conn:
        datasets_2 = conn.execute("SELECT symbol_id, timeframe, session_date, bar_count, checksum "
                                  "FROM market.bar_datasets ORDER BY 1, 2, 3").fetchall()
    assert datasets_1 == datasets_2 and len(datasets_1) == 2 * 10 * 4
    mats_1 = first.asset_materializations_for_node("us_equity__ohlc_bars")
    mats_2 = second.asset_materializations_for_node("us_equity__ohlc_bars")
    checksums_1 = {m.partition: m.metadata["checksum"].value for m in mats_1}
    checksums_2 = {m.partition: m.metadata["checksum"].value for m in mats_2}
    assert checksums_1 == checksums_2 and len(checksums_1) == 20 and len(set(checksums_1.values())) == 20
    m1, m2 = mats_1[0].metadata, mats_2[0].metadata
    assert m1["run/rows_written"].value == m2["run/rows_written"].value == digest_1[0] - _derived_count(warehouse_url)


def _derived_count(url: str) -> int:
    with connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM market.ohlc_bars WHERE timeframe IN ('w1', 'mo1')").fetchone()
    return int(row[0]) if row else 0


def test_derived_weekly_and_monthly_bars_equal_their_daily_source(warehouse_url: str, instance) -> None:
    add_symbols(warehouse_url, {"SPY": "us_equity"})
    instance.add_dynamic_partitions(symbol_partitions("us_equity").name, ["SPY"])
    synthetic = MarketDataResource(provider="synthetic")
    # two separate runs whose ranges split a week and a month: derived bars must still be exact
    assert _materialize([EQUITY_BARS], warehouse_url, synthetic, instance,
                        tags=_range_tags("2025-05-19", "2025-05-28", "SPY", "SPY")).success
    assert _materialize([EQUITY_BARS], warehouse_url, synthetic, instance,
                        tags=_range_tags("2025-05-29", "2025-06-06", "SPY", "SPY")).success
    with connect(warehouse_url) as conn:
        mismatches = conn.execute(
            """
            WITH d AS (SELECT date_trunc(p.unit, session_date)::date AS period, p.tf, b.*
                       FROM market.ohlc_bars b CROSS JOIN (VALUES ('week', 'w1'), ('month', 'mo1')) p(unit, tf)
                       WHERE b.timeframe = 'd1'),
                 agg AS (SELECT tf, symbol_id, period, (array_agg(open ORDER BY ts))[1] o, max(high) h,
                                min(low) l, (array_agg(close ORDER BY ts DESC))[1] c, sum(volume) v
                         FROM d GROUP BY tf, symbol_id, period)
            SELECT count(*) FILTER (WHERE x.ts IS NULL OR x.open <> a.o OR x.high <> a.h OR x.low <> a.l
                                       OR x.close <> a.c OR x.volume <> a.v), count(*)
            FROM agg a LEFT JOIN market.ohlc_bars x
              ON x.symbol_id = a.symbol_id AND x.timeframe = a.tf AND x.session_date = a.period
            """
        ).fetchone()
    assert mismatches is not None and mismatches[0] == 0 and mismatches[1] == 3 + 2  # 3 weeks, 2 months


def test_split_adjusted_closes_are_continuous(warehouse_url: str, instance) -> None:
    add_symbols(warehouse_url, {"NVDA": "us_equity", "MSFT": "us_equity"})
    instance.add_dynamic_partitions(symbol_partitions("us_equity").name, ["NVDA", "MSFT"])
    synthetic = MarketDataResource(provider="synthetic")
    assert _materialize([EQUITY_BARS], warehouse_url, synthetic, instance,
                        tags=_range_tags("2025-06-02", "2025-06-20", "NVDA", "MSFT")).success
    assert _materialize([build_corporate_actions(US_EQUITY)], warehouse_url, synthetic, instance).success
    with connect(warehouse_url) as conn:
        rows = conn.execute(
            """SELECT b.session_date, b.close, a.close FROM market.ohlc_bars b
               JOIN market.ohlc_bars_adjusted a USING (symbol_id, timeframe, ts)
               JOIN market.symbols s ON s.id = b.symbol_id
               WHERE s.ticker = 'NVDA' AND b.timeframe = 'd1' ORDER BY b.session_date"""
        ).fetchall()
        events = conn.execute("SELECT action_type, ex_date, ratio FROM market.corporate_actions "
                              "WHERE action_type = 'split'").fetchall()
    assert events and events[0][2] == 4.0
    ex_date = events[0][1]
    raw_jump = max(abs(r[1] / p[1] - 1) for p, r in itertools.pairwise(rows))
    adj_jump = max(abs(r[2] / p[2] - 1) for p, r in itertools.pairwise(rows))
    assert raw_jump > 0.6  # the raw series drops ~75% at the split
    assert adj_jump < 0.15  # the adjusted series does not
    before = [r for r in rows if r[0] < ex_date]
    assert all(abs(adj - raw / 4.0) < 1e-9 * raw for _, raw, adj in before)
    # raw bars were not rewritten: the stored raw close before the split is still ~4x the adjusted one
    assert before and before[-1][1] > 3.5 * before[-1][2]


def test_quotes_are_upserted(warehouse_url: str, instance) -> None:
    add_symbols(warehouse_url, {"SPY": "us_equity"}, source="alpaca")
    with FakeAlpaca() as fake:
        fake.snapshots = {"SPY": snapshot(last=501.2, bid=501.1, ask=501.3, day_high=503.0,
                                          day_low=498.5, prev_close=499.0)}
        resource = MarketDataResource(provider="alpaca", alpaca_api_key=fake.api_key,
                                      alpaca_secret_key=fake.secret_key, data_url=fake.data_url,
                                      trading_url=fake.trading_url)
        assert _materialize([build_quotes(US_EQUITY)], warehouse_url, resource, instance).success
    with connect(warehouse_url) as conn:
        row = conn.execute("SELECT last, bid, ask, day_high, day_low, prev_close FROM market.quotes").fetchone()
    assert row == (501.2, 501.1, 501.3, 503.0, 498.5, 499.0)


def test_unreachable_database_fails_with_one_line(instance) -> None:
    result = _materialize([build_quotes(US_EQUITY)], "postgresql://postgres@127.0.0.1:1/nowhere",
                          MarketDataResource(provider="synthetic"), instance)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    error = failure.step_failure_data.error
    assert error is not None and error.cause is not None
    error = error.cause
    assert error.message.startswith("swiftbolt.errors.DatabaseUnavailable: cannot connect to PostgreSQL at "
                                    "127.0.0.1:1/nowhere")
    assert error.message.count("\n") <= 1


def test_bars_freshness_check_reports_symbols_without_the_last_session(warehouse_url: str, instance) -> None:
    from assets.market_data import build_bars_freshness_check
    from swiftbolt.calendars.timing import last_session_past_deadline

    add_symbols(warehouse_url, {"AAPL": "us_equity", "MSFT": "us_equity"})
    instance.add_dynamic_partitions(symbol_partitions("us_equity").name, ["AAPL", "MSFT"])
    session, _ = last_session_past_deadline("us_equity", dt.datetime.now(dt.UTC))
    resources = {"warehouse": WarehouseResource(database_url=warehouse_url),
                 "market_data": MarketDataResource(provider="synthetic")}
    check = build_bars_freshness_check(US_EQUITY)
    stale = dg.materialize([EQUITY_BARS, check], instance=instance, resources=resources,
                           selection=dg.AssetSelection.checks(check), raise_on_error=False)
    evaluation = stale.get_asset_check_evaluations()[0]
    assert not evaluation.passed and evaluation.metadata["missing_symbols"].value == ["AAPL", "MSFT"]
    key = dg.MultiPartitionKey({"date": session.isoformat(), "symbol": "AAPL"})
    assert _materialize([EQUITY_BARS], warehouse_url, MarketDataResource(provider="synthetic"), instance,
                        partition_key=key).success
    partly = dg.materialize([EQUITY_BARS, check], instance=instance, resources=resources,
                            selection=dg.AssetSelection.checks(check), raise_on_error=False)
    assert partly.get_asset_check_evaluations()[0].metadata["missing_symbols"].value == ["MSFT"]


def test_error_quality_check_blocks_downstream_assets(warehouse_url: str, instance) -> None:
    """More than 1% bad rows from the provider: the blocking bar_quality check fails with ERROR and the
    downstream feature assets of the same run do not execute."""
    from assets.features import build_feature_rows

    add_symbols(warehouse_url, {"SPY": "us_equity"}, source="alpaca")
    instance.add_dynamic_partitions(symbol_partitions("us_equity").name, ["SPY"])
    served = spy_fixture_bars()
    bad = served.index[served["timeframe"] == "d1"][::10]  # 10% of the daily bars
    served.loc[bad, "low"] = served.loc[bad, "high"] + 1.0  # low above high
    with FakeAlpaca(page_size=100) as fake:
        fake.bars = served
        resource = MarketDataResource(provider="alpaca", alpaca_api_key=fake.api_key,
                                      alpaca_secret_key=fake.secret_key, data_url=fake.data_url,
                                      trading_url=fake.trading_url)
        result = _materialize([EQUITY_BARS, build_feature_rows(US_EQUITY)], warehouse_url, resource, instance,
                              tags=_range_tags("2021-01-04", "2021-01-29", "SPY", "SPY"))
    quality = next(c for c in result.get_asset_check_evaluations() if c.check_name == "bar_quality")
    assert not quality.passed and quality.severity == dg.AssetCheckSeverity.ERROR
    in_range = int((served.loc[bad, "ts"] < pd.Timestamp("2021-01-30", tz="UTC")).sum())
    assert markdown_counts(quality.metadata["rejected_by_reason"]) == {"high below low": in_range}
    executed = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "us_equity/feature_rows" not in executed
    with connect(warehouse_url) as conn:
        assert conn.execute("SELECT count(*) FROM ml.feature_rows").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM ops.bar_quarantine").fetchone()[0] > 0


def test_config_timeframes_fetch_a_subset_and_name_the_rest() -> None:
    """A history backfill for the daily models asks for d1 only: m15 is not fetched and says why; an unknown
    timeframe fails the run with one line."""
    from assets.market_data import fetched_timeframes, run_timeframes
    from swiftbolt.market_data.types import Timeframe

    assert run_timeframes(fetched_timeframes(), None) == (fetched_timeframes(), {})
    requested, skipped = run_timeframes(fetched_timeframes(), ["d1"])
    assert requested == [Timeframe.D1] and skipped == {"m15": "not requested by this run (config timeframes)"}
    with pytest.raises(dg.Failure, match=r"config timeframes \['h1'\] are not fetched timeframes"):
        run_timeframes(fetched_timeframes(), ["d1", "h1"])
