"""The synthetic market: determinism, exact intraday-to-daily consistency, calendars, corporate
actions and the stylised facts it models (U-shaped volume, volatility clustering)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from swiftbolt.market_data.types import (
    BAR_COLUMNS,
    CALENDAR_COLUMNS,
    CORPORATE_ACTION_COLUMNS,
    QUOTE_COLUMNS,
    MarketDataProvider,
    Timeframe,
)
from swiftbolt.providers.synthetic import SyntheticProvider
from swiftbolt.symbols import InvalidSymbol

UTC = dt.UTC
DEFAULT_SYMBOLS = ["SPY", "QQQ", "AAPL", "MSFT", "NVDA", "TSLA", "AMZN", "BTC/USD", "ETH/USD"]
OHLCV = ["open", "high", "low", "close", "volume"]


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.fixture(scope="module")
def two_years_d1() -> pd.DataFrame:
    return SyntheticProvider().bars(DEFAULT_SYMBOLS, Timeframe.D1, utc(2024, 1, 1), utc(2026, 1, 1))


def test_implements_the_provider_protocol() -> None:
    provider = SyntheticProvider()
    assert isinstance(provider, MarketDataProvider)
    assert provider.name == "synthetic"


def test_bar_frame_contract() -> None:
    bars = SyntheticProvider().bars(["SPY", "BTC/USD"], "m15", utc(2025, 3, 3), utc(2025, 3, 5))
    assert tuple(bars.columns) == BAR_COLUMNS
    assert str(bars["ts"].dtype) == "datetime64[ns, UTC]"
    for col in ("open", "high", "low", "close", "volume", "vwap"):
        assert bars[col].dtype == np.float64, col
    assert bars["trade_count"].dtype == np.int64
    assert pd.api.types.is_string_dtype(bars["symbol"])
    assert set(bars["timeframe"]) == {"m15"}
    assert list(bars["symbol"].unique()) == ["BTC/USD", "SPY"]
    assert bars.equals(bars.sort_values(["symbol", "ts"]).reset_index(drop=True))
    assert not bars.duplicated(["symbol", "ts"]).any()
    assert bars["ts"].min() >= pd.Timestamp("2025-03-03", tz="UTC")
    assert bars["ts"].max() < pd.Timestamp("2025-03-05", tz="UTC")
    spy = bars[bars["symbol"] == "SPY"]
    assert (spy["volume"] == spy["volume"].round()).all()  # whole shares
    assert len(bars[bars["symbol"] == "BTC/USD"]) == 2 * 96


def test_unsupported_timeframes_and_symbols_are_rejected() -> None:
    provider = SyntheticProvider()
    for tf in (Timeframe.W1, Timeframe.MO1):
        with pytest.raises(ValueError):
            provider.bars(["SPY"], tf, utc(2025, 1, 1), utc(2025, 2, 1))
    with pytest.raises(InvalidSymbol):
        provider.bars(["spy; drop table"], Timeframe.D1, utc(2025, 1, 1), utc(2025, 2, 1))


def test_empty_window_has_the_contract_columns() -> None:
    bars = SyntheticProvider().bars(["SPY"], Timeframe.M15, utc(2025, 1, 4), utc(2025, 1, 5))
    assert bars.empty
    assert tuple(bars.columns) == BAR_COLUMNS
    assert str(bars["ts"].dtype) == "datetime64[ns, UTC]"


def test_same_seed_same_bars_different_seed_different_bars() -> None:
    args = (["SPY", "NVDA", "ETH/USD"], Timeframe.M15, utc(2025, 6, 2), utc(2025, 6, 7))
    a, b = SyntheticProvider(seed=7).bars(*args), SyntheticProvider(seed=7).bars(*args)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    c = SyntheticProvider(seed=8).bars(*args)
    assert not np.array_equal(a["close"].to_numpy(), c["close"].to_numpy())


WINDOWS = {
    "split": ((utc(2025, 5, 1), utc(2025, 6, 30)), ((2025, 5, 27), (2025, 6, 10), (2025, 6, 14))),
    "early-close": ((utc(2025, 10, 15), utc(2025, 12, 15)), ((2025, 11, 27), (2025, 11, 28))),
}


@pytest.mark.parametrize("window", list(WINDOWS.values()), ids=list(WINDOWS))
@pytest.mark.parametrize("timeframe", [Timeframe.M15, Timeframe.D1])
def test_a_bar_does_not_depend_on_the_window(
    timeframe: Timeframe,
    window: tuple[tuple[dt.datetime, dt.datetime], tuple[tuple[int, int, int], ...]],
) -> None:
    symbols = ["SPY", "NVDA", "BTC/USD"]
    (wide_start, wide_end), days = window
    wide = SyntheticProvider().bars(symbols, timeframe, wide_start, wide_end)
    for day in days:
        start = utc(*day)
        alone = SyntheticProvider().bars(symbols, timeframe, start, start + dt.timedelta(days=1))
        mask = (wide["ts"] >= start) & (wide["ts"] < start + dt.timedelta(days=1))
        expected = wide[mask].reset_index(drop=True)
        assert len(alone) > 0
        pd.testing.assert_frame_equal(alone, expected, check_exact=True)


def test_a_bar_does_not_depend_on_the_time_of_day_the_window_starts() -> None:
    provider = SyntheticProvider()
    full = provider.bars(["QQQ"], Timeframe.H1, utc(2025, 3, 10), utc(2025, 3, 11))
    late = SyntheticProvider().bars(["QQQ"], Timeframe.H1, utc(2025, 3, 10, 16), utc(2025, 3, 11))
    expected = full[full["ts"] >= pd.Timestamp("2025-03-10 16:00", tz="UTC")]
    pd.testing.assert_frame_equal(late, expected.reset_index(drop=True), check_exact=True)


def _daily_from(bars: pd.DataFrame) -> pd.DataFrame:
    day = bars["ts"].dt.floor("D")
    agg = bars.groupby(["symbol", day], sort=True).agg(
        open=("open", "first"),
        high=("high", "max"),
        low=("low", "min"),
        close=("close", "last"),
        volume=("volume", "sum"),
    )
    return agg.reset_index()


@pytest.mark.parametrize(
    "window",
    [(utc(2025, 6, 2), utc(2025, 6, 16)), (utc(2025, 11, 24), utc(2025, 12, 3))],
    ids=["nvda-split", "thanksgiving-early-close"],
)
@pytest.mark.parametrize("timeframe", [Timeframe.M1, Timeframe.M5, Timeframe.M15, Timeframe.H1,
                                       Timeframe.H4])
def test_intraday_aggregates_exactly_to_daily(
    timeframe: Timeframe, window: tuple[dt.datetime, dt.datetime]
) -> None:
    symbols = ["SPY", "NVDA", "MSFT", "BTC/USD"]
    provider = SyntheticProvider()
    daily = provider.bars(symbols, Timeframe.D1, *window)
    intraday = provider.bars(symbols, timeframe, *window)
    got = _daily_from(intraday)
    expected = daily[["symbol", "ts", *OHLCV]]
    pd.testing.assert_frame_equal(got, expected, check_exact=True, check_names=False)
    assert (intraday.groupby(["symbol", intraday["ts"].dt.floor("D")])["trade_count"].sum()
            .to_numpy() == daily["trade_count"].to_numpy()).all()


def test_h1_and_h4_bars_start_at_the_open() -> None:
    provider = SyntheticProvider()
    h1 = provider.bars(["SPY"], Timeframe.H1, utc(2025, 1, 14), utc(2025, 1, 15))
    starts = h1["ts"].dt.strftime("%H:%M").tolist()
    assert starts == ["14:30", "15:30", "16:30", "17:30", "18:30", "19:30", "20:30"]
    h4 = provider.bars(["SPY", "ETH/USD"], Timeframe.H4, utc(2025, 1, 14), utc(2025, 1, 15))
    assert h4[h4["symbol"] == "SPY"]["ts"].dt.strftime("%H:%M").tolist() == ["14:30", "18:30"]
    eth = h4[h4["symbol"] == "ETH/USD"]["ts"].dt.hour.tolist()
    assert eth == [0, 4, 8, 12, 16, 20]


def test_holiday_has_no_equity_bars_but_crypto_trades() -> None:
    bars = SyntheticProvider().bars(
        ["SPY", "BTC/USD"], Timeframe.M15, utc(2025, 1, 20), utc(2025, 1, 21)
    )
    assert set(bars["symbol"]) == {"BTC/USD"}
    assert len(bars) == 96
    daily = SyntheticProvider().bars(["SPY"], Timeframe.D1, utc(2025, 1, 17), utc(2025, 1, 22))
    assert [d.date() for d in daily["ts"]] == [dt.date(2025, 1, 17), dt.date(2025, 1, 21)]


def test_early_close_ends_the_session_at_13_00_eastern() -> None:
    bars = SyntheticProvider().bars(["SPY"], Timeframe.M15, utc(2025, 11, 28), utc(2025, 11, 29))
    assert bars["ts"].iloc[0] == pd.Timestamp("2025-11-28 14:30", tz="UTC")
    assert bars["ts"].iloc[-1] == pd.Timestamp("2025-11-28 17:45", tz="UTC")
    assert len(bars) == 14
    m1 = SyntheticProvider().bars(["SPY"], Timeframe.M1, utc(2025, 11, 28), utc(2025, 11, 29))
    assert len(m1) == 210


def test_session_times_follow_daylight_saving() -> None:
    provider = SyntheticProvider()
    after = provider.bars(["AAPL"], Timeframe.M15, utc(2025, 3, 10), utc(2025, 3, 11))
    before = provider.bars(["AAPL"], Timeframe.M15, utc(2025, 3, 7), utc(2025, 3, 8))
    assert after["ts"].iloc[0] == pd.Timestamp("2025-03-10 13:30", tz="UTC")
    assert before["ts"].iloc[0] == pd.Timestamp("2025-03-07 14:30", tz="UTC")
    assert len(after) == len(before) == 26


def test_split_shows_in_raw_prices() -> None:
    daily = SyntheticProvider().bars(["NVDA"], Timeframe.D1, utc(2025, 6, 2), utc(2025, 6, 14))
    by_day = daily.set_index(daily["ts"].dt.date)
    ratio = by_day.loc[dt.date(2025, 6, 9), "close"] / by_day.loc[dt.date(2025, 6, 10), "open"]
    assert 3.6 < ratio < 4.4
    before = by_day.loc[dt.date(2025, 6, 2), "close"]
    after = by_day.loc[dt.date(2025, 6, 13), "close"]
    assert 2.5 < before / after < 6.0
    # As-traded share volume rises with the share count.
    assert by_day.loc[dt.date(2025, 6, 10):, "volume"].mean() > 2 * by_day.loc[
        : dt.date(2025, 6, 9), "volume"
    ].mean()


def test_dividend_drops_the_open_on_the_ex_date() -> None:
    daily = SyntheticProvider().bars(["MSFT"], Timeframe.D1, utc(2025, 8, 19), utc(2025, 8, 21))
    prev_close, ex_open = daily["close"].iloc[0], daily["open"].iloc[1]
    # open = previous close - dividend, moved by part of the day's move and some noise
    assert abs((ex_open - (prev_close - 0.83)) / prev_close) < 0.03


def test_corporate_actions() -> None:
    provider = SyntheticProvider()
    actions = provider.corporate_actions(
        ["NVDA", "MSFT", "SPY"], dt.date(2025, 1, 1), dt.date(2025, 12, 31)
    )
    assert tuple(actions.columns) == CORPORATE_ACTION_COLUMNS
    split = actions[actions["symbol"] == "NVDA"].iloc[0]
    assert split["action_type"] == "split"
    assert split["ex_date"] == dt.date(2025, 6, 10)
    assert split["record_date"] == dt.date(2025, 6, 11)
    assert split["payment_date"] > split["record_date"]
    assert split["ratio"] == 4.0 and np.isnan(split["cash_amount"])
    dividend = actions[actions["symbol"] == "MSFT"].iloc[0]
    assert dividend["action_type"] == "cash_dividend"
    assert dividend["ex_date"] == dt.date(2025, 8, 20)
    assert dividend["cash_amount"] == 0.83 and np.isnan(dividend["ratio"])
    assert len(actions) == 2
    assert provider.corporate_actions(["NVDA"], dt.date(2025, 6, 11), dt.date(2025, 12, 31)).empty


def test_calendar() -> None:
    cal = SyntheticProvider().calendar(dt.date(2025, 11, 24), dt.date(2025, 11, 30))
    assert tuple(cal.columns) == CALENDAR_COLUMNS
    assert list(cal["date"]) == [dt.date(2025, 11, d) for d in (24, 25, 26, 28)]
    assert cal["close_utc"].iloc[-1] == pd.Timestamp("2025-11-28 18:00", tz="UTC")


def test_latest_quotes_at_a_fixed_time() -> None:
    as_of = utc(2025, 6, 11, 15, 7, 30)  # 11:07:30 ET
    provider = SyntheticProvider(as_of=as_of)
    quotes = provider.latest_quotes(["SPY", "BTC/USD"]).set_index("symbol")
    assert tuple(quotes.reset_index().columns) == QUOTE_COLUMNS
    m1 = provider.bars(["SPY", "BTC/USD"], Timeframe.M1, utc(2025, 6, 11), as_of)
    d1 = provider.bars(["SPY", "BTC/USD"], Timeframe.D1, utc(2025, 6, 10), utc(2025, 6, 11))
    for symbol in ("SPY", "BTC/USD"):
        q = quotes.loc[symbol]
        bars = m1[(m1["symbol"] == symbol) & (m1["ts"] + pd.Timedelta(minutes=1) <= as_of)]
        assert q["ts"] == pd.Timestamp("2025-06-11 15:07", tz="UTC")
        assert q["last"] == bars["close"].iloc[-1]
        assert q["bid"] < q["last"] < q["ask"]
        assert q["day_high"] == bars["high"].max() and q["day_low"] == bars["low"].min()
        assert q["prev_close"] == d1.loc[d1["symbol"] == symbol, "close"].iloc[0]


def test_latest_quotes_on_a_weekend_use_the_last_session() -> None:
    provider = SyntheticProvider(as_of=utc(2025, 6, 14, 12))
    quote = provider.latest_quotes(["AAPL"]).iloc[0]
    d1 = provider.bars(["AAPL"], Timeframe.D1, utc(2025, 6, 12), utc(2025, 6, 14))
    assert quote["ts"] == pd.Timestamp("2025-06-13 20:00", tz="UTC")
    assert quote["last"] == d1["close"].iloc[1]
    assert quote["prev_close"] == d1["close"].iloc[0]
    assert quote["day_high"] == d1["high"].iloc[1]


def test_volume_is_u_shaped() -> None:
    bars = SyntheticProvider().bars(
        ["SPY", "AAPL", "TSLA"], Timeframe.M15, utc(2025, 4, 1), utc(2025, 5, 1)
    )
    position = bars.groupby(["symbol", bars["ts"].dt.date]).cumcount()
    from_end = bars.groupby(["symbol", bars["ts"].dt.date]).cumcount(ascending=False)
    for symbol in ("SPY", "AAPL", "TSLA"):
        mine = bars["symbol"] == symbol
        edges = bars.loc[mine & ((position < 2) | (from_end < 2)), "volume"].mean()
        midday = bars.loc[mine & (position >= 8) & (from_end >= 8), "volume"].mean()
        assert edges > 1.5 * midday, symbol


def test_volatility_clusters(two_years_d1: pd.DataFrame) -> None:
    for symbol, g in two_years_d1.groupby("symbol"):
        r = np.diff(np.log(g["close"].to_numpy()))
        r = r[np.abs(r) < np.log(3.0)]  # drop the raw split day
        sq = r**2 - (r**2).mean()
        lag1 = float((sq[1:] * sq[:-1]).sum() / (sq * sq).sum())
        assert lag1 > 0.05, (symbol, lag1)


def test_price_levels_are_realistic(two_years_d1: pd.DataFrame) -> None:
    first = two_years_d1[two_years_d1["ts"] == pd.Timestamp("2024-01-02", tz="UTC")]
    level = first.set_index("symbol")["close"]
    expected = {"SPY": 450, "QQQ": 380, "AAPL": 180, "MSFT": 380, "NVDA": 480, "TSLA": 220,
                "AMZN": 150, "BTC/USD": 40000, "ETH/USD": 2500}
    for symbol, price in expected.items():
        assert 0.9 * price < level[symbol] < 1.1 * price, symbol


def test_ohlc_sanity(two_years_d1: pd.DataFrame) -> None:
    provider = SyntheticProvider()
    frames = [
        two_years_d1,
        provider.bars(DEFAULT_SYMBOLS, Timeframe.H1, utc(2024, 1, 1), utc(2026, 1, 1)),
        provider.bars(DEFAULT_SYMBOLS, Timeframe.M1, utc(2025, 6, 9), utc(2025, 6, 11)),
    ]
    for bars in frames:
        assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all()
        assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all()
        assert (bars["low"] > 0).all()
        assert (bars["volume"] > 0).all()
        assert (bars["trade_count"] > 0).all()
        assert ((bars["vwap"] >= bars["low"]) & (bars["vwap"] <= bars["high"])).all()
        assert np.isfinite(bars[["open", "high", "low", "close", "volume", "vwap"]]).all().all()


def test_unknown_symbols_get_a_deterministic_history() -> None:
    a = SyntheticProvider().bars(["ZZZZ", "DOGE/USD"], "d1", utc(2025, 1, 1), utc(2025, 2, 1))
    b = SyntheticProvider().bars(["ZZZZ", "DOGE/USD"], "d1", utc(2025, 1, 1), utc(2025, 2, 1))
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert set(a["symbol"]) == {"ZZZZ", "DOGE/USD"}
    assert (a["close"] > 0).all()


def test_no_bar_is_served_before_it_has_ended() -> None:
    """Like a real feed: at 11:07 ET on 2025-03-10 the m15 bars end with the 10:45 bar, the h1 bars
    with the 9:30 bar, and there is no daily bar yet; after the close the whole session is there."""
    now = dt.datetime(2025, 3, 10, 15, 7, tzinfo=dt.UTC)  # 11:07 New York (EDT)
    start, end = dt.datetime(2025, 3, 10, tzinfo=dt.UTC), dt.datetime(2025, 3, 11, tzinfo=dt.UTC)
    live = SyntheticProvider(as_of=now)
    m15 = live.bars(["AAPL"], Timeframe.M15, start, end)
    assert m15["ts"].max() == pd.Timestamp("2025-03-10 14:45", tz="UTC")
    assert live.bars(["AAPL"], Timeframe.H1, start, end)["ts"].max() == pd.Timestamp("2025-03-10 13:30", tz="UTC")
    assert live.bars(["AAPL"], Timeframe.D1, start, end).empty
    later = SyntheticProvider(as_of=dt.datetime(2025, 3, 10, 20, 1, tzinfo=dt.UTC))
    assert len(later.bars(["AAPL"], Timeframe.M15, start, end)) == 26
    assert len(later.bars(["AAPL"], Timeframe.D1, start, end)) == 1
    # the served bars are the same values whenever they are served
    pd.testing.assert_frame_equal(m15, later.bars(["AAPL"], Timeframe.M15, start, end).iloc[: len(m15)])
