"""The command line gives one-line errors, never tracebacks, for bad configuration."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "-m", "swiftbolt.cli", *args], capture_output=True, text=True,
        env=full_env, timeout=120,
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://root@localhost/db", "must start with postgresql://"),
        ("postgresql://localhost:notaport/db", "not a valid URL"),
        ("postgresql://127.0.0.1:5432", "names no database"),
    ],
)
def test_bad_database_url_is_one_line(url: str, expected: str) -> None:
    result = _run("db", "url", SWIFTBOLT_DATABASE_URL=url)
    assert result.returncode == 1
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_unreachable_database_is_one_line() -> None:
    result = _run("migrate", SWIFTBOLT_DATABASE_URL="postgresql://postgres@127.0.0.1:1/swiftbolt")
    assert result.returncode == 1
    assert "cannot connect to PostgreSQL at 127.0.0.1:1/swiftbolt" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_password_is_redacted_from_url_output() -> None:
    result = _run("db", "url", SWIFTBOLT_DATABASE_URL="postgresql://u:s3cret@db.example:5432/w")
    assert result.returncode == 0
    assert "s3cret" not in result.stdout and "***" in result.stdout


def test_bad_port_setting_is_one_line() -> None:
    result = _run("db", "status", SWIFTBOLT_PG_PORT="eighty")
    assert result.returncode == 1
    assert "SWIFTBOLT_PG_PORT" in result.stderr and "Traceback" not in result.stderr
