"""The PostgreSQL warehouse as a Dagster resource."""


import contextlib
from collections.abc import Iterator

import dagster as dg
import psycopg
from pydantic import Field

from swiftbolt.db.connection import connect
from swiftbolt.db.urls import validate_url
from swiftbolt.db.warehouse import warehouse_url


class WarehouseResource(dg.ConfigurableResource):
    """Connections to the warehouse database. Without `database_url`, the project's settings decide
    (SWIFTBOLT_DATABASE_URL, else the embedded server)."""

    database_url: str | None = Field(
        default=None, description="postgresql:// URL; empty = SWIFTBOLT_DATABASE_URL or embedded"
    )

    def url(self) -> str:
        return validate_url(self.database_url, "warehouse database_url") if self.database_url else warehouse_url()

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        conn = connect(self.url())
        try:
            yield conn
        finally:
            conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """One transaction: committed when the block ends, rolled back on any exception."""
        with self.connection() as conn, conn.transaction():
            yield conn
