"""Resolve which PostgreSQL the project uses, and bring it to a ready, migrated state."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from swiftbolt.db.connection import ensure_database
from swiftbolt.db.embedded import EmbeddedPostgres
from swiftbolt.db.migrate import MigrationReport, migrate
from swiftbolt.db.urls import database_of, validate_url, with_database
from swiftbolt.errors import DatabaseUnavailable
from swiftbolt.settings import DAGSTER_DB, WAREHOUSE_DB, Settings, load_settings


def embedded_server(settings: Settings | None = None) -> EmbeddedPostgres:
    settings = settings or load_settings()
    return EmbeddedPostgres(settings.pg_data_dir, settings.pg_port)


def warehouse_url(settings: Settings | None = None) -> str:
    """The warehouse database URL: SWIFTBOLT_DATABASE_URL, or the embedded server's."""
    settings = settings or load_settings()
    if settings.database_url:
        return validate_url(settings.database_url)
    return embedded_server(settings).url(WAREHOUSE_DB)


def dagster_storage_url(settings: Settings | None = None) -> str:
    """Dagster's instance storage: its own database on the same server unless configured."""
    settings = settings or load_settings()
    if settings.dagster_database_url:
        return validate_url(settings.dagster_database_url, "SWIFTBOLT_DAGSTER_DATABASE_URL")
    if settings.database_url:
        url = validate_url(settings.database_url)
        return with_database(url, f"{database_of(url)}_dagster")
    return embedded_server(settings).url(DAGSTER_DB)


@dataclass(frozen=True)
class ReadyWarehouse:
    url: str
    dagster_url: str
    started_embedded: bool
    migrations: MigrationReport


def _ensure(url: str) -> None:
    try:
        ensure_database(url)
    except psycopg.errors.InsufficientPrivilege:
        raise DatabaseUnavailable(
            f"database {database_of(url)!r} does not exist and this role may not create it; "
            "create it or grant CREATEDB"
        ) from None


def prepare(settings: Settings | None = None) -> ReadyWarehouse:
    """Start the embedded server when no URL is configured, create both databases, migrate."""
    settings = settings or load_settings()
    started = False
    if settings.uses_embedded_server:
        server = embedded_server(settings)
        started = not server.status().running
        server.start()
    url = warehouse_url(settings)
    dagster_url = dagster_storage_url(settings)
    _ensure(url)
    _ensure(dagster_url)
    report = migrate(url)
    return ReadyWarehouse(url=url, dagster_url=dagster_url, started_embedded=started, migrations=report)
