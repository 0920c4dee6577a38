"""Vendor files as a market-data provider: a directory with one CSV or Parquet file per symbol.

Layout of the directory (`FilesProvider(directory)`; see the README's "Vendor files"):

* `<SYMBOL>.csv`, `.csv.gz`, `.parquet` or `.pq`, one per symbol, named after the ticker (`SPY.csv`,
  `BRK.B.csv`; a crypto pair as `BTC-USD.csv` or `BTC_USD.csv`; case does not matter). Columns, with
  case-insensitive names and in any order: a date or timestamp column (the first of `date`,
  `timestamp`, `datetime`, `time`, `ts`) and the raw, as-traded `open`, `high`, `low`, `close`,
  `volume`; optional `vwap`, `trade_count`, and the adjustment factors `price_factor` (dividends)
  and `split_factor`. Any other column (a vendor's adjusted prices, for example) is ignored.
* optionally `corporate_actions.csv` (or `.parquet`): `symbol`, `action_type` (`split`,
  `reverse_split`, `cash_dividend`, or `dividend`), `ex_date`, `ratio` (new shares per old share) for
  splits, `cash_amount` (per share) for dividends, optional `record_date`, `payment_date`.
* optionally `split_events.csv`: the split list of the equity_daily layout (`symbol`,
  `last_pre_split_date`, `split_ratio_new_per_old`).
* optionally `options/`: end-of-day option chain files (iVolatility's layout or the project's chain
  columns; swiftbolt/providers/option_files.py), served by `option_chain`. A directory may hold only these.
* other files (README, ...) are ignored.

Dates: `YYYY-MM-DD`, `YYYYMMDD`, `M/D/YYYY`, `M/D/YY` or ISO 8601 timestamps. A daily bar is keyed by
its trading day: naive timestamps count by their own date; timestamps with a UTC offset count by
their UTC date when every one of them is at 00:00 UTC (the project's convention) and by the
exchange's local date otherwise (a vendor stamping the 16:00 New York close). A file with several
rows on one date at different times holds intraday bars, which this provider refuses.

Timeframes. Vendor files hold daily bars, so `timeframes` is {d1}: w1 and mo1 are derived by the
project from the stored d1 bars, and a request for any other timeframe is answered with an empty
frame whose `attrs["reason"]` (and `unsupported_reason`) says why, not with an error. The ohlc_bars
asset asks every provider for every fetched timeframe in one run; an error would fail the run for a
source that simply has no intraday bars, and an empty answer is the truth. (The asset also reads
`timeframes` and does not ask at all, so no empty intraday datasets are recorded.)

Corporate actions from the factor columns. The equity_daily layout comes from factor files where
"a bar dated d uses the first factor row with date >= d": a factor row dated D (the last session
before the event) applies to bars up to D, and the next bar in the file is the first to carry the
new factor, i.e. the event's ex-date. The project's `market.adjustment_factors` multiplies bars with
session_date < ex_date by 1/ratio for a split and by 1 - cash / (the previous stored raw close) for
a dividend. So between consecutive rows i-1, i of a file:

* split_factor changes: a split (ratio > 1) or reverse split (ratio < 1) with ex_date = date_i and
  ratio = split_factor_i / split_factor_{i-1};
* price_factor changes: a cash dividend with ex_date = date_i and
  cash_amount = (1 - price_factor_{i-1} / price_factor_i) * close_{i-1},
  so that 1 - cash / close_{i-1} is the vendor's factor again.

The view then reproduces the vendor's adjusted prices (adj = raw * price_factor * split_factor)
divided by the vendor's factor of the newest stored bar (the project's adjusted prices are relative
to the newest bar; the vendor's to the end of its data). Ratios are kept as the vendor's factors
give them (AIG's 3:2 split of 1998 comes out as 1.5000049 because `split_factor` is rounded to six
digits) so that the adjusted prices are the vendor's. Rows of `corporate_actions.csv` replace
derived events of the same symbol, type and ex-date; `split_events.csv` supplies splits for symbols
whose file has no `split_factor` and splits outside a file's dates, and is checked against the
splits derived inside them (a disagreement is an error: one of the two files is wrong).

Errors. Unusable input (a directory without data files, a file that cannot be read, missing
columns, a date that does not parse, intraday rows, nonsense factors) raises `VendorFileError`, a
ConfigError with a one-line message naming the file. Bad *values* (a missing or negative price,
high below low, ...) are passed through: the project's validation quarantines those rows like any
provider's.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from swiftbolt.calendars import sessions as calendar_sessions
from swiftbolt.errors import ConfigError
from swiftbolt.market_data.types import (
    BAR_COLUMNS,
    CALENDAR_COLUMNS,
    CORPORATE_ACTION_COLUMNS,
    OPTION_CHAIN_COLUMNS,
    QUOTE_COLUMNS,
    Timeframe,
    empty_frame,
    option_chain_frame,
)
from swiftbolt.markets import get_market
from swiftbolt.providers.option_files import OPTIONS_SUBDIR, load_option_file, option_files
from swiftbolt.symbols import InvalidSymbol, validate_symbol

log = logging.getLogger(__name__)

PROVIDER_NAME = "file"  # lineage name: market.symbols.primary_source allows 'file'
DATA_SUFFIXES: tuple[str, ...] = (".csv.gz", ".csv", ".parquet", ".pq")
CORPORATE_ACTIONS_STEM = "corporate_actions"
SPLIT_EVENTS_STEM = "split_events"
DATE_COLUMNS: tuple[str, ...] = ("date", "timestamp", "datetime", "time", "ts")
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
REQUIRED_BAR_COLUMNS: tuple[str, ...] = (*PRICE_COLUMNS, "volume")
FACTOR_COLUMNS: tuple[str, ...] = ("price_factor", "split_factor")
DATE_FORMATS_HELP = "YYYY-MM-DD, YYYYMMDD, M/D/YYYY or an ISO 8601 timestamp"

_EXPLICIT_FORMATS: tuple[tuple[str, str], ...] = (
    (r"\d{8}", "%Y%m%d"),
    (r"\d{1,2}/\d{1,2}/\d{4}", "%m/%d/%Y"),
    (r"\d{1,2}/\d{1,2}/\d{2}", "%m/%d/%y"),
)
_HAS_OFFSET = r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$"  # a time, then an offset
_ACTION_ALIASES = {"split": "split", "reverse_split": "reverse_split", "cash_dividend": "cash_dividend",
                   "dividend": "cash_dividend"}
_SPLIT_MATCH_TOLERANCE = 1e-4  # relative: split_events ratios are rounded, factor ratios are not


class VendorFileError(ConfigError):
    """A vendor file or directory that cannot be used; the message is one line naming the file."""


def market_of(symbol: str) -> str:
    return "crypto" if "/" in symbol else "us_equity"


def symbol_of_stem(stem: str) -> str | None:
    """The ticker a file is named after: `spy` -> SPY, `BRK.B` or `BRK-B` -> BRK.B, `BTC-USD` or
    `btc_usd` -> BTC/USD; None when the name is no valid symbol of any market."""
    upper = stem.strip().upper()
    for candidate, market in ((upper, "us_equity"), (re.sub(r"[-_]", ".", upper), "us_equity"),
                              (re.sub(r"[-_]", "/", upper), "crypto")):
        try:
            return validate_symbol(candidate, market)
        except InvalidSymbol:
            continue
    return None


def _split_name(path: Path) -> tuple[str, str] | None:
    """(stem, suffix) of a data file, None for files that are not CSV or Parquet."""
    name = path.name
    for suffix in DATA_SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], suffix
    return None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def _read_table(path: Path) -> pd.DataFrame:
    """The file as a frame with lower-cased, stripped column names (CSV cells as text)."""
    try:
        if path.name.lower().endswith((".parquet", ".pq")):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, dtype=str, encoding="utf-8-sig", keep_default_na=False,
                                na_values=[""], skipinitialspace=True)
    except Exception as exc:  # any reader failure becomes one line naming the file
        raise VendorFileError(f"cannot read vendor file {path.name}: {_one_line(exc)}") from None
    names = [str(c).strip().lower() for c in frame.columns]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise VendorFileError(f"{path.name}: columns {dupes} appear more than once (names are case-insensitive)")
    frame.columns = names
    return frame.reset_index(drop=True)


def _where(path: Path) -> Callable[[int], str]:
    """Names row i of a file for an error message: the CSV line (header = line 1) or Parquet row."""
    if path.name.lower().endswith((".parquet", ".pq")):
        return lambda i: f"{path.name} row {i + 1}"
    return lambda i: f"{path.name} line {i + 2}"


def parse_stamps(values: pd.Series, where: Callable[[int], str], column: str) -> tuple[pd.Series, bool]:
    """Parse a date/timestamp column: (timestamps, aware). Aware timestamps are UTC; naive ones are
    the vendor's wall clock. Raises VendorFileError naming the first value that does not parse."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        parsed, aware = values.dt.tz_convert("UTC"), True
    elif pd.api.types.is_datetime64_dtype(values.dtype):
        parsed, aware = values, False
    else:
        text = values.astype("string").str.strip()
        empty = (text.isna() | (text == "")).to_numpy()
        if empty.any():
            raise VendorFileError(f"{where(int(np.flatnonzero(empty)[0]))}: {column} is empty")
        fmt = next((f for pattern, f in _EXPLICIT_FORMATS if len(text) and text.str.fullmatch(pattern).all()), None)
        if fmt is not None:
            parsed, aware = pd.to_datetime(text, format=fmt, errors="coerce"), False
        else:
            has_offset = text.str.contains(_HAS_OFFSET, regex=True).astype(bool)
            aware = bool(len(text)) and bool(has_offset.all())
            if has_offset.any() and not aware:
                i = int(np.flatnonzero(~has_offset.to_numpy())[0])
                raise VendorFileError(f"{where(i)}: {column} {text.iloc[i]!r} has no UTC offset but other rows "
                                      "have one; use one convention per file")
            try:
                parsed = pd.to_datetime(text, format="ISO8601", utc=aware, errors="coerce")
            except (ValueError, TypeError) as exc:  # e.g. offsets that pandas cannot unify without utc
                raise VendorFileError(f"{where(0)}: {column} does not parse ({_one_line(exc)})") from None
    bad = parsed.isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        if pd.isna(values.iloc[i]):
            raise VendorFileError(f"{where(i)}: {column} is empty")
        raise VendorFileError(f"{where(i)}: {column} {values.iloc[i]!r} is not a date ({DATE_FORMATS_HELP})")
    return parsed, aware


