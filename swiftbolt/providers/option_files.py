"""Vendor option chain files for the files provider: end-of-day chains, many sessions and underlyings per
file, in `<SWIFTBOLT_FILES_DIR>/options/` (CSV, CSV.gz or Parquet).

Two layouts are read, told apart by their columns (names case-insensitive):

* iVolatility (the SPX 2011 samples in ../shared/data/options/): `symbol`, `date`, `stock_price_close`,
  `option_symbol` (OCC, the root padded with spaces: "SPXW  110107C01050000"), `option_expiration`,
  `strike`, `call/put` (C/P), `ask`, `bid`, `iv`, `volume`, `open_interest`, `delta`, `vega`, `gamma`,
  `theta`, `rho`, `isinterpolated` ('*' = the vendor interpolated the IV rather than solving it) and
  more that are kept as `vendor_<name>` (forward_price, mean_price, ...). The vendor writes -1 for an IV
  it did not compute: it becomes a missing IV (counted in attrs["missing_iv_markers"]) that the project
  then solves itself.
* the project's own: the columns of OPTION_CHAIN_COLUMNS plus `date` (the session) or `ts`.

Text quirks handled for both: a UTF-8 byte-order mark, CR-only (old Mac), CRLF or LF line ends, and dates
as M/D/YY, M/D/YYYY or YYYY-MM-DD. The snapshot time of an end-of-day row is its session's close
(16:00 New York). Unusable input (missing columns, unparseable dates) raises VendorFileError naming the
file; bad values pass through to the chain validation, which quarantines them with a reason.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pandas as pd

from swiftbolt.errors import ConfigError
from swiftbolt.market_data.types import OPTION_CHAIN_COLUMNS

OPTIONS_SUBDIR = "options"
SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")
IVOL_REQUIRED = ("symbol", "date", "stock_price_close", "option_symbol", "option_expiration", "strike",
                 "call/put", "ask", "bid", "iv", "volume", "open_interest")
_GREEKS = ("delta", "gamma", "theta", "vega", "rho")
_DATE_FORMATS = ("%m/%d/%y", "%m/%d/%Y", "%Y-%m-%d")


class OptionFileError(ConfigError):
    """An option chain file the provider cannot use (one line, naming the file)."""


def option_files(directory: Path) -> list[Path]:
    folder = directory / OPTIONS_SUBDIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(SUFFIXES))


def read_text_table(path: Path) -> pd.DataFrame:
    """A CSV whatever its byte-order mark and line ends, or a Parquet file; column names lower-cased."""
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        frame = pd.read_parquet(path)
    else:
        data = path.read_bytes()
        if name.endswith(".gz"):
            data = gzip.decompress(data)
        text = data.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=True)
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    return frame


def parse_dates(values: pd.Series, path: Path, column: str) -> pd.Series:
    """Dates in one of M/D/YY, M/D/YYYY, YYYY-MM-DD (the first format that parses every value)."""
    text = values.astype(str).str.strip()
    for fmt in _DATE_FORMATS:
        parsed = pd.to_datetime(text, format=fmt, errors="coerce")
        if parsed.notna().all():
            if fmt == "%m/%d/%y" and (text.str.len() > 8).any():
                continue  # "1/3/2011" must not read as year 20
            return parsed.dt.normalize()
    bad = text[pd.to_datetime(text, format="mixed", errors="coerce").isna()]
    sample = bad.iloc[0] if len(bad) else text.iloc[0]
    raise OptionFileError(f"{path.name}: column {column!r} holds a date that is not M/D/YY, M/D/YYYY or "
                          f"YYYY-MM-DD ({sample!r})")


def _num(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(np.nan, index=frame.index)
    return pd.to_numeric(frame[column], errors="coerce").astype("float64")


def session_close(days: pd.Series) -> pd.Series:
    """16:00 New York of each session date, in UTC (an end-of-day vendor row's snapshot time)."""
    return (pd.to_datetime(days) + pd.Timedelta(hours=16)).dt.tz_localize("America/New_York").dt.tz_convert("UTC")


def load_option_file(path: Path) -> pd.DataFrame:
    """All rows of one vendor chain file: OPTION_CHAIN_COLUMNS + session_date (datetime.date) and the
    vendor's extra columns (`vendor_*`, `iv_interpolated`)."""
    try:
        raw = read_text_table(path)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise OptionFileError(f"{path.name}: cannot read: {str(exc).splitlines()[0]}") from None
    cols = set(raw.columns)
    if {"option_symbol", "call/put"} <= cols:
        missing = [c for c in IVOL_REQUIRED if c not in cols]
        if missing:
            raise OptionFileError(f"{path.name}: iVolatility layout without columns {missing}")
        session = parse_dates(raw["date"], path, "date")
        iv = _num(raw, "iv")
        markers = int((iv == -1).sum())
        out = pd.DataFrame({
            "underlying": raw["symbol"].str.strip().str.upper(),
            "contract": raw["option_symbol"].str.replace(r"\s+", "", regex=True).str.upper(),
            "expiration": parse_dates(raw["option_expiration"], path, "option_expiration").dt.date,
            "strike": _num(raw, "strike"),
            "option_type": raw["call/put"].str.strip().str.upper().map({"C": "call", "P": "put"}),
            "ts": session_close(session),
            "bid": _num(raw, "bid"), "ask": _num(raw, "ask"), "last": np.nan,
            "volume": _num(raw, "volume"), "open_interest": _num(raw, "open_interest"),
            "implied_volatility": iv.where(iv != -1),
            **{g: _num(raw, g) for g in _GREEKS},
            "underlying_price": _num(raw, "stock_price_close"),
            "session_date": session.dt.date,
            "iv_interpolated": raw.get("isinterpolated", pd.Series("", index=raw.index)).fillna("").str.strip() == "*",
        })
        for extra in ("forward_price", "mean_price", "stock_price_for_iv", "style"):
            if extra in cols:
                out[f"vendor_{extra}"] = raw[extra] if extra == "style" else _num(raw, extra)
        out.attrs["missing_iv_markers"] = markers
        out.attrs["layout"] = "ivolatility"
        return out
    missing = [c for c in OPTION_CHAIN_COLUMNS if c not in cols and c != "ts"]
    if missing or not ({"date", "ts"} & cols):
        raise OptionFileError(f"{path.name}: neither the iVolatility layout (option_symbol, call/put, ...) nor the "
                              f"project's chain columns (missing {missing or ['date or ts']})")
    out = raw.copy()
    if "ts" in cols:
        out["ts"] = pd.to_datetime(out["ts"], utc=True)
        out["session_date"] = out["ts"].dt.tz_convert("America/New_York").dt.date
    else:
        session = parse_dates(out["date"], path, "date")
        out["ts"] = session_close(session)
        out["session_date"] = session.dt.date
    out["expiration"] = parse_dates(out["expiration"], path, "expiration").dt.date
    for c in (*OPTION_CHAIN_COLUMNS[6:], "strike"):
        out[c] = _num(out, c)
    out["underlying"] = out["underlying"].astype(str).str.strip().str.upper()
    out["option_type"] = out["option_type"].astype(str).str.strip().str.lower().replace({"c": "call", "p": "put"})
    out.attrs["missing_iv_markers"] = 0
    out.attrs["layout"] = "swiftbolt"
    return out
