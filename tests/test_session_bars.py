"""h1 and h4 bars of a market with sessions are derived from the stored regular-session m15 bars,
anchored at the session open (the last bar short), on one grid whatever the provider; crypto's fall
on UTC clock hours. No h1/h4 provider requests."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from swiftbolt.calendars.sessions import session_dates, sessions
from swiftbolt.db.connection import connect
from swiftbolt.market_data.ingest import RunInfo, ingest_bars
from swiftbolt.market_data.session_bars import derive_session_bars
from swiftbolt.market_data.types import FETCHED_TIMEFRAMES, Timeframe
from swiftbolt.market_data.validation import validate_bars
from swiftbolt.providers.alpaca import AlpacaProvider
from swiftbolt.providers.synthetic import SyntheticProvider
from tests.fake_alpaca import FakeAlpaca
from tests.helpers import add_symbols, clock_hour_bars, spy_2013_bars

UTC = dt.UTC

# Every session's derived bars against its m15 bars: volume sums equal, each derived bar's high/low
# inside the session's m15 range and equal to the extremes of the m15 bars it covers, every m15 bar in
# exactly one derived bar, each derived bar starting at open + k x length.
_INVARIANT = """
WITH m15 AS (
    SELECT symbol_id, session_date, sum(volume) AS volume, max(high) AS high, min(low) AS low, count(*) AS bars
    FROM market.ohlc_bars WHERE timeframe = 'm15' GROUP BY 1, 2
), derived AS (
    SELECT d.symbol_id, d.timeframe, d.session_date, d.ts, d.high, d.low, d.volume,
           d.ts + CASE d.timeframe WHEN 'h1' THEN interval '1 hour' ELSE interval '4 hours' END AS ends
    FROM market.ohlc_bars d WHERE d.timeframe IN ('h1', 'h4')
), covered AS (
    SELECT d.symbol_id, d.timeframe, d.session_date, d.ts, d.high, d.low, d.volume,
           count(m.ts) AS m15_bars, max(m.high) AS m15_high, min(m.low) AS m15_low, sum(m.volume) AS m15_volume
    FROM derived d
    LEFT JOIN market.ohlc_bars m ON m.symbol_id = d.symbol_id AND m.timeframe = 'm15'
         AND m.session_date = d.session_date AND m.ts >= d.ts AND m.ts < d.ends
    GROUP BY 1, 2, 3, 4, 5, 6, 7
), per_session AS (
    SELECT c.symbol_id, c.timeframe, c.session_date, sum(c.volume) AS volume, max(c.high) AS high,
           min(c.low) AS low, sum(c.m15_bars) AS m15_bars,
           bool_and(c.high = c.m15_high AND c.low = c.m15_low AND c.volume = c.m15_volume) AS bars_match
    FROM covered c GROUP BY 1, 2, 3
)
SELECT t.timeframe, count(*) AS sessions,
       count(*) FILTER (WHERE p.volume IS DISTINCT FROM m.volume) AS volume_mismatches,
       count(*) FILTER (WHERE p.high > m.high OR p.low < m.low OR p.high IS NULL) AS outside_range,
       count(*) FILTER (WHERE p.m15_bars IS DISTINCT FROM m.bars OR NOT p.bars_match) AS not_covering
