"""Apply the numbered plain-SQL files in `migrations/` in order.

Why not yoyo-migrations or alembic: yoyo applies a migration and records it in two separate
transactions (a crash between them leaves a schema change that is applied but unrecorded), records no
checksum of a file's content, and guards concurrency with a lock *row* that outlives a killed process
(`yoyo break-lock`). Alembic would need a Python revision file wrapping each SQL file and also has no
content checksum. This runner is the small part neither does:
  * each file and its ledger row commit in one transaction;
  * the ledger stores the SHA-256 of the file; an edited applied file is refused;
  * a session-level advisory lock serialises concurrent migrators and is released if a process dies.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from swiftbolt.db.connection import connect
from swiftbolt.errors import MigrationError
from swiftbolt.settings import PROJECT_ROOT

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
ADVISORY_LOCK_KEY = 0x5B1F7B0  # arbitrary, constant for this project
LEDGER = "public.schema_migrations"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    filename: str
    sql: str
    checksum: str


@dataclass(frozen=True)
class MigrationReport:
    applied: list[str]
    already_applied: int

    def summary(self) -> str:
        if not self.applied:
            return f"schema up to date ({self.already_applied} migrations applied earlier)"
        return f"applied {len(self.applied)} migration(s): {', '.join(self.applied)}"


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files in version order; a badly named or duplicate-numbered file is refused."""
    migrations: list[Migration] = []
    seen: dict[int, str] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files must be named NNNN_lower_snake.sql")
        version = int(match.group(1))
        if version in seen:
            raise MigrationError(f"{path.name} and {seen[version]} share version {version:04d}; renumber one")
        seen[version] = path.name
        raw = path.read_bytes()
        migrations.append(Migration(version, path.name, raw.decode("utf-8"), hashlib.sha256(raw).hexdigest()))
    return migrations


def _ensure_ledger(conn: psycopg.Connection) -> None:
    conn.execute(
        f"""CREATE TABLE IF NOT EXISTS {LEDGER} (
                version integer PRIMARY KEY,
                filename text NOT NULL,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now(),
                execution_ms integer NOT NULL
            )"""
    )


def _verify(applied: dict[int, tuple[str, str]], files: list[Migration]) -> None:
    by_version = {m.version: m for m in files}
    for version, (filename, checksum) in sorted(applied.items()):
        current = by_version.get(version)
        if current is None:
            raise MigrationError(
                f"migration {filename} is recorded as applied but is missing from migrations/; restore it"
            )
        if current.checksum != checksum:
            raise MigrationError(
                f"migration {current.filename} was edited after it was applied (checksum "
                f"{current.checksum[:12]} != recorded {checksum[:12]}); restore the file and put the "
                "change in a new migration"
            )


def migrate(url: str, directory: Path = MIGRATIONS_DIR) -> MigrationReport:
    """Apply pending migrations to the database at `url`. Safe to run concurrently and repeatedly."""
    files = discover(directory)
    with connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        try:
            _ensure_ledger(conn)
            rows = conn.execute(f"SELECT version, filename, checksum FROM {LEDGER}").fetchall()
            applied = {int(v): (f, c) for v, f, c in rows}
            _verify(applied, files)
            done: list[str] = []
            for migration in files:
                if migration.version in applied:
                    continue
                started = time.perf_counter()
                try:
                    with conn.transaction():
                        conn.execute(migration.sql.encode("utf-8"))  # bytes: no client-side % parsing
                        conn.execute(
                            f"INSERT INTO {LEDGER} (version, filename, checksum, execution_ms) "
                            "VALUES (%s, %s, %s, %s)",
                            (migration.version, migration.filename, migration.checksum,
                             int((time.perf_counter() - started) * 1000)),
                        )
                except psycopg.Error as exc:
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    raise MigrationError(f"{migration.filename} failed and was rolled back: {first}") from None
                done.append(migration.filename)
            return MigrationReport(applied=done, already_applied=len(applied))
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