def trading_days(parsed: pd.Series, aware: bool, market: str) -> tuple[pd.Series, pd.Series]:
    """(trading day at 00:00 naive, the wall-clock stamp used for it) of parsed timestamps; see the
    module docstring for the rule."""
    if aware:
        utc = parsed.dt.tz_convert("UTC")
        if (utc == utc.dt.normalize()).all():
            local = utc.dt.tz_localize(None)
        else:
            local = utc.dt.tz_convert(get_market(market).timezone).dt.tz_localize(None)
    else:
        local = parsed
    local = local.astype("datetime64[ns]")
    return local.dt.normalize(), local


def _positive_factor(frame: pd.DataFrame, column: str, where: Callable[[int], str]) -> pd.Series:
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = ~(values > 0).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise VendorFileError(f"{where(i)}: {column} {frame[column].iloc[i]!r} is not a positive number")
    return values.astype("float64")


def load_bar_file(path: Path, symbol: str) -> pd.DataFrame:
    """One symbol's file as columns session_date (naive datetime64), open..volume, vwap, trade_count
    (float64; unparsable values as NaN for validation to quarantine) and price_factor / split_factor
    when the file has them, in file order."""
    frame = _read_table(path)
    where = _where(path)
    date_col = next((c for c in DATE_COLUMNS if c in frame.columns), None)
    missing = [c for c in REQUIRED_BAR_COLUMNS if c not in frame.columns]
    if date_col is None or missing:
        lacks = ([] if date_col else ["a date or timestamp column"]) + missing
        raise VendorFileError(
            f"{path.name}: missing {', '.join(lacks)} (a bar file needs date or timestamp, open, high, low, "
            f"close, volume; found {list(frame.columns)})"
        )
    parsed, aware = parse_stamps(frame[date_col], where, date_col)
    days, local = trading_days(parsed, aware, market_of(symbol))
    stamps = pd.DataFrame({"day": days, "stamp": local}).drop_duplicates()
    repeated = stamps["day"].duplicated(keep=False).to_numpy()
    if repeated.any():
        per_day = int(stamps.groupby("day").size().max())
        raise VendorFileError(
            f"{path.name}: up to {per_day} rows per date at different times (intraday bars?); the file "
            f"provider serves daily bars, one row per session (first: {stamps['day'][repeated].min().date()})"
        )
    out = pd.DataFrame({"session_date": days.to_numpy()})
    for col in (*REQUIRED_BAR_COLUMNS, "vwap", "trade_count"):
        src = frame[col] if col in frame.columns else pd.Series(np.nan, index=frame.index)
        out[col] = pd.to_numeric(src, errors="coerce").astype("float64").to_numpy()
    for col in FACTOR_COLUMNS:
        if col in frame.columns:
            out[col] = _positive_factor(frame, col, where).to_numpy()
    return out


