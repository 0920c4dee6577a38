"""Ingestion core on a real PostgreSQL: quarantine of every bad-row kind, nothing partial on
failure, retries resume from checkpoints, real-data reverse split adjustment."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

import swiftbolt.market_data.ingest as ingest_module
from swiftbolt.calendars.sessions import session_dates
from swiftbolt.db.connection import connect
from swiftbolt.market_data.ingest import RunInfo, ingest_bars
from swiftbolt.market_data.types import BAR_COLUMNS, FETCHED_TIMEFRAMES, ProviderError, Timeframe
from swiftbolt.providers.synthetic import SyntheticProvider
from tests.fake_alpaca import FakeAlpaca
from tests.helpers import FIXTURES, add_symbols, bars_digest

pytestmark = pytest.mark.warehouse

DAYS = session_dates("us_equity", dt.date(2025, 3, 3), dt.date(2025, 3, 14))


class FaultyProvider:
    """Wraps a real provider: corrupts chosen rows or fails on a chosen timeframe."""

    name = "synthetic"

    def __init__(self, inner, corrupt=None, fail_on: Timeframe | None = None) -> None:
        self.inner, self.corrupt, self.fail_on = inner, corrupt, fail_on
        self.calls: list[Timeframe] = []

    def bars(self, symbols, timeframe, start, end):
        self.calls.append(timeframe)
        if timeframe == self.fail_on:
            raise ProviderError(f"injected provider failure on {timeframe.value}")
        frame = self.inner.bars(symbols, timeframe, start, end)
        return self.corrupt(frame, timeframe) if self.corrupt else frame


def _corrupt(frame: pd.DataFrame, timeframe: Timeframe) -> pd.DataFrame:
    if timeframe != Timeframe.M15:
        return frame
    f = frame.copy().astype({"ts": object})
    f.loc[0, "open"] = np.nan                                  # missing price
    f.loc[1, "low"] = -1.0                                     # non-positive price
    f.loc[2, ["high", "low"]] = [f.loc[2, "low"] - 1, f.loc[2, "high"]]  # high below low
    f.loc[3, "high"] = min(f.loc[3, "open"], f.loc[3, "close"]) - 0.01  # high below open/close
    f.loc[3, "low"] = f.loc[3, "high"] - 1
    f.loc[4, "volume"] = -5                                    # negative volume
    f.loc[5, "ts"] = pd.Timestamp("2025-03-03 03:00", tz="UTC")  # outside the session
    f.loc[6, "ts"] = pd.Timestamp("2025-03-03 15:00")          # naive timestamp
    dup = f.iloc[[7]].copy()                                   # exact duplicate
    conflict = f.iloc[[8]].copy()
    conflict["close"] = conflict["close"] + 0.5                # duplicate with other values
    conflict["high"] = conflict[["high", "close"]].max(axis=1)
    return pd.concat([f, dup, conflict], ignore_index=True)


def test_each_bad_row_kind_is_quarantined_with_its_reason(warehouse_url: str) -> None:
    ids = add_symbols(warehouse_url, {"AAPL": "us_equity"})
    provider = FaultyProvider(SyntheticProvider(), corrupt=_corrupt)
    report = ingest_bars(warehouse_url, provider, "us_equity", ids, DAYS, list(FETCHED_TIMEFRAMES), RunInfo())
    expected = {
        "missing price": 1, "non-positive price": 1, "high below low": 1, "high below open/close": 1,
        "negative volume": 1, "timestamp not timezone-aware": 1, "identical duplicate (collapsed)": 1,
        "duplicate bar with conflicting values": 2, "not a trading session": 1,
    }
    with connect(warehouse_url) as conn:
        rows = dict(conn.execute("SELECT reason, count(*) FROM ops.bar_quarantine GROUP BY reason").fetchall())
        m15 = conn.execute("SELECT count(*) FROM market.ohlc_bars WHERE timeframe = 'm15'").fetchone()[0]
        raw = conn.execute("SELECT raw->>'open' FROM ops.bar_quarantine WHERE reason = 'missing price'").fetchone()
        sunday = conn.execute("SELECT session_date, partition_date FROM ops.bar_quarantine "
                              "WHERE reason = 'not a trading session'").fetchone()
    assert {k: v for k, v in rows.items()} == expected
    assert report.rows_rejected == sum(expected.values())
    assert raw == (None,)
    # the bar at 03:00 UTC is Sunday evening in New York: kept with the session it claims, under the
    # requested partition it came with (it was dropped without a record before)
    assert sunday == (dt.date(2025, 3, 2), dt.date(2025, 3, 3))
    m15_request = next(a for a in report.requests if a.timeframe == "m15")
    assert m15_request.received == 10 * 26 + 2 == m15_request.stored + m15_request.quarantined
    # every other m15 bar of the 10 sessions is stored: 26 per session, minus the 9 bad rows
    # (one conflicting duplicate pair removes the original row too)
    assert m15 == 10 * 26 - 8


def test_provider_failure_midway_writes_nothing(warehouse_url: str) -> None:
    ids = add_symbols(warehouse_url, {"AAPL": "us_equity", "MSFT": "us_equity"})
    provider = FaultyProvider(SyntheticProvider(), fail_on=Timeframe.D1)
    with pytest.raises(ProviderError, match="injected provider failure on d1"):
        ingest_bars(warehouse_url, provider, "us_equity", ids, DAYS, list(FETCHED_TIMEFRAMES), RunInfo())
    # the second request fails (h1 and h4 are derived from m15, never requested): nothing of the first stays
    assert provider.calls == [Timeframe.M15, Timeframe.D1]
    assert bars_digest(warehouse_url)[0] == 0
    with connect(warehouse_url) as conn:
        status, error = conn.execute("SELECT status, error FROM market.ingestion_runs").fetchone()
        datasets = conn.execute("SELECT count(*) FROM market.bar_datasets").fetchone()[0]
    assert status == "failed" and "injected provider failure" in error and datasets == 0


def test_failure_mid_write_leaves_whole_partitions_and_a_retry_resumes(
    warehouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = add_symbols(warehouse_url, {"AAPL": "us_equity"})
    days = session_dates("us_equity", dt.date(2025, 1, 2), dt.date(2025, 3, 31))  # 3 chunks of 21 sessions
    real_write = ingest_module.write_bar_chunk
    calls = {"n": 0}

    def failing_write(conn, **kwargs):
        calls["n"] += 1
        stats = real_write(conn, **kwargs)  # rows are in the table inside the open transaction...
        if calls["n"] == 2:
            raise RuntimeError("killed mid-write")  # ...and must be rolled back
        return stats

    monkeypatch.setattr(ingest_module, "write_bar_chunk", failing_write)
    first = RunInfo(dagster_run_id="run-1", dagster_root_run_id="run-1")
    with pytest.raises(RuntimeError, match="killed mid-write"):
        ingest_bars(warehouse_url, SyntheticProvider(), "us_equity", ids, days, list(FETCHED_TIMEFRAMES), first)
    with connect(warehouse_url) as conn:
        per_day = conn.execute(
            "SELECT session_date, count(DISTINCT timeframe) FROM market.ohlc_bars "
            "WHERE timeframe <> ALL('{w1,mo1}') GROUP BY 1 ORDER BY 1").fetchall()
    assert [d for d, _ in per_day] == days[:21]  # chunk 1 committed whole, chunk 2 rolled back
    assert all(n == 4 for _, n in per_day)  # m15, d1 fetched; h1, h4 derived in the same transaction

    monkeypatch.setattr(ingest_module, "write_bar_chunk", real_write)
    provider = FaultyProvider(SyntheticProvider())
    retry = RunInfo(dagster_run_id="run-2", dagster_root_run_id="run-1")
    report = ingest_bars(warehouse_url, provider, "us_equity", ids, days, list(FETCHED_TIMEFRAMES), retry)
    assert report.resumed_after == days[20]
    assert report.sessions_written == len(days) - 21
    resumed = bars_digest(warehouse_url)

    # the result equals one clean run over the whole range
    clean = RunInfo(dagster_run_id="run-3", dagster_root_run_id="run-3")
    ingest_bars(warehouse_url, SyntheticProvider(), "us_equity", ids, days, list(FETCHED_TIMEFRAMES), clean)
    assert bars_digest(warehouse_url) == resumed


def test_real_reverse_split_adjusts_like_the_vendor(warehouse_url: str) -> None:
    """AIG 1:20 reverse split effective 2009-07-01 (real data): adjusted closes follow the vendor's
    split-adjusted closes exactly (up to the constant normalisation). The vendor's bad print of
    2009-05-05 (high 20.98 between closes of 1.50 and 1.86) is quarantined; the 20x level shift of the
    split, with no corporate action known yet at ingestion, is not."""
    from swiftbolt.market_data.corporate_actions import write_corporate_actions
    from swiftbolt.providers.alpaca import AlpacaProvider

    ids = add_symbols(warehouse_url, {"AIG": "us_equity"}, source="alpaca")
    fixture = pd.read_csv(FIXTURES / "aig_daily_2009_reverse_split.csv")
    served = pd.DataFrame({
        "symbol": "AIG", "timeframe": "d1", "ts": pd.to_datetime(fixture["date"]).dt.tz_localize("UTC"),
        **{c: fixture[c] for c in ("open", "high", "low", "close")},
        "volume": fixture["volume"].astype(float), "vwap": None, "trade_count": None,
    })[list(BAR_COLUMNS)]
    days = [dt.date.fromisoformat(d) for d in fixture["date"]]
    with FakeAlpaca(page_size=25) as fake:
        fake.bars = served
        fake.corporate_actions = [{"type": "reverse_split", "symbol": "AIG", "old_rate": 20, "new_rate": 1,
                                   "ex_date": "2009-07-01", "record_date": "2009-06-30",
                                   "payable_date": "2009-07-01", "process_date": "2009-07-01"}]
        provider = AlpacaProvider(fake.api_key, fake.secret_key, data_url=fake.data_url,
                                  trading_url=fake.trading_url)
        report = ingest_bars(warehouse_url, provider, "us_equity", ids, days, [Timeframe.D1], RunInfo())
        actions = provider.corporate_actions(["AIG"], days[0], days[-1])
    assert report.rows_written == len(fixture) - 1
    assert report.rejected_by_reason == {"implausible jump vs neighbouring bars": 1}
    with connect(warehouse_url) as conn:
        bad_print = conn.execute("SELECT session_date, raw->>'high' FROM ops.bar_quarantine").fetchall()
    assert bad_print == [(dt.date(2009, 5, 5), "20.98")]
    fixture = fixture[fixture["date"] != "2009-05-05"]
    with connect(warehouse_url) as conn, conn.transaction():
        write_corporate_actions(conn, actions, ids, days[0], days[-1], "alpaca")
    with connect(warehouse_url) as conn:
        adjusted = [r[0] for r in conn.execute(
            "SELECT close FROM market.ohlc_bars_adjusted WHERE timeframe = 'd1' ORDER BY ts").fetchall()]
    vendor = fixture["split_adj_close"].to_numpy()
    ours = np.array(adjusted)
    # the vendor normalises to 2021 (factor 20 before, 1 after); ours to the latest event: ratio is constant
    np.testing.assert_allclose(ours / vendor, np.full(len(ours), ours[-1] / vendor[-1]), rtol=1e-6)
