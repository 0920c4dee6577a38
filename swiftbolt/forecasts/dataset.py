"""Training and inference matrices: d1 feature rows (ml.feature_rows) joined with adjusted closes
(market.ohlc_bars_adjusted), on the market's session numbering.

* label of a sample (symbol, D) for horizon h = log(close[D + h sessions] / close[D]) of the adjusted close;
* sigma(D) = standard deviation of the daily log returns of the 60 sessions ending at D (at least 20):
  the symbol's volatility, used to normalise the target (one pooled model for symbols of any volatility),
  as a feature, for the neutral band and for the naive random-walk interval;
* purged gap: a model with training end T learns only from samples with D <= T - h sessions, whose labels
  have realised by T. Nothing after T is read (the loaders stop at T).

Returns are ratios of adjusted closes of one window, so a corporate action after D, which rescales every
close <= D by one factor, does not change them.
"""

from __future__ import annotations

import datetime as dt
import itertools
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import psycopg

from swiftbolt.features.feature_set import default_feature_set
from swiftbolt.features.indicators import PRICE_SCALED_COLUMNS
from swiftbolt.forecasts.horizons import SessionIndex

VOL_WINDOW = 60
VOL_MIN_RETURNS = 20
MIN_HISTORY_SESSIONS = 60
"""A symbol needs this many sessions of d1 closes up to D to get a forecast (volatility, Prophet trend)."""
EXTRA_FEATURES = ("sigma_60",)


@dataclass(frozen=True)
class FeatureSetRef:
    id: int
    definition_hash: str
    keys: tuple[str, ...]

    @property
    def model_features(self) -> list[str]:
        """Scale-free features (price-unit columns like MACD or ATR are left out: one model pools symbols
        of every price level) plus the symbol's volatility."""
        return [k for k in self.keys if k not in PRICE_SCALED_COLUMNS] + list(EXTRA_FEATURES)


def current_feature_set(conn: psycopg.Connection) -> FeatureSetRef | None:
    """The feature set the feature assets write (the default definition), if it has been recorded."""
    digest = default_feature_set().definition_hash()
    row = conn.execute("SELECT id, feature_keys FROM ml.feature_sets WHERE definition_hash = %s", (digest,)).fetchone()
    return FeatureSetRef(int(row[0]), digest, tuple(row[1])) if row else None


def load_feature_rows(conn: psycopg.Connection, feature_set: FeatureSetRef, symbol_ids: list[int],
                      first: dt.date, last: dt.date) -> pd.DataFrame:
    """d1 feature rows of the symbols with first <= session_date <= last: symbol_id, session_date, then
    one column per feature key (NaN where undefined)."""
    rows = conn.execute(
        "SELECT symbol_id, session_date, feature_values FROM ml.feature_rows "
        "WHERE timeframe = 'd1' AND feature_set_id = %s AND symbol_id = ANY(%s) "
        "AND session_date BETWEEN %s AND %s ORDER BY symbol_id, session_date",
        (feature_set.id, symbol_ids, first, last),
    ).fetchall()
    values = np.array([r[2] for r in rows], dtype=np.float64).reshape(len(rows), len(feature_set.keys))
    frame = pd.DataFrame(values, columns=list(feature_set.keys))
    frame.insert(0, "symbol_id", np.array([r[0] for r in rows], dtype=np.int64))
    frame.insert(1, "session_date", pd.to_datetime(pd.Series([r[1] for r in rows], dtype="object")))
    return frame


def load_closes(conn: psycopg.Connection, symbol_ids: list[int], first: dt.date, last: dt.date) -> pd.DataFrame:
    """Adjusted d1 closes (symbol_id, session_date, close) with first <= session_date <= last, and the raw
    close as traded (`raw_close`). Nothing after `last` is read."""
    rows = conn.execute(
        "SELECT a.symbol_id, a.session_date, a.close, b.close FROM market.ohlc_bars_adjusted a "
        "JOIN market.ohlc_bars b ON b.symbol_id = a.symbol_id AND b.timeframe = a.timeframe AND b.ts = a.ts "
        "WHERE a.timeframe = 'd1' AND a.symbol_id = ANY(%s) AND a.session_date BETWEEN %s AND %s "
        "AND b.session_date BETWEEN %s AND %s ORDER BY 1, 2",
        (symbol_ids, first, last, first, last),
    ).fetchall()
    return pd.DataFrame({
        "symbol_id": np.array([r[0] for r in rows], dtype=np.int64),
        "session_date": pd.to_datetime(pd.Series([r[1] for r in rows], dtype="object")),
        "close": np.array([r[2] for r in rows], dtype=np.float64),
        "raw_close": np.array([r[3] for r in rows], dtype=np.float64),
    })


