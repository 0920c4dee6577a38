"""The read-only group role swiftbolt_reader (migration 0012): a dashboard's login role that is a
member can read analytics, market, ml and options, and can write or create nothing; dbt keeps the
grants when it rebuilds its models. Runs on the embedded PostgreSQL 18 and on CI's PostgreSQL 15."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from swiftbolt.calendars.store import write_market_calendar
from swiftbolt.db.connection import connect
from swiftbolt.db.migrate import migrate
from swiftbolt.market_data.ingest import RunInfo, ingest_bars
from swiftbolt.market_data.types import FETCHED_TIMEFRAMES
from swiftbolt.providers.synthetic import SyntheticProvider
from tests.helpers import add_symbols, dbt_output, run_dbt

pytestmark = pytest.mark.warehouse

READER = "swiftbolt_reader"


@pytest.fixture
def dashboard_role(pg_admin_url: str) -> Iterator[str]:
    """A login role that is a member of swiftbolt_reader, as a deployer would create for a dashboard
    (cluster-wide, so it is dropped again)."""
    name = f"dash_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE {}").format(sql.Identifier(name), sql.Identifier(READER)))
    try:
        yield name
    finally:
        with connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def _as(conn: psycopg.Connection, role: str) -> None:
    conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))


def _refused(url: str, role: str, statement: str) -> str:
    """Run `statement` as `role`; returns the SQLSTATE it failed with (it must fail)."""
    with connect(url) as conn:
        _as(conn, role)
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as info:
            conn.execute(statement)
        return str(info.value.sqlstate)


def _load(url: str) -> dict[str, int]:
    ids = add_symbols(url, {"AAPL": "us_equity"})
    with connect(url) as conn, conn.transaction():
        write_market_calendar(conn, "us_equity", dt.date(2025, 3, 1), dt.date(2025, 3, 31), "test")
    days = [dt.date(2025, 3, 3), dt.date(2025, 3, 4)]
    ingest_bars(url, SyntheticProvider(), "us_equity", ids, days, list(FETCHED_TIMEFRAMES), RunInfo())
    return ids


def _dbt_build(url: str, tmp: Path) -> None:
    """`dbt run` (the models without their tests) by the project's dbt executable, into a scratch target."""
    result = run_dbt(url, tmp, "run", "--vars", '{"data_health_as_of": "2025-03-05T00:00:00+00:00"}')
    assert result.returncode == 0, dbt_output(result)


def test_reader_reads_and_cannot_write_or_create(warehouse_url: str, dashboard_role: str, tmp_path: Path) -> None:
    _load(warehouse_url)
    _dbt_build(warehouse_url, tmp_path)
    with connect(warehouse_url) as conn:
        _as(conn, dashboard_role)
        assert conn.execute("SELECT current_user").fetchone() == (dashboard_role,)
        assert conn.execute("SELECT count(*) FROM market.ohlc_bars").fetchone()[0] > 0
        assert conn.execute("SELECT count(*) FROM market.ohlc_bars_adjusted WHERE timeframe = 'w1'").fetchone()[0] > 0
        assert conn.execute("SELECT count(*) FROM analytics.bars_adjusted").fetchone()[0] > 0
        assert conn.execute("SELECT count(*) FROM analytics.indicator_values").fetchone()[0] > 0
        assert conn.execute("SELECT count(*) FROM analytics.data_health").fetchone()[0] > 0
        conn.execute("SELECT count(*) FROM ml.feature_rows")
        # a partition created after the migration (by the pipeline) is readable through its parent
        assert conn.execute("SELECT count(*) FROM market.ohlc_bars WHERE ts >= '2025-03-01'").fetchone()[0] > 0
    statements = [
        "INSERT INTO market.symbols (ticker, market, asset_type) VALUES ('ZZZ', 'us_equity', 'stock')",
        "UPDATE market.ohlc_bars SET close = close",
        "DELETE FROM market.ohlc_bars",
        "TRUNCATE market.ohlc_bars",
        "UPDATE analytics.data_health SET ticker = ticker",
        "DELETE FROM analytics.indicator_values",
        "TRUNCATE analytics.indicator_values",
        "INSERT INTO ml.feature_sets (name, definition_hash, code_version, feature_keys, params, warmup_bars) "
        "VALUES ('x', 'x', '1', '{}', '{}', 0)",
        "CREATE TABLE market.reader_probe (x int)",
        "CREATE TABLE analytics.reader_probe (x int)",
        "CREATE VIEW ml.reader_probe AS SELECT 1",
        "CREATE TABLE options.reader_probe (x int)",
        "CREATE TABLE public.reader_probe (x int)",
        "CREATE SCHEMA reader_probe",
        "SELECT count(*) FROM ops.bar_quarantine",  # not a dashboard schema
        "SELECT count(*) FROM ops.alerts",
        "SELECT market.ensure_bar_partitions('2030-01-01', '2030-01-02')",  # creates a table: no
    ]
    for statement in statements:
        assert _refused(warehouse_url, dashboard_role, statement) == "42501", statement


