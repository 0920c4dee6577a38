"""The bars pipeline for a set of partitions (symbols x trading days), as the `ohlc_bars` asset runs it:
ingest each rectangle of partitions in one pass, assess quality and coverage, and summarise every
partition from its lineage rows, so each partition's materialization carries its own figures."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import psycopg

from swiftbolt.db.connection import connect
from swiftbolt.market_data.bar_checks import PartitionAssessment, QualityThresholds, assess_partitions
from swiftbolt.market_data.ingest import IngestReport, RunInfo, ingest_bars
from swiftbolt.market_data.types import MarketDataProvider, Timeframe


@dataclass(frozen=True)
class BarsRunReport:
    """What one run of the bars pipeline did: the ingest reports (one per rectangle of partitions), the
    checks' assessment, and one row per partition (`partitions`, see `partition_summaries`)."""

    ingests: list[IngestReport]
    assessment: PartitionAssessment
    partitions: pd.DataFrame
    timeframes_not_served: dict[str, str]

    @property
    def rows_written(self) -> int:
        return sum(r.rows_written for r in self.ingests)

    @property
    def rows_rejected(self) -> int:
        return sum(r.rows_rejected for r in self.ingests)

    @property
    def rows_received(self) -> int:
        return sum(r.rows_received for r in self.ingests)

    @property
    def rows_derived(self) -> int:
        return sum(r.rows_derived for r in self.ingests)

    @property
    def rows_stored(self) -> int:
        """Rows stored as the provider sent them (written minus derived)."""
        return self.rows_written - self.rows_derived

    def requests(self) -> pd.DataFrame:
        """One row per provider request: timeframe, window, received = stored + quarantined."""
        return pd.DataFrame(
            [(a.timeframe, str(a.start), str(a.end), a.received, a.stored, a.quarantined)
             for r in self.ingests for a in r.requests],
            columns=["timeframe", "start", "end", "received", "stored", "quarantined"],
        )

    @property
    def provider_requests(self) -> int:
        return sum(r.provider_requests for r in self.ingests)

    @property
    def transactions(self) -> int:
        return sum(r.chunks for r in self.ingests)

    def rows_by_timeframe(self) -> dict[str, int]:
        return _sum_counts(r.rows_by_timeframe for r in self.ingests)

    def rejected_by_reason(self) -> dict[str, int]:
        return _sum_counts(r.rejected_by_reason for r in self.ingests)


def _sum_counts(counts) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in counts:
        for k, v in c.items():
            out[k] = out.get(k, 0) + int(v)
    return out


def rectangles(by_symbol: dict[str, list[dt.date]]) -> list[tuple[list[str], list[dt.date]]]:
    """Group symbols that share the same trading days: a rectangle of partitions (the usual case of a
    ranged run) is one ingest with one provider request per timeframe; anything else one per group."""
    groups: dict[tuple[dt.date, ...], list[str]] = {}
    for symbol, dates in by_symbol.items():
        groups.setdefault(tuple(dates), []).append(symbol)
    return [(symbols, list(dates)) for dates, symbols in groups.items()]


def served_timeframes(
    provider: MarketDataProvider, timeframes: list[Timeframe]
) -> tuple[list[Timeframe], dict[str, str]]:
    """The timeframes to fetch from `provider` and, for those it declares it does not serve (a provider
    may list what it serves in `timeframes`: vendor files serve d1 only), the reason."""
    served = getattr(provider, "timeframes", None)
    why = getattr(provider, "unsupported_reason", lambda t: f"{provider.name} does not serve {t.value}")
    not_served = {t.value: why(t) for t in timeframes if served is not None and t not in served}
    return [t for t in timeframes if t.value not in not_served], not_served


def run_bars_pipeline(
    url: str,
    provider: MarketDataProvider,
    market: str,
    symbol_ids: dict[str, int],
    by_symbol: dict[str, list[dt.date]],
    timeframes: list[Timeframe],
    info: RunInfo,
    thresholds: QualityThresholds,
    log: Callable[[str], None] = lambda _: None,
) -> BarsRunReport:
    """Ingest the partitions, then assess and summarise them (symbols must be active: `symbol_ids`)."""
    timeframes, not_served = served_timeframes(provider, timeframes)
    if not_served:
        log(f"not fetched from {provider.name}: {not_served}")
    ingests = [
        ingest_bars(url, provider, market, {s: symbol_ids[s] for s in symbols}, dates, timeframes, info, log=log)
        for symbols, dates in rectangles(by_symbol)
    ]
    ids = {s: symbol_ids[s] for s in by_symbol}
    with connect(url) as conn:
        assessment = assess_partitions(conn, market, ids, by_symbol, thresholds)
        partitions = partition_summaries(conn, ids, by_symbol)
    return BarsRunReport(ingests, assessment, partitions, not_served)