def derive_factor_events(symbol: str, bars: pd.DataFrame, path_name: str = "") -> pd.DataFrame:
    """Splits and dividends implied by changes of split_factor / price_factor between consecutive
    rows (see the module docstring), columns CORPORATE_ACTION_COLUMNS."""
    present = [c for c in FACTOR_COLUMNS if c in bars.columns]
    if not present or len(bars) < 2:
        return empty_frame(CORPORATE_ACTION_COLUMNS)
    rows = bars.sort_values("session_date", kind="stable").drop_duplicates("session_date", keep="first")
    day = rows["session_date"].to_numpy()
    parts = []
    if "split_factor" in present:
        s = rows["split_factor"].to_numpy()
        at = np.flatnonzero(s[1:] != s[:-1]) + 1
        ratio = s[at] / s[at - 1]
        parts.append(pd.DataFrame({
            "action_type": np.where(ratio > 1, "split", "reverse_split"), "ex_date": day[at],
            "ratio": ratio, "cash_amount": np.nan,
        }))
    if "price_factor" in present:
        p = rows["price_factor"].to_numpy()
        close = rows["close"].to_numpy()
        at = np.flatnonzero(p[1:] != p[:-1]) + 1
        falls = p[at] < p[at - 1]
        if falls.any():
            i = at[np.flatnonzero(falls)[0]]
            raise VendorFileError(
                f"{path_name or symbol}: price_factor falls from {p[i - 1]} to {p[i]} on "
                f"{pd.Timestamp(day[i]).date()}, which no dividend explains; fix the file or drop the column"
            )
        cash = (1.0 - p[at - 1] / p[at]) * close[at - 1]
        no_close = ~(close[at - 1] > 0)
        if no_close.any():
            i = at[np.flatnonzero(no_close)[0]]
            raise VendorFileError(
                f"{path_name or symbol}: the dividend with ex-date {pd.Timestamp(day[i]).date()} needs the "
                "previous row's close, which is missing or not positive"
            )
        parts.append(pd.DataFrame({"action_type": "cash_dividend", "ex_date": day[at], "ratio": np.nan,
                                   "cash_amount": cash}))
    events = pd.concat(parts, ignore_index=True)
    events["ex_date"] = pd.to_datetime(events["ex_date"]).dt.date
    events["symbol"] = symbol
    events["record_date"] = None
    events["payment_date"] = None
    return _actions_frame(events)


