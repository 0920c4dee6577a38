"""Every served row is accounted for: received = stored + quarantined for every provider request, on
real data and on each injected fault, through the real alpaca-py clients against the fake Alpaca
server; the bar table refuses non-finite values."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pytest

from swiftbolt.calendars.sessions import session_dates
from swiftbolt.db.connection import connect
from swiftbolt.db.migrate import MIGRATIONS_DIR, migrate
from swiftbolt.market_data.ingest import IngestReport, RunInfo, ingest_bars
from swiftbolt.market_data.types import FETCHED_TIMEFRAMES, Timeframe
from swiftbolt.market_data.validation import validate_bars
from swiftbolt.providers.alpaca import AlpacaProvider
from tests.fake_alpaca import FakeAlpaca
from tests.helpers import add_symbols, spy_2013_bars

pytestmark = pytest.mark.warehouse

DAYS = session_dates("us_equity", dt.date(2013, 10, 4), dt.date(2013, 10, 11))
ALPACA_TF = {"m15": "15Min", "d1": "1Day"}


def _row(frame: pd.DataFrame, timeframe: str, ts: str) -> int:
    """Index of the served bar of `timeframe` at `ts` (UTC)."""
    hits = frame.index[(frame["timeframe"] == timeframe) & (frame["ts"] == pd.Timestamp(ts, tz="UTC"))]
    assert len(hits) == 1, (timeframe, ts)
    return int(hits[0])


def _set(frame: pd.DataFrame, timeframe: str, ts: str, **values: object) -> pd.DataFrame:
    out = frame.astype({"vwap": object, "trade_count": object}).copy()
    i = _row(out, timeframe, ts)
    for col, value in values.items():
        out.loc[i, col] = value
    return out


def _append(frame: pd.DataFrame, timeframe: str, ts: str, at: str | None = None, **values: object) -> pd.DataFrame:
    """A copy of the bar at `ts` added (at `at` instead, if given), with `values` changed."""
    row = frame.loc[[_row(frame, timeframe, ts)]].astype({"vwap": object, "trade_count": object}).copy()
    if at is not None:
        row["ts"] = pd.Timestamp(at, tz="UTC")
    for col, value in values.items():
        row[col] = value
    return pd.concat([frame.astype({"vwap": object, "trade_count": object}), row], ignore_index=True)


def _high_times(factor: float) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def spike(frame: pd.DataFrame) -> pd.DataFrame:
        i = _row(frame, "d1", "2013-10-08")
        out = frame.copy()
        out.loc[i, "high"] = out.loc[i, "high"] * factor
        return out
    return spike


# name -> (fault applied to the served real bars, {(timeframe, reason): rows quarantined for it})
FAULTS: dict[str, tuple[Callable[[pd.DataFrame], pd.DataFrame], dict[tuple[str, str], int]]] = {
    "+inf high": (lambda f: _set(f, "m15", "2013-10-07 15:00", high=np.inf), {("m15", "non-finite value"): 1}),
    "+inf volume": (lambda f: _set(f, "d1", "2013-10-09", volume=np.inf), {("d1", "non-finite value"): 1}),
    "absurd price 1e12": (lambda f: _set(f, "m15", "2013-10-08 17:00", high=1e12),
                          {("m15", "price above the ceiling"): 1}),
    "missing open": (lambda f: _set(f, "m15", "2013-10-08 17:15", open=None), {("m15", "missing price"): 1}),
    "negative vwap": (lambda f: _set(f, "m15", "2013-10-08 17:30", vwap=-1.0), {("m15", "invalid vwap"): 1}),
    "negative trade_count": (lambda f: _set(f, "m15", "2013-10-10 14:00", trade_count=-3),
                             {("m15", "invalid trade count"): 1}),
    # the duplicate lands on another page (pages of 50 rows): both versions are quarantined
    "conflicting duplicate across pages": (
        lambda f: _append(f, "m15", "2013-10-09 19:00", close=999.0, high=999.0),
        {("m15", "duplicate bar with conflicting values"): 2}),
    "identical duplicate": (lambda f: _append(f, "d1", "2013-10-10"), {("d1", "identical duplicate (collapsed)"): 1}),
    "saturday bars": (
        lambda f: _append(_append(f, "m15", "2013-10-04 15:00", at="2013-10-05 15:00"), "d1", "2013-10-04",
                          at="2013-10-05"),
        {("m15", "not a trading session"): 1, ("d1", "not a trading session"): 1}),
    "off-grid bar": (lambda f: _append(f, "m15", "2013-10-10 15:00", at="2013-10-10 15:07"),
                     {("m15", "not on the timeframe grid"): 1}),
    "decimal-point spike (x100 high)": (_high_times(100.0), {("d1", "implausible jump vs neighbouring bars"): 1}),
}


def _ingest(url: str, served: pd.DataFrame, ids: dict[str, int]) -> tuple[IngestReport, dict[str, int]]:
    with FakeAlpaca(page_size=50) as fake:
        fake.bars = served
        provider = AlpacaProvider(fake.api_key, fake.secret_key, data_url=fake.data_url,
                                  trading_url=fake.trading_url)
        report = ingest_bars(url, provider, "us_equity", ids, DAYS, list(FETCHED_TIMEFRAMES), RunInfo())
        return report, dict(fake.bars_served)


def _accounted(url: str, report: IngestReport, served_counts: dict[str, int]) -> dict[tuple[str, str], int]:
    """Checks received = stored + quarantined per request, against what the server sent and what the
    tables hold; returns the quarantine by (timeframe, reason)."""
    with connect(url) as conn:
        stored = dict(conn.execute("SELECT timeframe, count(*) FROM market.ohlc_bars "
                                   "WHERE timeframe = ANY('{m15,d1}') GROUP BY 1").fetchall())
        quarantined = conn.execute("SELECT timeframe, reason, count(*) FROM ops.bar_quarantine "
                                   "GROUP BY 1, 2").fetchall()
        ledger = conn.execute("SELECT rows_received, rows_written, rows_rejected, status "
                              "FROM market.ingestion_runs WHERE id = %s", (report.ingestion_run_id,)).fetchall()
    by_reason = {(tf, reason): int(n) for tf, reason, n in quarantined}
    assert [a.timeframe for a in report.requests] == ["m15", "d1"]
    for account in report.requests:
        assert account.received == served_counts[ALPACA_TF[account.timeframe]]
        assert account.received == account.stored + account.quarantined
        assert account.stored == stored.get(account.timeframe, 0)
        assert account.quarantined == sum(n for (tf, _), n in by_reason.items() if tf == account.timeframe)
    assert ledger == [(report.rows_received, report.rows_written, report.rows_rejected, "success")]
    assert report.rows_received == report.rows_written - report.rows_derived + report.rows_rejected
    return by_reason


def test_real_bars_are_all_accounted_for(warehouse_url: str) -> None:
    """Real SPY m15 (with pre/post-market) and d1 bars: the regular-session bars are stored, the
    extended-hours ones quarantined as such, nothing else; nothing dropped."""
    ids = add_symbols(warehouse_url, {"SPY": "us_equity"}, source="alpaca")
    served = spy_2013_bars()
    report, counts = _ingest(warehouse_url, served, ids)
    by_reason = _accounted(warehouse_url, report, counts)
    m15_served = int((served["timeframe"] == "m15").sum())
    assert counts == {"15Min": m15_served, "1Day": 6}  # the window holds the six sessions' daily bars
    assert by_reason == {("m15", "outside the regular session"): m15_served - 6 * 26}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_injected_fault_is_quarantined_and_accounted_for(warehouse_url: str, fault: str) -> None:
    ids = add_symbols(warehouse_url, {"SPY": "us_equity"}, source="alpaca")
    real = spy_2013_bars()
    inject, expected = FAULTS[fault]
    report, counts = _ingest(warehouse_url, inject(real), ids)
    by_reason = _accounted(warehouse_url, report, counts)
    extended = int((real["timeframe"] == "m15").sum()) - 6 * 26
    assert by_reason == {("m15", "outside the regular session"): extended, **expected}
    with connect(warehouse_url) as conn:
        finite = conn.execute("SELECT bool_and(high < 'Infinity' AND volume < 'Infinity' AND high < 1e7) "
                              "FROM market.ohlc_bars").fetchone()[0]
        stored_raw = conn.execute("SELECT count(*) FROM ops.bar_quarantine WHERE raw IS NULL").fetchone()[0]
    assert finite and stored_raw == 0


def test_saturday_bars_keep_their_claimed_session_and_a_rerun_replaces_them(warehouse_url: str) -> None:
    ids = add_symbols(warehouse_url, {"SPY": "us_equity"}, source="alpaca")
    inject, _ = FAULTS["saturday bars"]
    served = inject(spy_2013_bars())
    _ingest(warehouse_url, served, ids)
    query = ("SELECT timeframe, session_date, partition_date, raw->>'open' FROM ops.bar_quarantine "
             "WHERE reason = 'not a trading session' ORDER BY timeframe")
    with connect(warehouse_url) as conn:
        first = conn.execute(query).fetchall()
        total = conn.execute("SELECT count(*) FROM ops.bar_quarantine").fetchone()[0]
    # the session each claims (Saturday), kept under the requested partition they came with (Friday)
    assert [r[:3] for r in first] == [("d1", dt.date(2013, 10, 5), dt.date(2013, 10, 4)),
                                      ("m15", dt.date(2013, 10, 5), dt.date(2013, 10, 4))]
    report, counts = _ingest(warehouse_url, served, ids)  # a re-run leaves exactly the same rows
    _accounted(warehouse_url, report, counts)
    with connect(warehouse_url) as conn:
        assert conn.execute(query).fetchall() == first
        assert conn.execute("SELECT count(*) FROM ops.bar_quarantine").fetchone()[0] == total == report.rows_rejected


def test_inf_in_raw_quarantine_row_is_kept_as_text(warehouse_url: str) -> None:
    ids = add_symbols(warehouse_url, {"SPY": "us_equity"}, source="alpaca")
    _ingest(warehouse_url, FAULTS["+inf high"][0](spy_2013_bars()), ids)
    with connect(warehouse_url) as conn:
        raw = conn.execute("SELECT raw->>'high', session_date FROM ops.bar_quarantine "
                           "WHERE reason = 'non-finite value'").fetchone()
    assert raw == ("Infinity", dt.date(2013, 10, 7))


@pytest.mark.parametrize(("column", "value"), [("high", "Infinity"), ("high", "NaN"), ("close", "NaN"),
                                              ("volume", "Infinity"), ("volume", "NaN"), ("vwap", "Infinity"),
                                              ("vwap", "-Infinity")])
def test_bar_table_refuses_non_finite_values(warehouse_url: str, column: str, value: str) -> None:
    """The CHECKs of migration 0004 let these through (NaN compares above every number in PostgreSQL)."""
    ids = add_symbols(warehouse_url, {"SPY": "us_equity"})
    row = {"open": 10.0, "high": 11.0, "low": 9.0, "close": 10.0, "volume": 100.0, "vwap": 10.0, column: value}
    insert = ("INSERT INTO market.ohlc_bars (symbol_id, timeframe, ts, session_date, open, high, low, close, volume, "
              "vwap, provider, ingestion_run_id) VALUES (%(s)s, 'd1', '2025-01-02', '2025-01-02', %(open)s, "
              "%(high)s, %(low)s, %(close)s, %(volume)s, %(vwap)s, 'test', 1)")
    with connect(warehouse_url) as conn:
        conn.execute("SELECT market.ensure_bar_partitions('2025-01-02', '2025-01-02')")
        conn.commit()
        with pytest.raises(psycopg.errors.CheckViolation, match="ohlc_bars_finite"):
            conn.execute(insert, {"s": ids["SPY"], **{k: float(v) for k, v in row.items()}})
        conn.rollback()
        conn.execute(insert, {"s": ids["SPY"], **{k: 10.0 if k == column else v for k, v in row.items()}})


def test_migration_moves_stored_non_finite_bars_to_the_quarantine(empty_db_url: str, tmp_path: Path) -> None:
    """A warehouse that stored +inf bars before migration 0011: they move to the quarantine (nothing
    lost) and the constraint is added."""
    earlier = tmp_path / "migrations"
    earlier.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if path.name < "0011":
            shutil.copy(path, earlier / path.name)
    migrate(empty_db_url, earlier)
    ids = add_symbols(empty_db_url, {"SPY": "us_equity"})
    with connect(empty_db_url) as conn, conn.transaction():
        run = conn.execute("INSERT INTO market.ingestion_runs (provider, code_version) VALUES ('alpaca', '1') "
                           "RETURNING id").fetchone()[0]
        conn.execute("SELECT market.ensure_bar_partitions('2025-01-02', '2025-01-03')")
        conn.execute(
            "INSERT INTO market.ohlc_bars (symbol_id, timeframe, ts, session_date, open, high, low, close, volume, "
            "provider, ingestion_run_id) VALUES (%(s)s, 'd1', '2025-01-02', '2025-01-02', 10, 'Infinity', 9, 10, "
            "100, 'alpaca', %(r)s), (%(s)s, 'd1', '2025-01-03', '2025-01-03', 10, 11, 9, 10, 100, 'alpaca', %(r)s)",
            {"s": ids["SPY"], "r": run})
    migrate(empty_db_url)
    with connect(empty_db_url) as conn:
        kept = conn.execute("SELECT session_date FROM market.ohlc_bars").fetchall()
        moved = conn.execute("SELECT session_date, reason, raw->>'high', raw->>'stored_by_ingestion_run' "
                             "FROM ops.bar_quarantine").fetchall()
    assert kept == [(dt.date(2025, 1, 3),)]
    assert moved == [(dt.date(2025, 1, 2), "non-finite value", "Infinity", str(run))]


def test_validation_refuses_a_row_of_another_timeframe_and_outside_the_window() -> None:
    """Contract columns no Alpaca JSON can get wrong, for other providers: the timeframe column and
    the requested window."""
    frame = spy_2013_bars()
    m15 = frame[frame["timeframe"] == "m15"].reset_index(drop=True)
    m15.loc[100, "timeframe"] = "h1"
    window = (pd.Timestamp("2013-10-07", tz="UTC"), pd.Timestamp("2013-10-08", tz="UTC"))
    result = validate_bars(m15, "us_equity", Timeframe.M15, window=window)
    assert len(result.clean) + len(result.rejected) == len(m15)
    reasons = result.reasons
    assert reasons["timeframe mismatch"] == 1
    assert reasons["outside the requested window"] == int(((m15["ts"] < window[0]) | (m15["ts"] >= window[1])).sum())
