"""Support/resistance levels on hand-checked series."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pandas as pd
import pytest

from swiftbolt.features.sr_levels import (
    FIB_KEYS,
    compute_sr_levels,
    fibonacci_levels,
    kmeans_1d,
    pivot_points,
    sr_levels_columns,
    sr_levels_series,
    touch_counts,
    zigzag,
)
from swiftbolt.market_data.types import Timeframe
from swiftbolt.providers.synthetic import SyntheticProvider


def _bars(high: list[float], low: list[float], close: list[float]) -> pd.DataFrame:
    n = len(close)
    return pd.DataFrame(
        {
            "ts": pd.date_range("2024-03-01", periods=n, freq="D", tz="UTC"),
            "open": close, "high": high, "low": low, "close": close, "volume": np.full(n, 100.0),
        }
    )


def test_pivot_points() -> None:
    p = pivot_points(high=110.0, low=100.0, close=105.0)
    assert p == pytest.approx({"pp": 105, "r1": 110, "s1": 100, "r2": 115, "s2": 95, "r3": 120, "s3": 90})
    p = pivot_points(high=12.0, low=9.0, close=9.6)  # PP = 10.2
    assert p == pytest.approx(
        {"pp": 10.2, "r1": 11.4, "s1": 8.4, "r2": 13.2, "s2": 7.2, "r3": 14.4, "s3": 5.4}
    )


def test_fibonacci_levels() -> None:
    up = fibonacci_levels(200.0, 100.0, up_move=True)  # retrace down from the high
    assert list(up) == list(FIB_KEYS)
    assert list(up.values()) == pytest.approx([176.4, 161.8, 150.0, 138.2, 121.4])
    down = fibonacci_levels(200.0, 100.0, up_move=False)  # retrace up from the low
    assert list(down.values()) == pytest.approx([123.6, 138.2, 150.0, 161.8, 178.6])


def _path(*knots: float, step: float = 1.0) -> np.ndarray:
    """A piecewise-linear path through the knots in steps of about `step`."""
    parts = [np.array([knots[0]])]
    for a, b in itertools.pairwise(knots):
        k = max(2, int(abs(b - a) / step) + 1)
        parts.append(np.linspace(a, b, k)[1:])
    return np.concatenate(parts)


def test_zigzag_on_a_constructed_path() -> None:
    # 100 -> 120 -> 105 -> 130 -> 110, with a 2% wiggle (below the 5% threshold) inside the 105 -> 130 leg
    close = _path(100, 120, 105, 115, 113, 130, 110)
    swings = zigzag(close, close, threshold=0.05)
    got = [(s.kind, s.price, s.confirmed) for s in swings]
    assert got == [
        ("low", 100.0, True),
        ("high", 120.0, True),
        ("low", 105.0, True),
        ("high", 130.0, True),
        ("low", 110.0, False),  # the current leg's extreme, not yet confirmed
    ]
    idx = [s.index for s in swings]
    assert [close[i] for i in idx] == [100, 120, 105, 130, 110]
    # a 1% threshold sees the wiggle as swings too
    fine = [(s.kind, s.price) for s in zigzag(close, close, threshold=0.01)]
    assert fine[:5] == [("low", 100.0), ("high", 120.0), ("low", 105.0), ("high", 115.0), ("low", 113.0)]


def test_zigzag_uses_highs_for_peaks_and_lows_for_troughs() -> None:
    close = _path(100, 110, 100, 111)
    high, low = close + 0.5, close - 0.5
    kinds = [(s.kind, s.price) for s in zigzag(high, low, 0.05)]
    assert kinds[:3] == [("low", 99.5), ("high", 110.5), ("low", 99.5)]
    assert zigzag(np.full(30, 100.0), np.full(30, 99.0), 0.05) == []  # no move, no swings


def test_kmeans_recovers_obvious_clusters() -> None:
    rng = np.random.default_rng(0)
    groups = [10 + rng.normal(0, 0.3, 40), 50 + rng.normal(0, 0.5, 25), 100 + rng.normal(0, 1.0, 35)]
    values = rng.permutation(np.concatenate(groups))
    centres, sizes = kmeans_1d(values, k=3)
    assert centres == pytest.approx([g.mean() for g in groups], rel=1e-12)
    assert sizes.tolist() == [40, 25, 35]
    again, _ = kmeans_1d(values[::-1], k=3)  # deterministic, order-independent
    assert np.array_equal(centres, again)
    # k = 5 on 3 groups: every centre lies inside one of the groups, all points assigned
    c5, s5 = kmeans_1d(values, k=5)
    assert s5.sum() == 100 and len(c5) <= 5
    assert all(any(g.min() <= c <= g.max() for g in groups) for c in c5)
    # fewer distinct values than k: coinciding centres are merged
    c, s = kmeans_1d(np.array([1.0, 1.0, 1.0, 2.0, 2.0]), k=5)
    assert c.tolist() == [1.0, 2.0] and s.tolist() == [3, 2]


def test_touch_counts() -> None:
    assert touch_counts(np.array([100.0, 50.0]), np.array([99.6, 100.5, 100.6, 49.9, 101.0]), 0.005).tolist() == [
        2, 1,
    ]


# The hand series (H, L, C), lookback 6, threshold 5%, one cluster, tolerance 0.5%:
HAND_H = [102.0, 106.0, 108.0, 105.0, 104.0, 104.5]
HAND_L = [98.0, 101.6, 103.0, 99.0, 100.0, 101.5]
HAND_C = [100.0, 105.0, 104.0, 100.0, 103.0, 102.0]


def test_nearest_levels_and_touches_on_a_hand_series() -> None:
    r = compute_sr_levels(_bars(HAND_H, HAND_L, HAND_C), lookback=6, n_clusters=1)
    # pivots from bar 4 (H 104, L 100, C 103): PP = 307 / 3
    pp = 307 / 3
    assert r["pivots"] == pytest.approx(
        {"pp": pp, "r1": 2 * pp - 100, "s1": 2 * pp - 104, "r2": pp + 4, "s2": pp - 4,
         "r3": 104 + 2 * (pp - 100), "s3": 100 - 2 * (104 - pp)}
    )
    # swing: low 98 (bar 0) then high 108 (bar 2): an up-move, retracements from 108 over a range of 10
    assert (r["swing_low"], r["swing_low_index"], r["swing_high"], r["swing_high_index"]) == (98, 0, 108, 2)
    assert r["fib_trend"] == "up"
    assert list(r["fib"].values()) == pytest.approx([105.64, 104.18, 103.0, 101.82, 100.14])
    # zigzag: candidates are bars 0, 2, 3, 5; 98 -> 108 (+10.2%) -> 99 (-8.3%) -> 104.5 (+5.6%)
    assert [(s["index"], s["kind"], s["price"], s["confirmed"]) for s in r["zigzag"]] == [
        (0, "low", 98.0, True), (2, "high", 108.0, True), (3, "low", 99.0, True), (5, "high", 104.5, False),
    ]
    assert r["zigzag"][1]["ts"] == pd.Timestamp("2024-03-03", tz="UTC")
    # one cluster: the mean of the 6 closes and the 4 swing prices
    assert r["clusters"] == [{"price": pytest.approx((614 + 409.5) / 10), "size": 10}]
    # close 102: highest level below is fib 0.618 = 101.82; lowest above is PP = 102.333
    assert r["support"]["source"] == "fib_618"
    assert r["support"]["price"] == pytest.approx(101.82)
    assert r["support"]["distance_pct"] == pytest.approx(0.18 / 102 * 100)
    assert r["support"]["strength"] == 2  # lows 101.6 and 101.5 are within 0.5% of 101.82
    assert r["resistance"]["source"] == "pp"
    assert r["resistance"]["distance_pct"] == pytest.approx((pp - 102) / 102 * 100)
    assert r["resistance"]["strength"] == 1  # only bar 0's high (102) is within 0.5% of 102.33
    prices = [lv["price"] for lv in r["levels"]]
    assert prices == sorted(prices)
    assert max(p for p in prices if p < 102) == r["support"]["price"]
    assert min(p for p in prices if p > 102) == r["resistance"]["price"]


def test_no_support_below_an_all_time_low() -> None:
    close = [100.0, 99.0, 98.0, 97.0, 90.0]  # the last close is the window's lowest price
    bars = _bars([c + 0.5 for c in close], [c - 0.5 for c in close[:-1]] + [90.0], close)
    r = compute_sr_levels(bars, lookback=5)
    assert r["support"] is None
    assert r["resistance"]["price"] > 90.0
    row = sr_levels_series(bars, lookback=5).iloc[-1]
    assert np.isnan(row["support"]) and pd.isna(row["support_source"]) and row["support_strength"] == 0


@pytest.fixture(scope="module")
def synthetic() -> pd.DataFrame:
    raw = SyntheticProvider().bars(["NVDA"], Timeframe.D1, dt.datetime(2019, 1, 1), dt.datetime(2020, 3, 1))
    return raw[["ts", "open", "high", "low", "close", "volume"]].reset_index(drop=True)


def test_series_matches_single_records_and_has_no_lookahead(synthetic: pd.DataFrame) -> None:
    series = sr_levels_series(synthetic, lookback=60)
    assert list(series.columns) == sr_levels_columns()
    assert series.index.equals(synthetic.index)
    for t in (0, 1, 30, 150, len(synthetic) - 1):
        r = compute_sr_levels(synthetic.iloc[: t + 1], lookback=60)
        row = series.iloc[t]
        assert row["close"] == r["close"]
        for side in ("support", "resistance"):
            if r[side] is None:
                assert np.isnan(row[side])
            else:
                assert row[side] == r[side]["price"]
                assert row[f"{side}_strength"] == r[side]["strength"]
                assert row[f"{side}_source"] == r[side]["source"]
        assert [row[k] for k in FIB_KEYS] == list(r["fib"].values())
        assert row["zigzag_swings"] == [{k: v for k, v in sw.items() if k != "ts"} for sw in r["zigzag"]]
        assert row["cluster_levels"] == r["clusters"]
    assert np.isnan(series.loc[0, "pp"]) and not np.isnan(series.loc[1, "pp"])
    # changing bars after k leaves the rows up to k unchanged
    k = 200
    changed = synthetic.copy()
    changed.loc[k + 1 :, ["open", "high", "low", "close"]] *= 1.5
    again = sr_levels_series(changed, lookback=60)
    pd.testing.assert_frame_equal(series.loc[:k], again.loc[:k])
    assert not series.loc[k + 1 :, "close"].equals(again.loc[k + 1 :, "close"])
