"""SuperTrend (against an independent reference) and its flip signals with known outcomes."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from swiftbolt.features.indicators import WARMUP_BARS, compute_features, supertrend
from swiftbolt.features.supertrend_signals import (
    SIGNAL_COLUMNS,
    flip_indices,
    signal_summary,
    supertrend_signals,
)
from swiftbolt.market_data.types import Timeframe
from swiftbolt.providers.synthetic import SyntheticProvider


def _reference_supertrend(h, lo, c, period=10, mult=3.0):
    """TradingView's SuperTrend, line by line, on a hand-written Wilder ATR (no TA-Lib)."""
    n = len(c)
    tr = [math.nan] + [max(h[i] - lo[i], abs(h[i] - c[i - 1]), abs(lo[i] - c[i - 1])) for i in range(1, n)]
    atr = [math.nan] * n
    atr[period] = sum(tr[1 : period + 1]) / period
    for i in range(period + 1, n):
        atr[i] = (atr[i - 1] * (period - 1) + tr[i]) / period
    value, trend = [math.nan] * n, [math.nan] * n
    up1 = dn1 = None
    tr_prev = 1
    for i in range(period, n):
        src = (h[i] + lo[i]) / 2
        up, dn = src - mult * atr[i], src + mult * atr[i]
        if up1 is not None:
            up = max(up, up1) if c[i - 1] > up1 else up
            dn = min(dn, dn1) if c[i - 1] < dn1 else dn
            if tr_prev == -1 and c[i] > dn1:
                tr_prev = 1
            elif tr_prev == 1 and c[i] < up1:
                tr_prev = -1
        trend[i] = tr_prev
        value[i] = up if tr_prev == 1 else dn
        up1, dn1 = up, dn
    return np.array(value), np.array(trend)


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    raw = SyntheticProvider().bars(["TSLA"], Timeframe.D1, dt.datetime(2016, 1, 1), dt.datetime(2023, 1, 1))
    return raw[["ts", "open", "high", "low", "close", "volume"]].reset_index(drop=True)


def test_supertrend_matches_reference(bars: pd.DataFrame) -> None:
    h, lo, c = (bars[k].to_numpy() for k in ("high", "low", "close"))
    value, direction = supertrend(h, lo, c, 10, 3.0)
    ref_value, ref_dir = _reference_supertrend(h.tolist(), lo.tolist(), c.tolist())
    assert np.array_equal(np.isnan(direction), np.isnan(ref_dir))
    assert np.isnan(direction[:10]).all() and not np.isnan(direction[10:]).any()
    assert np.array_equal(direction[10:], ref_dir[10:])
    np.testing.assert_allclose(value[10:], ref_value[10:], rtol=1e-12)
    assert len(flip_indices(direction)) > 20  # the series really trends both ways
    # the line is below the close in up-trends, above it in down-trends (except on flip-back bars)
    up = direction == 1
    assert (value[up] <= c[up]).mean() > 0.97 and (value[direction == -1] >= c[direction == -1]).mean() > 0.97


def test_supertrend_trend_following_on_a_hand_series() -> None:
    close = np.concatenate([np.linspace(100, 150, 40), np.linspace(150, 100, 40)])
    value, direction = supertrend(close + 1, close - 1, close, 10, 3.0)
    assert (direction[10:40] == 1).all()  # the rise
    assert (direction[-20:] == -1).all()  # the fall, after one flip
    assert len(flip_indices(direction)) == 1
    assert (value[-20:] > close[-20:]).all()


# ---------------------------------------------------------------------------------------------
# Signals on a hand-made series: one WIN, one LOSS (stop and target in one bar), one OPEN

#       open   high   low    close  dir  supertrend
HAND = [
    (100.0, 101.0, 99.0, 100.0, np.nan, np.nan),
    (100.0, 101.0, 99.0, 100.0, -1, 110.0),
    (100.0, 111.0, 99.0, 100.0, 1, 95.0),  # BUY: entry 100, stop 95, target 110 (this bar's 111 doesn't count)
    (100.0, 105.0, 97.0, 103.0, 1, 96.0),
    (103.0, 111.0, 99.0, 108.0, 1, 97.0),  # high 111 >= 110: WIN at 110
    (108.0, 108.0, 103.0, 104.0, -1, 108.0),  # SELL: entry 104, stop 108, target 104 - 2 * 4 = 96
    (104.0, 107.0, 100.0, 101.0, -1, 107.0),
    (105.0, 109.0, 95.0, 100.0, -1, 106.0),  # high 109 >= 108 and low 95 <= 96: both -> LOSS at 108
    (100.0, 101.0, 99.0, 100.0, 1, 96.0),  # BUY: entry 100, stop 96, target 108
    (100.0, 104.0, 97.0, 102.0, 1, 96.0),
    (102.0, 107.0, 98.0, 105.0, 1, 97.0),
    (105.0, 106.0, 99.0, 104.0, 1, 98.0),  # never 108 nor 96: OPEN, marked at 104
]


def _hand(rows=HAND) -> tuple[pd.DataFrame, pd.DataFrame]:
    a = np.array(rows, dtype=float)
    ts = pd.date_range("2024-01-01", periods=len(a), freq="D", tz="UTC")
    bars = pd.DataFrame({"ts": ts, "open": a[:, 0], "high": a[:, 1], "low": a[:, 2], "close": a[:, 3]})
    bars["volume"] = 1000.0
    feats = pd.DataFrame(
        {"ts": ts, "supertrend": a[:, 5], "supertrend_dir": a[:, 4], "warmup_complete": True}, index=bars.index
    )
    return bars, feats