def _actions_frame(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.loc[:, list(CORPORATE_ACTION_COLUMNS)].astype(
        {"symbol": str, "action_type": str, "ex_date": object, "record_date": object, "payment_date": object,
         "ratio": "float64", "cash_amount": "float64"})
    return out.sort_values(["symbol", "ex_date", "action_type"], kind="stable").reset_index(drop=True)


def _date_column(frame: pd.DataFrame, column: str, where: Callable[[int], str], optional: bool) -> pd.Series:
    if column not in frame.columns:
        return pd.Series([None] * len(frame), index=frame.index, dtype=object)
    values = frame[column]
    present = values.notna().to_numpy()
    if not optional and not present.all():
        i = int(np.flatnonzero(~present)[0])
        raise VendorFileError(f"{where(i)}: {column} is empty")
    out = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    if present.any():
        kept = values[present].reset_index(drop=True)
        rows = np.flatnonzero(present)
        parsed, aware = parse_stamps(kept, lambda i: where(int(rows[i])), column)
        days, _ = trading_days(parsed, aware, "us_equity")
        out[present] = days.dt.date.to_numpy()
    return out


def _symbols_column(frame: pd.DataFrame, where: Callable[[int], str]) -> pd.Series:
    names = frame["symbol"].astype("string").str.strip().fillna("")
    symbols = names.map(symbol_of_stem)
    bad = symbols.isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise VendorFileError(f"{where(i)}: {names.iloc[i]!r} is not a valid symbol")
    return symbols.astype(str)


def load_corporate_actions_file(path: Path) -> pd.DataFrame:
    """The project-format corporate-actions file as CORPORATE_ACTION_COLUMNS."""
    frame = _read_table(path)
    where = _where(path)
    missing = [c for c in ("symbol", "action_type", "ex_date") if c not in frame.columns]
    if missing:
        raise VendorFileError(f"{path.name}: missing columns {missing} (need symbol, action_type, ex_date, "
                              f"ratio for splits, cash_amount for dividends; found {list(frame.columns)})")
    kinds = frame["action_type"].astype("string").str.strip().str.lower().map(_ACTION_ALIASES)
    bad = kinds.isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise VendorFileError(f"{where(i)}: action_type {frame['action_type'].iloc[i]!r} is not one of "
                              "split, reverse_split, cash_dividend, dividend")
    ratio = pd.to_numeric(frame.get("ratio", pd.Series(np.nan, index=frame.index)), errors="coerce")
    cash = pd.to_numeric(frame.get("cash_amount", pd.Series(np.nan, index=frame.index)), errors="coerce")
    is_div = (kinds == "cash_dividend").to_numpy()
    bad_ratio = ~is_div & ~((ratio > 0) & (ratio != 1)).to_numpy()
    bad_cash = is_div & ~(cash > 0).to_numpy()
    for mask, what in ((bad_ratio, "a split needs a positive ratio other than 1 (new shares per old)"),
                       (bad_cash, "a dividend needs a positive cash_amount")):
        if mask.any():
            raise VendorFileError(f"{where(int(np.flatnonzero(mask)[0]))}: {what}")
    out = pd.DataFrame({
        "symbol": _symbols_column(frame, where),
        "action_type": np.where(is_div, "cash_dividend", np.where(ratio > 1, "split", "reverse_split")),
        "ex_date": _date_column(frame, "ex_date", where, optional=False),
        "record_date": _date_column(frame, "record_date", where, optional=True),
        "payment_date": _date_column(frame, "payment_date", where, optional=True),
        "ratio": np.where(is_div, np.nan, ratio),
        "cash_amount": np.where(is_div, cash, np.nan),
    })
    return _actions_frame(out)


def load_split_events_file(path: Path) -> pd.DataFrame:
    """The equity_daily split list: symbol, last_pre_split_date (a date), ratio."""
    frame = _read_table(path)
    where = _where(path)
    need = ("symbol", "last_pre_split_date", "split_ratio_new_per_old")
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise VendorFileError(f"{path.name}: missing columns {missing} (the split list needs {list(need)})")
    ratio = pd.to_numeric(frame["split_ratio_new_per_old"], errors="coerce")
    bad = ~((ratio > 0) & (ratio != 1)).to_numpy()
    if bad.any():
        raise VendorFileError(f"{where(int(np.flatnonzero(bad)[0]))}: split_ratio_new_per_old must be a positive "
                              "number other than 1")
    return pd.DataFrame({
        "symbol": _symbols_column(frame, where),
        "last_pre_split_date": _date_column(frame, "last_pre_split_date", where, optional=False),
        "ratio": ratio.astype("float64"),
    })


def _to_utc(value: dt.datetime | dt.date | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _empty_bars(reason: str) -> pd.DataFrame:
    frame = _bars_frame([])
    frame.attrs["reason"] = reason
    return frame


def _bars_frame(parts: list[pd.DataFrame]) -> pd.DataFrame:
    if not parts:
        frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in BAR_COLUMNS})
        frame = frame.astype({"symbol": object, "timeframe": object, "ts": "datetime64[ns, UTC]"})
    else:
        frame = pd.concat(parts, ignore_index=True)
    frame["trade_count"] = pd.to_numeric(frame["trade_count"]).round().astype("Int64")
    return frame.loc[:, list(BAR_COLUMNS)]


