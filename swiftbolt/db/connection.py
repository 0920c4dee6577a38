"""psycopg 3 connections with one-line errors when the server cannot be reached."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
from psycopg import sql

from swiftbolt.db.urls import database_of, describe, with_database
from swiftbolt.errors import DatabaseUnavailable


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def connect(url: str, *, autocommit: bool = False, connect_timeout: int = 10) -> psycopg.Connection:
    """Open a connection; a refused or failed connection becomes a DatabaseUnavailable one-liner."""
    try:
        # All session times are UTC: COPY text timestamps carry no zone suffix (see db/copy.py).
        return psycopg.connect(url, autocommit=autocommit, connect_timeout=connect_timeout,
                               options="-c TimeZone=UTC")
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(
            f"cannot connect to PostgreSQL at {describe(url)}: {_first_line(exc)} "
            "(is the server running? check SWIFTBOLT_DATABASE_URL, or unset it to use the embedded server)"
        ) from None


@contextlib.contextmanager
def transaction(url: str) -> Iterator[psycopg.Connection]:
    """A connection inside one transaction: committed on success, rolled back on any error."""
    conn = connect(url)
    try:
        with conn.transaction():
            yield conn
    finally:
        conn.close()


def ensure_database(url: str) -> bool:
    """Create the database named in `url` if it is missing. Returns True when it was created."""
    try:
        psycopg.connect(url, connect_timeout=10).close()
        return False
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise DatabaseUnavailable(
                f"cannot connect to PostgreSQL at {describe(url)}: {_first_line(exc)} "
                "(is the server running? check SWIFTBOLT_DATABASE_URL, or unset it to use the "
                "embedded server)"
            ) from None
    dbname = database_of(url)
    with connect(with_database(url, "postgres"), autocommit=True) as conn:
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        except psycopg.errors.DuplicateDatabase:
            return False  # another process created it first
        return True


__all__ = ["connect", "database_of", "ensure_database", "transaction"]
