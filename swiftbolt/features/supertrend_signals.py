"""BUY/SELL signals at SuperTrend direction flips, with their target/stop outcome.

A flip at bar i (direction -1 -> +1: BUY, +1 -> -1: SELL; both directions known) gives a signal at
that bar's close:

    entry  = close[i]                       (idealised: filled at the close that revealed the flip)
    stop   = supertrend[i]                  (the band the flip put on the other side of the price)
    target = entry + reward_risk * (entry - stop)   (reward_risk 2: entry +/- 2 x risk)

Outcome, scanning bars i+1, i+2, ... (never bar i itself):

* WIN  if the target is touched first (high >= target for BUY, low <= target for SELL); exit at target.
* LOSS if the stop is touched first (low <= stop for BUY, high >= stop for SELL). When a bar touches
  both, the order inside the bar is unknown and the signal counts as a LOSS (conservative). A stop
  that the bar's open gapped through fills at the open (worse than the stop) unless gap_fills=False;
  a target never fills better than the target (no gap bonus) - also conservative.
* OPEN if neither is touched by the last bar: no exit; `unrealized_pct` marks it at the last close.
* INVALID if the stop is not on the losing side of the entry (possible only on pathological bars
  where the band lies beyond the close) or a SELL's target would be <= 0 (risk above entry / (1 +
  reward_risk)); target NaN, no outcome scan. Writers to ml.supertrend_signals (outcome WIN/LOSS/OPEN,
  positive prices) should drop these rows.

pnl_pct = signed return from entry to exit in percent (SELL: entry - exit). Each signal is resolved on
its own (a later flip does not close an earlier signal).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from swiftbolt.features import indicators

SIGNAL_COLUMNS: tuple[str, ...] = (
    "ts", "bar_index", "side", "entry", "stop", "target", "outcome",
    "exit_ts", "exit_price", "bars_held", "pnl_pct", "unrealized_pct", "warmup_complete",
)
_FIRST_CHUNK = 64


def flip_indices(direction: np.ndarray) -> np.ndarray:
    """Positions i where direction[i] and direction[i-1] are both known and differ."""
    d = np.asarray(direction, dtype=np.float64)
    if len(d) < 2:
        return np.empty(0, dtype=np.int64)
    prev, cur = d[:-1], d[1:]
    return np.flatnonzero(~np.isnan(prev) & ~np.isnan(cur) & (prev != cur)) + 1


def _first_touch(
    high: np.ndarray, low: np.ndarray, start: int, target: float, stop: float, buy: bool
) -> tuple[int, bool]:
    """(first position >= start where the target or the stop is touched, whether the stop was touched
    there); (len, False) if never. Scans in growing chunks, so a quickly resolved signal costs little."""
    n = len(high)
    pos, size = start, _FIRST_CHUNK
    while pos < n:
        end = min(n, pos + size)
        hs, ls = high[pos:end], low[pos:end]
        hit_stop = ls <= stop if buy else hs >= stop
        hit = hit_stop | (hs >= target if buy else ls <= target)
        first = np.flatnonzero(hit)
        if len(first):
            j = int(first[0])
            return pos + j, bool(hit_stop[j])
        pos, size = end, size * 4
    return n, False


def supertrend_signals(
    bars: pd.DataFrame,
    features: pd.DataFrame | None = None,
    *,
    reward_risk: float = 2.0,
    gap_fills: bool = True,
) -> pd.DataFrame:
    """Signals of the SuperTrend flips of `bars` (sorted by ts; columns ts, open, high, low, close).

    `features`: output of `indicators.compute_features(bars)` (same index) to reuse its `supertrend`,
    `supertrend_dir` and `warmup_complete`; None computes the SuperTrend with FEATURE_PARAMS. Returns
    SIGNAL_COLUMNS, one row per flip in time order; `warmup_complete` tells whether the flip bar had
    WARMUP_BARS of history (earlier flips depend on where the input starts)."""
    if not reward_risk > 0:
        raise ValueError("reward_risk must be > 0")
    for k in ("ts", "open", "high", "low", "close"):
        if k not in bars.columns:
            raise ValueError(f"bars lack column {k!r}")
    o, h, lo, c = (bars[k].to_numpy(dtype=np.float64) for k in ("open", "high", "low", "close"))
    n = len(c)
    if features is None:
        value, direction = indicators.supertrend(
            h, lo, c,
            int(indicators.FEATURE_PARAMS["supertrend_period"]),  # type: ignore[call-overload]
            float(indicators.FEATURE_PARAMS["supertrend_multiplier"]),  # type: ignore[arg-type]
        )
        warm = np.arange(n) >= indicators.WARMUP_BARS
    else:
        if len(features) != n or not features.index.equals(bars.index):
            raise ValueError("features must be compute_features(bars): same index as bars")
        value = features["supertrend"].to_numpy(dtype=np.float64)
        direction = features["supertrend_dir"].to_numpy(dtype=np.float64)
        warm = (
            features["warmup_complete"].to_numpy(dtype=bool)
            if "warmup_complete" in features.columns
            else np.arange(n) >= indicators.WARMUP_BARS
        )

    idx = flip_indices(direction)
    m = len(idx)
    buy = direction[idx] > 0
    entry = c[idx]
    stop = value[idx]
    valid = np.where(buy, stop < entry, stop > entry) & np.isfinite(stop)
    target = entry + reward_risk * (entry - stop)
    valid &= target > 0  # a SELL whose target is at or below zero can never reach it
    target = np.where(valid, target, np.nan)

    outcome = np.where(valid, "OPEN", "INVALID").astype(object)
    exit_pos = np.full(m, -1, dtype=np.int64)
    exit_price = np.full(m, np.nan)
    for s in np.flatnonzero(valid).tolist():
        i, t, st = int(idx[s]), float(target[s]), float(stop[s])
        j, stopped = _first_touch(h, lo, i + 1, t, st, bool(buy[s]))
        if j >= n:
            continue
        exit_pos[s] = j
        if stopped:  # stop first, or both in one bar: LOSS (conservative)
            outcome[s] = "LOSS"
            gapped = (o[j] < st) if buy[s] else (o[j] > st)
            exit_price[s] = o[j] if (gap_fills and gapped) else st
        else:
            outcome[s] = "WIN"
            exit_price[s] = t

    sign = np.where(buy, 1.0, -1.0)
    closed = exit_pos >= 0
    ts = bars["ts"].reset_index(drop=True)
    exit_ts = pd.Series(pd.NaT, index=range(m), dtype=ts.dtype)
    if closed.any():
        exit_ts[closed] = ts.iloc[exit_pos[closed]].to_numpy()
    last_close = c[-1] if n else np.nan
    unrealized = np.where(outcome == "OPEN", sign * (last_close - entry) / entry * 100.0, np.nan)
    out = pd.DataFrame(
        {
            "ts": ts.iloc[idx].array,  # .array keeps the timezone (an all-NaT numpy column would lose it)
            "bar_index": idx.astype(np.int64),
            "side": np.where(buy, "BUY", "SELL"),
            "entry": entry,
            "stop": stop,
            "target": target,
            "outcome": outcome.astype(str),
            "exit_ts": exit_ts.array,
            "exit_price": exit_price,
            "bars_held": np.where(closed, exit_pos - idx, -1).astype(np.int64),
            "pnl_pct": sign * (exit_price - entry) / entry * 100.0,
            "unrealized_pct": unrealized,
            "warmup_complete": warm[idx],
        },
        columns=list(SIGNAL_COLUMNS),
    )
    out["ts"] = out["ts"].astype(ts.dtype)
    out["exit_ts"] = out["exit_ts"].astype(ts.dtype)
    return out


def signal_summary(signals: pd.DataFrame) -> dict[str, float]:
    """Counts and hit rate of resolved signals (WIN / (WIN + LOSS)) and mean pnl_pct of resolved ones."""
    resolved = signals[signals["outcome"].isin(["WIN", "LOSS"])]
    wins = int((resolved["outcome"] == "WIN").sum())
    return {
        "signals": len(signals),
        "wins": wins,
        "losses": len(resolved) - wins,
        "open": int((signals["outcome"] == "OPEN").sum()),
        "invalid": int((signals["outcome"] == "INVALID").sum()),
        "hit_rate": wins / len(resolved) if len(resolved) else float("nan"),
        "mean_pnl_pct": float(resolved["pnl_pct"].mean()) if len(resolved) else float("nan"),
    }
