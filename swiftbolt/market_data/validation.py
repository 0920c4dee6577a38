"""Bar validation, vectorised: every row either passes or is rejected with one reason.

Checks, in order (a row gets the first reason that applies): timestamp not timezone-aware, missing
price, non-positive price, high below low, high below open/close, low above open/close, negative or
missing volume, not a trading session / outside the regular session, duplicate bar.
An intraday bar is inside the session when its interval [ts, ts + length) overlaps [open, close):
Alpaca's hourly bars are clock-aligned, so the 09:00 ET bar holds 09:30-10:00.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from swiftbolt.calendars.sessions import sessions
from swiftbolt.market_data.types import BAR_COLUMNS, Timeframe
from swiftbolt.markets import get_market

PRICE_COLUMNS = ["open", "high", "low", "close"]
SESSION_REASONS = ("not a trading session", "outside the regular session")


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


def _raw_json(frame: pd.DataFrame) -> pd.Series:
    """The row as the provider sent it, one JSON object per row (NaN -> null), for the quarantine."""
    cols = [c for c in BAR_COLUMNS if c in frame.columns]
    if frame.empty:
        return pd.Series([], index=frame.index, dtype="object")
    text = frame[cols].astype(object).to_json(orient="records", lines=True, date_format="iso")
    return pd.Series(text.strip().split("\n"), index=frame.index, dtype="object")


def validate_bars(frame: pd.DataFrame, market: str, timeframe: Timeframe) -> ValidationResult:
    """Split provider bars of one timeframe into clean rows and rejected rows with reasons."""
    frame = frame.reset_index(drop=True)
    n = len(frame)
    reason = pd.Series(np.full(n, None, dtype=object))

    def reject(mask: pd.Series | np.ndarray, why: str) -> None:
        m = np.asarray(mask, dtype=bool) & reason.isna().to_numpy()
        reason[m] = why

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

    prices = frame[PRICE_COLUMNS].apply(pd.to_numeric, errors="coerce")
    volume = pd.to_numeric(frame["volume"], errors="coerce")
    reject(prices.isna().any(axis=1), "missing price")
    reject((prices <= 0).any(axis=1), "non-positive price")
    o, h, lo, c = (prices[k] for k in PRICE_COLUMNS)
    reject(h < lo, "high below low")
    reject(h < np.maximum(o, c), "high below open/close")
    reject(lo > np.minimum(o, c), "low above open/close")
    reject(volume.isna() | (volume < 0), "negative volume")

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
        else:
            midnight = ts.dt.normalize() == ts
            reject(valid_ts & is_session & ~midnight, "outside the regular session")

    # duplicates: identical copies keep one; conflicting copies are all rejected
    keyed = pd.DataFrame({"symbol": frame["symbol"].to_numpy(), "ts": ts.to_numpy()})
    dup_any = keyed.duplicated(keep=False) & reason.isna()
    if dup_any.any():
        key = pd.Series(pd.util.hash_pandas_object(keyed, index=False).to_numpy())
        values = pd.Series(pd.util.hash_pandas_object(frame[[*PRICE_COLUMNS, "volume"]], index=False).to_numpy())
        distinct = values[dup_any].groupby(key[dup_any]).nunique()
        conflicting = key.isin(distinct[distinct > 1].index)
        reject(dup_any & conflicting, "duplicate bar with conflicting values")
        reject(keyed.duplicated(keep="first") & dup_any, "duplicate bar")

    bad = reason.notna().to_numpy()
    clean = frame.loc[~bad, [c for c in BAR_COLUMNS]].copy()
    clean["ts"] = ts[~bad]
    clean[PRICE_COLUMNS] = prices[~bad]
    clean["volume"] = volume[~bad]
    clean["timeframe"] = timeframe.value
    clean["session_date"] = session_date[~bad]
    rejected = pd.DataFrame(
        {
            "symbol": frame.loc[bad, "symbol"].astype(str),
            "timeframe": timeframe.value,
            "ts": ts_raw[bad].astype(str),
            "session_date": session_date[bad],
            "reason": reason[bad],
            "raw": _raw_json(frame.loc[bad]),
        }
    )
    return ValidationResult(clean=clean.reset_index(drop=True), rejected=rejected.reset_index(drop=True))
