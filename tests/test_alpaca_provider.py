"""AlpacaProvider against a local fake of Alpaca's REST API: pagination, retries, rate limiting,
mapping of bars / quotes / corporate actions / calendar, and that secrets never leak."""

from __future__ import annotations

import datetime as dt
import logging
import math
import socket

import numpy as np
import pandas as pd
import pytest

from resources.market_data import market_data_from_env
from swiftbolt.errors import ConfigError
from swiftbolt.market_data.types import (
    BAR_COLUMNS,
    CALENDAR_COLUMNS,
    CORPORATE_ACTION_COLUMNS,
    QUOTE_COLUMNS,
    MarketDataProvider,
    ProviderError,
    Timeframe,
)
from swiftbolt.providers.alpaca import (
    AlpacaProvider,
    RateLimiter,
)
from tests.fake_alpaca import FakeAlpaca, FakeClock, provider_for, snapshot

UTC = dt.UTC
STOCK_BARS = "/v2/stocks/bars"
CRYPTO_BARS = "/v1beta3/crypto/us/bars"



def _bars(
    symbols: list[str], timeframe: Timeframe, ts: pd.DatetimeIndex, seed: int
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for i, symbol in enumerate(symbols):
        n = len(ts)
        close = np.round(100 * (i + 1) + np.cumsum(rng.normal(0, 1, n)), 2)
        open_ = np.round(close + rng.normal(0, 0.5, n), 2)
        high = np.round(np.maximum(open_, close) + rng.uniform(0, 1, n), 2)
        low = np.round(np.minimum(open_, close) - rng.uniform(0, 1, n), 2)
        frames.append(
            pd.DataFrame(
                {
                    "symbol": symbol,
                    "timeframe": timeframe.value,
                    "ts": ts,
                    "open": open_,
                    "high": high,
                    "low": low,
                    "close": close,
                    "volume": rng.integers(100, 10_000, n).astype(float),
                    "vwap": np.round((high + low + close) / 3, 4),
                    "trade_count": rng.integers(1, 500, n),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _norm(df: pd.DataFrame) -> pd.DataFrame:
    out = df.loc[:, list(BAR_COLUMNS)].reset_index(drop=True).copy()
    out["symbol"] = out["symbol"].astype(str).astype(object)
    out["timeframe"] = out["timeframe"].astype(str).astype(object)
    out["ts"] = pd.to_datetime(out["ts"], utc=True).astype("datetime64[ns, UTC]")
    for col in ("open", "high", "low", "close", "volume", "vwap"):
        out[col] = out[col].astype("float64")
    out["trade_count"] = out["trade_count"].astype("int64")
    return out


def _expected(served: pd.DataFrame, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    ts = pd.to_datetime(served["ts"], utc=True)
    df = served[(ts >= pd.Timestamp(start)) & (ts < pd.Timestamp(end))]
    return _norm(df.sort_values(["symbol", "ts"]))


# Equity m15 bars over Friday 2025-03-07 .. Tuesday 2025-03-11 (spans the DST change on 03-09).
EQUITIES = ["AAPL", "MSFT", "SPY"]
CRYPTOS = ["BTC/USD", "ETH/USD"]
M15_TS = pd.DatetimeIndex(
    [
        t
        for t in pd.date_range("2025-03-07", "2025-03-12", freq="15min", tz="UTC")
        if t.weekday() < 5 and 13 <= t.hour < 21
    ]
)
D1_EQUITY_TS = pd.bdate_range("2025-02-24", "2025-03-21", tz="UTC")
D1_CRYPTO_TS = pd.date_range("2025-02-24", "2025-03-21", freq="D", tz="UTC")
CRYPTO_M15_TS = pd.date_range("2025-03-08", "2025-03-09 06:00", freq="15min", tz="UTC")


@pytest.fixture
def fake():
    with FakeAlpaca(page_size=7) as server:
        server.bars = pd.concat(
            [
                _bars(EQUITIES, Timeframe.M15, M15_TS, seed=1),
                _bars(EQUITIES, Timeframe.D1, D1_EQUITY_TS, seed=2),
                _bars(CRYPTOS, Timeframe.M15, CRYPTO_M15_TS, seed=3),
                _bars(CRYPTOS, Timeframe.D1, D1_CRYPTO_TS, seed=4),
            ],
            ignore_index=True,
        )
        yield server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _provider(fake: FakeAlpaca, clock: FakeClock, **kwargs) -> AlpacaProvider:
    return provider_for(fake, clock, **kwargs)


def _pages(n: int, page_size: int) -> int:
    return max(1, math.ceil(n / page_size))


def _served_count(fake: FakeAlpaca, symbols, timeframe, start, end, daily_tz: str | None) -> int:
    """Bars the fake serves (Alpaca stamps, inclusive end) for the query, counted independently."""
    df = fake.bars[fake.bars["symbol"].isin(symbols) & (fake.bars["timeframe"] == timeframe.value)]
    ts = pd.to_datetime(df["ts"], utc=True)
    if timeframe is Timeframe.D1 and daily_tz:
        ts = ts.dt.tz_localize(None).dt.tz_localize(daily_tz).dt.tz_convert("UTC")
    return int(((ts >= pd.Timestamp(start)) & (ts <= pd.Timestamp(end))).sum())


# --------------------------------------------------------------------------------------------- #
# bars and pagination
# --------------------------------------------------------------------------------------------- #


def test_provider_satisfies_protocol(fake, clock):
    provider = _provider(fake, clock)
    assert isinstance(provider, MarketDataProvider)
    assert provider.name == "alpaca"


def test_equity_m15_bars_across_pages(fake, clock):
    provider = _provider(fake, clock)
    start = dt.datetime(2025, 3, 7, 14, 0, tzinfo=UTC)
    end = dt.datetime(2025, 3, 11, 18, 0, tzinfo=UTC)  # a bar starts exactly at end: excluded
    got = provider.bars(EQUITIES, Timeframe.M15, start, end)

    assert list(got.columns) == list(BAR_COLUMNS)
    assert str(got["ts"].dtype) == "datetime64[ns, UTC]"
    expected = _expected(fake.bars[fake.bars["timeframe"] == "m15"], start, end)
    expected = expected[expected["symbol"].isin(EQUITIES)].reset_index(drop=True)
    assert len(expected) > 3 * 7
    pd.testing.assert_frame_equal(_norm(got), expected)
    assert got["ts"].max() < pd.Timestamp(end)

    queries = fake.requests_to(STOCK_BARS)
    # Alpaca's end is inclusive: the provider asks up to a second before `end`, so the three bars that
    # start at `end` are not served at all (and nothing served is dropped by the provider)
    assert all(q["end"] == "2025-03-11T17:59:59+00:00" for q in queries)
    assert _served_count(fake, EQUITIES, Timeframe.M15, start, end, None) == len(expected) + 3
    served = _served_count(fake, EQUITIES, Timeframe.M15, start, end - dt.timedelta(seconds=1), None)
    assert served == len(expected) == fake.bars_served["15Min"]
    assert len(queries) == _pages(served, 7) == len(fake.requests)
    assert all(q["symbols"] == "AAPL,MSFT,SPY" for q in queries)
    assert all(q["timeframe"] == "15Min" and q["adjustment"] == "raw" for q in queries)
    assert all(q["feed"] == "iex" for q in queries)
    assert "page_token" not in queries[0]
    assert all("page_token" in q for q in queries[1:])
    assert clock.sleeps == []


def test_equity_daily_bars_keyed_by_session_date(fake, clock):
    provider = _provider(fake, clock, feed="sip")
    start = dt.datetime(2025, 3, 3, tzinfo=UTC)
    end = dt.datetime(2025, 3, 17, tzinfo=UTC)
    got = provider.bars(EQUITIES, Timeframe.D1, start, end)

    expected = _expected(fake.bars[fake.bars["timeframe"] == "d1"], start, end)
    expected = expected[expected["symbol"].isin(EQUITIES)].reset_index(drop=True)
    # Alpaca served these at 05:00Z before the DST change and 04:00Z after; we key them at 00:00Z.
    pd.testing.assert_frame_equal(_norm(got), expected)
    assert (got["ts"].dt.hour == 0).all()
    assert got["ts"].dt.date.min() == dt.date(2025, 3, 3)
    assert got["ts"].dt.date.max() == dt.date(2025, 3, 14)
    queries = fake.requests_to(STOCK_BARS)
    assert all(q["timeframe"] == "1Day" and q["feed"] == "sip" for q in queries)
    served = _served_count(fake, EQUITIES, Timeframe.D1, start, end, "America/New_York")
    assert served == len(expected)  # the 03-17 bar is stamped 04:00Z, after the inclusive end
    assert len(queries) == _pages(served, 7)


@pytest.mark.parametrize("timeframe", [Timeframe.M15, Timeframe.D1])
def test_crypto_bars_across_pages(fake, clock, timeframe):
    provider = _provider(fake, clock)
    start = dt.datetime(2025, 3, 8, 1, 0, tzinfo=UTC)
    end = dt.datetime(2025, 3, 9, 3, 0, tzinfo=UTC)
    if timeframe is Timeframe.D1:
        start, end = dt.datetime(2025, 2, 26, tzinfo=UTC), dt.datetime(2025, 3, 19, tzinfo=UTC)
    got = provider.bars(CRYPTOS, timeframe, start, end)

    expected = _expected(fake.bars[fake.bars["timeframe"] == timeframe.value], start, end)
    expected = expected[expected["symbol"].isin(CRYPTOS)].reset_index(drop=True)
    assert len(expected) > 14
    pd.testing.assert_frame_equal(_norm(got), expected)
    queries = fake.requests_to(CRYPTO_BARS)
    assert fake.requests_to(STOCK_BARS) == []
    assert all(q["symbols"] == "BTC/USD,ETH/USD" for q in queries)
    served = _served_count(fake, CRYPTOS, timeframe, start, end - dt.timedelta(seconds=1), None)
    assert served == len(expected)  # the bars stamped exactly at `end` are not asked for
    assert len(queries) == _pages(served, 7)


def test_mixed_equity_and_crypto_symbols(fake, clock):
    provider = _provider(fake, clock)
    start = dt.datetime(2025, 3, 3, tzinfo=UTC)
    end = dt.datetime(2025, 3, 8, tzinfo=UTC)
    got = provider.bars(["BTC/USD", "AAPL", "AAPL"], Timeframe.D1, start, end)
    assert list(got["symbol"].unique()) == ["AAPL", "BTC/USD"]
    assert (got["symbol"] == "AAPL").sum() == 5
    assert (got["symbol"] == "BTC/USD").sum() == 5
    assert got.groupby("symbol")["ts"].is_monotonic_increasing.all()


def test_empty_result_has_bar_columns(fake, clock):
    provider = _provider(fake, clock)
    start = dt.datetime(2030, 1, 1, tzinfo=UTC)
    got = provider.bars(["AAPL"], Timeframe.H1, start, start + dt.timedelta(days=3))
    assert got.empty
    assert list(got.columns) == list(BAR_COLUMNS)
    assert provider.bars([], Timeframe.H1, start, start + dt.timedelta(days=1)).empty


def test_derived_timeframes_are_rejected(fake, clock):
    provider = _provider(fake, clock)
    with pytest.raises(ValueError, match="w1 is derived"):
        provider.bars(["AAPL"], Timeframe.W1, dt.datetime(2025, 1, 1), dt.datetime(2025, 2, 1))


# --------------------------------------------------------------------------------------------- #
# retries
# --------------------------------------------------------------------------------------------- #

D1_START = dt.datetime(2025, 3, 3, tzinfo=UTC)
D1_END = dt.datetime(2025, 3, 5, tzinfo=UTC)  # 2 sessions x 1 symbol: one page


def test_429_waits_retry_after_then_succeeds(fake, clock):
    provider = _provider(fake, clock)
    fake.fail_next = [(429, {"Retry-After": "1"})]
    got = provider.bars(["AAPL"], Timeframe.D1, D1_START, D1_END)
    assert len(got) == 2
    assert clock.sleeps == [1.0]
    assert len(fake.requests_to(STOCK_BARS)) == 2


def test_500_that_clears_is_retried_with_backoff(fake, clock):
    provider = _provider(fake, clock, backoff_base_s=0.5)
    fake.fail_next = [(500, {}), (503, {})]
    got = provider.bars(["AAPL"], Timeframe.D1, D1_START, D1_END)
    assert len(got) == 2
    assert len(clock.sleeps) == 2
    assert 0 <= clock.sleeps[0] <= 0.5 and 0 <= clock.sleeps[1] <= 1.0  # full jitter
    assert len(fake.requests_to(STOCK_BARS)) == 3


def test_retry_happens_per_page(fake, clock):
    provider = _provider(fake, clock)
    start, end = dt.datetime(2025, 2, 24, tzinfo=UTC), dt.datetime(2025, 3, 22, tzinfo=UTC)
    provider.bars(["AAPL"], Timeframe.D1, start, end)  # 20 bars -> 3 pages of 7
    fake.clear_requests()
    fake.fail_next = []
    calls = {"n": 0}
    original = fake.route

    def fail_second_page(path, query):
        calls["n"] += 1
        if calls["n"] == 2:
            fake.fail_next.append((502, {}))  # the next request (page 3) fails once
        return original(path, query)

    fake.route = fail_second_page
    got = provider.bars(["AAPL"], Timeframe.D1, start, end)
    assert len(got) == 20
    queries = fake.requests_to(STOCK_BARS)
    assert len(queries) == 4
    assert queries[2] == queries[3]  # the same page was asked for again
    assert "page_token" in queries[2]


def test_persistent_500_gives_up_with_one_line_error(fake, clock):
    provider = _provider(fake, clock, max_attempts=5, backoff_base_s=0.5, backoff_cap_s=2.0)
    leaky = {"message": f"db down\nkey={fake.api_key} secret={fake.secret_key}"}
    fake.fail_next = [(500, {}, leaky)] * 6
    start = dt.datetime(2025, 3, 10, tzinfo=UTC)
    with pytest.raises(ProviderError) as info:
        provider.bars(["AAPL", "MSFT"], Timeframe.H1, start, start + dt.timedelta(days=1))
    msg = str(info.value)
    assert msg.startswith(
        "alpaca bars request for AAPL,MSFT 1Hour failed after 5 attempts: HTTP 500"
    )
    assert "\n" not in msg
    assert fake.api_key not in msg and fake.secret_key not in msg
    assert info.value.__cause__ is None
    assert len(fake.requests_to(STOCK_BARS)) == 5
    assert len(clock.sleeps) == 4
    assert all(0 <= s <= 2.0 for s in clock.sleeps)


def test_401_is_immediate_and_names_the_env_vars(fake, clock):
    provider = _provider(fake, clock, secret_key="wrong-secret-value-123")
    with pytest.raises(ProviderError) as info:
        provider.bars(["AAPL"], Timeframe.D1, D1_START, D1_END)
    msg = str(info.value)
    assert "alpaca rejected the API key (HTTP 401)" in msg
    assert "ALPACA_API_KEY" in msg
    assert "\n" not in msg
    assert "wrong-secret-value-123" not in msg and fake.api_key not in msg
    assert len(fake.requests) == 1
    assert clock.sleeps == []


def test_403_mentions_keys_and_feed(fake, clock):
    provider = _provider(fake, clock, feed="sip")
    body = {"message": "subscription does not permit querying recent SIP data"}
    fake.fail_next = [(403, {}, body)]
    with pytest.raises(ProviderError, match=r"ALPACA_API_KEY.*ALPACA_FEED") as info:
        provider.bars(["AAPL"], Timeframe.D1, D1_START, D1_END)
    assert "subscription does not permit" in str(info.value)


def test_other_4xx_is_not_retried(fake, clock):
    provider = _provider(fake, clock)
    fake.fail_next = [(422, {}, {"code": 42210000, "message": "invalid symbol"})]
    with pytest.raises(ProviderError, match=r"^alpaca bars request for AAPL 1Day failed: HTTP 422"):
        provider.bars(["AAPL"], Timeframe.D1, D1_START, D1_END)
    assert len(fake.requests) == 1


def test_connection_errors_are_retried_then_reported(clock):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    provider = AlpacaProvider(
        "PKTESTKEY1234567890", "sEcReT-test-0123456789abcdef",
        data_url=f"http://127.0.0.1:{port}", max_attempts=3, sleep=clock.sleep, clock=clock,
    )
    with pytest.raises(ProviderError, match="failed after 3 attempts: connection failed") as info:
        provider.bars(["AAPL"], Timeframe.D1, D1_START, D1_END)
    assert "sEcReT" not in str(info.value)
    assert len(clock.sleeps) == 2


# --------------------------------------------------------------------------------------------- #
# rate limiting
# --------------------------------------------------------------------------------------------- #


def test_rate_limiter_fourth_request_waits():
    clock = FakeClock()
    limiter = RateLimiter(3, 60.0, clock=clock, sleep=clock.sleep)
    assert [limiter.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert clock.sleeps == []
    clock.now = 10.0
    assert limiter.acquire() == pytest.approx(50.0)  # the window opened at 0 closes at 60
    assert clock.sleeps == [pytest.approx(50.0)] and clock.now == pytest.approx(60.0)
    assert limiter.acquire() == 0.0 and limiter.acquire() == 0.0  # the slots of t=0 expired
    assert limiter.acquire() == pytest.approx(60.0)  # 4th request of the t=60 window


def test_provider_requests_go_through_the_rate_limiter(fake, clock):
    provider = _provider(fake, clock, max_requests_per_minute=3)
    start, end = dt.datetime(2025, 2, 24, tzinfo=UTC), dt.datetime(2025, 3, 22, tzinfo=UTC)
    got = provider.bars(["AAPL", "MSFT"], Timeframe.D1, start, end)  # 40 bars -> 6 pages of 7
    assert len(got) == 40
    assert len(fake.requests) == 6
    assert clock.sleeps == [pytest.approx(60.0)]  # the 4th page waited for the window


# --------------------------------------------------------------------------------------------- #
# quotes, corporate actions, calendar
# --------------------------------------------------------------------------------------------- #


def test_latest_quotes_from_snapshots(fake, clock):
    fake.snapshots = {
        "AAPL": snapshot(last=227.5, bid=227.4, ask=227.6, day_high=230.0, day_low=225.1,
                         prev_close=226.0, ts="2025-03-10T19:59:59.123456789Z"),
        "BTC/USD": snapshot(last=80000.5, bid=79990.0, ask=80010.0, day_high=82000.0,
                            day_low=78000.0, prev_close=81000.0),
    }
    provider = _provider(fake, clock)
    got = provider.latest_quotes(["BTC/USD", "AAPL", "NOPE"])
    assert list(got.columns) == list(QUOTE_COLUMNS)
    assert list(got["symbol"]) == ["AAPL", "BTC/USD"]
    aapl = got.iloc[0]
    assert (aapl["last"], aapl["bid"], aapl["ask"]) == (227.5, 227.4, 227.6)
    assert (aapl["day_high"], aapl["day_low"], aapl["prev_close"]) == (230.0, 225.1, 226.0)
    assert aapl["ts"] == pd.Timestamp("2025-03-10T19:59:59.123456789Z")
    assert got.iloc[1]["last"] == 80000.5
    assert fake.requests_to("/v2/stocks/snapshots")[0]["feed"] == "iex"
    assert fake.requests_to("/v1beta3/crypto/us/snapshots")[0]["symbols"] == "BTC/USD"


def test_corporate_actions_mapping(fake, clock):
    fake.page_size = 2  # corporate actions are paginated too
    fake.corporate_actions = [
        {"type": "forward_split", "symbol": "AAPL", "cusip": "037833100", "new_rate": 4,
         "old_rate": 1, "process_date": "2020-08-31", "ex_date": "2020-08-31",
         "record_date": "2020-08-24", "payable_date": "2020-08-28"},
        {"type": "reverse_split", "symbol": "XYZ", "old_cusip": "1", "new_cusip": "2",
         "new_rate": 1, "old_rate": 20, "process_date": "2021-05-03", "ex_date": "2021-05-03",
         "record_date": "2021-05-03"},
        # ex_date inside the range, process (payable) date after it: must still be found.
        {"type": "cash_dividend", "symbol": "MSFT", "cusip": "594918104", "rate": 0.83,
         "special": False, "foreign": False, "process_date": "2025-03-13",
         "ex_date": "2025-02-20", "record_date": "2025-02-20", "payable_date": "2025-03-13"},
        {"type": "cash_dividend", "symbol": "MSFT", "cusip": "594918104", "rate": 0.83,
         "special": False, "foreign": False, "process_date": "2025-06-12",
         "ex_date": "2025-05-15", "record_date": "2025-05-15", "payable_date": "2025-06-12"},
        {"type": "cash_dividend", "symbol": "IBM", "cusip": "459200101", "rate": 1.67,
         "special": False, "foreign": False, "process_date": "2025-03-10",
         "ex_date": "2025-02-10", "record_date": "2025-02-10", "payable_date": "2025-03-10"},
        {"type": "stock_dividend", "symbol": "AAPL", "cusip": "037833100", "rate": 0.1,
         "process_date": "2022-01-03", "ex_date": "2022-01-03"},
    ]
    provider = _provider(fake, clock)
    got = provider.corporate_actions(
        ["AAPL", "XYZ", "MSFT", "BTC/USD"], dt.date(2020, 1, 1), dt.date(2025, 2, 28)
    )
    assert list(got.columns) == list(CORPORATE_ACTION_COLUMNS)
    rows = {r.symbol: r for r in got.itertuples(index=False)}
    assert set(rows) == {"AAPL", "XYZ", "MSFT"}
    assert rows["AAPL"].action_type == "split" and rows["AAPL"].ratio == 4.0
    assert rows["AAPL"].ex_date == dt.date(2020, 8, 31)
    assert rows["AAPL"].record_date == dt.date(2020, 8, 24)
    assert rows["AAPL"].payment_date == dt.date(2020, 8, 28)
    assert rows["XYZ"].action_type == "reverse_split" and rows["XYZ"].ratio == 0.05
    assert rows["XYZ"].payment_date is None
    assert rows["MSFT"].action_type == "cash_dividend" and rows["MSFT"].cash_amount == 0.83
    assert rows["MSFT"].ex_date == dt.date(2025, 2, 20) and math.isnan(rows["MSFT"].ratio)
    assert math.isnan(rows["AAPL"].cash_amount)
    queries = fake.requests_to("/v1/corporate-actions")
    assert queries[0]["types"] == "forward_split,reverse_split,cash_dividend"
    assert queries[0]["symbols"] == "AAPL,XYZ,MSFT"
    assert len(queries) >= 2  # followed next_page_token


def test_calendar_converts_new_york_times_to_utc(fake, clock):
    fake.calendar = [
        {"date": "2025-03-07", "open": "09:30", "close": "16:00"},
        {"date": "2025-03-10", "open": "09:30", "close": "16:00"},  # first day of EDT
        {"date": "2025-11-28", "open": "09:30", "close": "13:00"},  # early close, EST
        {"date": "2025-12-01", "open": "09:30", "close": "16:00"},
    ]
    provider = _provider(fake, clock)
    got = provider.calendar(dt.date(2025, 3, 1), dt.date(2025, 11, 30))
    assert list(got.columns) == list(CALENDAR_COLUMNS)
    assert list(got["date"]) == [dt.date(2025, 3, 7), dt.date(2025, 3, 10), dt.date(2025, 11, 28)]
    by_date = got.set_index("date")
    assert by_date.loc[dt.date(2025, 3, 7), "open_utc"] == pd.Timestamp("2025-03-07 14:30Z")
    assert by_date.loc[dt.date(2025, 3, 10), "open_utc"] == pd.Timestamp("2025-03-10 13:30Z")
    assert by_date.loc[dt.date(2025, 3, 10), "close_utc"] == pd.Timestamp("2025-03-10 20:00Z")
    assert by_date.loc[dt.date(2025, 11, 28), "close_utc"] == pd.Timestamp("2025-11-28 18:00Z")
    assert fake.requests_to("/v2/calendar") == [{"start": "2025-03-01", "end": "2025-11-30"}]


# --------------------------------------------------------------------------------------------- #
# secrets and configuration
# --------------------------------------------------------------------------------------------- #


def test_secrets_never_in_errors_or_logs(fake, clock, caplog):
    caplog.set_level(logging.DEBUG)
    provider = _provider(fake, clock, max_attempts=3)
    leaky = {"message": f"headers: APCA-API-KEY-ID={fake.api_key} APCA-API-SECRET-KEY="
                        f"{fake.secret_key}"}
    errors = []
    fake.fail_next = [(429, {}, leaky), (503, {}, leaky), (500, {}, leaky)]
    with pytest.raises(ProviderError) as info:
        provider.bars(["AAPL"], Timeframe.M15, D1_START, D1_END)
    errors.append(info.value)
    fake.fail_next = [(400, {}, leaky)]
    with pytest.raises(ProviderError) as info:
        provider.corporate_actions(["AAPL"], dt.date(2025, 1, 1), dt.date(2025, 2, 1))
    errors.append(info.value)
    bad = _provider(fake, clock, secret_key="another-Secret-987654")
    with pytest.raises(ProviderError) as info:
        bad.calendar(dt.date(2025, 1, 1), dt.date(2025, 2, 1))
    errors.append(info.value)

    texts = [str(e) for e in errors] + [repr(e) for e in errors] + [repr(provider), repr(bad)]
    texts += [r.getMessage() for r in caplog.records]
    assert any("retrying" in r.getMessage() for r in caplog.records)
    for text in texts:
        for secret in (fake.api_key, fake.secret_key, "another-Secret-987654"):
            assert secret not in text, text
    assert "***" in str(errors[0])


def test_from_env(monkeypatch):
    """The environment is validated once (swiftbolt.settings) and the resource built from it."""
    for name in ("ALPACA_API_KEY", "ALPACA_SECRET_KEY", "ALPACA_DATA_URL", "ALPACA_TRADING_URL",
                 "ALPACA_FEED", "SWIFTBOLT_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    assert market_data_from_env().provider_name() == "synthetic"

    monkeypatch.setenv("ALPACA_API_KEY", "PKX")
    with pytest.raises(ConfigError, match="ALPACA_SECRET_KEY"):
        market_data_from_env()

    monkeypatch.setenv("ALPACA_SECRET_KEY", "s3cr3t-value")
    monkeypatch.setenv("ALPACA_FEED", "nasdaq")
    with pytest.raises(ConfigError, match="ALPACA_FEED") as info:
        market_data_from_env()
    assert "s3cr3t" not in str(info.value)

    monkeypatch.setenv("ALPACA_FEED", "SIP")
    monkeypatch.setenv("ALPACA_DATA_URL", "ftp://example")
    with pytest.raises(ConfigError, match="ALPACA_DATA_URL"):
        market_data_from_env()

    monkeypatch.setenv("ALPACA_DATA_URL", "http://127.0.0.1:9/")
    provider = market_data_from_env().process_config_and_initialize().get_provider()
    assert isinstance(provider, AlpacaProvider)
    assert "sip" in repr(provider) and "s3cr3t" not in repr(provider)


def test_provider_from_env_talks_to_configured_urls(fake, monkeypatch):
    monkeypatch.setenv("ALPACA_API_KEY", fake.api_key)
    monkeypatch.setenv("ALPACA_SECRET_KEY", fake.secret_key)
    monkeypatch.setenv("ALPACA_DATA_URL", fake.data_url)
    monkeypatch.setenv("ALPACA_TRADING_URL", fake.trading_url)
    monkeypatch.delenv("ALPACA_FEED", raising=False)
    monkeypatch.delenv("SWIFTBOLT_PROVIDER", raising=False)
    fake.calendar = [{"date": "2025-03-10", "open": "09:30", "close": "16:00"}]
    provider = market_data_from_env().process_config_and_initialize().get_provider()
    assert len(provider.calendar(dt.date(2025, 3, 10), dt.date(2025, 3, 10))) == 1
    assert len(provider.bars(["AAPL"], Timeframe.D1, D1_START, D1_END)) == 2
    assert fake.requests_to(STOCK_BARS)[0]["feed"] == "iex"