def test_dbt_keeps_the_grants_when_it_rebuilds(warehouse_url: str, dashboard_role: str, tmp_path: Path) -> None:
    """Even without the schema's default privileges (dbt connecting as another role would not have
    them), every model dbt rebuilds is readable: the `grants` config of dbt_project.yml."""
    _load(warehouse_url)
    with connect(warehouse_url, autocommit=True) as conn:
        conn.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA analytics REVOKE SELECT ON TABLES FROM {READER}")
    _dbt_build(warehouse_url, tmp_path)
    _dbt_build(warehouse_url, tmp_path)  # a rebuild replaces the views and tables
    with connect(warehouse_url) as conn:
        models = [r[0] for r in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'analytics' AND c.relkind IN ('r', 'v', 'm', 'p') ORDER BY 1").fetchall()]
        _as(conn, dashboard_role)
        for model in models:
            conn.execute(sql.SQL("SELECT count(*) FROM analytics.{}").format(sql.Identifier(model)))
    assert {"bars_adjusted", "indicator_values", "dashboard_symbol_summary", "data_health"} <= set(models)


def test_tables_created_later_are_readable(warehouse_url: str, dashboard_role: str) -> None:
    """Default privileges: a table a later migration (or the pipeline) creates in a data schema."""
    with connect(warehouse_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE options.chain_probe (x int)")
        conn.execute("INSERT INTO options.chain_probe VALUES (1)")
        conn.execute("CREATE TABLE ops.probe (x int)")
    with connect(warehouse_url) as conn:
        _as(conn, dashboard_role)
        assert conn.execute("SELECT x FROM options.chain_probe").fetchall() == [(1,)]
    assert _refused(warehouse_url, dashboard_role, "SELECT x FROM ops.probe") == "42501"
    assert _refused(warehouse_url, dashboard_role, "INSERT INTO options.chain_probe VALUES (2)") == "42501"


def test_the_role_is_created_once_per_server_and_each_database_migrates(empty_db_url: str,
                                                                       pg_admin_url: str) -> None:
    """Roles are cluster-wide: a second database on the same server (the template already created the
    role) migrates without error, twice, and gets its own grants."""
    with connect(pg_admin_url) as conn:
        assert conn.execute("SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles "
                            "WHERE rolname = %s", (READER,)).fetchone() == (False, False, False, False)
    migrate(empty_db_url)
    assert migrate(empty_db_url).applied == []
    with connect(empty_db_url) as conn:
        granted = conn.execute(
            "SELECT string_agg(DISTINCT table_schema, ',' ORDER BY table_schema) "
            "FROM information_schema.role_table_grants WHERE grantee = %s", (READER,)).fetchone()[0]
        privileges = conn.execute(
            "SELECT DISTINCT privilege_type FROM information_schema.role_table_grants WHERE grantee = %s",
            (READER,)).fetchall()
        schemas = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE has_schema_privilege(%s, oid, 'USAGE') "
            "AND nspname NOT LIKE 'pg_%%' AND nspname <> 'information_schema' ORDER BY 1", (READER,)).fetchall()
        creatable = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE has_schema_privilege(%s, oid, 'CREATE')", (READER,)).fetchall()
    assert granted == "market,ml,options"  # the tables that exist so far (analytics is empty)
    assert privileges == [("SELECT",)]
    assert [s[0] for s in schemas] == ["analytics", "market", "ml", "options", "public"]  # public: PUBLIC's
    assert creatable == []
