"""Adjusted weekly and monthly bars equal the aggregation of the adjusted daily bars of their period,
whatever events fall inside it (migration 0010): the synthetic NVDA 4:1 split and MSFT dividend, and
AIG's real 1:20 reverse split of 2009-07-01."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from swiftbolt.calendars.sessions import session_dates
from swiftbolt.db.connection import connect
from swiftbolt.market_data.corporate_actions import write_corporate_actions
from swiftbolt.market_data.ingest import RunInfo, ingest_bars
from swiftbolt.market_data.types import BAR_COLUMNS, Timeframe
from swiftbolt.providers.alpaca import AlpacaProvider
from swiftbolt.providers.synthetic import SyntheticProvider
from tests.fake_alpaca import FakeAlpaca
from tests.helpers import FIXTURES, add_symbols

pytestmark = pytest.mark.warehouse

_COLUMNS = ["symbol_id", "timeframe", "ts", "session_date", "open", "high", "low", "close", "volume", "vwap",
            "adjustment_factor"]


def _adjusted(url: str) -> pd.DataFrame:
    with connect(url) as conn:
        rows = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM market.ohlc_bars_adjusted "
                            "ORDER BY symbol_id, timeframe, ts").fetchall()
    frame = pd.DataFrame(rows, columns=_COLUMNS)
    frame["session_date"] = pd.to_datetime(frame["session_date"])
    values = ["open", "high", "low", "close", "volume", "vwap", "adjustment_factor"]
    frame[values] = frame[values].astype("float64")  # NULL vwap -> NaN
    return frame


def _aggregated(daily: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    """What a period bar must be: the adjusted d1 bars of the period aggregated (pandas)."""
    # weeks ending on Sunday start on Monday and months on the 1st, like date_trunc('week'/'month')
    period = daily["session_date"].dt.to_period("W-SUN" if timeframe == "w1" else "M").dt.start_time
    d = daily.assign(period=period, pv=daily["vwap"] * daily["volume"]).sort_values("ts")
    out = d.groupby(["symbol_id", "period"]).agg(
        open=("open", "first"), high=("high", "max"), low=("low", "min"), close=("close", "last"),
        volume=("volume", "sum"), pv=("pv", lambda x: x.sum(min_count=1)),  # SQL sum: NULL when all are
        factor=("adjustment_factor", "last"),
    ).reset_index()
    out["vwap"] = out["pv"] / out["volume"]
    return out


def _assert_periods_match(url: str) -> dict[str, pd.DataFrame]:
    adjusted = _adjusted(url)
    daily = adjusted[adjusted["timeframe"] == "d1"]
    out = {}
    for tf in ("w1", "mo1"):
        got = adjusted[adjusted["timeframe"] == tf].rename(columns={"session_date": "period"})
        want = _aggregated(daily, tf)
        merged = want.merge(got, on=["symbol_id", "period"], how="outer", suffixes=("_want", ""),
                            indicator=True)
        assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"]
        for col in ("open", "high", "low", "close", "volume"):
            np.testing.assert_allclose(merged[col], merged[f"{col}_want"], rtol=1e-12, err_msg=f"{tf} {col}")
        np.testing.assert_allclose(merged["adjustment_factor"], merged["factor"], rtol=1e-12)
        if merged["vwap_want"].notna().any():
            np.testing.assert_allclose(merged["vwap"], merged["vwap_want"], rtol=1e-9)
        out[tf] = merged
    return out


def test_synthetic_split_and_dividend_inside_a_week_and_a_month(warehouse_url: str) -> None:
    """NVDA splits 4:1 on Tuesday 2025-06-10 and MSFT pays 0.83 on Wednesday 2025-08-20: the adjusted
    week and month holding them are the aggregation of their adjusted days (the old view scaled the
    whole period by the factor of its first day, so NVDA's adjusted week low was a quarter too low)."""
    ids = add_symbols(warehouse_url, {"NVDA": "us_equity", "MSFT": "us_equity"})
    provider = SyntheticProvider()
    days = session_dates("us_equity", dt.date(2025, 5, 26), dt.date(2025, 8, 29))
    ingest_bars(warehouse_url, provider, "us_equity", ids, days, [Timeframe.D1], RunInfo())
    actions = provider.corporate_actions(["NVDA", "MSFT"], days[0], days[-1])
    with connect(warehouse_url) as conn, conn.transaction():
        write_corporate_actions(conn, actions, ids, days[0], days[-1], "synthetic")
    assert {(r.symbol, r.action_type, r.ex_date) for r in actions.itertuples()} >= {
        ("NVDA", "split", dt.date(2025, 6, 10)), ("MSFT", "cash_dividend", dt.date(2025, 8, 20))}

    periods = _assert_periods_match(warehouse_url)

    split_week = periods["w1"][(periods["w1"]["symbol_id"] == ids["NVDA"])
                               & (periods["w1"]["period"] == "2025-06-09")].iloc[0]
    with connect(warehouse_url) as conn:
        raw_days = conn.execute(
            "SELECT session_date, low, close FROM market.ohlc_bars WHERE symbol_id = %s AND timeframe = 'd1' "
            "AND session_date BETWEEN '2025-06-09' AND '2025-06-13' ORDER BY session_date", (ids["NVDA"],)).fetchall()
    # Monday 06-09 is before the split: its adjusted low is the raw low / 4; the days after are unadjusted
    adjusted_lows = [low / 4.0 if day < dt.date(2025, 6, 10) else low for day, low, _ in raw_days]
    assert split_week["low"] == pytest.approx(min(adjusted_lows), rel=1e-12)
    assert split_week["close"] == pytest.approx(raw_days[-1][2], rel=1e-12)  # Friday, after the split
    assert split_week["adjustment_factor"] == pytest.approx(1.0)
    assert split_week["volume"] > 0


def test_real_reverse_split_week_and_month_follow_the_vendor(warehouse_url: str) -> None:
    """AIG's 1:20 reverse split effective Wednesday 2009-07-01 (real bars through the real alpaca-py
    client): the adjusted week of 2009-06-29 and every month are the aggregation of the adjusted days,
    and their closes and lows follow the vendor's split-adjusted series up to its constant
    normalisation (the old view multiplied the whole week by 20, the days after the split included)."""
    ids = add_symbols(warehouse_url, {"AIG": "us_equity"}, source="alpaca")
    fixture = pd.read_csv(FIXTURES / "aig_daily_2009_reverse_split.csv")
    served = pd.DataFrame({
        "symbol": "AIG", "timeframe": "d1", "ts": pd.to_datetime(fixture["date"]).dt.tz_localize("UTC"),
        **{c: fixture[c] for c in ("open", "high", "low", "close")},
        "volume": fixture["volume"].astype(float), "vwap": None, "trade_count": None,
    })[list(BAR_COLUMNS)]
    days = [dt.date.fromisoformat(d) for d in fixture["date"]]
    with FakeAlpaca(page_size=30) as fake:
        fake.bars = served
        fake.corporate_actions = [{"type": "reverse_split", "symbol": "AIG", "old_rate": 20, "new_rate": 1,
                                   "ex_date": "2009-07-01", "record_date": "2009-06-30",
                                   "payable_date": "2009-07-01", "process_date": "2009-07-01"}]
        provider = AlpacaProvider(fake.api_key, fake.secret_key, data_url=fake.data_url,
                                  trading_url=fake.trading_url)
        ingest_bars(warehouse_url, provider, "us_equity", ids, days, [Timeframe.D1], RunInfo())
        actions = provider.corporate_actions(["AIG"], days[0], days[-1])
    with connect(warehouse_url) as conn, conn.transaction():
        write_corporate_actions(conn, actions, ids, days[0], days[-1], "alpaca")

    periods = _assert_periods_match(warehouse_url)

    # the vendor's split-adjusted bars (its factor: split_adj_close / close), aggregated per period
    vendor = fixture[fixture["date"] != "2009-05-05"].assign(  # the bad print is quarantined
        date=lambda f: pd.to_datetime(f["date"]), factor=lambda f: f["split_adj_close"] / f["close"])
    vendor = vendor.assign(adj_low=vendor["low"] * vendor["factor"])
    scale = None
    for tf, rule in (("w1", "W-SUN"), ("mo1", "M")):
        per = vendor.groupby(vendor["date"].dt.to_period(rule).dt.start_time).agg(
            close=("split_adj_close", "last"), low=("adj_low", "min"))
        ours = periods[tf].set_index("period").sort_index()
        assert list(ours.index) == list(per.index)
        ratios = np.r_[ours["close"] / per["close"], ours["low"] / per["low"]]
        scale = scale if scale is not None else ratios[0]
        np.testing.assert_allclose(ratios, scale, rtol=1e-6, err_msg=tf)
    week = periods["w1"].set_index("period").loc[pd.Timestamp("2009-06-29")]
    # Mon 06-29 and Tue 06-30 before the split (x20), Wed 07-01 and Thu 07-02 after (07-03 a holiday)
    assert week["high"] == pytest.approx(max(1.46 * 20, 1.33 * 20, 22.96, 19.57), rel=1e-12)
    assert week["low"] == pytest.approx(min(1.28 * 20, 1.08 * 20, 17.55, 17.65), rel=1e-12)
    assert week["close"] == pytest.approx(18.32, rel=1e-12)