class FilesProvider:
    """A MarketDataProvider over a directory of vendor files (daily bars and corporate actions).

    `FilesProvider(directory)` lists the directory at once and raises VendorFileError when it does
    not exist, holds no data file, or holds a data file that is named after no symbol; each symbol's
    file is read (and checked) the first time it is asked for, and kept. `check()` reads everything.
    """

    name: str = PROVIDER_NAME
    timeframes: frozenset[Timeframe] = frozenset({Timeframe.D1})

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory).expanduser()
        if not self.directory.is_dir():
            raise VendorFileError(f"vendor files directory {str(self.directory)!r} does not exist or is not a "
                                  "directory")
        self._files: dict[str, Path] = {}
        self._actions_path: Path | None = None
        self._split_events_path: Path | None = None
        for path in sorted(p for p in self.directory.iterdir() if p.is_file()):
            parts = _split_name(path)
            if parts is None:
                continue
            stem = parts[0].strip().lower()
            if stem in (CORPORATE_ACTIONS_STEM, SPLIT_EVENTS_STEM):
                slot = "_actions_path" if stem == CORPORATE_ACTIONS_STEM else "_split_events_path"
                if getattr(self, slot) is not None:
                    raise VendorFileError(f"two {stem} files in {self.directory}: {getattr(self, slot).name} and "
                                          f"{path.name}; keep one")
                setattr(self, slot, path)
                continue
            symbol = symbol_of_stem(parts[0])
            if symbol is None:
                raise VendorFileError(
                    f"vendor file {path.name} is not named after a symbol (e.g. SPY.csv, BRK.B.csv, BTC-USD.csv) "
                    f"nor {CORPORATE_ACTIONS_STEM}.csv; rename or move it"
                )
            if symbol in self._files:
                raise VendorFileError(f"two files for {symbol} in {self.directory}: {self._files[symbol].name} and "
                                      f"{path.name}; keep one")
            self._files[symbol] = path
        self._option_paths = option_files(self.directory)
        self._chains: pd.DataFrame | None = None
        if not self._files and not self._option_paths:
            raise VendorFileError(
                f"no vendor bar files in {self.directory} (expected one <SYMBOL>.csv or .parquet per symbol, or "
                f"option chain files in {OPTIONS_SUBDIR}/)"
            )
        self._bars: dict[str, pd.DataFrame] = {}
        self._events: dict[str, pd.DataFrame] = {}
        self._listed_splits: pd.DataFrame | None = None
        self._explicit: pd.DataFrame | None = None

    # -- files -----------------------------------------------------------------------------------

    def symbols(self) -> list[str]:
        """The symbols that have a bar file, sorted."""
        return sorted(self._files)

    def path_of(self, symbol: str) -> Path | None:
        return self._files.get(symbol)

    def _validated(self, symbols: Sequence[str]) -> list[str]:
        if isinstance(symbols, str):
            symbols = [symbols]
        return sorted({validate_symbol(s, market_of(s)) for s in symbols})

    def daily_bars(self, symbol: str) -> pd.DataFrame:
        """All rows of the symbol's file (see `load_bar_file`); an empty frame without a file."""
        if symbol not in self._bars:
            path = self._files.get(symbol)
            if path is None:
                return pd.DataFrame(columns=["session_date", *REQUIRED_BAR_COLUMNS, "vwap", "trade_count"])
            self._bars[symbol] = load_bar_file(path, symbol)
        return self._bars[symbol]

    def check(self) -> dict[str, int]:
        """Read every file (bars and corporate actions) now: rows per symbol. Raises VendorFileError
        on the first unusable file, so a command can refuse a directory before it starts."""
        rows = {s: len(self.daily_bars(s)) for s in self.symbols()}
        self.corporate_actions(self.symbols(), dt.date.min, dt.date.max)
        if self._actions_path is not None and self._explicit is None:
            self._explicit = load_corporate_actions_file(self._actions_path)
        return rows

    # -- bars ------------------------------------------------------------------------------------

    def unsupported_reason(self, timeframe: Timeframe | str) -> str | None:
        """Why this provider has no bars of `timeframe` (None when it serves it)."""
        tf = Timeframe(timeframe)
        if tf in self.timeframes:
            return None
        if tf in (Timeframe.W1, Timeframe.MO1):
            return f"vendor files hold daily bars; {tf.value} bars are derived by the project from the stored d1 bars"
        return f"vendor files hold daily bars only; no {tf.value} bars in {self.directory}"

    def bars(
        self, symbols: Sequence[str], timeframe: Timeframe | str, start: dt.datetime, end: dt.datetime
    ) -> pd.DataFrame:
        """Raw daily bars with start <= ts < end (ts = the trading day at 00:00 UTC; naive datetimes are
        taken as UTC), sorted by symbol and ts, rows in file order within a day (duplicates kept for
        validation to judge). Other timeframes: an empty frame with attrs["reason"]. Symbols without
        a file have no rows."""
        names = self._validated(symbols)
        reason = self.unsupported_reason(timeframe)
        if reason is not None:
            log.info("files provider: %s", reason)
            return _empty_bars(reason)
        lo, hi = _to_utc(start), _to_utc(end)
        parts = []
        for symbol in names:
            rows = self.daily_bars(symbol)
            if rows.empty:
                continue
            ts = pd.to_datetime(rows["session_date"]).dt.tz_localize("UTC")
            keep = ((ts >= lo) & (ts < hi)).to_numpy()
            if not keep.any():
                continue
            part = rows.loc[keep, [*REQUIRED_BAR_COLUMNS, "vwap", "trade_count"]].copy()
            part.insert(0, "ts", ts[keep].astype("datetime64[ns, UTC]"))
            part.insert(0, "timeframe", Timeframe.D1.value)
            part.insert(0, "symbol", symbol)
            parts.append(part.sort_values("ts", kind="stable"))
        frame = _bars_frame(parts)
        missing = [s for s in names if s not in self._files]
        if missing:
            frame.attrs["reason"] = f"no vendor file for {missing} in {self.directory}"
        return frame.reset_index(drop=True)

    # -- corporate actions -----------------------------------------------------------------------

    def _split_events(self) -> pd.DataFrame:
        """split_events.csv rows with their ex-date: the next session after last_pre_split_date."""
        if self._listed_splits is None:
            assert self._split_events_path is not None
            raw = load_split_events_file(self._split_events_path)
            if raw.empty:
                self._listed_splits = empty_frame(CORPORATE_ACTION_COLUMNS)
                return self._listed_splits
            first, last = min(raw["last_pre_split_date"]), max(raw["last_pre_split_date"])
            cal = calendar_sessions.sessions("us_equity", first, last + dt.timedelta(days=14))
            days = np.array(cal["date"].tolist(), dtype="datetime64[D]")
            pre = np.array(raw["last_pre_split_date"].tolist(), dtype="datetime64[D]")
            idx = np.searchsorted(days, pre, side="right")
            ex = [days[i].astype(dt.date) if i < len(days) else d + dt.timedelta(days=1)
                  for i, d in zip(idx, raw["last_pre_split_date"], strict=True)]
            out = pd.DataFrame({"symbol": raw["symbol"], "ex_date": ex, "ratio": raw["ratio"], "cash_amount": np.nan,
                                "record_date": None, "payment_date": None})
            out["action_type"] = np.where(out["ratio"] > 1, "split", "reverse_split")
            self._listed_splits = _actions_frame(out)
        return self._listed_splits

    def _checked_split_events(self, symbol: str, derived: pd.DataFrame) -> pd.DataFrame:
        """The symbol's split_events rows to add: all of them when its file has no split_factor, else
        those outside the file's rows. The others must agree with the derived splits (same ratio,
        ex-date = the first bar on or after the listed one)."""
        listed = self._split_events()
        listed = listed[listed["symbol"] == symbol]
        bars = self.daily_bars(symbol)
        if listed.empty or "split_factor" not in bars.columns:
            return listed
        days = np.sort(pd.to_datetime(bars["session_date"]).dt.date.unique())
        keep = []
        for row in listed.itertuples(index=False):
            pos = np.searchsorted(days, row.ex_date)
            outside = pos == 0 or pos >= len(days)  # the factors cannot show it: take the listed split
            keep.append(outside)
            if outside:
                continue
            mine = derived[(derived["ex_date"] == days[pos]) & derived["action_type"].isin(["split", "reverse_split"])]
            if mine.empty or abs(mine["ratio"].iloc[0] / row.ratio - 1) > _SPLIT_MATCH_TOLERANCE:
                found = "none" if mine.empty else f"ratio {mine['ratio'].iloc[0]:.6g}"
                assert self._split_events_path is not None
                raise VendorFileError(
                    f"{self._split_events_path.name} lists a {row.ratio:g} split of {symbol} with ex-date "
                    f"{row.ex_date}, but {self._files[symbol].name}'s split_factor gives {found} on "
                    f"{days[pos]}; fix or remove one of them"
                )
        return listed[np.array(keep, dtype=bool)]

    def _symbol_events(self, symbol: str) -> pd.DataFrame:
        """All corporate actions of one symbol (cached): derived, then listed, then explicit (wins)."""
        if symbol not in self._events:
            parts = [empty_frame(CORPORATE_ACTION_COLUMNS)]
            if symbol in self._files:
                parts.append(derive_factor_events(symbol, self.daily_bars(symbol), self._files[symbol].name))
            if self._split_events_path is not None:
                parts.append(self._checked_split_events(symbol, parts[-1]))
            if self._actions_path is not None:
                if self._explicit is None:
                    self._explicit = load_corporate_actions_file(self._actions_path)
                parts.append(self._explicit[self._explicit["symbol"] == symbol])
            events = pd.concat([p for p in parts if not p.empty] or parts[:1], ignore_index=True)
            self._events[symbol] = _actions_frame(events.drop_duplicates(["action_type", "ex_date"], keep="last"))
        return self._events[symbol]

    def corporate_actions(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """Splits, reverse splits and cash dividends with ex_date in [start, end]: derived from the
        factor columns, from split_events.csv, and from corporate_actions.csv (which wins). Only the
        requested symbols' files are read."""
        events = pd.concat([self._symbol_events(s) for s in self._validated(symbols)], ignore_index=True)
        if events.empty:
            return _actions_frame(empty_frame(CORPORATE_ACTION_COLUMNS))
        day = pd.to_datetime(events["ex_date"]).dt.date
        return _actions_frame(events[((day >= start) & (day <= end)).to_numpy()])

    # -- the rest of the interface -----------------------------------------------------------------

    def latest_quotes(self, symbols: Sequence[str]) -> pd.DataFrame:
        """The last daily bar of each symbol's file as a quote: last = close at the session's close;
        no bid/ask (vendor files have none)."""
        rows: list[dict[str, Any]] = []
        for symbol in self._validated(symbols):
            bars = self.daily_bars(symbol)
            bars = bars[bars["close"] > 0]
            if bars.empty:
                continue
            ordered = bars.sort_values("session_date", kind="stable")
            last = ordered.iloc[-1]
            day = pd.Timestamp(last["session_date"]).date()
            cal = calendar_sessions.sessions(market_of(symbol), day, day)
            ts = cal["close_utc"].iloc[0] if not cal.empty else pd.Timestamp(day, tz="UTC") + pd.Timedelta(days=1)
            rows.append({
                "symbol": symbol, "ts": ts, "last": float(last["close"]), "bid": np.nan, "ask": np.nan,
                "day_high": float(last["high"]), "day_low": float(last["low"]),
                "prev_close": float(ordered["close"].iloc[-2]) if len(ordered) > 1 else np.nan,
            })
        out = pd.DataFrame(rows, columns=list(QUOTE_COLUMNS))
        return out.astype({"symbol": str, "ts": "datetime64[ns, UTC]", **{c: "float64" for c in QUOTE_COLUMNS[2:]}})

    def calendar(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        """US equity sessions in [start, end] (exchange-calendars; files carry no calendar)."""
        return calendar_sessions.sessions("us_equity", start, end).loc[:, list(CALENDAR_COLUMNS)].reset_index(drop=True)

    def option_chains(self) -> pd.DataFrame:
        """Every row of every file in options/ (read once, kept), see swiftbolt/providers/option_files.py."""
        if self._chains is None:
            parts = [load_option_file(p) for p in self._option_paths]
            self._chains = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
                columns=[*OPTION_CHAIN_COLUMNS, "session_date"])
            self._chains.attrs["missing_iv_markers"] = sum(p.attrs.get("missing_iv_markers", 0) for p in parts)
        return self._chains

    def option_chain(self, underlying: str, as_of: dt.datetime | None = None) -> pd.DataFrame:
        """The end-of-day chain of the underlying's latest session in the files at or before `as_of`'s
        New York date (None: the latest), OPTION_CHAIN_COLUMNS, from the files in `options/` (two layouts,
        see option_files). Extra vendor columns (`vendor_*`, `iv_interpolated`) are dropped here; an empty
        chain when no file has the underlying. Rows are returned as the vendor wrote them (duplicates too):
        validation judges them."""
        symbol = validate_symbol(underlying, market_of(underlying))
        chains = self.option_chains()
        rows = chains[chains["underlying"] == symbol]
        if as_of is not None and not rows.empty:
            day = _to_utc(as_of).tz_convert("America/New_York").date()
            rows = rows[rows["session_date"] <= day]
        if rows.empty:
            return option_chain_frame()
        rows = rows[rows["session_date"] == rows["session_date"].max()]
        return option_chain_frame({c: rows[c].to_numpy() for c in OPTION_CHAIN_COLUMNS})
