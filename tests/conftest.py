"""Test fixtures: a real PostgreSQL for the session, an isolated migrated database per test.

The server is the machine's/CI's server named by SWIFTBOLT_TEST_DATABASE_URL, or else an embedded
server (data under the state dir, `test-pg`) started for the session on a free port. Each test gets
its own database cloned from a template that was migrated once per session.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import shutil
from collections.abc import Iterator

import pytest
from psycopg import sql

from swiftbolt.db.connection import connect
from swiftbolt.db.embedded import EmbeddedPostgres
from swiftbolt.db.migrate import migrate
from swiftbolt.db.urls import validate_url, with_database
from swiftbolt.settings import load_settings
from tests.helpers import free_port

# Partitions are built at import from SWIFTBOLT_HISTORY_START; the real-data fixtures start in 2021.
os.environ.setdefault("SWIFTBOLT_HISTORY_START", "2020-06-01")


def pytest_configure(config: pytest.Config) -> None:
    """The dbt manifest the definitions load: prepared by the install step, re-prepared here when a file
    of the dbt project changed since (importing the dbt modules has no side effect)."""
    from resources.dbt import manifest_is_stale, prepare_dbt_manifest

    if manifest_is_stale():
        prepare_dbt_manifest()

_counter = itertools.count()


def _create_db(admin_url: str, name: str, template: str | None = None) -> str:
    with connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if template:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        else:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_database(admin_url, name)


def _drop_db(admin_url: str, name: str) -> None:
    with connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """URL of a maintenance database on a real server where tests may create databases."""
    external = os.environ.get("SWIFTBOLT_TEST_DATABASE_URL")
    if external:
        yield validate_url(external, "SWIFTBOLT_TEST_DATABASE_URL")
        return
    # one server per pytest session, so concurrent sessions never stop each other's server
    root = load_settings().state_dir / f"test-pg-{os.getpid()}"
    server = EmbeddedPostgres(root, free_port())
    server.start()
    try:
        yield server.url("postgres")
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def template_db(pg_admin_url: str) -> Iterator[str]:
    name = f"swiftbolt_tpl_{os.getpid()}"
    url = _create_db(pg_admin_url, name)
    migrate(url)
    yield name
    _drop_db(pg_admin_url, name)


@pytest.fixture
def warehouse_url(pg_admin_url: str, template_db: str) -> Iterator[str]:
    """A fresh, fully migrated database for this test."""
    name = f"swiftbolt_t{os.getpid()}_{next(_counter)}"
    url = _create_db(pg_admin_url, name, template=template_db)
    yield url
    _drop_db(pg_admin_url, name)


@pytest.fixture
def empty_db_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh database with no migrations applied."""
    name = f"swiftbolt_e{os.getpid()}_{next(_counter)}"
    url = _create_db(pg_admin_url, name)
    yield url
    _drop_db(pg_admin_url, name)


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch):
    """Freeze the project's clock (swiftbolt.clock, which sensors, checks and the synthetic feed read):
    frozen(datetime)."""
    from swiftbolt import clock

    def freeze(now: dt.datetime) -> None:
        monkeypatch.setattr(clock, "utc_now", lambda: now)

    return freeze
