"""Bulk writes through COPY: a DataFrame is serialised once (vectorised, by pandas) and streamed."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import psycopg
from psycopg import sql


def frame_to_copy_text(frame: pd.DataFrame, columns: Sequence[str]) -> str:
    """CSV for COPY ... (FORMAT csv): NaN/None become unquoted empty fields, i.e. NULL."""
    if frame.empty:
        return ""
    return frame.loc[:, list(columns)].to_csv(
        header=False, index=False, na_rep="", lineterminator="\n",
        date_format="%Y-%m-%d %H:%M:%S.%f%z",
    )


def copy_frame(conn: psycopg.Connection, table: str, columns: Sequence[str], frame: pd.DataFrame) -> int:
    """COPY the rows of `frame` into `schema.table`; returns the row count."""
    if frame.empty:
        return 0
    schema, _, name = table.rpartition(".")
    target = sql.Identifier(schema, name) if schema else sql.Identifier(name)
    stmt = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
        target, sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    text = frame_to_copy_text(frame, columns)
    with conn.cursor() as cur, cur.copy(stmt) as copy:
        copy.write(text)
    return len(frame)


def create_temp_like(conn: psycopg.Connection, temp_name: str, table: str, columns: Sequence[str]) -> None:
    """A session temp table with the given columns of `table` (types copied), dropped at commit."""
    schema, _, name = table.rpartition(".")
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(temp_name)))
    conn.execute(
        sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA").format(
            sql.Identifier(temp_name),
            sql.SQL(", ").join(sql.Identifier(c) for c in columns),
            sql.Identifier(schema, name),
        )
    )