def test_signals_win_loss_open() -> None:
    bars, feats = _hand()
    sig = supertrend_signals(bars, feats)
    assert list(sig.columns) == list(SIGNAL_COLUMNS)
    assert sig["bar_index"].tolist() == [2, 5, 8]
    assert sig["side"].tolist() == ["BUY", "SELL", "BUY"]
    assert sig["entry"].tolist() == [100.0, 104.0, 100.0]
    assert sig["stop"].tolist() == [95.0, 108.0, 96.0]
    assert sig["target"].tolist() == [110.0, 96.0, 108.0]
    assert sig["outcome"].tolist() == ["WIN", "LOSS", "OPEN"]
    assert sig["exit_price"].tolist()[:2] == [110.0, 108.0] and np.isnan(sig["exit_price"].iloc[2])
    assert sig["exit_ts"].iloc[0] == bars["ts"].iloc[4] and sig["exit_ts"].iloc[1] == bars["ts"].iloc[7]
    assert pd.isna(sig["exit_ts"].iloc[2])
    assert sig["bars_held"].tolist() == [2, 2, -1]
    assert sig["pnl_pct"].iloc[0] == pytest.approx(10.0)
    assert sig["pnl_pct"].iloc[1] == pytest.approx((104 - 108) / 104 * 100)
    assert np.isnan(sig["pnl_pct"].iloc[2])
    assert sig["unrealized_pct"].iloc[2] == pytest.approx(4.0)
    assert sig["ts"].tolist() == bars["ts"].iloc[[2, 5, 8]].tolist()
    summary = signal_summary(sig)
    assert (summary["wins"], summary["losses"], summary["open"], summary["hit_rate"]) == (1, 1, 1, 0.5)


def test_stop_gapped_through_fills_at_the_open() -> None:
    rows = list(HAND)
    rows[7] = (109.5, 110.0, 100.0, 101.0, -1, 106.0)  # opens above the SELL stop 108: filled at 109.5
    bars, feats = _hand(rows)
    sig = supertrend_signals(bars, feats)
    assert sig["outcome"].iloc[1] == "LOSS"
    assert sig["exit_price"].iloc[1] == 109.5
    assert sig["pnl_pct"].iloc[1] == pytest.approx((104 - 109.5) / 104 * 100)
    assert supertrend_signals(bars, feats, gap_fills=False)["exit_price"].iloc[1] == 108.0


def test_invalid_stop_side_and_reward_risk() -> None:
    rows = list(HAND)
    rows[8] = (100.0, 101.0, 99.0, 100.0, 1, 101.0)  # a BUY whose stop is above the entry
    bars, feats = _hand(rows)
    sig = supertrend_signals(bars, feats)
    assert sig["outcome"].iloc[2] == "INVALID" and np.isnan(sig["target"].iloc[2])
    rows = list(HAND)
    rows[5] = (108.0, 108.0, 103.0, 104.0, -1, 160.0)  # SELL risk 56: target 104 - 112 < 0, unreachable
    sig = supertrend_signals(*_hand(rows))
    assert sig["outcome"].iloc[1] == "INVALID" and np.isnan(sig["target"].iloc[1])
    sig3 = supertrend_signals(*_hand(), reward_risk=3.0)
    assert sig3["target"].tolist() == [115.0, 92.0, 112.0]
    with pytest.raises(ValueError):
        supertrend_signals(*_hand(), reward_risk=0)


def test_signals_on_synthetic_bars_match_a_brute_force_scan(bars: pd.DataFrame) -> None:
    feats = compute_features(bars)
    sig = supertrend_signals(bars, feats)
    assert sig.equals(supertrend_signals(bars))  # computing the SuperTrend itself gives the same
    d = feats["supertrend_dir"].to_numpy()
    assert sig["bar_index"].tolist() == [i for i in range(1, len(d)) if d[i - 1] in (1, -1) and d[i] != d[i - 1]]
    assert (sig["warmup_complete"] == (sig["bar_index"] >= WARMUP_BARS)).all()
    h, lo = bars["high"].to_numpy(), bars["low"].to_numpy()
    for s in sig.itertuples():
        buy = s.side == "BUY"
        assert (s.stop < s.entry) if buy else (s.stop > s.entry)
        outcome = "OPEN"
        for j in range(s.bar_index + 1, len(bars)):
            stop_hit = lo[j] <= s.stop if buy else h[j] >= s.stop
            target_hit = h[j] >= s.target if buy else lo[j] <= s.target
            if stop_hit or target_hit:
                outcome = "LOSS" if stop_hit else "WIN"
                assert s.bars_held == j - s.bar_index
                break
        assert s.outcome == outcome
    assert set(sig["outcome"]) >= {"WIN", "LOSS"}


def test_only_open_signals_keep_the_timezone(bars: pd.DataFrame) -> None:
    """Bars ending at the first flip: one OPEN signal, no exit at all (exit_ts all NaT). Found by the Celery
    test's daily job over 39 sessions, where this raised TypeError (naive NaT column cast to tz-aware)."""
    first = int(supertrend_signals(bars)["bar_index"].iloc[0])
    signals = supertrend_signals(bars.iloc[: first + 1])
    assert list(signals["outcome"]) == ["OPEN"]
    assert signals["ts"].iloc[0] == bars["ts"].iloc[first]
    assert signals["ts"].dtype == bars["ts"].dtype and signals["exit_ts"].dtype == bars["ts"].dtype
    assert signals["exit_ts"].isna().all()
