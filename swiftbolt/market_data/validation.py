"""Bar validation, vectorised: every row a provider returned either passes or is rejected with one
reason, so `received = stored + quarantined` holds for every request.

Checks, in order (a row gets the first reason that applies), over every column of BAR_COLUMNS:

* `ts`: timezone-aware ("timestamp not timezone-aware"); inside the requested window [start, end)
  ("outside the requested window"); on a trading session ("not a trading session", recorded with the
  session the row claims) and inside its regular session ("outside the regular session"); intraday
  bars of m1/m5/m15 on their clock grid ("not on the timeframe grid").
* `timeframe`: the requested one ("timeframe mismatch"); the stored value is never rewritten.
* prices: present ("missing price"), finite ("non-finite value", +/-inf: the table refuses them too),
  positive, at most MAX_PRICE ("price above the ceiling"), consistent (high >= low, high >= open/close,
  low <= open/close).
* `volume`: present, finite, >= 0 ("negative volume"), notional volume x price at most MAX_NOTIONAL
  ("volume above the ceiling").
* `vwap`: null, or finite, positive (0 only on a bar without volume) and at most MAX_PRICE ("invalid
  vwap"). It is not required to lie in [low, high]: consolidated-tape VWAPs count trades (odd lots,
  some conditions) that do not set the bar's high and low.
* `trade_count`: null, or a whole number in [0, MAX_TRADE_COUNT] ("invalid trade count"); a negative
  count is quarantined here instead of failing the whole range on the table's CHECK.
* the key (symbol, ts): duplicates with different values are all rejected, every version ("duplicate
  bar with conflicting values"); identical copies keep one and the others are quarantined as
  "identical duplicate (collapsed)" (counted, not a data fault).
* plausibility against neighbouring bars (the previous bar's close and the next bar's open, from this
  request or, at its edges, the stored bars around it), after adjusting the neighbours for the
  splits known between them: a bar whose high exceeds SPIKE_FACTOR x both neighbours, or whose low is
  below both / SPIKE_FACTOR, is an isolated spike; with a single neighbour the bound is
  EDGE_JUMP_FACTOR ("implausible jump vs neighbouring bars"). A split is a level shift, never an
  isolated spike, so it passes either way; at an edge it needs the event in market.corporate_actions.

Bounds (see the README's data-quality section for the measurements behind them):
MAX_PRICE 1e7 per share or coin (the dearest US share, BRK.A, peaked near $0.8M; BTC near $0.13M);
MAX_NOTIONAL 1e12 in the quote currency per bar (the whole US equity market trades ~$0.5-1T a day);
MAX_TRADE_COUNT 1e9 per bar (the whole US equity market prints ~1.5e8 trades a day);
SPIKE_FACTOR 5 (a misplaced decimal point is a factor 10; on 23 years of daily bars of six US symbols,
SPY hourly bars 1998-2021 and Bitstamp BTC hourly bars 2018-2022, the largest move of a bar against
both neighbours is 2.08x, apart from AIG's 2009-05-05 bad print, a high of 20.98 between closes of
1.50 and 1.86: 11.9x); EDGE_JUMP_FACTOR 20 (against one neighbour a real crash or squeeze cannot be
told from an error; AIG fell 4.07x against its previous close on 2008-09-16).

An intraday bar is inside the session when its interval [ts, ts + length) overlaps [open, close).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from swiftbolt.calendars.sessions import sessions
from swiftbolt.market_data.types import BAR_COLUMNS, Timeframe
from swiftbolt.markets import get_market

PRICE_COLUMNS = ["open", "high", "low", "close"]
VALUE_COLUMNS = [*PRICE_COLUMNS, "volume", "vwap", "trade_count"]
SESSION_REASONS = ("not a trading session", "outside the regular session")
IDENTICAL_DUPLICATE = "identical duplicate (collapsed)"
CONFLICTING_DUPLICATE = "duplicate bar with conflicting values"
JUMP = "implausible jump vs neighbouring bars"
# Quarantined for a reason that is not a fault of the data (extended hours, an identical copy).
NOT_FAULTS = (*SESSION_REASONS, IDENTICAL_DUPLICATE)

MAX_PRICE = 1e7
MAX_NOTIONAL = 1e12
MAX_TRADE_COUNT = 1e9
SPIKE_FACTOR = 5.0
EDGE_JUMP_FACTOR = 20.0
_GRID_CHECKED = (Timeframe.M1, Timeframe.M5, Timeframe.M15)  # lengths that divide a half hour


@dataclass(frozen=True)
class ValidationResult:
    clean: pd.DataFrame      # BAR_COLUMNS + session_date (naive datetime64), ts as datetime64[ns, UTC]
    rejected: pd.DataFrame   # symbol, timeframe, ts (text), session_date, reason, raw (json text)

    @property
    def reasons(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.rejected["reason"].value_counts().items()}


def session_dates_for(ts: pd.Series, timeframe: Timeframe, market: str) -> pd.Series:
    """The trading day of each bar (naive datetime64 at midnight): daily+ bars by their UTC date,
    intraday bars by the exchange's local date."""
    if timeframe.is_intraday:
        return ts.dt.tz_convert(get_market(market).timezone).dt.tz_localize(None).dt.normalize()
    return ts.dt.tz_localize(None).dt.normalize()