def with_sessions(closes: pd.DataFrame, index: SessionIndex) -> pd.DataFrame:
    """Closes with `pos` (session number), `history` (sessions of closes up to and including the row) and
    `sigma_60` (volatility as of the row's close); rows off the calendar are dropped."""
    out = closes.assign(pos=index.positions(closes["session_date"]))
    out = out[out["pos"] >= 0].sort_values(["symbol_id", "pos"], kind="stable").reset_index(drop=True)
    log_close = np.log(out["close"].to_numpy())
    same = np.r_[False, out["symbol_id"].to_numpy()[1:] == out["symbol_id"].to_numpy()[:-1]]
    consecutive = same & (np.r_[0, np.diff(out["pos"].to_numpy())] == 1)
    ret = np.where(consecutive, np.r_[np.nan, np.diff(log_close)], np.nan)
    out["history"] = out.groupby("symbol_id").cumcount().to_numpy() + 1
    out["sigma_60"] = trailing_std(ret, out["symbol_id"].to_numpy(), VOL_WINDOW, VOL_MIN_RETURNS)
    return out


def trailing_std(values: np.ndarray, groups: np.ndarray, window: int, min_count: int) -> np.ndarray:
    """Standard deviation (ddof=1) of the finite values among the trailing `window` rows of the same group
    (rows sorted by group), NaN with fewer than `min_count`. Each result is a function of its window's
    values only (no running sums), so it does not depend on where the loaded history starts."""
    out = np.full(len(values), np.nan)
    if len(values) == 0:
        return out
    bounds = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1], True])
    for a, b in itertools.pairwise(bounds.tolist()):
        padded = np.r_[np.full(window - 1, np.nan), values[a:b]]
        windows = np.lib.stride_tricks.sliding_window_view(padded, window)
        count = np.isfinite(windows).sum(axis=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # windows with < 2 values: NaN, masked below
            std = np.nanstd(windows, axis=1, ddof=1)
        out[a:b] = np.where(count >= min_count, std, np.nan)
    return out


def forward_returns(sessions: pd.DataFrame, h: int) -> np.ndarray:
    """log(close[pos + h] / close[pos]) per row of `with_sessions` output (NaN where the bar h sessions
    later is not in the frame)."""
    key = sessions[["symbol_id", "pos"]]
    later = sessions[["symbol_id", "pos", "close"]].assign(pos=sessions["pos"] - h)
    merged = key.merge(later, on=["symbol_id", "pos"], how="left")
    return np.log(merged["close"].to_numpy() / sessions["close"].to_numpy())


def past_returns(sessions: pd.DataFrame, h: int) -> np.ndarray:
    """log(close[pos] / close[pos - h]) per row (the persistence baseline's input)."""
    key = sessions[["symbol_id", "pos"]]
    earlier = sessions[["symbol_id", "pos", "close"]].assign(pos=sessions["pos"] + h)
    merged = key.merge(earlier, on=["symbol_id", "pos"], how="left")
    return np.log(sessions["close"].to_numpy() / merged["close"].to_numpy())


@dataclass
class Samples:
    """Rows (symbol_id, session_date, pos, sigma_60, label, ...) and the aligned feature matrix."""

    rows: pd.DataFrame
    X: np.ndarray
    feature_names: list[str]

    def __len__(self) -> int:
        return len(self.rows)

    def take(self, mask: np.ndarray) -> Samples:
        return Samples(self.rows[mask].reset_index(drop=True), self.X[mask], self.feature_names)


def build_samples(features: pd.DataFrame, sessions: pd.DataFrame, feature_names: list[str], h: int) -> Samples:
    """Feature rows joined with their session numbers, volatility, the forward h-session label (`label`,
    NaN when not realised in `sessions`), its normalised form `target` = label / (sigma * sqrt(h)) and the
    past h-session return `past_return`. Rows without a close or a volatility are dropped."""
    cols = ["symbol_id", "session_date", "pos", "history", "sigma_60", "close", "raw_close"]
    s = sessions[cols].copy()
    s["label"] = forward_returns(sessions, h)
    s["past_return"] = past_returns(sessions, h)
    merged = features.merge(s, on=["symbol_id", "session_date"], how="inner")
    merged = merged[np.isfinite(merged["sigma_60"].to_numpy())].sort_values(["pos", "symbol_id"], kind="stable")
    merged = merged.reset_index(drop=True)
    merged["target"] = merged["label"] / (merged["sigma_60"] * np.sqrt(h))
    X = merged[feature_names].to_numpy(dtype=np.float64)
    X[~np.isfinite(X)] = np.nan
    keep = ["symbol_id", "session_date", "pos", "history", "sigma_60", "close", "raw_close", "label", "target",
            "past_return"]
    return Samples(merged[keep], X, feature_names)


def training_window(index: SessionIndex, train_end: dt.date, h: int, window: int) -> tuple[int, int]:
    """Session numbers [first, last] of the samples a model with training end T may use: last = T - h
    (purged gap: every label has realised by T), first = last - window + 1."""
    last = index.position(train_end) - h
    return max(0, last - window + 1), last


def training_samples(samples: Samples, index: SessionIndex, train_end: dt.date, h: int, window: int) -> Samples:
    first, last = training_window(index, train_end, h, window)
    pos = samples.rows["pos"].to_numpy()
    mask = (pos >= first) & (pos <= last) & np.isfinite(samples.rows["target"].to_numpy())
    return samples.take(mask)
