"""Option chain validation, vectorised: every contract a provider returned is kept or quarantined with one
reason (the first that applies), so `received = stored + quarantined` holds for every snapshot, as for bars
(swiftbolt/market_data/validation.py).

Checks, in order:

* contract fields: an OCC symbol (root of 1-6 characters, YYMMDD, C/P, strike x 1000 on 8 digits), an
  expiration date, a strike and a side ("missing contract fields"; "malformed contract symbol");
* numbers finite ("non-finite value": +/-inf anywhere);
* the underlying price present and positive ("missing underlying price");
* "negative price" (bid, ask or last below 0); "crossed quote (bid > ask)";
* "negative volume or open interest";
* "expired contract" (expiration before the snapshot's session; a contract expiring on the session is live
  until the close);
* "strike out of range": strike not positive, or strike / spot outside [1/50, 50] (SPX lists strikes from
  50 to 3000 around 1270: 0.04x to 2.4x; a factor 50 is a misplaced decimal point or a wrong underlying);
* "IV out of range": a provider IV present and not in (0, MAX_IV] (5 = 500%; a -1 vendor marker for "not
  computed" is turned into a missing IV by the file reader and counted there, not quarantined);
* "greek out of range": a provider delta outside [-1, 1];
* duplicates of a contract within a snapshot: identical copies keep one and the others are quarantined as
  "identical duplicate (collapsed)"; copies with different values are all quarantined ("duplicate contract
  with conflicting values"): no version is trusted over another.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from swiftbolt.market_data.types import OPTION_CHAIN_COLUMNS

MAX_IV = 5.0
STRIKE_RATIO_BOUND = 50.0
OCC_PATTERN = re.compile(r"^[A-Z0-9.]{1,6}\d{6}[CP]\d{8}$")
IDENTICAL_DUPLICATE = "identical duplicate (collapsed)"
CONFLICTING_DUPLICATE = "duplicate contract with conflicting values"
NOT_FAULTS = (IDENTICAL_DUPLICATE,)
NUMERIC = ("strike", "bid", "ask", "last", "volume", "open_interest", "implied_volatility", "delta", "gamma",
           "theta", "vega", "underlying_price")


@dataclass(frozen=True)
class ChainValidation:
    clean: pd.DataFrame      # OPTION_CHAIN_COLUMNS + mark, in the provider's order
    rejected: pd.DataFrame   # contract, reason, raw (json text)

    @property
    def reasons(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.rejected["reason"].value_counts().items()}

    @property
    def faults(self) -> int:
        return int((~self.rejected["reason"].isin(NOT_FAULTS)).sum())


def raw_json(frame: pd.DataFrame) -> pd.Series:
    """Each row as sent, one JSON object per row; +/-inf as "Infinity"/"-Infinity" (JSON has no inf)."""
    if frame.empty:
        return pd.Series([], index=frame.index, dtype="object")
    cols = [c for c in OPTION_CHAIN_COLUMNS if c in frame.columns]
    out = frame[cols].astype(object)
    for col in cols:
        if frame[col].dtype.kind == "f":
            values = frame[col].to_numpy()
            inf = np.isinf(values)
            if inf.any():
                out.loc[inf, col] = np.where(values[inf] > 0, "Infinity", "-Infinity")
    text = out.to_json(orient="records", lines=True, date_format="iso")
    return pd.Series(text.strip().split("\n"), index=frame.index, dtype="object")


def mark_of(bid: pd.Series | np.ndarray, ask: pd.Series | np.ndarray) -> np.ndarray:
    """Mid of the quote: (bid + ask) / 2 when an ask is quoted (a missing bid counts as 0), else NaN."""
    b = np.nan_to_num(np.asarray(bid, dtype="float64"), nan=0.0)
    a = np.asarray(ask, dtype="float64")
    return np.where(a > 0, (b + a) / 2.0, np.nan)


def validate_chain(frame: pd.DataFrame, snapshot_date: dt.date | np.ndarray | pd.Series,
                   by: str | None = None) -> ChainValidation:
    """Split a provider's chain (OPTION_CHAIN_COLUMNS) into clean rows (with `mark`) and rejected rows.

    Many chains at once: `by` names the column telling the chains apart (duplicates are looked for within
    a chain; the rejected rows keep the column) and `snapshot_date` is then one date per row."""
    frame = frame.reset_index(drop=True)
    n = len(frame)
    days = np.asarray(pd.to_datetime(pd.Series(snapshot_date) if not isinstance(snapshot_date, dt.date)
                                     else pd.Series([snapshot_date])), dtype="datetime64[ns]")
    reason = np.full(n, None, dtype=object)

    def reject(mask: np.ndarray | pd.Series, why: str) -> None:
        m = np.asarray(mask, dtype=bool) & pd.isna(reason)
        reason[m] = why

    num = {c: pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype="float64") if c in frame.columns
           else np.full(n, np.nan) for c in NUMERIC}
    contract = frame["contract"].astype(object).where(frame["contract"].notna(), None).to_numpy() \
        if "contract" in frame.columns else np.full(n, None, dtype=object)
    expiration = pd.to_datetime(frame.get("expiration"), errors="coerce")
    side = frame["option_type"].astype(str).str.lower().to_numpy() if "option_type" in frame.columns \
        else np.full(n, "", dtype=object)
    missing = (pd.isna(contract) | expiration.isna().to_numpy() | np.isnan(num["strike"])
               | ~np.isin(side, ("call", "put")))
    reject(missing, "missing contract fields")
    well_formed = np.array([isinstance(c, str) and OCC_PATTERN.match(c) is not None for c in contract], dtype=bool)
    reject(~well_formed, "malformed contract symbol")
    infinite = np.zeros(n, dtype=bool)
    for values in num.values():
        infinite |= np.isinf(values)
    reject(infinite, "non-finite value")
    spot = num["underlying_price"]
    reject(~(spot > 0), "missing underlying price")
    bid, ask, last = num["bid"], num["ask"], num["last"]
    reject((bid < 0) | (ask < 0) | (last < 0), "negative price")
    reject(bid > ask, "crossed quote (bid > ask)")
    reject((num["volume"] < 0) | (num["open_interest"] < 0), "negative volume or open interest")
    reject(expiration.dt.normalize().to_numpy() < days if n else np.zeros(0, bool), "expired contract")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = num["strike"] / spot
    reject(~(num["strike"] > 0) | (ratio > STRIKE_RATIO_BOUND) | (ratio < 1.0 / STRIKE_RATIO_BOUND),
           "strike out of range")
    iv = num["implied_volatility"]
    reject(~np.isnan(iv) & ~((iv > 0) & (iv <= MAX_IV)), "IV out of range")
    reject(np.abs(num["delta"]) > 1.0, "greek out of range")

    standing = pd.isna(reason)
    if standing.sum() > 1:
        keys = pd.DataFrame({"contract": contract[standing]})
        if by is not None:
            keys["chain"] = frame[by].to_numpy()[standing]
        dup_any = keys.duplicated(keep=False).to_numpy()
        if dup_any.any():
            values = pd.DataFrame({c: num[c][standing] for c in NUMERIC})
            values["expiration"] = expiration[standing].to_numpy()
            row_hash = pd.util.hash_pandas_object(values, index=False).to_numpy()
            dup_keys = keys[dup_any]
            versions = pd.Series(row_hash[dup_any]).groupby([dup_keys[c].to_numpy() for c in dup_keys.columns]) \
                .transform("nunique").to_numpy()
            conflicting = np.zeros(len(keys), dtype=bool)
            conflicting[dup_any] = versions > 1
            positions = np.flatnonzero(standing)
            reason[positions[dup_any & conflicting]] = CONFLICTING_DUPLICATE
            first_copy = keys.duplicated(keep="first").to_numpy()
            reason[positions[first_copy & ~conflicting]] = IDENTICAL_DUPLICATE

    bad = ~pd.isna(reason)
    clean = frame.loc[~bad].copy()
    for c in NUMERIC:
        if c in clean.columns:
            clean[c] = num[c][~bad]
    clean["option_type"] = side[~bad]
    clean["expiration"] = expiration[~bad].dt.date.astype(object)
    clean["mark"] = mark_of(clean["bid"], clean["ask"])
    rejected = pd.DataFrame({"contract": pd.Series(contract[bad], dtype=object), "reason": reason[bad],
                             "raw": raw_json(frame.loc[bad]).to_numpy()})
    if by is not None:
        rejected[by] = frame[by].to_numpy()[bad]
    return ChainValidation(clean=clean.reset_index(drop=True), rejected=rejected.reset_index(drop=True))