def raw_json(frame: pd.DataFrame) -> pd.Series:
    """The row as the provider sent it, one JSON object per row, for the quarantine. NaN/None become
    null; +/-inf (which JSON cannot hold) the strings "Infinity"/"-Infinity"."""
    cols = [c for c in BAR_COLUMNS if c in frame.columns]
    if frame.empty:
        return pd.Series([], index=frame.index, dtype="object")
    out = frame[cols].astype(object)
    for col in cols:
        values = pd.to_numeric(frame[col], errors="coerce") if frame[col].dtype != object else None
        if values is not None and np.isinf(values.to_numpy(dtype="float64", na_value=np.nan)).any():
            inf = np.isinf(values.to_numpy(dtype="float64", na_value=np.nan))
            out.loc[inf, col] = np.where(values[inf] > 0, "Infinity", "-Infinity")
    text = out.to_json(orient="records", lines=True, date_format="iso")
    return pd.Series(text.strip().split("\n"), index=frame.index, dtype="object")


def _numeric(frame: pd.DataFrame, column: str, n: int) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(np.full(n, np.nan))
    return pd.to_numeric(frame[column], errors="coerce").astype("float64")


def _neighbour_frame(neighbours: pd.DataFrame | None) -> pd.DataFrame:
    cols = ["symbol", "ts", "open", "close"]
    if neighbours is None or neighbours.empty:
        return pd.DataFrame({"symbol": pd.Series(dtype=object), "ts": pd.Series(dtype="datetime64[ns, UTC]"),
                             "open": pd.Series(dtype="float64"), "close": pd.Series(dtype="float64")})
    out = neighbours[cols].copy()
    out["ts"] = pd.to_datetime(out["ts"], utc=True).astype("datetime64[ns, UTC]")
    return out


def _split_factor(symbols: np.ndarray, after: np.ndarray, upto: np.ndarray,
                  splits: pd.DataFrame | None) -> np.ndarray:
    """Product of the split ratios (new shares per old) with after < ex_date <= upto, per row
    (dates as datetime64[D]; NaT gives 1)."""
    factor = np.ones(len(symbols))
    if splits is None or splits.empty:
        return factor
    for symbol, events in splits.groupby("symbol"):
        rows = np.flatnonzero(symbols == symbol)
        if not len(rows):
            continue
        events = events.sort_values("ex_date")
        ex = pd.to_datetime(events["ex_date"]).to_numpy().astype("datetime64[D]")
        cum = np.r_[0.0, np.cumsum(np.log(events["ratio"].to_numpy(dtype="float64")))]
        lo, hi = after[rows], upto[rows]
        ok = ~(np.isnat(lo) | np.isnat(hi))
        i = np.searchsorted(ex, lo[ok], side="right")
        j = np.searchsorted(ex, hi[ok], side="right")
        part = np.ones(len(rows))
        part[ok] = np.exp(cum[j] - cum[i])
        factor[rows] = part
    return factor


