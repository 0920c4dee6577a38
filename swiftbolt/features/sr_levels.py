"""Support and resistance levels of a bar series, as of its last bar (numpy; TA-Lib has none of these).

For the last bar t, using only bars up to and including t (the window = the last `lookback` bars):

* Classic pivot points from the previous bar t-1 (the levels in force during bar t):
  PP = (H + L + C) / 3, R1 = 2PP - L, S1 = 2PP - H, R2 = PP + (H - L), S2 = PP - (H - L),
  R3 = H + 2(PP - L), S3 = L - 2(H - PP).
* Fibonacci retracements (0.236, 0.382, 0.5, 0.618, 0.786) of the window's swing: swing high = max
  high, swing low = min low. If the high came after the low (an up-move) a retracement is measured
  down from the high (high - r * range), else up from the low (low + r * range).
* Zigzag swings: alternating swing highs and lows, each a reversal of at least `zigzag_threshold`
  (a fraction: 0.05 = 5%) from the previous extreme. The loop runs over pivot candidates only: bars
  whose high is a local maximum or whose low is a local minimum of its 3-bar neighbourhood (the
  window's last bar is compared with its predecessor only). In an up leg a new higher high extends
  the leg, else a low at or below extreme * (1 - threshold) confirms the swing high (mirror for
  down legs). The extreme of the current leg is reported too, with confirmed=False.
* Price clusters: 1-D k-means (k = `n_clusters`) on the window's closes plus the zigzag swing prices,
  initialised at the (j + 0.5) / k quantiles (deterministic), Lloyd iterations on the sorted values
  (clusters are contiguous runs, so each iteration is a searchsorted and a cumulative sum).
* Nearest support = the highest level strictly below the close, resistance = the lowest level
  strictly above, among all the levels above (pivots, fib levels, swing high/low, zigzag swings,
  cluster centres). distance_pct = |level - close| / close * 100. strength = touch count: bars in the
  window whose low (support) or high (resistance) came within `touch_tolerance` (a fraction of the
  level, default 0.5%) of the level.

`sr_levels_series` gives the same record for every bar (each step O(lookback) numpy on the window that
ends at that bar), flattened into columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

FIB_RATIOS: tuple[float, ...] = (0.236, 0.382, 0.5, 0.618, 0.786)
PIVOT_KEYS: tuple[str, ...] = ("pp", "r1", "r2", "r3", "s1", "s2", "s3")


def _fib_key(ratio: float) -> str:
    return f"fib_{round(ratio * 1000):03d}"


FIB_KEYS: tuple[str, ...] = tuple(_fib_key(r) for r in FIB_RATIOS)


# ---------------------------------------------------------------------------------------------
# Building blocks


def pivot_points(high: float, low: float, close: float) -> dict[str, float]:
    """Classic (floor-trader) pivot points from one bar's high, low and close."""
    pp = (high + low + close) / 3.0
    return {
        "pp": pp,
        "r1": 2.0 * pp - low,
        "r2": pp + (high - low),
        "r3": high + 2.0 * (pp - low),
        "s1": 2.0 * pp - high,
        "s2": pp - (high - low),
        "s3": low - 2.0 * (high - pp),
    }


def fibonacci_levels(
    swing_high: float, swing_low: float, up_move: bool, ratios: tuple[float, ...] = FIB_RATIOS
) -> dict[str, float]:
    """Retracement levels of a swing: measured down from the high after an up-move, else up from the low."""
    rng = swing_high - swing_low
    if up_move:
        return {_fib_key(r): swing_high - r * rng for r in ratios}
    return {_fib_key(r): swing_low + r * rng for r in ratios}


@dataclass(frozen=True)
class Swing:
    index: int  # position in the arrays given to `zigzag`
    price: float
    kind: str  # "high" or "low"
    confirmed: bool


