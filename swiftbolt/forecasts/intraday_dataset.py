"""Intraday samples: m15 feature rows, the h1 feature row of the last *ended* hour, and adjusted m15 closes,
numbered on the market's m15 bar grid (the sessions of its calendar cut into 15-minute bars: early closes
end the grid early, holidays and nights have no bars; crypto runs around the clock).

* a forecast is issued at the end of an m15 bar t; a horizon of k steps ends with the k-th grid bar after t
  (for US equities the fourth bar after 15:30 is the next session's first hour: steps are bars, not clock);
* label of (symbol, t) for k steps = log(close[t + k] / close[t]) of adjusted closes, NaN when the bar
  t + k is missing;
* sigma(t) = standard deviation of the m15 log returns of the 104 grid bars (four equity sessions) ending at
  t, at least 20 (the daily dataset's trailing_std: a function of its window only);
* features of t are those of bar t (m15) and of the newest h1 bar that ended by t's end: nothing that ends
  after t is read, and the loaders stop at the `ended_by` time.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import psycopg

from swiftbolt.calendars.sessions import sessions
from swiftbolt.features.indicators import PRICE_SCALED_COLUMNS
from swiftbolt.forecasts.dataset import FeatureSetRef, Samples, trailing_std

BAR = pd.Timedelta(minutes=15)
HOUR = pd.Timedelta(hours=1)
INTRADAY_HORIZONS: dict[str, int] = {"15m": 1, "1h": 4}
MAX_STEPS = max(INTRADAY_HORIZONS.values())
VOL_BARS = 104
VOL_MIN_RETURNS = 20
MIN_HISTORY_BARS = 40
"""A symbol needs this many m15 bars up to t (volatility, warm-up) to get an intraday forecast."""


def model_features(feature_set: FeatureSetRef) -> list[str]:
    """Scale-free m15 features, the same of the last ended h1 bar (prefixed h1_), and the m15 volatility."""
    base = [k for k in feature_set.keys if k not in PRICE_SCALED_COLUMNS]
    return [*base, *(f"h1_{k}" for k in base), "sigma_m15"]


def bar_grid(market: str, first: dt.date, last: dt.date) -> pd.DataFrame:
    """Every m15 bar start of the market's sessions in [first, last]: ts (UTC), session_date, grid (0..n-1)."""
    s = sessions(market, first, last)
    opens = pd.DatetimeIndex(s["open_utc"]).as_unit("ns")
    counts = ((pd.DatetimeIndex(s["close_utc"]).as_unit("ns") - opens) // BAR).to_numpy(dtype=np.int64)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    step = np.arange(int(counts.sum()), dtype=np.int64) - starts
    ts = np.repeat(opens, counts) + pd.to_timedelta(step * 15, unit="min")
    return pd.DataFrame({"ts": ts, "session_date": np.repeat(s["date"].to_numpy(dtype=object), counts),
                         "grid": np.arange(len(ts), dtype=np.int64)})


def grid_around(market: str, first: dt.date, last: dt.date, sessions_before: int) -> pd.DataFrame:
    """The bar grid from `sessions_before` sessions before `first` to a few sessions after `last` (room for
    the horizons of the last bar)."""
    per = 1 if market == "crypto" else 1.5
    return bar_grid(market, first - dt.timedelta(days=int(sessions_before * per) + 5), last + dt.timedelta(days=7))


def load_bars(conn: psycopg.Connection, symbol_ids: list[int], first: dt.date, last: dt.date,
              ended_by: dt.datetime | None) -> pd.DataFrame:
    """Adjusted m15 closes (symbol_id, ts, session_date, close, raw_close) of sessions [first, last] whose bar
    ended by `ended_by` (all when None)."""
    rows = conn.execute(
        "SELECT symbol_id, ts, close, close / adjustment_factor FROM market.ohlc_bars_adjusted_per_bar "
        "WHERE timeframe = 'm15' AND symbol_id = ANY(%s) AND session_date BETWEEN %s AND %s "
        "AND (%s::timestamptz IS NULL OR ts + interval '15 minutes' <= %s::timestamptz) ORDER BY 1, 2",
        (symbol_ids, first, last, ended_by, ended_by)).fetchall()
    return pd.DataFrame({
        "symbol_id": np.array([r[0] for r in rows], dtype=np.int64),
        "ts": pd.to_datetime(pd.Series([r[1] for r in rows], dtype="object"), utc=True),
        "close": np.array([r[2] for r in rows], dtype=np.float64),
        "raw_close": np.array([r[3] for r in rows], dtype=np.float64),
    })


def load_features(conn: psycopg.Connection, feature_set: FeatureSetRef, symbol_ids: list[int], timeframe: str,
                  first: dt.date, last: dt.date, ended_by: dt.datetime | None) -> pd.DataFrame:
    """Feature rows of one intraday timeframe (symbol_id, ts, then the scale-free keys) of sessions
    [first, last] whose bar ended by `ended_by`."""
    length = {"m15": "15 minutes", "h1": "1 hour"}[timeframe]
    keep = [i for i, k in enumerate(feature_set.keys) if k not in PRICE_SCALED_COLUMNS]
    rows = conn.execute(
        "SELECT symbol_id, ts, feature_values FROM ml.feature_rows WHERE timeframe = %s AND feature_set_id = %s "
        "AND symbol_id = ANY(%s) AND session_date BETWEEN %s AND %s "
        f"AND (%s::timestamptz IS NULL OR ts + interval '{length}' <= %s::timestamptz) ORDER BY 1, 2",
        (timeframe, feature_set.id, symbol_ids, first, last, ended_by, ended_by)).fetchall()
    values = np.array([r[2] for r in rows], dtype=np.float64).reshape(len(rows), len(feature_set.keys))[:, keep]
    frame = pd.DataFrame(values, columns=[feature_set.keys[i] for i in keep])
    frame.insert(0, "symbol_id", np.array([r[0] for r in rows], dtype=np.int64))
    frame.insert(1, "ts", pd.to_datetime(pd.Series([r[1] for r in rows], dtype="object"), utc=True))
    return frame


def on_grid(bars: pd.DataFrame, grid: pd.DataFrame) -> pd.DataFrame:
    """Bars with their grid number, history (bars of the symbol up to and including the row) and
    sigma_m15; bars off the grid are dropped."""
    out = bars.merge(grid, on="ts", how="inner").sort_values(["symbol_id", "grid"], kind="stable")
    out = out.reset_index(drop=True)
    sid, g = out["symbol_id"].to_numpy(), out["grid"].to_numpy()
    consecutive = np.r_[False, (sid[1:] == sid[:-1]) & (np.diff(g) == 1)]
    ret = np.where(consecutive, np.r_[np.nan, np.diff(np.log(out["close"].to_numpy()))], np.nan)
    out["history"] = out.groupby("symbol_id").cumcount().to_numpy() + 1
    out["sigma_m15"] = trailing_std(ret, sid, VOL_BARS, VOL_MIN_RETURNS)
    return out


def shifted_close(bars: pd.DataFrame, steps: int) -> np.ndarray:
    """Adjusted close of the bar `steps` grid bars after (negative: before) each row; NaN where missing."""
    key = bars[["symbol_id", "grid"]]
    other = bars[["symbol_id", "grid", "close"]].assign(grid=bars["grid"] - steps)
    return key.merge(other, on=["symbol_id", "grid"], how="left")["close"].to_numpy()


def with_features(bars: pd.DataFrame, m15: pd.DataFrame, h1: pd.DataFrame) -> pd.DataFrame:
    """Bars joined with their m15 feature row and, as of the bar's end, the newest ended h1 feature row."""
    out = bars.merge(m15, on=["symbol_id", "ts"], how="inner")
    if out.empty:
        return out
    hour = h1.rename(columns={c: f"h1_{c}" for c in h1.columns if c not in ("symbol_id", "ts")})
    hour = hour.assign(ended=hour["ts"] + HOUR).drop(columns="ts").sort_values("ended", kind="stable")
    out = out.assign(bar_end=out["ts"] + BAR).sort_values("bar_end", kind="stable")
    out = pd.merge_asof(out, hour, left_on="bar_end", right_on="ended", by="symbol_id", direction="backward")
    out = out.drop(columns=["ended", "bar_end"]).sort_values(["grid", "symbol_id"], kind="stable")
    return out.reset_index(drop=True)


def build_samples(frame: pd.DataFrame, feature_names: list[str], steps: int) -> Samples:
    """Rows (symbol_id, ts, session_date, grid, history, sigma_m15, close, raw_close, label, target,
    past_return) with the aligned matrix; `frame` is `with_features` output with `label_<steps>` and
    `past_<steps>` columns. Rows without a volatility are dropped."""
    f = frame[np.isfinite(frame["sigma_m15"].to_numpy(float))].reset_index(drop=True)
    label = f[f"label_{steps}"].to_numpy(float)
    rows = f[["symbol_id", "ts", "session_date", "grid", "history", "sigma_m15", "close", "raw_close"]].assign(
        label=label, target=label / (f["sigma_m15"].to_numpy(float) * np.sqrt(steps)),
        past_return=f[f"past_{steps}"].to_numpy(float))
    X = f[feature_names].to_numpy(dtype=np.float64)
    X[~np.isfinite(X)] = np.nan
    return Samples(rows, X, feature_names)


def add_labels(bars: pd.DataFrame) -> pd.DataFrame:
    """label_k (forward k-step log return) and past_k (the last k steps' log return) for every horizon."""
    out = bars.copy()
    close = out["close"].to_numpy(float)
    for k in sorted(set(INTRADAY_HORIZONS.values())):
        out[f"label_{k}"] = np.log(shifted_close(out, k) / close)
        out[f"past_{k}"] = np.log(close / shifted_close(out, -k))
    return out