def _jumps(cand: pd.DataFrame, timeframe: Timeframe, market: str, neighbours: pd.DataFrame | None,
           splits: pd.DataFrame | None) -> np.ndarray:
    """Mask (over `cand`'s rows) of bars implausible against their neighbours (see module doc)."""
    if cand.empty:
        return np.zeros(0, dtype=bool)
    near = _neighbour_frame(neighbours)
    both = pd.concat([cand[["symbol", "ts", "open", "high", "low", "close"]].assign(_row=np.arange(len(cand))),
                      near.assign(high=np.nan, low=np.nan, _row=-1)], ignore_index=True)
    both["symbol"] = both["symbol"].astype(str)
    both = both.sort_values(["symbol", "ts"], kind="stable").reset_index(drop=True)
    day = session_dates_for(both["ts"], timeframe, market).to_numpy().astype("datetime64[D]")
    same_prev = (both["symbol"] == both["symbol"].shift(1)).to_numpy()
    same_next = (both["symbol"] == both["symbol"].shift(-1)).to_numpy()
    prev_close = np.where(same_prev, both["close"].shift(1).to_numpy(dtype="float64"), np.nan)
    next_open = np.where(same_next, both["open"].shift(-1).to_numpy(dtype="float64"), np.nan)
    prev_day = np.where(same_prev, np.roll(day, 1), np.datetime64("NaT"))
    next_day = np.where(same_next, np.roll(day, -1), np.datetime64("NaT"))
    symbols = both["symbol"].to_numpy()
    # neighbours in the bar's own share basis: a split between them divides the earlier price
    prev_ref = prev_close / _split_factor(symbols, prev_day, day, splits)
    next_ref = next_open * _split_factor(symbols, day, next_day, splits)
    high = both["high"].to_numpy(dtype="float64")
    low = both["low"].to_numpy(dtype="float64")
    has_prev, has_next = ~np.isnan(prev_ref), ~np.isnan(next_ref)
    with np.errstate(invalid="ignore"):
        top = np.fmax(prev_ref, next_ref)
        bottom = np.fmin(prev_ref, next_ref)
        factor = np.where(has_prev & has_next, SPIKE_FACTOR, EDGE_JUMP_FACTOR)
        bad = (high > factor * top) | (low * factor < bottom)
    bad &= (has_prev | has_next) & (both["_row"].to_numpy() >= 0)
    out = np.zeros(len(cand), dtype=bool)
    out[both.loc[bad, "_row"].to_numpy()] = True
    return out