def pivot_candidates(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """Positions whose high is a local maximum or whose low is a local minimum (3-bar neighbourhood;
    the first and last positions compare with their single neighbour)."""
    n = len(high)
    if n <= 2:
        return np.arange(n)
    hi = np.ones(n, dtype=bool)
    lo = np.ones(n, dtype=bool)
    hi[1:] &= high[1:] >= high[:-1]
    hi[:-1] &= high[:-1] >= high[1:]
    lo[1:] &= low[1:] <= low[:-1]
    lo[:-1] &= low[:-1] <= low[1:]
    return np.flatnonzero(hi | lo)


def zigzag(high: np.ndarray, low: np.ndarray, threshold: float = 0.05) -> list[Swing]:
    """Alternating swing highs/lows with reversals of at least `threshold` (fraction), see the module
    docstring. The last element is the current leg's extreme (confirmed=False) once a first swing exists."""
    if not threshold > 0:
        raise ValueError("threshold must be > 0")
    h = np.asarray(high, dtype=np.float64)
    lo = np.asarray(low, dtype=np.float64)
    cand = pivot_candidates(h, lo).tolist()
    hs, ls = h[cand].tolist(), lo[cand].tolist()
    up, down = 1.0 + threshold, 1.0 - threshold
    swings: list[Swing] = []
    direction = 0  # +1: in an up leg (tracking a high), -1: in a down leg (tracking a low)
    ext = ext_i = 0.0
    max_h, max_i, min_l, min_i = -math.inf, -1, math.inf, -1
    for j, i in enumerate(cand):
        hj, lj = hs[j], ls[j]
        if direction == 1:
            if hj > ext:
                ext, ext_i = hj, i
            elif lj <= ext * down:
                swings.append(Swing(int(ext_i), ext, "high", True))
                direction, ext, ext_i = -1, lj, i
        elif direction == -1:
            if lj < ext:
                ext, ext_i = lj, i
            elif hj >= ext * up:
                swings.append(Swing(int(ext_i), ext, "low", True))
                direction, ext, ext_i = 1, hj, i
        else:
            if hj > max_h:
                max_h, max_i = hj, i
            if lj < min_l:
                min_l, min_i = lj, i
            if max_i < min_i and min_l <= max_h * down:  # fell from the high: the high is a swing
                swings.append(Swing(int(max_i), max_h, "high", True))
                direction, ext, ext_i = -1, min_l, min_i
            elif min_i < max_i and max_h >= min_l * up:  # rose from the low: the low is a swing
                swings.append(Swing(int(min_i), min_l, "low", True))
                direction, ext, ext_i = 1, max_h, max_i
    if direction != 0:
        swings.append(Swing(int(ext_i), ext, "high" if direction == 1 else "low", False))
    return swings


def kmeans_1d(values: np.ndarray, k: int = 5, max_iter: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """1-D k-means (Lloyd) with deterministic quantile initialisation (the (j + 0.5) / k quantiles,
    linear interpolation).

    Returns (centres ascending, cluster sizes); fewer than k centres when the values have fewer than k
    distinct clusters (coinciding centres are merged, empty clusters dropped)."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return np.empty(0), np.empty(0, dtype=np.int64)
    csum = np.concatenate(([0.0], np.cumsum(x)))
    q = (np.arange(k) + 0.5) / k * (n - 1)
    below = q.astype(np.int64)
    above = np.minimum(below + 1, n - 1)
    centres = x[below] + (x[above] - x[below]) * (q - below)
    edges = np.empty(k + 1, dtype=np.int64)
    edges[0], edges[-1] = 0, n
    counts = np.zeros(k, dtype=np.int64)
    for _ in range(max_iter):
        # clusters are contiguous runs of the sorted values; a value on a midpoint goes to the lower one
        edges[1:-1] = np.searchsorted(x, 0.5 * (centres[1:] + centres[:-1]), side="right")
        counts = edges[1:] - edges[:-1]
        nonempty = counts > 0
        new = centres.copy()
        new[nonempty] = (csum[edges[1:]] - csum[edges[:-1]])[nonempty] / counts[nonempty]
        new.sort()
        if (new == centres).all():
            break
        centres = new
    centres, counts = centres[counts > 0], counts[counts > 0]
    uniq, inverse = np.unique(centres, return_inverse=True)
    if len(uniq) == len(centres):
        return centres, counts
    return uniq, np.bincount(inverse, weights=counts).astype(np.int64)


def touch_counts(levels: np.ndarray, prices: np.ndarray, tolerance: float) -> np.ndarray:
    """Per level: how many of `prices` lie within tolerance * level of it."""
    lv = np.asarray(levels, dtype=np.float64)
    p = np.asarray(prices, dtype=np.float64)
    if lv.size == 0:
        return np.zeros(0, dtype=np.int64)
    return (np.abs(p[None, :] - lv[:, None]) <= tolerance * np.abs(lv)[:, None]).sum(axis=1)


# ---------------------------------------------------------------------------------------------
# The record of one window


@dataclass(frozen=True)
class SRParams:
    lookback: int = 120
    zigzag_threshold: float = 0.05
    n_clusters: int = 5
    touch_tolerance: float = 0.005

    def __post_init__(self) -> None:
        if self.lookback < 2:
            raise ValueError("lookback must be >= 2")
        if not (self.zigzag_threshold > 0 and self.touch_tolerance >= 0 and self.n_clusters >= 1):
            raise ValueError("need zigzag_threshold > 0, touch_tolerance >= 0, n_clusters >= 1")


@dataclass(frozen=True)
class _Window:
    """The levels of one window (arrays are the window's; indices are positions in the window)."""

    close: float
    pivots: dict[str, float]
    hi_i: int
    lo_i: int
    up_move: bool
    fib: dict[str, float]
    swings: list[Swing]
    centres: np.ndarray
    sizes: np.ndarray
    names: list[str]
    prices: np.ndarray  # level prices, aligned with names (NaN pivots when the window has one bar)
    support: int  # index into prices, -1 if none
    resistance: int


def _window_levels(h: np.ndarray, lo: np.ndarray, c: np.ndarray, p: SRParams) -> _Window:
    n = len(c)
    close = float(c[-1])
    pivots = (
        pivot_points(float(h[-2]), float(lo[-2]), float(c[-2])) if n >= 2 else dict.fromkeys(PIVOT_KEYS, math.nan)
    )
    hi_i, lo_i = int(np.argmax(h)), int(np.argmin(lo))  # first occurrence on ties
    up_move = hi_i >= lo_i
    fib = fibonacci_levels(float(h[hi_i]), float(lo[lo_i]), up_move)
    swings = zigzag(h, lo, p.zigzag_threshold)
    swing_prices = [s.price for s in swings]
    centres, sizes = kmeans_1d(np.concatenate((c, swing_prices)), p.n_clusters)
    names = [*pivots, *fib, "swing_high", "swing_low"]
    names += [f"zigzag_{s.kind}" for s in swings]
    names += [f"cluster_{j + 1}" for j in range(len(centres))]
    prices = np.array([*pivots.values(), *fib.values(), h[hi_i], lo[lo_i], *swing_prices, *centres.tolist()])
    # NaN compares False: NaN levels are never support or resistance
    below = np.flatnonzero(prices < close)
    above = np.flatnonzero(prices > close)
    # ties: the first level in `names` order wins (argmax/argmin return the first occurrence)
    support = int(below[np.argmax(prices[below])]) if len(below) else -1
    resistance = int(above[np.argmin(prices[above])]) if len(above) else -1
    return _Window(
        close, pivots, hi_i, lo_i, up_move, fib, swings, centres, sizes, names, prices, support, resistance
    )


def _nearest(w: _Window, j: int, touch_prices: np.ndarray, tol: float) -> dict | None:
    if j < 0:
        return None
    price = float(w.prices[j])
    return {
        "price": price,
        "source": w.names[j],
        "distance_pct": abs(w.close - price) / w.close * 100.0,
        "strength": int(touch_counts(np.array([price]), touch_prices, tol)[0]),
    }


def _arrays(bars: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    missing = [k for k in ("ts", "high", "low", "close") if k not in bars.columns]
    if missing:
        raise ValueError(f"bars lack columns {missing}")
    if len(bars) > 1 and not (bars["ts"].is_monotonic_increasing and bars["ts"].is_unique):
        raise ValueError("bars must be sorted by ts with unique timestamps")
    arrays = tuple(bars[k].to_numpy(dtype=np.float64) for k in ("high", "low", "close"))
    if not all(np.isfinite(a).all() and (a > 0).all() for a in arrays):
        raise ValueError("bars need finite, positive high/low/close")
    return arrays  # type: ignore[return-value]


def compute_sr_levels(
    bars: pd.DataFrame,
    lookback: int = 120,
    *,
    zigzag_threshold: float = 0.05,
    n_clusters: int = 5,
    touch_tolerance: float = 0.005,
) -> dict:
    """Support/resistance record of the LAST bar of `bars` (sorted by ts), from the last `lookback`
    bars only. Indices in the record (window_start, swing_*_index, zigzag[].index) are positions in
    `bars`. See the module docstring for the definitions."""
    p = SRParams(lookback, zigzag_threshold, n_clusters, touch_tolerance)
    h, lo, c = _arrays(bars)
    if len(c) == 0:
        raise ValueError("bars is empty")
    start = max(0, len(c) - p.lookback)
    h, lo, c = h[start:], lo[start:], c[start:]
    w = _window_levels(h, lo, c, p)
    ts = bars["ts"]
    finite = np.isfinite(w.prices)
    low_touches = touch_counts(w.prices, lo, p.touch_tolerance)
    high_touches = touch_counts(w.prices, h, p.touch_tolerance)
    return {
        "ts": ts.iloc[-1],
        "close": w.close,
        "window_start": start,
        "window_bars": len(c),
        "pivots": w.pivots,
        "swing_high": float(h[w.hi_i]),
        "swing_high_index": start + w.hi_i,
        "swing_high_ts": ts.iloc[start + w.hi_i],
        "swing_low": float(lo[w.lo_i]),
        "swing_low_index": start + w.lo_i,
        "swing_low_ts": ts.iloc[start + w.lo_i],
        "fib_trend": "up" if w.up_move else "down",
        "fib": w.fib,
        "zigzag": [
            {"index": start + s.index, "ts": ts.iloc[start + s.index], "price": s.price, "kind": s.kind,
             "confirmed": s.confirmed}
            for s in w.swings
        ],
        "clusters": [{"price": float(a), "size": int(b)} for a, b in zip(w.centres, w.sizes, strict=True)],
        "levels": [
            {"price": float(w.prices[j]), "source": w.names[j],
             "low_touches": int(low_touches[j]), "high_touches": int(high_touches[j])}
            for j in np.argsort(w.prices, kind="stable").tolist()
            if finite[j]
        ],
        "support": _nearest(w, w.support, lo, p.touch_tolerance),
        "resistance": _nearest(w, w.resistance, h, p.touch_tolerance),
    }


def sr_levels_columns(n_clusters: int = 5) -> list[str]:
    return [
        "ts", "close", *PIVOT_KEYS, "swing_high", "swing_low", "fib_trend", *FIB_KEYS,
        "zigzag_last_high", "zigzag_last_low", "zigzag_swings",
        *(f"cluster_{j + 1}" for j in range(n_clusters)), "cluster_levels",
        "support", "support_source", "support_distance_pct", "support_strength",
        "resistance", "resistance_source", "resistance_distance_pct", "resistance_strength",
    ]


def sr_levels_series(
    bars: pd.DataFrame,
    lookback: int = 120,
    *,
    zigzag_threshold: float = 0.05,
    n_clusters: int = 5,
    touch_tolerance: float = 0.005,
) -> pd.DataFrame:
    """`compute_sr_levels` for every bar (each row uses only bars up to it), flattened; same index as
    `bars`. fib_trend is +1 (up-move) / -1; zigzag_last_high/low are the latest CONFIRMED swings and
    zigzag_swings all swings of the window (list of {index, price, kind, confirmed}, index = position
    in `bars`); cluster_j are the centres ascending (NaN when fewer), cluster_levels the list of
    {price, size}; support/resistance NaN (source NA, strength 0) when no level lies below/above
    the close."""
    p = SRParams(lookback, zigzag_threshold, n_clusters, touch_tolerance)
    h, lo, c = _arrays(bars)
    n = len(c)
    cols: dict[str, list] = {k: [] for k in sr_levels_columns(n_clusters) if k != "ts"}
    for t in range(n):
        start = max(0, t + 1 - p.lookback)
        hw, lw = h[start : t + 1], lo[start : t + 1]
        w = _window_levels(hw, lw, c[start : t + 1], p)
        cols["close"].append(w.close)
        for k in PIVOT_KEYS:
            cols[k].append(w.pivots[k])
        cols["swing_high"].append(float(hw[w.hi_i]))
        cols["swing_low"].append(float(lw[w.lo_i]))
        cols["fib_trend"].append(1 if w.up_move else -1)
        for k in FIB_KEYS:
            cols[k].append(w.fib[k])
        for kind in ("high", "low"):
            last = next((s.price for s in reversed(w.swings) if s.confirmed and s.kind == kind), math.nan)
            cols[f"zigzag_last_{kind}"].append(last)
        cols["zigzag_swings"].append(
            [{"index": start + sw.index, "price": sw.price, "kind": sw.kind, "confirmed": sw.confirmed}
             for sw in w.swings]
        )
        centres = w.centres.tolist()
        for j in range(n_clusters):
            cols[f"cluster_{j + 1}"].append(centres[j] if j < len(centres) else math.nan)
        cols["cluster_levels"].append(
            [{"price": a, "size": b} for a, b in zip(centres, w.sizes.tolist(), strict=True)]
        )
        for side, j, touch_prices in (("support", w.support, lw), ("resistance", w.resistance, hw)):
            rec = _nearest(w, j, touch_prices, p.touch_tolerance)
            cols[side].append(rec["price"] if rec else math.nan)
            cols[f"{side}_source"].append(rec["source"] if rec else None)
            cols[f"{side}_distance_pct"].append(rec["distance_pct"] if rec else math.nan)
            cols[f"{side}_strength"].append(rec["strength"] if rec else 0)
    out = pd.DataFrame(cols, index=bars.index)
    out = out.astype({"fib_trend": "int8", "support_strength": "int64", "resistance_strength": "int64"})
    out.insert(0, "ts", bars["ts"])
    return out
