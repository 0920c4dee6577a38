"""Alpaca JSON payloads to the provider interface's frames (bars, quotes, corporate actions, calendar,
option chain snapshots) and OCC contract symbols."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import pandas as pd

from swiftbolt.market_data.types import (
    BAR_COLUMNS,
    CALENDAR_COLUMNS,
    CORPORATE_ACTION_COLUMNS,
    QUOTE_COLUMNS,
    Timeframe,
    empty_frame,
    option_chain_frame,
)
from swiftbolt.providers.alpaca.transport import _one_line

log = logging.getLogger(__name__)

NEW_YORK = "America/New_York"





def _utc(value: dt.datetime) -> dt.datetime:
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.to_pydatetime()


def _symbols_label(symbols: Sequence[str], shown: int = 5) -> str:
    head = ",".join(symbols[:shown])
    return head if len(symbols) <= shown else f"{head} +{len(symbols) - shown} more"


def _chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


_BAR_FIELDS = ("t", "o", "h", "l", "c", "v", "vw", "n")


def bars_frame(
    raw: Mapping[str, Sequence[Mapping[str, Any]]] | None,
    timeframe: Timeframe,
    *,
    daily_tz: str | None,
) -> pd.DataFrame:
    """BAR_COLUMNS from Alpaca's raw `{symbol: [{t,o,h,l,c,v,n,vw}, ...]}`, built column-wise.

    Daily bars are keyed by session date at 00:00 UTC: with `daily_tz` (equities: New York, whose
    midnight Alpaca stamps daily bars with) the date is taken in that zone; without it the UTC date
    of the stamp is used (crypto: stamped at 00:00 UTC, formerly at Chicago midnight 05/06:00 UTC).
    """
    raw = {sym: rows for sym, rows in (raw or {}).items() if rows}
    if not raw:
        return empty_frame(BAR_COLUMNS)
    lengths = [len(rows) for rows in raw.values()]
    src = pd.DataFrame.from_records(
        list(itertools.chain.from_iterable(raw.values())), columns=list(_BAR_FIELDS)
    )
    ts = pd.to_datetime(src["t"], utc=True, format="ISO8601").astype("datetime64[ns, UTC]")
    if timeframe is Timeframe.D1:
        if daily_tz:
            local = ts.dt.tz_convert(daily_tz).dt.tz_localize(None).dt.normalize()
            ts = local.dt.tz_localize("UTC")
        else:
            ts = ts.dt.floor("D")
    return pd.DataFrame(
        {
            "symbol": pd.Series(list(raw)).repeat(lengths).to_numpy(),
            "timeframe": timeframe.value,
            "ts": ts,
            "open": src["o"].astype("float64"),
            "high": src["h"].astype("float64"),
            "low": src["l"].astype("float64"),
            "close": src["c"].astype("float64"),
            "volume": src["v"].astype("float64"),
            "vwap": src["vw"].astype("float64"),
            "trade_count": pd.to_numeric(src["n"]).astype("Int64"),
        },
        columns=list(BAR_COLUMNS),
    )


def _finish_bars(frames: list[pd.DataFrame], start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    """Every row Alpaca returned, sorted by symbol and ts. Nothing is dropped or merged here: rows
    outside [start, end) and duplicates (e.g. across pages) are the validation's to quarantine, so
    each one is accounted for."""
    frames = [f for f in frames if not f.empty]
    if not frames:
        return empty_frame(BAR_COLUMNS)
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return df.sort_values(["symbol", "ts"], kind="stable").reset_index(drop=True)


def _ts(value: Any) -> pd.Timestamp | None:
    if not value:
        return None
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def quotes_frame(raw: Mapping[str, Mapping[str, Any] | None]) -> pd.DataFrame:
    """QUOTE_COLUMNS from raw snapshots `{symbol: {latestTrade, latestQuote, dailyBar, ...}}`."""
    rows = []
    for symbol, snap in (raw or {}).items():
        if not snap:
            continue
        trade = snap.get("latestTrade") or {}
        quote = snap.get("latestQuote") or {}
        daily = snap.get("dailyBar") or {}
        prev = snap.get("prevDailyBar") or {}
        rows.append(
            {
                "symbol": symbol,
                "ts": _ts(trade.get("t")) or _ts(quote.get("t")) or _ts(daily.get("t")),
                "last": trade.get("p"),
                "bid": quote.get("bp"),
                "ask": quote.get("ap"),
                "day_high": daily.get("h"),
                "day_low": daily.get("l"),
                "prev_close": prev.get("c"),
            }
        )
    if not rows:
        return empty_frame(QUOTE_COLUMNS)
    df = pd.DataFrame(rows, columns=list(QUOTE_COLUMNS))
    df["ts"] = pd.to_datetime(df["ts"], utc=True).astype("datetime64[ns, UTC]")
    for col in ("last", "bid", "ask", "day_high", "day_low", "prev_close"):
        df[col] = pd.to_numeric(df[col]).astype("float64")
    return df.sort_values("symbol", kind="stable").reset_index(drop=True)


def _date(value: Any) -> dt.date | None:
    return dt.date.fromisoformat(str(value)[:10]) if value else None


def corporate_actions_frame(
    raw: Mapping[str, Sequence[Mapping[str, Any]]] | None,
    symbols: Sequence[str],
    start: dt.date,
    end: dt.date,
) -> pd.DataFrame:
    """CORPORATE_ACTION_COLUMNS from raw `{forward_splits: [...], reverse_splits: [...],
    cash_dividends: [...]}`, keeping the symbols asked for with start <= ex_date <= end."""
    wanted = set(symbols)
    rows = []
    for group, items in (raw or {}).items():
        for item in items or ():
            if item.get("symbol") not in wanted:
                continue
            ex_date = _date(item.get("ex_date"))
            if ex_date is None or not start <= ex_date <= end:
                continue
            row = {
                "symbol": item["symbol"],
                "ex_date": ex_date,
                "record_date": _date(item.get("record_date")),
                "payment_date": _date(item.get("payable_date")),
                "ratio": None,
                "cash_amount": None,
            }
            if group in ("forward_splits", "reverse_splits"):
                new_rate, old_rate = float(item["new_rate"]), float(item["old_rate"])
                if not old_rate or not new_rate:
                    continue
                row["ratio"] = new_rate / old_rate
                row["action_type"] = "split" if row["ratio"] >= 1 else "reverse_split"
            elif group == "cash_dividends":
                row["action_type"] = "cash_dividend"
                row["cash_amount"] = float(item["rate"])
            else:
                continue
            rows.append(row)
    if not rows:
        return empty_frame(CORPORATE_ACTION_COLUMNS)
    df = pd.DataFrame(rows, columns=list(CORPORATE_ACTION_COLUMNS))
    df["ratio"] = df["ratio"].astype("float64")
    df["cash_amount"] = df["cash_amount"].astype("float64")
    df = df.drop_duplicates()
    return df.sort_values(["symbol", "ex_date", "action_type"], kind="stable").reset_index(
        drop=True
    )


def calendar_frame(raw: Sequence[Mapping[str, Any]] | None) -> pd.DataFrame:
    """CALENDAR_COLUMNS from Alpaca's `[{date: YYYY-MM-DD, open: HH:MM, close: HH:MM}, ...]`
    (New York local times) with open/close converted to UTC."""
    if not raw:
        return empty_frame(CALENDAR_COLUMNS)
    src = pd.DataFrame.from_records(list(raw), columns=["date", "open", "close"])

    def utc(col: str) -> pd.Series:
        local = pd.to_datetime(src["date"] + " " + src[col], format="%Y-%m-%d %H:%M")
        return local.dt.tz_localize(NEW_YORK).dt.tz_convert("UTC").astype("datetime64[ns, UTC]")

    df = pd.DataFrame(
        {
            "date": [dt.date.fromisoformat(d) for d in src["date"]],
            "open_utc": utc("open"),
            "close_utc": utc("close"),
        },
        columns=list(CALENDAR_COLUMNS),
    )
    return df.sort_values("date", kind="stable").reset_index(drop=True)


class OccSymbol(NamedTuple):
    root: str
    expiration: dt.date
    option_type: str  # 'call' | 'put'
    strike: float


_OCC_ROOT = re.compile(r"^[A-Z0-9.]{1,6}$")


def parse_occ_symbol(contract: str) -> OccSymbol:
    """Root, expiration, type and strike of an OCC option symbol: root (1-6 characters; Alpaca
    does not pad it, the OCC's 21-character form pads it with spaces), YYMMDD, C or P, and the
    strike x 1000 on 8 digits. "AAPL250620C00180000" -> AAPL, 2025-06-20, call, 180.0."""
    text = str(contract).strip()
    root, date, kind, strike = text[:-15].rstrip(), text[-15:-9], text[-9:-8], text[-8:]
    if not (_OCC_ROOT.match(root) and date.isdigit() and kind in ("C", "P") and strike.isdigit()):
        raise ValueError(f"not an OCC option symbol: {_one_line(text, 40)!r}")
    try:
        expiration = dt.date(2000 + int(date[:2]), int(date[2:4]), int(date[4:]))
    except ValueError:
        raise ValueError(f"not an OCC option symbol (bad date): {text!r}") from None
    return OccSymbol(root, expiration, "call" if kind == "C" else "put", int(strike) / 1000.0)


def _ny_date(ts: pd.Timestamp | None) -> dt.date | None:
    return None if ts is None else ts.tz_convert(NEW_YORK).date()


def option_chain_snapshots_frame(
    raw: Mapping[str, Mapping[str, Any] | None] | None,
    underlying: str,
    underlying_price: float | None = None,
) -> pd.DataFrame:
    """OPTION_CHAIN_COLUMNS from Alpaca's raw chain `{contract: {latestQuote, latestTrade,
    impliedVolatility, greeks, dailyBar, ...}}`. Expiration, type and strike come from the OCC
    symbol (contracts whose symbol does not parse are skipped); `ts` is the quote's time (else the
    trade's); `volume` is the contract's latest daily bar's volume (0 when that bar is from an
    earlier New York day than `ts`; NaN without a daily bar); Alpaca's snapshots carry no open
    interest (NaN). IV and greeks are passed through as Alpaca computes them (its own model and
    inputs; the SDK does not state units -- theta per day and vega per vol point, like
    options_math, by the magnitudes seen; NaN when Alpaca sends none, as for illiquid contracts)."""
    cols: dict[str, list[Any]] = {c: [] for c in option_chain_frame().columns}
    price = math.nan if underlying_price is None else float(underlying_price)
    skipped = 0
    for contract, snap in (raw or {}).items():
        try:
            occ = parse_occ_symbol(contract)
        except ValueError:
            skipped += 1
            continue
        snap = snap or {}
        quote = snap.get("latestQuote") or {}
        trade = snap.get("latestTrade") or {}
        greeks = snap.get("greeks") or {}
        daily = snap.get("dailyBar") or {}
        ts = _ts(quote.get("t")) or _ts(trade.get("t"))
        volume = daily.get("v")
        daily_day, ts_day = _ny_date(_ts(daily.get("t"))), _ny_date(ts)
        if volume is not None and daily_day and ts_day and daily_day < ts_day:
            volume = 0.0
        values = {
            "underlying": underlying,
            "contract": contract,
            "expiration": occ.expiration,
            "strike": occ.strike,
            "option_type": occ.option_type,
            "ts": ts,
            "bid": quote.get("bp"),
            "ask": quote.get("ap"),
            "last": trade.get("p"),
            "volume": volume,
            "open_interest": None,
            "implied_volatility": snap.get("impliedVolatility"),
            "delta": greeks.get("delta"),
            "gamma": greeks.get("gamma"),
            "theta": greeks.get("theta"),
            "vega": greeks.get("vega"),
            "underlying_price": price,
        }
        for col, value in values.items():
            cols[col].append(value)
    if skipped:
        log.warning("alpaca option chain of %s: skipped %d contracts without an OCC symbol", underlying, skipped)
    return option_chain_frame(cols if cols["contract"] else None)
