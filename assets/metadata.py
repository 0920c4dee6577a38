"""Dagster metadata from the core's reports: typed values, markdown tables, small plots, table
ownership and per-partition figures. One place, so every asset shows its figures the same way.

Metadata attached to a MaterializeResult goes to every partition the run materializes; figures of the
run as a whole are therefore named `run/...`, and each partition's own figures are attached to that
partition alone (`add_partition_metadata`)."""

from __future__ import annotations

import base64
import datetime as dt
import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import dagster as dg
import pandas as pd
import psycopg

from assets.partitions import DATE_DIM, SYMBOL_DIM

# metadata key listing every warehouse table an asset writes (the first is also dagster/table_name)
WRITES_TABLES = "swiftbolt/writes_tables"


def writes_tables(*tables: str) -> dict[str, Any]:
    """Definition metadata naming the tables an asset writes, so a user finds a table's writer in the UI
    (search by table name) and tests can check that every table has exactly one writer."""
    return {"dagster/table_name": tables[0], WRITES_TABLES: dg.MetadataValue.json(list(tables))}


def column_schema(conn: psycopg.Connection, table: str) -> dg.TableSchema:
    """The table's columns and types as the database has them (information_schema)."""
    schema, name = table.split(".", 1)
    rows = conn.execute(
        """
        SELECT column_name, data_type, is_nullable FROM information_schema.columns
        WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position
        """,
        (schema, name),
    ).fetchall()
    return dg.TableSchema(columns=[
        dg.TableColumn(col, dtype, constraints=dg.TableColumnConstraints(nullable=nullable == "YES"))
        for col, dtype, nullable in rows
    ])


def table_metadata(conn: psycopg.Connection, table: str) -> dict[str, Any]:
    return {"dagster/table_name": table, "dagster/column_schema": column_schema(conn, table)}


def timestamp(value: dt.datetime | pd.Timestamp | None) -> dg.MetadataValue | str:
    if value is None or pd.isna(value):
        return "none"
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts
    return dg.MetadataValue.timestamp(ts.to_pydatetime())


def markdown_table(frame: pd.DataFrame, max_rows: int = 20) -> dg.MetadataValue:
    if frame.empty:
        return dg.MetadataValue.md("_none_")
    shown = frame.head(max_rows).astype(str)
    more = f"\n\n_{len(frame) - max_rows} more rows_" if len(frame) > max_rows else ""
    return dg.MetadataValue.md(shown.to_markdown(index=False) + more)


def counts_table(counts: Mapping[str, int], key: str, value: str = "rows") -> dg.MetadataValue:
    frame = pd.DataFrame(sorted(counts.items()), columns=[key, value])
    return markdown_table(frame, max_rows=50)


def line_plot(series: Mapping[str, pd.Series], title: str, ylabel: str = "") -> dg.MetadataValue:
    """A small PNG line chart (one line per series, x = the series' index) as markdown with an embedded
    image: the Dagster UI renders it on the materialization."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 2.4), dpi=80)
    try:
        for name, s in series.items():
            ax.plot(pd.to_datetime(s.index), s.to_numpy(dtype=float), linewidth=1.2, label=name)
        ax.set_title(title, fontsize=9)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
        if len(series) > 1:
            ax.legend(fontsize=7, loc="best")
        fig.autofmt_xdate()
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    finally:
        plt.close(fig)
    encoded = base64.b64encode(buf.getvalue()).decode()
    return dg.MetadataValue.md(f"![{title}](data:image/png;base64,{encoded})")


def partition_key(symbol: str, session_date: dt.date | pd.Timestamp | str) -> dg.MultiPartitionKey:
    day = session_date if isinstance(session_date, str) else pd.Timestamp(session_date).date().isoformat()
    return dg.MultiPartitionKey({DATE_DIM: day, SYMBOL_DIM: symbol})


def add_partition_metadata(
    context: dg.AssetExecutionContext,
    partitions: pd.DataFrame,
    metadata_of: Callable[[Any], Mapping[str, Any]],
) -> None:
    """Attach `metadata_of(row)` to the partition (row.symbol, row.session_date) of each row (a
    namedtuple from `partitions.itertuples()`); only partitions this run materializes."""
    in_run = set(context.partition_keys)
    # pandas turns None into NaN in an object column that also holds strings; NaN is truthy, so a
    # partition without a reason would show an empty "reason" entry: the row functions get None back
    objects = [str(c) for c, dtype in partitions.dtypes.items() if not pd.api.types.is_numeric_dtype(dtype)]
    by_key = {}
    for row in partitions.itertuples(index=False):
        key = partition_key(row.symbol, row.session_date)
        if key in in_run:
            missing = {c: None for c in objects if _is_nan(getattr(row, c))}
            by_key[key] = dict(metadata_of(row._replace(**missing) if missing else row))
    _attach_per_partition(context, by_key)


def _is_nan(value: object) -> bool:
    return isinstance(value, float) and value != value


def _attach_per_partition(context: dg.AssetExecutionContext, by_key: Mapping[str, Mapping[str, Any]]) -> None:
    """`context.add_asset_metadata(metadata, partition_key=key)` for every key at once.

    Dagster 1.13's add_asset_metadata checks each key against the run's whole partition range, which it
    re-lists on every call (a dynamic-partition lookup in the instance included): n calls cost O(n^2),
    minutes for a history backfill of 7 symbols x 491 sessions (60% of the run in a profile). The keys here
    were checked against the range once (`context.partition_keys`), so the metadata goes to the step's
    accumulator in one step, which is what add_asset_metadata does after its check. Should that private
    structure change in another Dagster release, the public call is used (slow, but right)."""
    step = getattr(context.op_execution_context, "_step_execution_context", None)
    accumulator = getattr(step, "_metadata_accumulator", None)
    try:
        from dagster._core.execution.context.metadata_logging import AssetMetadataHandle, OutputMetadataAccumulator

        merged = dict(accumulator.per_output_metadata)  # type: ignore[union-attr]
    except (ImportError, AttributeError):
        for key, metadata in by_key.items():
            context.add_asset_metadata(dict(metadata), partition_key=key)
        return
    asset_key = context.assets_def.key
    for key, metadata in by_key.items():
        handle = AssetMetadataHandle(asset_key=asset_key, partition_key=key)
        merged[handle] = {**merged.get(handle, {}), **metadata}
    step._metadata_accumulator = OutputMetadataAccumulator(per_output_metadata=merged)  # type: ignore[union-attr]


def last_partition_per_symbol(partitions: pd.DataFrame) -> pd.DataFrame:
    """The newest partition of each symbol (where a run's plot goes: the symbol's latest materialization)."""
    return partitions.sort_values("session_date").groupby("symbol", as_index=False).tail(1)


def row_preview(conn: psycopg.Connection, query: str, params: Sequence[Any], limit: int = 5) -> dg.MetadataValue:
    """A few stored rows (the query must select what a user should see, ordered; LIMIT is added)."""
    cur = conn.execute(f"{query} LIMIT {int(limit)}", params)
    columns = [d.name for d in cur.description or []]
    return markdown_table(pd.DataFrame(cur.fetchall(), columns=columns))
