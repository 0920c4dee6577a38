"""Hourly and 4-hour bars derived from the regular-session m15 bars, anchored at the session open.

Why derived, not fetched: Alpaca's hourly bars are clock-aligned and include extended hours (its
09:00 ET bar holds 09:00-10:00 trades, pre-market included), while the synthetic market stamps them at
the open (09:30, 10:30, ...): the grid and the content changed with the provider. Aggregating the
stored m15 bars, which validation keeps to the regular session, gives one grid whatever the provider:
bars start at the session open and every `length` after it, and the last bar of a session ends at the
close (short: 15:30-16:00 for h1 on a regular NYSE day, 12:30-13:00 on an early close; h4 is 09:30-13:30
and 13:30-16:00). Crypto's session is the UTC day, so its bars fall on UTC clock hours (00:00, 01:00,
... and 00:00, 04:00, ...). It also saves two provider requests per run.

open = first open, high = max, low = min, close = last close, volume = sum, vwap = volume-weighted
mean of the m15 vwaps (null if any is null), trade_count = sum (null if any is null).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from swiftbolt.calendars.sessions import sessions
from swiftbolt.market_data.types import Timeframe

SESSION_DERIVED: dict[Timeframe, Timeframe] = {Timeframe.H1: Timeframe.M15, Timeframe.H4: Timeframe.M15}


def _ns(ts: pd.Series) -> np.ndarray:
    """UTC nanoseconds since the epoch of a tz-aware series."""
    return ts.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]").to_numpy().view(np.int64)


def derive_session_bars(m15: pd.DataFrame, market: str, timeframe: Timeframe) -> pd.DataFrame:
    """`timeframe` (h1 or h4) bars from clean m15 bars (BAR_COLUMNS + session_date [+ symbol_id]),
    same columns, vectorised. Every m15 bar lies in exactly one derived bar of its own session."""
    if timeframe not in SESSION_DERIVED:
        raise ValueError(f"{timeframe.value} is not derived from m15 bars")
    if m15.empty:
        return m15.iloc[0:0].assign(timeframe=timeframe.value)
    days = pd.to_datetime(m15["session_date"])
    cal = sessions(market, days.min().date(), days.max().date())
    opens = pd.Series(cal["open_utc"].to_numpy(), index=pd.to_datetime(cal["date"]))
    open_ns = _ns(days.map(opens).astype("datetime64[ns, UTC]"))
    ts_ns = _ns(m15["ts"])
    length = (timeframe.minutes or 0) * 60_000_000_000
    bucket = open_ns + (ts_ns - open_ns) // length * length

    keys = pd.DataFrame({"symbol": m15["symbol"].astype(str).to_numpy(), "bucket": bucket, "ts": ts_ns})
    order = np.lexsort((keys["ts"].to_numpy(), keys["bucket"].to_numpy(), pd.factorize(keys["symbol"])[0]))
    sym = keys["symbol"].to_numpy()[order]
    buck = bucket[order]
    starts = np.flatnonzero(np.r_[True, (sym[1:] != sym[:-1]) | (buck[1:] != buck[:-1])])
    ends = np.r_[starts[1:], len(order)] - 1

    def col(name: str) -> np.ndarray:
        return m15[name].to_numpy(dtype="float64", na_value=np.nan)[order]

    volume = col("volume")
    vwap_volume = np.add.reduceat(col("vwap") * volume, starts)  # NaN when any vwap is null
    volume_sum = np.add.reduceat(volume, starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        vwap = np.where(volume_sum > 0, vwap_volume / volume_sum, np.nan)
    trades = np.add.reduceat(col("trade_count"), starts)
    first = order[starts]
    out = pd.DataFrame({
        "symbol": m15["symbol"].to_numpy()[first],
        "timeframe": timeframe.value,
        "ts": pd.to_datetime(buck[starts], utc=True),
        "open": col("open")[starts],
        "high": np.maximum.reduceat(col("high"), starts),
        "low": np.minimum.reduceat(col("low"), starts),
        "close": col("close")[ends],
        "volume": volume_sum,
        "vwap": vwap,
        "trade_count": pd.array(np.where(np.isnan(trades), np.nan, trades), dtype="Float64").astype("Int64"),
        "session_date": m15["session_date"].to_numpy()[first],
    })
    if "symbol_id" in m15.columns:
        out["symbol_id"] = m15["symbol_id"].to_numpy()[first]
    return out
