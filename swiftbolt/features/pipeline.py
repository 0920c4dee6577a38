"""The feature pipelines for a set of partitions (symbols x trading days), as the feature assets run
them, each returning a report with one row per partition so every partition's materialization carries
its own figures. One transaction per call: a partition is replaced whole or not at all.

Each symbol's bars are loaded once (all timeframes in one round trip) with the warm-up the computation
needs (nothing after the partitions' last day: no look-ahead), computed, and the rows of the partitions'
days written.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import psycopg

from swiftbolt.features.feature_set import default_feature_set
from swiftbolt.features.indicators import WARMUP_BARS, compute_features, feature_columns
from swiftbolt.features.sr_levels import sr_levels_series
from swiftbolt.features.store import (
    ensure_feature_set,
    load_adjusted_bars,
    load_adjusted_bars_by_timeframe,
    write_feature_rows,
    write_sr_levels,
    write_supertrend_signals,
)
from swiftbolt.features.supertrend_signals import supertrend_signals

FEATURE_TIMEFRAMES = ("d1", "h1", "m15")
SR_LOOKBACK = 120
# Indicators shown in the feature assets' plots and per-partition metadata (d1 rows).
KEY_INDICATORS = ("rsi_14", "macd_hist", "atr_14", "supertrend_dir")


class Timings(dict[str, float]):
    """Seconds per phase (load, compute, write), accumulated; optional instrumentation for benchmarks.
    compute_feature_rows writes on a worker thread while it computes: its `write` is the time spent waiting
    for writes (the part not overlapped by computing)."""

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self[name] = self.get(name, 0.0) + time.perf_counter() - t0


def in_dates(frame: pd.DataFrame, dates: list[dt.date]) -> pd.DataFrame:
    """The rows of `frame` whose session_date is one of `dates`."""
    return frame[frame["session_date"].isin(pd.to_datetime(dates))]


@dataclass(frozen=True)
class FeatureRowsReport:
    """`partitions`: symbol, session_date, rows (all timeframes), rows_<tf>, rows_without_warmup.
    `daily`: the d1 rows written (symbol, session_date, close and KEY_INDICATORS), for plots."""

    feature_set_hash: str
    feature_count: int
    partitions: pd.DataFrame
    daily: pd.DataFrame

    @property
    def rows_written(self) -> int:
        return int(self.partitions["rows"].sum()) if not self.partitions.empty else 0

    @property
    def rows_without_warmup(self) -> int:
        return int(self.partitions["rows_without_warmup"].sum()) if not self.partitions.empty else 0


def _partition_frame(by_symbol: dict[str, list[dt.date]]) -> pd.DataFrame:
    return pd.DataFrame(
        [(s, d) for s, dates in by_symbol.items() for d in dates], columns=["symbol", "session_date"]
    )


def _count_by_day(symbol: str, rows: pd.DataFrame, column: str, mask: np.ndarray | None = None) -> pd.DataFrame:
    """Rows per session_date (as datetime.date, like the partitions' dates), counted in numpy: one Python
    object per day, not per row."""
    days = rows["session_date"].to_numpy().astype("datetime64[D]")
    days, counts = np.unique(days if mask is None else days[mask], return_counts=True)
    return pd.DataFrame({"symbol": symbol, "session_date": days.astype(object), column: counts.astype("int64")})


def _attach_counts(partitions: pd.DataFrame, counts: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    out = partitions.copy()
    for column in columns:
        parts = [c for c in counts if column in c.columns]
        if parts:
            summed = pd.concat(parts).groupby(["symbol", "session_date"], as_index=False)[column].sum()
            out = out.merge(summed, on=["symbol", "session_date"], how="left")
        else:
            out[column] = 0
        out[column] = out[column].fillna(0).astype("int64")
    return out


def compute_feature_rows(
    conn: psycopg.Connection,
    symbol_ids: dict[str, int],
    by_symbol: dict[str, list[dt.date]],
    code_version: str,
    timings: Timings | None = None,
) -> FeatureRowsReport:
    """Replace ml.feature_rows of the partitions (d1, h1, m15) in the caller's transaction."""
    timings = timings if timings is not None else Timings()
    definition = default_feature_set()
    columns = feature_columns()
    set_id = ensure_feature_set(conn, definition, code_version)
    partitions: list[pd.DataFrame] = []
    daily: list[pd.DataFrame] = []
    # The writes (DELETE of the days, encoding, COPY) run on one worker thread, in order, on the caller's
    # connection and transaction, so that a timeframe's rows are written while the next one is computed.
    # Nothing else uses the connection meanwhile: the next load first waits for the pending write, and
    # leaving the executor waits for it too (an error in either thread propagates before the caller's
    # transaction ends).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="feature-rows-writer") as writer:
        pending: Future[int] | None = None

        def wait_for_write() -> None:
            if pending is not None:
                with timings.phase("write"):
                    pending.result()

        for symbol, dates in by_symbol.items():
            # rows per partition day, counted in numpy against the sorted partition days (one Python object
            # per day, none per row)
            days = np.array(dates, dtype="datetime64[D]")
            order = np.argsort(days, kind="stable")
            sorted_days = days[order]
            counts = {f"rows_{tf}": np.zeros(len(dates), dtype=np.int64) for tf in FEATURE_TIMEFRAMES}
            counts["rows_without_warmup"] = np.zeros(len(dates), dtype=np.int64)
            wait_for_write()
            with timings.phase("load"):
                bars_by_tf = load_adjusted_bars_by_timeframe(conn, symbol_ids[symbol], list(FEATURE_TIMEFRAMES),
                                                             dates[0], dates[-1], WARMUP_BARS)
            for tf in FEATURE_TIMEFRAMES:
                bars = bars_by_tf[tf]
                with timings.phase("compute"):
                    if bars.empty:
                        rows = bars
                    else:
                        feats = compute_features(bars)
                        feats["session_date"] = bars["session_date"].to_numpy()
                        feats["close"] = bars["close"].to_numpy()
                        rows = in_dates(feats, dates)
                wait_for_write()
                pending = writer.submit(write_feature_rows, conn, symbol_ids[symbol], tf, set_id, dates, rows,
                                        columns)
                if rows.empty:
                    continue
                day_index = order[np.searchsorted(sorted_days,
                                                  rows["session_date"].to_numpy().astype("datetime64[D]"))]
                counts[f"rows_{tf}"] += np.bincount(day_index, minlength=len(dates))
                counts["rows_without_warmup"] += np.bincount(
                    day_index[~rows["warmup_complete"].to_numpy(dtype=bool)], minlength=len(dates))
                if tf == "d1":
                    keep = ["session_date", "close", *[k for k in KEY_INDICATORS if k in rows.columns]]
                    daily.append(rows[keep].assign(symbol=symbol))
            partitions.append(pd.DataFrame({"symbol": symbol, "session_date": list(dates), **counts}))
        wait_for_write()
    tf_columns = [f"rows_{tf}" for tf in FEATURE_TIMEFRAMES]
    partition_frame = (pd.concat(partitions, ignore_index=True) if partitions
                       else _attach_counts(_partition_frame(by_symbol), [], [*tf_columns, "rows_without_warmup"]))
    partition_frame["rows"] = partition_frame[tf_columns].sum(axis=1)
    daily_frame = pd.concat(daily, ignore_index=True) if daily else pd.DataFrame(columns=["symbol", "session_date"])
    return FeatureRowsReport(definition.definition_hash(), len(columns), partition_frame, daily_frame)


@dataclass(frozen=True)
class SrLevelsReport:
    """`partitions`: symbol, session_date, rows, close, nearest_support, nearest_resistance."""

    partitions: pd.DataFrame

    @property
    def rows_written(self) -> int:
        return int(self.partitions["rows"].sum()) if not self.partitions.empty else 0


def compute_sr_levels(
    conn: psycopg.Connection, symbol_ids: dict[str, int], by_symbol: dict[str, list[dt.date]]
) -> SrLevelsReport:
    """Replace ml.sr_levels of the partitions from adjusted daily bars up to each day."""
    written: list[pd.DataFrame] = []
    for symbol, dates in by_symbol.items():
        bars = load_adjusted_bars(conn, symbol_ids[symbol], "d1", dates[0], dates[-1], SR_LOOKBACK)
        if bars.empty:
            write_sr_levels(conn, symbol_ids[symbol], dates, bars)
            continue
        levels = sr_levels_series(bars, SR_LOOKBACK)
        levels["session_date"] = bars["session_date"].to_numpy()
        rows = in_dates(levels, dates)
        write_sr_levels(conn, symbol_ids[symbol], dates, rows)
        written.append(pd.DataFrame({
            "symbol": symbol, "session_date": rows["session_date"].dt.date, "rows": 1,
            "close": rows["close"], "nearest_support": rows["support"], "nearest_resistance": rows["resistance"],
        }))
    partitions = _partition_frame(by_symbol)
    if written:
        partitions = partitions.merge(pd.concat(written), on=["symbol", "session_date"], how="left")
    else:
        partitions = partitions.assign(rows=0, close=np.nan, nearest_support=np.nan, nearest_resistance=np.nan)
    partitions["rows"] = partitions["rows"].fillna(0).astype("int64")
    return SrLevelsReport(partitions)


@dataclass(frozen=True)
class SupertrendReport:
    """`partitions`: symbol, session_date, signals (flips on that day), and the outcome counts of the
    symbol's signals as resolved at the run's last day (`by_outcome`)."""

    partitions: pd.DataFrame
    by_outcome: dict[str, int]


def compute_supertrend_signals(
    conn: psycopg.Connection, symbol_ids: dict[str, int], by_symbol: dict[str, list[dt.date]]
) -> SupertrendReport:
    """Upsert ml.supertrend_signals of each symbol from adjusted daily bars up to its last partition day
    (signals still OPEN are resolved by later partitions)."""
    by_outcome: dict[str, int] = {"WIN": 0, "LOSS": 0, "OPEN": 0}
    counts: list[pd.DataFrame] = []
    for symbol, dates in by_symbol.items():
        bars = load_adjusted_bars(conn, symbol_ids[symbol], "d1", dates[0], dates[-1], WARMUP_BARS)
        if bars.empty:
            continue
        signals = supertrend_signals(bars)
        write_supertrend_signals(conn, symbol_ids[symbol], "d1", signals)
        for outcome, n in signals["outcome"].value_counts().items():
            by_outcome[str(outcome)] = by_outcome.get(str(outcome), 0) + int(n)
        if not signals.empty:
            days = pd.to_datetime(signals["ts"]).dt.tz_convert("UTC").dt.tz_localize(None).dt.normalize()
            counts.append(_count_by_day(symbol, pd.DataFrame({"session_date": days}), "signals"))
    partitions = _attach_counts(_partition_frame(by_symbol), counts, ["signals"])
    return SupertrendReport(partitions, by_outcome)