def validate_bars(
    frame: pd.DataFrame,
    market: str,
    timeframe: Timeframe,
    *,
    window: tuple[pd.Timestamp, pd.Timestamp] | None = None,
    neighbours: pd.DataFrame | None = None,
    splits: pd.DataFrame | None = None,
) -> ValidationResult:
    """Split provider bars of one timeframe into clean rows and rejected rows with reasons.

    `window`: the requested [start, end); `neighbours`: stored bars around the window (symbol, ts,
    open, close) for the jump check at the request's edges; `splits`: known splits (symbol, ex_date,
    ratio = new shares per old) that explain a level shift between neighbouring bars."""
    frame = frame.reset_index(drop=True)
    n = len(frame)
    reason = pd.Series(np.full(n, None, dtype=object))

    def reject(mask: pd.Series | np.ndarray, why: str) -> None:
        m = np.asarray(mask, dtype=bool) & reason.isna().to_numpy()
        reason[m] = why

    def reject_at(positions: np.ndarray, why: str) -> None:
        mask = np.zeros(n, dtype=bool)
        mask[positions] = True
        reject(mask, why)

    ts_raw = frame["ts"] if "ts" in frame.columns else pd.Series([None] * n)
    if isinstance(ts_raw.dtype, pd.DatetimeTZDtype):
        ts = ts_raw.dt.tz_convert("UTC")
    else:
        # object column: accept only elements that carry a timezone
        aware = ts_raw.map(lambda v: getattr(v, "tzinfo", None) is not None)
        reject(~aware, "timestamp not timezone-aware")
        ts = pd.to_datetime(ts_raw.where(aware), utc=True, errors="coerce")
    ts = ts.astype("datetime64[ns, UTC]")
    reject(ts.isna(), "timestamp not timezone-aware")
    if "timeframe" in frame.columns:
        reject(frame["timeframe"].astype(str).to_numpy() != timeframe.value, "timeframe mismatch")

    prices = pd.DataFrame({c: _numeric(frame, c, n) for c in PRICE_COLUMNS})
    volume = _numeric(frame, "volume", n)
    vwap = _numeric(frame, "vwap", n)
    trades = _numeric(frame, "trade_count", n)
    reject(prices.isna().any(axis=1), "missing price")
    infinite = np.isinf(prices.to_numpy()).any(axis=1) | np.isinf(volume) | np.isinf(vwap) | np.isinf(trades)
    reject(infinite, "non-finite value")
    reject((prices <= 0).any(axis=1), "non-positive price")
    reject((prices > MAX_PRICE).any(axis=1), "price above the ceiling")
    o, h, lo, c = (prices[k] for k in PRICE_COLUMNS)
    reject(h < lo, "high below low")
    reject(h < np.maximum(o, c), "high below open/close")
    reject(lo > np.minimum(o, c), "low above open/close")
    reject(volume.isna() | (volume < 0), "negative volume")
    reject(volume * np.where(vwap > 0, vwap, c) > MAX_NOTIONAL, "volume above the ceiling")
    reject(vwap.notna() & ((vwap < 0) | ((vwap == 0) & (volume > 0)) | (vwap > MAX_PRICE)), "invalid vwap")
    reject(trades.notna() & ((trades < 0) | (trades > MAX_TRADE_COUNT) | (trades != np.floor(trades))),
           "invalid trade count")
    if window is not None:
        reject(ts.notna() & ((ts < window[0]) | (ts >= window[1])), "outside the requested window")

    session_date = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    valid_ts = ts.notna()
    if valid_ts.any():
        session_date[valid_ts] = session_dates_for(ts[valid_ts], timeframe, market)
        days = session_date[valid_ts]
        cal = sessions(market, days.min().date(), days.max().date())
        cal.index = pd.to_datetime(cal["date"])
        open_utc = session_date.map(cal["open_utc"])
        close_utc = session_date.map(cal["close_utc"])
        is_session = open_utc.notna()
        reject(valid_ts & ~is_session, "not a trading session")
        if timeframe.is_intraday:
            length = pd.Timedelta(minutes=timeframe.minutes or 0)
            open_ts = pd.to_datetime(open_utc, utc=True)
            close_ts = pd.to_datetime(close_utc, utc=True)
            inside = (ts + length > open_ts) & (ts < close_ts)
            reject(valid_ts & is_session & ~inside.fillna(False), "outside the regular session")
            if timeframe in _GRID_CHECKED:
                off_grid = (ts.dt.floor(f"{timeframe.minutes}min") != ts).fillna(False)
                reject(valid_ts & off_grid, "not on the timeframe grid")
        else:
            midnight = ts.dt.normalize() == ts
            reject(valid_ts & is_session & ~midnight, "outside the regular session")

    # duplicates among the rows still standing: identical copies keep one; conflicting ones are all rejected
    symbol = frame["symbol"].astype(str).to_numpy(dtype=object)
    ts_ns = ts.array.asi8  # int64 nanoseconds (NaT: the minimum), no per-element conversion
    standing = reason.isna().to_numpy()
    if standing.sum() > 1:
        keyed = pd.DataFrame({"symbol": symbol[standing], "ts": ts_ns[standing]})
        dup_any = keyed.duplicated(keep=False).to_numpy()
        if dup_any.any():
            values = pd.concat([prices, volume.rename("volume"), vwap.rename("vwap"), trades.rename("trade_count")],
                               axis=1)[standing]
            key = pd.util.hash_pandas_object(keyed, index=False).to_numpy()
            row = pd.util.hash_pandas_object(values, index=False).to_numpy()
            distinct = pd.Series(row[dup_any]).groupby(key[dup_any]).nunique()
            conflicting = np.isin(key, distinct.index[distinct.to_numpy() > 1])
            positions = np.flatnonzero(standing)
            reject_at(positions[dup_any & conflicting], CONFLICTING_DUPLICATE)
            reject_at(positions[keyed.duplicated(keep="first").to_numpy() & ~conflicting], IDENTICAL_DUPLICATE)

    standing = reason.isna().to_numpy()
    if standing.any():
        cand = pd.DataFrame({"symbol": symbol[standing], "ts": ts[standing].reset_index(drop=True)})
        for col in PRICE_COLUMNS:
            cand[col] = prices[col].to_numpy()[standing]
        jumped = _jumps(cand, timeframe, market, neighbours, splits)
        reject_at(np.flatnonzero(standing)[jumped], JUMP)

    bad = reason.notna().to_numpy()
    clean = frame.loc[~bad, [c for c in BAR_COLUMNS]].copy()
    clean["ts"] = ts[~bad]
    clean[PRICE_COLUMNS] = prices[~bad]
    clean["volume"] = volume[~bad]
    clean["vwap"] = vwap[~bad]
    clean["trade_count"] = trades[~bad].astype("Int64")
    clean["timeframe"] = timeframe.value
    clean["session_date"] = session_date[~bad]
    rejected = pd.DataFrame(
        {
            "symbol": frame.loc[bad, "symbol"].astype(str),
            "timeframe": timeframe.value,
            "ts": ts_raw[bad].astype(str),
            "session_date": session_date[bad],
            "reason": reason[bad],
            "raw": raw_json(frame.loc[bad]),
        }
    )
    return ValidationResult(clean=clean.reset_index(drop=True), rejected=rejected.reset_index(drop=True))
