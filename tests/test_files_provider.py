"""The vendor-files provider (swiftbolt/market_data/files.py) on real vendor files in the exact
equity_daily layout (tests/fixtures/vendor_equity_daily: AIG around its 2009 1:20 reverse split, SPY
with five dividends): parsing and one-line errors without a database, then through the real
Dagster ohlc_bars and corporate_actions assets into a real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from swiftbolt.errors import ConfigError
from swiftbolt.market_data.types import BAR_COLUMNS, CORPORATE_ACTION_COLUMNS, MarketDataProvider, Timeframe
from swiftbolt.markets import US_EQUITY
from swiftbolt.providers.files import FilesProvider, VendorFileError
from tests.helpers import FIXTURES, markdown_counts

VENDOR_DIR = FIXTURES / "vendor_equity_daily"
START, END = dt.datetime(1998, 1, 1, tzinfo=dt.UTC), dt.datetime(2022, 1, 1, tzinfo=dt.UTC)
# SPY's declared dividends per share (ex-dates in the fixture), for checking the ex-date mapping
SPY_DIVIDENDS = {dt.date(2020, 3, 20): 1.405512, dt.date(2020, 6, 19): 1.366248, dt.date(2020, 9, 18): 1.339224,
                 dt.date(2020, 12, 18): 1.580352, dt.date(2021, 3, 19): 1.277788}


def vendor(symbol: str) -> pd.DataFrame:
    return pd.read_csv(VENDOR_DIR / f"{symbol}.csv")


def copy_vendor_dir(tmp_path: Path, *names: str) -> Path:
    out = tmp_path / "vendor"
    out.mkdir()
    for name in names or ("AIG.csv", "SPY.csv", "split_events.csv"):
        shutil.copy(VENDOR_DIR / name, out / name)
    return out


def one_line_error(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(excinfo.value)
    assert "\n" not in message and "Traceback" not in message
    return message


# -- reading the files -------------------------------------------------------------------------------


def test_equity_daily_layout_is_served_as_raw_daily_bars() -> None:
    provider = FilesProvider(VENDOR_DIR)
    assert isinstance(provider, MarketDataProvider)
    assert provider.name == "file" and provider.timeframes == frozenset({Timeframe.D1})
    assert provider.symbols() == ["AIG", "SPY"]  # split_events.csv and ORIGIN.md are not symbols
    bars = provider.bars(["SPY", "AIG"], Timeframe.D1, START, END)
    assert list(bars.columns) == list(BAR_COLUMNS)
    for symbol in ("AIG", "SPY"):
        mine = bars[bars["symbol"] == symbol].reset_index(drop=True)
        file = vendor(symbol)
        assert len(mine) == len(file)
        assert (mine["ts"] == pd.to_datetime(file["date"]).dt.tz_localize("UTC")).all()
        for col in ("open", "high", "low", "close", "volume"):
            np.testing.assert_array_equal(mine[col].to_numpy(), file[col].to_numpy(dtype=float))
        assert mine["vwap"].isna().all() and mine["trade_count"].isna().all()
    # the window is [start, end) on ts = the session date at 00:00 UTC
    window = provider.bars(["AIG"], "d1", dt.datetime(2009, 6, 30, tzinfo=dt.UTC), dt.datetime(2009, 7, 2))
    assert [t.date() for t in window["ts"]] == [dt.date(2009, 6, 30), dt.date(2009, 7, 1)]
    assert provider.bars(["MSFT"], "d1", START, END).empty  # no file, no rows


@pytest.mark.parametrize("timeframe", ["m1", "m15", "h1", "h4", "w1", "mo1"])
def test_timeframes_without_files_are_answered_empty_with_a_reason(timeframe: str) -> None:
    provider = FilesProvider(VENDOR_DIR)
    bars = provider.bars(["SPY"], timeframe, START, END)
    assert bars.empty and list(bars.columns) == list(BAR_COLUMNS)
    assert bars.attrs["reason"] == provider.unsupported_reason(timeframe)
    expected = "derived by the project" if timeframe in ("w1", "mo1") else "daily bars only"
    assert expected in bars.attrs["reason"]
    assert provider.unsupported_reason("d1") is None


def test_parquet_and_other_spellings_give_the_same_bars(tmp_path: Path) -> None:
    """Parquet with a datetime column; CSV with upper-case headers, reordered columns, a BOM, CR line
    ends and timestamps at the 16:00 New York close with offsets (DST changes in the slice)."""
    spy = vendor("SPY")
    expected = FilesProvider(VENDOR_DIR).bars(["SPY"], "d1", START, END)
    pq_dir, csv_dir = tmp_path / "pq", tmp_path / "csv"
    pq_dir.mkdir()
    csv_dir.mkdir()
    spy.assign(date=pd.to_datetime(spy["date"])).to_parquet(pq_dir / "spy.parquet")
    close_ts = pd.to_datetime(spy["date"]).dt.tz_localize("America/New_York") + pd.Timedelta(hours=16)
    odd = pd.DataFrame({"Volume": spy["volume"], "TIMESTAMP": close_ts.map(lambda t: t.isoformat()),
                        "Close": spy["close"], "Low": spy["low"], "High": spy["high"], "Open": spy["open"]})
    text = odd.to_csv(index=False, lineterminator="\r")
    (csv_dir / "Spy.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())
    for directory in (pq_dir, csv_dir):
        got = FilesProvider(directory).bars(["SPY"], "d1", START, END)
        pd.testing.assert_frame_equal(got, expected)


def test_crypto_and_class_share_files_are_found_by_symbol(tmp_path: Path) -> None:
    spy = vendor("SPY").head(5)
    for name in ("BTC-USD.csv", "brk_b.csv"):
        spy.to_csv(tmp_path / name, index=False)
    provider = FilesProvider(tmp_path)
    assert provider.symbols() == ["BRK.B", "BTC/USD"]
    assert len(provider.bars(["BTC/USD", "BRK.B"], "d1", START, END)) == 10


def test_corporate_actions_come_from_the_factor_columns() -> None:
    """split_factor 20 -> 1 between 2009-06-30 and 2009-07-01 is AIG's 1:20 reverse split with
    ex-date 2009-07-01 (split_events.csv: last pre-split date 2009-06-30); each price_factor step is
    a dividend whose cash, from the previous row's close, is SPY's declared dividend."""
    actions = FilesProvider(VENDOR_DIR).corporate_actions(["AIG", "SPY"], dt.date(2009, 1, 1), dt.date(2021, 12, 31))
    assert list(actions.columns) == list(CORPORATE_ACTION_COLUMNS)
    splits = actions[actions["action_type"] != "cash_dividend"]
    assert splits[["symbol", "action_type", "ex_date", "ratio"]].values.tolist() == [
        ["AIG", "reverse_split", dt.date(2009, 7, 1), 0.05]]
    dividends = actions[actions["action_type"] == "cash_dividend"]
    assert set(dividends["symbol"]) == {"SPY"}
    got = dict(zip(dividends["ex_date"], dividends["cash_amount"], strict=True))
    assert got.keys() == SPY_DIVIDENDS.keys()
    # the factors have 7 significant digits: cash is within 0.04 cents of the declared amount
    assert max(abs(got[d] - SPY_DIVIDENDS[d]) for d in got) < 4e-4
    # the window is inclusive and per symbol; the 1998-2000 AIG splits come from split_events.csv
    early = FilesProvider(VENDOR_DIR).corporate_actions(["AIG"], dt.date(1998, 1, 1), dt.date(2009, 6, 30))
    assert early[["ex_date", "ratio"]].values.tolist() == [
        [dt.date(1998, 8, 3), 1.5], [dt.date(1999, 8, 2), 1.25], [dt.date(2000, 7, 31), 1.5]]


def test_corporate_actions_file_overrides_derived_events(tmp_path: Path) -> None:
    directory = copy_vendor_dir(tmp_path)
    (directory / "corporate_actions.csv").write_text(
        "Symbol,Action_Type,Ex_Date,Ratio,Cash_Amount,Payment_Date\n"
        "SPY,dividend,2020-12-18,,1.580352,2020-12-31\n"
        "aig,split,2009-07-01,0.05,,\n"
        "IBM,cash_dividend,2020-11-09,,1.63,\n"
    )
    actions = FilesProvider(directory).corporate_actions(["SPY", "AIG", "IBM"], dt.date(2009, 1, 1),
                                                         dt.date(2021, 12, 31))
    dec = actions[(actions["symbol"] == "SPY") & (actions["ex_date"] == dt.date(2020, 12, 18))]
    assert dec[["cash_amount", "payment_date"]].values.tolist() == [[1.580352, dt.date(2020, 12, 31)]]
    assert actions.groupby("symbol").size().to_dict() == {"AIG": 1, "IBM": 1, "SPY": 5}
    assert actions.loc[actions["symbol"] == "AIG", "action_type"].tolist() == ["reverse_split"]


def test_latest_quote_is_the_last_daily_bar() -> None:
    quotes = FilesProvider(VENDOR_DIR).latest_quotes(["SPY", "AIG", "MSFT"])
    spy = vendor("SPY").iloc[-2:]
    row = quotes.set_index("symbol").loc["SPY"]
    assert (row["last"], row["day_high"], row["day_low"], row["prev_close"]) == (
        spy["close"].iloc[1], spy["high"].iloc[1], spy["low"].iloc[1], spy["close"].iloc[0])
    assert row["ts"] == pd.Timestamp("2021-03-31 20:00", tz="UTC")  # the session's close
    assert sorted(quotes["symbol"]) == ["AIG", "SPY"]


# -- unusable input: one line, naming the file ----------------------------------------------------------


def _write_spy(directory: Path, frame: pd.DataFrame, name: str = "SPY.csv") -> None:
    directory.mkdir(exist_ok=True)
    frame.to_csv(directory / name, index=False)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda f: f.drop(columns=["volume"]), "SPY.csv: missing volume"),
        (lambda f: f.drop(columns=["date"]), "SPY.csv: missing a date or timestamp column"),
        (lambda f: f.assign(date=f["date"].where(f.index != 6, "2020-13-01")),
         "SPY.csv line 8: date '2020-13-01' is not a date"),
        (lambda f: f.assign(date=f["date"].where(f.index != 3, "")), "SPY.csv line 5: date is empty"),
        (lambda f: pd.concat([f.assign(date=f["date"] + " 10:00"), f.assign(date=f["date"] + " 11:00")]),
         "SPY.csv: up to 2 rows per date at different times (intraday bars?)"),
        (lambda f: f.assign(split_factor=f["split_factor"].where(f.index != 2, 0)),
         "SPY.csv line 4: split_factor '0.0' is not a positive number"),
        (lambda f: f.assign(price_factor=f["price_factor"][::-1].to_numpy()), "price_factor falls from"),
    ],
)
def test_unusable_bar_files_give_a_one_line_error(tmp_path: Path, change, expected: str) -> None:
    _write_spy(tmp_path, change(vendor("SPY")))
    provider = FilesProvider(tmp_path)
    with pytest.raises(VendorFileError) as excinfo:
        provider.check()
    assert isinstance(excinfo.value, ConfigError)
    assert one_line_error(excinfo).startswith(expected) or expected in str(excinfo.value)


def test_unusable_directories_give_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(VendorFileError, match="does not exist") as excinfo:
        FilesProvider(tmp_path / "nowhere")
    one_line_error(excinfo)
    (tmp_path / "README.md").write_text("no data here")
    with pytest.raises(VendorFileError, match="no vendor bar files in") as excinfo:
        FilesProvider(tmp_path)
    one_line_error(excinfo)
    vendor("SPY").to_csv(tmp_path / "SPY.csv", index=False)
    vendor("SPY").to_parquet(tmp_path / "spy.parquet")
    with pytest.raises(VendorFileError, match="two files for SPY") as excinfo:
        FilesProvider(tmp_path)
    (tmp_path / "spy.parquet").rename(tmp_path / "prices 2020.parquet")
    with pytest.raises(VendorFileError, match=r"prices 2020.parquet is not named after a symbol"):
        FilesProvider(tmp_path)
    (tmp_path / "prices 2020.parquet").write_bytes(b"PAR1 not really")
    (tmp_path / "prices 2020.parquet").rename(tmp_path / "IBM.parquet")
    with pytest.raises(VendorFileError, match=r"cannot read vendor file IBM.parquet") as excinfo:
        FilesProvider(tmp_path).check()
    one_line_error(excinfo)


def test_split_list_that_contradicts_the_factors_is_refused(tmp_path: Path) -> None:
    directory = copy_vendor_dir(tmp_path, "AIG.csv")
    (directory / "split_events.csv").write_text(
        "symbol,last_pre_split_date,split_ratio_new_per_old,pre_split_raw_close_reference\nAIG,2009-06-29,0.05,1.1\n")
    with pytest.raises(VendorFileError, match=r"lists a 0.05 split of AIG with ex-date 2009-06-30") as excinfo:
        FilesProvider(directory).corporate_actions(["AIG"], dt.date(2009, 1, 1), dt.date(2009, 12, 31))
    one_line_error(excinfo)
    (directory / "corporate_actions.csv").write_text("symbol,action_type,ex_date,ratio\nAIG,split,2009-07-01,1\n")
    (directory / "split_events.csv").unlink()
    with pytest.raises(VendorFileError, match=r"corporate_actions.csv line 2: a split needs a positive ratio"):
        FilesProvider(directory).check()


# -- selection by settings -------------------------------------------------------------------------------


def test_files_provider_is_selected_by_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from resources.market_data import MarketDataResource, market_data_from_env

    monkeypatch.setenv("SWIFTBOLT_PROVIDER", "files")
    monkeypatch.setenv("SWIFTBOLT_FILES_DIR", str(VENDOR_DIR))
    resource = market_data_from_env()
    assert resource.provider_name() == "file"
    provider = resource.get_provider()
    assert isinstance(provider, FilesProvider) and provider.directory == VENDOR_DIR.resolve()
    monkeypatch.setenv("SWIFTBOLT_FILES_DIR", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match=r"SWIFTBOLT_FILES_DIR=.* is not a directory") as excinfo:
        market_data_from_env()
    one_line_error(excinfo)
    monkeypatch.setenv("SWIFTBOLT_PROVIDER", "synthetic")  # the directory is only read for 'files'
    assert market_data_from_env().provider_name() == "synthetic"
    with pytest.raises(dg.Failure, match="needs SWIFTBOLT_FILES_DIR"):
        MarketDataResource(provider="files").get_provider()
    with pytest.raises(dg.Failure, match="no vendor bar files in"):
        MarketDataResource(provider="files", files_dir=str(tmp_path)).get_provider()


# -- through Dagster into the warehouse ---------------------------------------------------------------------


@pytest.fixture
def history_from_2009(monkeypatch: pytest.MonkeyPatch):
    """Trading-day partitions from 2009 (the suite's start in 2020 predates nothing in 2009): the
    partition caches are rebuilt with the setting, and again after the test without it."""
    from assets.partitions import market_partitions, trading_day_partitions

    monkeypatch.setenv("SWIFTBOLT_HISTORY_START", "2009-01-02")
    trading_day_partitions.cache_clear()
    market_partitions.cache_clear()
    yield
    trading_day_partitions.cache_clear()
    market_partitions.cache_clear()


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def _materialize(assets: list, url: str, files_dir: Path, instance: dg.DagsterInstance, first: str = "",
                 last: str = "", symbol: str = "") -> dg.ExecuteInProcessResult:
    from resources import MarketDataResource, WarehouseResource

    tags = {}
    if symbol:
        tags = {
            "dagster/asset_partition_range_start": dg.MultiPartitionKey({"date": first, "symbol": symbol}),
            "dagster/asset_partition_range_end": dg.MultiPartitionKey({"date": last, "symbol": symbol}),
        }
    resources = {"warehouse": WarehouseResource(database_url=url),
                 "market_data": MarketDataResource(provider="files", files_dir=str(files_dir))}
    return dg.materialize(assets, instance=instance, raise_on_error=False, resources=resources, tags=tags)


def _setup_symbols(url: str, instance: dg.DagsterInstance, tickers: list[str]) -> None:
    from assets.partitions import symbol_partitions
    from tests.helpers import add_symbols

    add_symbols(url, dict.fromkeys(tickers, "us_equity"), source="file")
    instance.add_dynamic_partitions(symbol_partitions("us_equity").name, tickers)


def _stored(url: str, sql: str) -> pd.DataFrame:
    from swiftbolt.db.connection import connect

    with connect(url) as conn:
        cur = conn.execute(sql)
        assert cur.description is not None
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


@pytest.mark.warehouse
@pytest.mark.slow  # 401 partitions in two runs: ~40 s on a quiet 2-core machine
def test_vendor_files_through_the_assets_equal_the_vendor(warehouse_url: str, instance, history_from_2009) -> None:
    """Raw bars stored = the file rows but one; received = stored + quarantined; corporate actions give
    adjusted prices equal to the vendor's adjusted columns within 1e-6 (the vendor's normalised to
    its last row: AIG's slice ends before later dividends, SPY's is the end of the vendor data).
    The one: AIG 2009-05-05 is a real bad print (high 20.98 between closes of 1.50 and 1.86), which the
    plausibility check quarantines; its session then has no daily bar, so the AIG run fails its blocking
    coverage check and says which session and why."""
    from assets.market_data import build_corporate_actions, build_ohlc_bars

    bars_asset = build_ohlc_bars(US_EQUITY)
    _setup_symbols(warehouse_url, instance, ["AIG", "SPY"])
    received = {}
    for symbol in ("AIG", "SPY"):
        file = vendor(symbol)
        received[symbol] = len(file)
        result = _materialize([bars_asset], warehouse_url, VENDOR_DIR, instance, file["date"].iloc[0],
                              file["date"].iloc[-1], symbol)
        checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
        if symbol == "AIG":
            assert not result.success
            assert "2009-05-05 AIG: 1 x implausible jump" in (checks["bar_quality"].description or "")
            assert "2009-05-05" in (checks["session_coverage"].description or "")
            assert checks["session_coverage"].severity == dg.AssetCheckSeverity.ERROR
            continue
        assert result.success
        assert checks["bar_quality"].passed and checks["session_coverage"].passed
        assert f"all {len(file)} partitions complete" in checks["session_coverage"].description
        meta = result.asset_materializations_for_node("us_equity__ohlc_bars")[0].metadata
        assert meta["provider"].value == "file"
        assert markdown_counts(meta["run/rows_by_timeframe"]) == {"d1": len(file)}
        assert sorted(meta["run/timeframes_not_served"].value) == ["m15"]  # h1/h4 are derived from m15
        assert meta["run/rows_written"].value + meta["run/rejected_rows"].value == len(file)
    assert len(instance.get_run_records()) == 2  # one run per symbol range
    assert _materialize([build_corporate_actions(US_EQUITY)], warehouse_url, VENDOR_DIR, instance).success

    stored = _stored(warehouse_url, """
        SELECT s.ticker AS symbol, b.session_date, b.open, b.high, b.low, b.close, b.volume, b.provider,
               a.open AS adj_open, a.high AS adj_high, a.low AS adj_low, a.close AS adj_close, a.volume AS adj_volume
        FROM market.ohlc_bars b JOIN market.symbols s ON s.id = b.symbol_id
        JOIN market.ohlc_bars_adjusted a USING (symbol_id, timeframe, ts)
        WHERE b.timeframe = 'd1' ORDER BY s.ticker, b.ts""")
    counts = _stored(warehouse_url, """
        SELECT s.ticker AS symbol,
               (SELECT count(*) FROM market.ohlc_bars b WHERE b.symbol_id = s.id AND b.timeframe = 'd1') AS stored,
               (SELECT count(*) FROM ops.bar_quarantine q WHERE q.symbol_id = s.id) AS quarantined,
               (SELECT count(*) FROM market.bar_datasets d WHERE d.symbol_id = s.id AND d.timeframe <> 'd1')
                   AS intraday_datasets,
               (SELECT count(*) FROM market.ohlc_bars b WHERE b.symbol_id = s.id AND b.timeframe = 'mo1') AS months
        FROM market.symbols s ORDER BY s.ticker""").set_index("symbol")
    events = _stored(warehouse_url, """
        SELECT s.ticker, c.action_type, c.ex_date, c.ratio, c.cash_amount, c.provider FROM market.corporate_actions c
        JOIN market.symbols s ON s.id = c.symbol_id ORDER BY s.ticker, c.ex_date""")

    for symbol in ("AIG", "SPY"):
        assert counts.loc[symbol, "stored"] + counts.loc[symbol, "quarantined"] == received[symbol]
        assert counts.loc[symbol, "quarantined"] == (1 if symbol == "AIG" else 0)  # AIG's bad print
        assert counts.loc[symbol, "intraday_datasets"] == 0  # intraday timeframes were not asked for
    assert counts.loc["AIG", "months"] == 6 and counts.loc["SPY", "months"] == 13  # mo1 derived from d1
    assert set(stored["provider"]) == {"file"}
    assert events[["ticker", "action_type", "ex_date"]].values.tolist() == [
        ["AIG", "reverse_split", dt.date(2009, 7, 1)],
        *[["SPY", "cash_dividend", d] for d in sorted(SPY_DIVIDENDS)],
    ]
    for symbol in ("AIG", "SPY"):
        file = vendor(symbol)
        file = file[file["date"] != "2009-05-05"].reset_index(drop=True)
        mine = stored[stored["symbol"] == symbol].reset_index(drop=True)
        assert mine["session_date"].tolist() == [dt.date.fromisoformat(d) for d in file["date"]]
        for col in ("open", "high", "low", "close", "volume"):  # raw bars are the file's, bit for bit
            np.testing.assert_array_equal(mine[col].to_numpy(dtype=float), file[col].to_numpy(dtype=float))
        last_factor = file["price_factor"].iloc[-1] * file["split_factor"].iloc[-1]
        assert (symbol == "SPY") == (last_factor == 1.0)
        for col in ("adj_open", "adj_high", "adj_low", "adj_close"):
            np.testing.assert_allclose(mine[col].to_numpy(dtype=float), file[col].to_numpy() / last_factor,
                                       rtol=0, atol=1e-6, err_msg=f"{symbol} {col}")
        np.testing.assert_allclose(mine["adj_volume"].to_numpy(dtype=float),
                                   file["split_adj_volume"].to_numpy() / file["split_factor"].iloc[-1], atol=0.5)
    aig = stored[stored["symbol"] == "AIG"].set_index("session_date")
    # the reverse split: raw close jumps ~20x on the ex-date, the adjusted close does not
    assert aig.loc[dt.date(2009, 7, 1), "close"] / aig.loc[dt.date(2009, 6, 30), "close"] > 15
    assert abs(aig.loc[dt.date(2009, 7, 1), "adj_close"] / aig.loc[dt.date(2009, 6, 30), "adj_close"] - 1) < 0.25


@pytest.mark.warehouse
def test_bad_vendor_rows_are_quarantined_not_dropped(warehouse_url: str, instance, tmp_path: Path) -> None:
    """A repeated row and a row with high below low go through the project's validation like any
    provider's: the identical copy is collapsed and recorded as such (not a fault), the bad row is
    quarantined as 'high below low'; 1 of 61 rows is above the 1% of bar_quality (ERROR) and the bad
    row's session has no daily bar (session_coverage ERROR). received = stored + quarantined."""
    from assets.market_data import build_ohlc_bars

    spy = vendor("SPY")
    spy = spy[(spy["date"] >= "2021-01-04") & (spy["date"] <= "2021-03-31")].reset_index(drop=True)
    bad = spy.copy()
    bad.loc[10, "high"] = bad.loc[10, "low"] - 1.0
    bad = pd.concat([bad, bad.iloc[[20]]]).sort_values("date", kind="stable")
    _write_spy(tmp_path / "vendor", bad)
    _setup_symbols(warehouse_url, instance, ["SPY"])
    result = _materialize([build_ohlc_bars(US_EQUITY)], warehouse_url, tmp_path / "vendor", instance,
                          "2021-01-04", "2021-03-31", "SPY")
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert not result.success and not checks["bar_quality"].passed
    assert checks["bar_quality"].severity == dg.AssetCheckSeverity.ERROR
    reasons = markdown_counts(checks["bar_quality"].metadata["rejected_by_reason"])
    assert reasons == {"high below low": 1, "identical duplicate (collapsed)": 1}
    assert checks["session_coverage"].severity == dg.AssetCheckSeverity.ERROR
    assert checks["session_coverage"].metadata["missing_sessions"].value == [f"SPY {spy.loc[10, 'date']}"]
    counts = _stored(warehouse_url, """
        SELECT (SELECT count(*) FROM market.ohlc_bars WHERE timeframe = 'd1') AS stored,
               (SELECT count(*) FROM ops.bar_quarantine) AS quarantined""").iloc[0]
    assert counts["stored"] + counts["quarantined"] == len(bad) == len(spy) + 1
    assert counts["quarantined"] == 2


@pytest.mark.warehouse
def test_malformed_file_fails_the_run_with_one_line(warehouse_url: str, instance, tmp_path: Path) -> None:
    from assets.market_data import build_ohlc_bars

    _write_spy(tmp_path / "vendor", vendor("SPY").rename(columns={"close": "last"}))
    _setup_symbols(warehouse_url, instance, ["SPY"])
    result = _materialize([build_ohlc_bars(US_EQUITY)], warehouse_url, tmp_path / "vendor", instance,
                          "2021-03-01", "2021-03-31", "SPY")
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    description = failure.step_failure_data.user_failure_data.description  # the one line the run page shows
    assert "\n" not in description and "SPY.csv: missing close (" in description
    runs = _stored(warehouse_url, "SELECT provider, status, error FROM market.ingestion_runs")
    reason = "SPY.csv: " + description.split("SPY.csv: ", 1)[1]  # after the run's prefix
    assert runs.values.tolist() == [["file", "failed", reason]]