def partition_summaries(
    conn: psycopg.Connection, symbol_ids: dict[str, int], by_symbol: dict[str, list[dt.date]]
) -> pd.DataFrame:
    """One row per partition (symbol, session_date), from the lineage the ingest wrote
    (market.bar_datasets) and the quarantine: rows (total and `rows_<timeframe>`), rejected rows and
    their reasons, first/last bar, and the partition checksum (the sum modulo 2^64 of its timeframes'
    checksums, as 16 hex digits), and the ingestion run."""
    names = {v: k for k, v in symbol_ids.items()}
    pairs = [(symbol_ids[s], d) for s, dates in by_symbol.items() for d in dates]
    params = ([p[0] for p in pairs], [p[1] for p in pairs])
    datasets = pd.DataFrame(conn.execute(
        """
        SELECT d.symbol_id, d.session_date, d.timeframe, d.bar_count, d.start_ts, d.end_ts, d.checksum,
               d.ingestion_run_id
        FROM market.bar_datasets d
        JOIN unnest(%s::bigint[], %s::date[]) AS p(symbol_id, session_date)
          ON d.symbol_id = p.symbol_id AND d.session_date = p.session_date
        """, params).fetchall(),
        columns=["symbol_id", "session_date", "timeframe", "bar_count", "start_ts", "end_ts", "checksum",
                 "ingestion_run_id"])
    rejected = pd.DataFrame(conn.execute(
        """
        SELECT q.symbol_id, q.partition_date, q.reason, count(*)
        FROM ops.bar_quarantine q
        JOIN unnest(%s::bigint[], %s::date[]) AS p(symbol_id, session_date)
          ON q.symbol_id = p.symbol_id AND q.partition_date = p.session_date
        WHERE q.ingestion_run_id IN (SELECT d.ingestion_run_id FROM market.bar_datasets d
                                     WHERE d.symbol_id = q.symbol_id AND d.session_date = q.partition_date)
        GROUP BY 1, 2, 3
        """, params).fetchall(), columns=["symbol_id", "session_date", "reason", "rows"])
    keys = pd.DataFrame({"symbol_id": params[0], "session_date": params[1]})
    if datasets.empty:
        out = keys.assign(rows=0, rejected=0, first_bar=pd.NaT, last_bar=pd.NaT, checksum=None,
                          ingestion_run_id=None, rejected_by_reason=[{} for _ in range(len(keys))])
    else:
        counts = datasets.pivot_table(index=["symbol_id", "session_date"], columns="timeframe",
                                      values="bar_count", aggfunc="sum", fill_value=0)
        counts.columns = [f"rows_{c}" for c in counts.columns]
        counts["rows"] = counts.sum(axis=1)
        checksum_ints = datasets["checksum"].map(lambda h: int(h, 16)).astype(np.uint64)
        grouped = datasets.assign(ck=checksum_ints).groupby(["symbol_id", "session_date"])
        summary = pd.DataFrame({
            "first_bar": grouped["start_ts"].min(),
            "last_bar": grouped["end_ts"].max(),
            "checksum": grouped["ck"].agg(lambda v: f"{int(np.sum(v.to_numpy(np.uint64), dtype=np.uint64)):016x}"),
            "ingestion_run_id": grouped["ingestion_run_id"].max(),
        })
        out = keys.merge(counts.join(summary).reset_index(), on=["symbol_id", "session_date"], how="left")
        out["rows"] = out["rows"].fillna(0).astype("int64")
        by_reason = {(k[0], k[1]): g.set_index("reason")["rows"].astype(int).to_dict()
                     for k, g in rejected.groupby(["symbol_id", "session_date"])}
        out["rejected_by_reason"] = [by_reason.get((s, d), {}) for s, d in zip(out["symbol_id"], out["session_date"],
                                                                                   strict=True)]
        out["rejected"] = [sum(r.values()) for r in out["rejected_by_reason"]]
    for col in [c for c in out.columns if c.startswith("rows_")]:
        out[col] = out[col].fillna(0).astype("int64")
    out.insert(0, "symbol", out["symbol_id"].map(names))
    return out.sort_values(["symbol", "session_date"]).reset_index(drop=True)