FROM m15 m CROSS JOIN (VALUES ('h1'), ('h4')) t(timeframe)
LEFT JOIN per_session p ON p.symbol_id = m.symbol_id AND p.session_date = m.session_date AND p.timeframe = t.timeframe
GROUP BY 1 ORDER BY 1
"""


def _invariant(url: str) -> dict[str, tuple[int, int, int, int]]:
    with connect(url) as conn:
        return {r[0]: tuple(int(v) for v in r[1:]) for r in conn.execute(_INVARIANT).fetchall()}


def _grid(url: str, market: str) -> pd.DataFrame:
    """Derived bars with their offset from the session open in minutes, per session."""
    with connect(url) as conn:
        rows = conn.execute("SELECT timeframe, ts, session_date FROM market.ohlc_bars "
                            "WHERE timeframe IN ('h1', 'h4') ORDER BY timeframe, ts").fetchall()
    frame = pd.DataFrame(rows, columns=["timeframe", "ts", "session_date"])
    cal = sessions(market, frame["session_date"].min(), frame["session_date"].max()).set_index("date")
    frame["offset"] = [(ts - cal.loc[d, "open_utc"]).total_seconds() / 60 for ts, d in
                       zip(frame["ts"], frame["session_date"], strict=True)]
    return frame


@pytest.mark.parametrize(("market", "symbol", "first", "last"), [
    # DST starts 2025-03-09; 2025-11-28 closes at 13:00
    ("us_equity", "AAPL", dt.date(2025, 3, 6), dt.date(2025, 3, 12)),
    ("us_equity", "AAPL", dt.date(2025, 11, 25), dt.date(2025, 12, 2)),
    ("crypto", "BTC/USD", dt.date(2025, 3, 8), dt.date(2025, 3, 10)),
])
def test_derived_bars_equal_the_synthetic_markets_own(market: str, symbol: str, first: dt.date,
                                                      last: dt.date) -> None:
    """The synthetic market rolls its own h1/h4 up from minutes, anchored at the open: the bars derived
    from its m15 bars are the same bars (OHLC, volume, trade count; vwap up to its rounding)."""
    provider = SyntheticProvider()
    start, end = dt.datetime.combine(first, dt.time(), UTC), dt.datetime.combine(last, dt.time(), UTC)
    m15 = validate_bars(provider.bars([symbol], Timeframe.M15, start, end), market, Timeframe.M15).clean
    for tf in (Timeframe.H1, Timeframe.H4):
        ours = derive_session_bars(m15, market, tf).reset_index(drop=True)
        theirs = provider.bars([symbol], tf, start, end)
        assert len(ours) == len(theirs) > 0
        for col in ("ts", "open", "high", "low", "close", "volume"):
            assert (ours[col].to_numpy() == theirs[col].to_numpy()).all(), (tf, col)
        assert (ours["trade_count"].astype("int64").to_numpy() == theirs["trade_count"].to_numpy()).all()
        assert (ours["vwap"] - theirs["vwap"]).abs().max() < 1e-3
    if market == "crypto":
        assert (ours["ts"].dt.hour % 4 == 0).all() and (ours["ts"].dt.minute == 0).all()  # UTC clock hours


@pytest.mark.warehouse
@pytest.mark.parametrize(("market", "symbols", "first", "last"), [
    ("us_equity", {"AAPL": "us_equity", "NVDA": "us_equity"}, dt.date(2025, 2, 24), dt.date(2025, 12, 5)),
    ("crypto", {"BTC/USD": "crypto", "ETH/USD": "crypto"}, dt.date(2025, 3, 1), dt.date(2025, 3, 20)),
])
def test_every_session_h1_and_h4_equal_their_m15(warehouse_url: str, market: str, symbols: dict[str, str],
                                                 first: dt.date, last: dt.date) -> None:
    """The invariant over every session ingested (US equities: 200 sessions with the DST changes and
    the early closes of 2025-07-03 and 2025-11-28; crypto: 20 UTC days)."""
    ids = add_symbols(warehouse_url, symbols)
    days = session_dates(market, first, last)
    report = ingest_bars(warehouse_url, SyntheticProvider(), market, ids, days, list(FETCHED_TIMEFRAMES), RunInfo())
    assert [a.timeframe for a in report.requests] == ["m15", "d1"]
    sessions_ = len(ids) * len(days)
    assert _invariant(warehouse_url) == {"h1": (sessions_, 0, 0, 0), "h4": (sessions_, 0, 0, 0)}
    grid = _grid(warehouse_url, market)
    assert ((grid["offset"] % 60 == 0) & (grid["timeframe"] == "h1") | (grid["timeframe"] == "h4")).all()
    assert ((grid["offset"] % 240 == 0) | (grid["timeframe"] == "h1")).all()
    per_day = grid[grid["timeframe"] == "h1"].groupby("session_date").size() / len(ids)
    if market == "us_equity":
        assert per_day.loc[dt.date(2025, 11, 28)] == 4  # 09:30-13:00: 09:30, 10:30, 11:30, 12:30 (short)
        assert per_day.loc[dt.date(2025, 7, 3)] == 4
        assert per_day.drop([dt.date(2025, 11, 28), dt.date(2025, 7, 3)]).eq(7).all()  # 15:30-16:00 short
    else:
        assert per_day.eq(24).all()


@pytest.mark.warehouse
def test_real_spy_hourly_bars_hold_the_regular_session_only(warehouse_url: str) -> None:
    """Real SPY 15-minute bars with pre- and post-market, served by a fake Alpaca that also holds
    Alpaca-style clock-aligned hourly bars (its 09:00 bar has 09:00-10:00 trades, pre-market included):
    no hourly request is made; the stored h1 bars start at 09:30 and hold exactly the regular-session
    m15 volume; pre/post-market m15 bars are quarantined; received = stored + quarantined."""
    ids = add_symbols(warehouse_url, {"SPY": "us_equity"}, source="alpaca")
    served = spy_2013_bars()
    served_m15 = served[served["timeframe"] == "m15"]
    served = pd.concat([served, clock_hour_bars(served_m15, "h1"), clock_hour_bars(served_m15, "h4")],
                       ignore_index=True)
    days = session_dates("us_equity", dt.date(2013, 10, 4), dt.date(2013, 10, 11))
    with FakeAlpaca(page_size=50) as fake:
        fake.bars = served
        provider = AlpacaProvider(fake.api_key, fake.secret_key, data_url=fake.data_url,
                                  trading_url=fake.trading_url)
        report = ingest_bars(warehouse_url, provider, "us_equity", ids, days, list(FETCHED_TIMEFRAMES), RunInfo())
        timeframes = sorted({q["timeframe"] for q in fake.requests_to("/v2/stocks/bars")})
        served_counts = dict(fake.bars_served)
    assert timeframes == ["15Min", "1Day"]
    requests = {r.timeframe: r for r in report.requests}
    assert requests["m15"].received == served_counts["15Min"] == len(served_m15)
    assert requests["m15"].received == requests["m15"].stored + requests["m15"].quarantined
    assert requests["m15"].stored == 6 * 26
    assert _invariant(warehouse_url) == {"h1": (6, 0, 0, 0), "h4": (6, 0, 0, 0)}
    with connect(warehouse_url) as conn:
        first_hour = conn.execute(
            "SELECT ts, open, volume FROM market.ohlc_bars WHERE timeframe = 'h1' AND session_date = '2013-10-07' "
            "ORDER BY ts LIMIT 1").fetchone()
        reasons = dict(conn.execute("SELECT reason, count(*) FROM ops.bar_quarantine GROUP BY 1").fetchall())
    regular = served_m15[(served_m15["ts"] >= "2013-10-07 13:30Z") & (served_m15["ts"] < "2013-10-07 14:30Z")]
    assert first_hour == (pd.Timestamp("2013-10-07 13:30Z").to_pydatetime(), regular["open"].iloc[0],
                          regular["volume"].sum())
    # Alpaca's 09:00 bar opens in the pre-market and holds its volume: not what is stored
    alpaca_0900 = served[(served["timeframe"] == "h1") & (served["ts"] == pd.Timestamp("2013-10-07 13:00Z"))]
    assert alpaca_0900["open"].iloc[0] != first_hour[1]
    assert reasons == {"outside the regular session": len(served_m15) - 6 * 26}
