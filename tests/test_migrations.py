"""Migrations: apply, re-apply, refuse edited files, and survive concurrent migrators."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from swiftbolt.db.connection import connect
from swiftbolt.db.migrate import MIGRATIONS_DIR, discover, migrate
from swiftbolt.errors import MigrationError

pytestmark = pytest.mark.warehouse


def _tables(url: str) -> set[str]:
    with connect(url) as conn:
        rows = conn.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
    return {r[0] for r in rows}


def test_apply_on_empty_database_creates_schema_and_ledger(empty_db_url: str) -> None:
    report = migrate(empty_db_url)
    files = discover()
    assert report.applied == [m.filename for m in files]
    tables = _tables(empty_db_url)
    assert {"market.symbols", "market.market_calendar", "public.schema_migrations"} <= tables
    with connect(empty_db_url) as conn:
        ledger = conn.execute("SELECT version, checksum FROM schema_migrations ORDER BY version").fetchall()
    assert [(m.version, m.checksum) for m in files] == [(v, c) for v, c in ledger]


def test_reapply_is_a_noop(empty_db_url: str) -> None:
    migrate(empty_db_url)
    before = _tables(empty_db_url)
    report = migrate(empty_db_url)
    assert report.applied == []
    assert report.already_applied == len(discover())
    assert _tables(empty_db_url) == before


def test_edited_applied_migration_is_refused(empty_db_url: str, tmp_path: Path) -> None:
    work = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, work)
    migrate(empty_db_url, work)
    target = sorted(work.glob("*.sql"))[1]
    target.write_text(target.read_text() + "\n-- a harmless-looking edit\n")
    with pytest.raises(MigrationError, match=re.escape(f"{target.name} was edited after it was applied")) as info:
        migrate(empty_db_url, work)
    assert "\n" not in str(info.value)


def test_failed_migration_rolls_back_whole_file(empty_db_url: str, tmp_path: Path) -> None:
    work = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, work)
    (work / "9999_broken.sql").write_text(
        "CREATE TABLE ops.half_done (id int);\nSELECT * FROM no_such_table;\n"
    )
    with pytest.raises(MigrationError, match=r"9999_broken\.sql failed and was rolled back"):
        migrate(empty_db_url, work)
    assert "ops.half_done" not in _tables(empty_db_url)
    with connect(empty_db_url) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations").fetchall()]
    assert 9999 not in versions and len(versions) == len(discover())


def test_concurrent_migrators_end_with_one_correct_schema(empty_db_url: str) -> None:
    code = (
        "import sys; from swiftbolt.db.migrate import migrate; "
        "r = migrate(sys.argv[1]); print(len(r.applied))"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, empty_db_url], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    applied_counts = sorted(int(o) for o in outputs)
    # exactly one process applied everything; the others found nothing to do
    assert applied_counts == [0, 0, len(discover())]
    with connect(empty_db_url) as conn:
        rows = conn.execute("SELECT version, count(*) FROM schema_migrations GROUP BY version").fetchall()
    assert all(count == 1 for _, count in rows) and len(rows) == len(discover())
