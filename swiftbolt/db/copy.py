"""Bulk writes through COPY.

Frames go to PostgreSQL in COPY's *binary* format, encoded from Apache Arrow by `pgpq` (a maintained
Arrow -> PostgreSQL binary encoder written in Rust): no per-row Python, no text formatting, and no
text parsing on the server. Columns are cast to the target table's types first (binary COPY needs
exact types). Tables with types pgpq does not encode (jsonb, arrays) use COPY's CSV format.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pgpq
import psycopg
import pyarrow as pa
from psycopg import sql

# PostgreSQL type OID -> Arrow type for binary COPY.
_ARROW_TYPES: dict[int, pa.DataType] = {
    16: pa.bool_(),
    20: pa.int64(),
    21: pa.int16(),
    23: pa.int32(),
    25: pa.string(),
    700: pa.float32(),
    701: pa.float64(),
    1043: pa.string(),
    1082: pa.date32(),
    1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"),
}


def _target(table: str) -> sql.Composable:
    schema, _, name = table.rpartition(".")
    return sql.Identifier(schema, name) if schema else sql.Identifier(name)


def _column_types(conn: psycopg.Connection, table: str, columns: Sequence[str]) -> list[int]:
    cur = conn.execute(
        sql.SQL("SELECT {} FROM {} LIMIT 0").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in columns), _target(table)
        )
    )
    assert cur.description is not None
    return [int(d.type_code) for d in cur.description]


def _arrow_column(series: pd.Series, arrow_type: pa.DataType) -> pa.Array:
    if pa.types.is_timestamp(arrow_type) and isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC")
    array = pa.array(series, from_pandas=True)  # NaN/None/NaT -> NULL
    if pa.types.is_date32(arrow_type) and pa.types.is_timestamp(array.type):
        array = array.cast(pa.timestamp("s", tz=array.type.tz), safe=False)  # midnight timestamps -> dates
    return array.cast(arrow_type)


def binary_copy_payload(conn: psycopg.Connection, table: str, columns: Sequence[str],
                        frame: pd.DataFrame, oids: Sequence[int] | None = None) -> list[bytes]:
    """The rows of `frame` encoded in COPY's binary format for the column types of `table`
    (`oids`: the columns' type OIDs when the caller already has them)."""
    oids = oids if oids is not None else _column_types(conn, table, columns)
    types = [_ARROW_TYPES[o] for o in oids]
    return encode_arrow(pa.table([_arrow_column(frame[c], t) for c, t in zip(columns, types, strict=True)],
                                 names=list(columns)))


def encode_arrow(table: pa.Table) -> list[bytes]:
    """An Arrow table (columns already of the target types) in COPY's binary format."""
    encoder = pgpq.ArrowToPostgresBinaryEncoder(table.schema)
    parts = [encoder.write_header()]
    parts.extend(encoder.write_batch(b) for b in table.to_batches(max_chunksize=200_000))
    parts.append(encoder.finish())
    return parts


def copy_binary_payload(conn: psycopg.Connection, table: str, columns: Sequence[str],
                        payload: Sequence[bytes | memoryview]) -> None:
    stmt = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT binary)").format(
        _target(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    with conn.cursor() as cur, cur.copy(stmt) as copy:
        for part in payload:
            copy.write(part)


def _csv_text(series: pd.Series) -> pd.Series:
    """Timestamps as UTC ISO text via numpy; `connect()` sets TimeZone=UTC for the session."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        values = series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[us]")
        text = np.datetime_as_string(values, unit="us")
        missing = series.isna().to_numpy()
        return pd.Series(np.where(missing, None, text) if missing.any() else text, index=series.index)
    return series


def frame_to_copy_text(frame: pd.DataFrame, columns: Sequence[str]) -> str:
    """CSV for COPY ... (FORMAT csv): NaN/None become unquoted empty fields, i.e. NULL."""
    if frame.empty:
        return ""
    out = frame.loc[:, list(columns)]
    out = out.assign(**{c: _csv_text(out[c]) for c in out.columns if isinstance(out[c].dtype, pd.DatetimeTZDtype)})
    return out.to_csv(header=False, index=False, na_rep="", lineterminator="\n")


def copy_frame(conn: psycopg.Connection, table: str, columns: Sequence[str], frame: pd.DataFrame) -> int:
    """COPY the rows of `frame` (the named columns) into `table`; returns the row count."""
    if frame.empty:
        return 0
    oids = _column_types(conn, table, columns)
    if all(o in _ARROW_TYPES for o in oids):
        copy_binary_payload(conn, table, columns, binary_copy_payload(conn, table, columns, frame, oids))
        return len(frame)
    stmt = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
        _target(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    with conn.cursor() as cur, cur.copy(stmt) as copy:
        copy.write(frame_to_copy_text(frame, columns))
    return len(frame)


def create_temp_like(conn: psycopg.Connection, temp_name: str, table: str, columns: Sequence[str]) -> None:
    """A session temp table with the given columns of `table` (types copied), dropped at commit."""
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(temp_name)))
    conn.execute(
        sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA").format(
            sql.Identifier(temp_name),
            sql.SQL(", ").join(sql.Identifier(c) for c in columns),
            _target(table),
        )
    )


__all__ = ["binary_copy_payload", "copy_binary_payload", "copy_frame", "create_temp_like", "encode_arrow",
           "frame_to_copy_text"]
