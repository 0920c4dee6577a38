"""The embedded PostgreSQL: start/stop/restart keeps data, one-line errors for common faults."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest

from swiftbolt.db.connection import connect
from swiftbolt.db.embedded import EmbeddedPostgres
from swiftbolt.errors import EmbeddedServerError
from tests.helpers import free_port

pytestmark = pytest.mark.warehouse


@pytest.fixture
def server(tmp_path: Path):
    srv = EmbeddedPostgres(tmp_path / "pg", free_port())
    yield srv
    srv.stop()


def test_start_stop_restart_keeps_data(server: EmbeddedPostgres) -> None:
    status = server.start()
    assert status.running and status.port == server.port
    assert server.start().pid == status.pid  # idempotent
    with connect(server.url(), autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (v int)")
        conn.execute("INSERT INTO kept VALUES (42)")
    assert server.stop() is True
    assert not server.status().running
    assert server.stop() is False
    server.start()
    with connect(server.url()) as conn:
        assert conn.execute("SELECT v FROM kept").fetchone() == (42,)


def test_port_in_use_is_a_one_line_error(server: EmbeddedPostgres) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", server.port))
        blocker.listen(1)
        with pytest.raises(EmbeddedServerError, match="already in use") as info:
            server.start()
    message = str(info.value)
    assert "\n" not in message and "SWIFTBOLT_PG_PORT" in message


def test_restarts_after_the_server_was_killed(server: EmbeddedPostgres) -> None:
    pid = server.start().pid
    with connect(server.url(), autocommit=True) as conn:
        conn.execute("CREATE TABLE survived (v int)")
        conn.execute("INSERT INTO survived VALUES (1)")
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.time() + 30
    while server.status().running and time.time() < deadline:
        time.sleep(0.2)
    # children of a killed postmaster exit on their own; then the data directory is reusable
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            server.start()
            break
        except EmbeddedServerError as exc:
            assert "\n" not in str(exc)
            time.sleep(0.5)
    with connect(server.url()) as conn:
        assert conn.execute("SELECT v FROM survived").fetchone() == (1,)


def test_stale_pid_file_owned_by_another_process_is_recovered(server: EmbeddedPostgres) -> None:
    server.start()
    server.stop()
    pid_file = server.data_dir / "postmaster.pid"
    # the pid of this (non-postgres) test process, as after a crash and pid reuse
    pid_file.write_text(f"{os.getpid()}\n{server.data_dir}\n0\n{server.port}\n\n127.0.0.1\n0 0\nready\n")
    assert server.start().running


def test_foreign_data_directory_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "pg"
    (root / "data").mkdir(parents=True)
    (root / "data" / "notes.txt").write_text("not a database")
    with pytest.raises(EmbeddedServerError, match="not a PostgreSQL data directory"):
        EmbeddedPostgres(root, free_port()).start()
