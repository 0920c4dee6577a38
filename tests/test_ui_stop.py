"""`make ui PORT=...` serves the UI on that port, and Ctrl-C (SIGINT to the terminal's process group) or
SIGTERM to make stops the webserver, the daemon and the code server within a few seconds. A real
`make ui` in a subprocess, on a real PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from swiftbolt.settings import PROJECT_ROOT
from tests.helpers import free_port

pytestmark = pytest.mark.warehouse

STOPPED_WITHIN_SECONDS = 15.0
ROLES = {"webserver": "dagster_webserver", "daemon": "dagster._daemon", "code server": "code-server"}


def _terminal_job() -> None:
    # a terminal's foreground job: its own process group, SIGINT at its default action
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _background_job() -> None:
    # `make ui &` in a script (no job control): SIGINT ignored, and inherited as ignored by every child. A bare
    # `dagster dev` then ignores SIGTERM too (it maps SIGTERM to SIGINT's action) and outlives its stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _roles(procs: list[psutil.Process]) -> dict[str, list[psutil.Process]]:
    found: dict[str, list[psutil.Process]] = {role: [] for role in ROLES}
    for p in procs:
        try:
            cmdline = " ".join(p.cmdline())
        except psutil.Error:
            continue
        for role, marker in ROLES.items():
            if marker in cmdline:
                found[role].append(p)
    return found


def _wait_for_ui(make: subprocess.Popen, port: int, log: Path, timeout: float = 240) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert make.poll() is None, log.read_text()[-3000:]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as response:
                up = response.status == 200
        except OSError:
            up = False
        procs = psutil.Process(make.pid).children(recursive=True)
        if up and all(_roles(procs).values()):
            return procs
        time.sleep(1)
    raise AssertionError(f"the UI did not come up on port {port}: {log.read_text()[-3000:]}")


@pytest.mark.parametrize("how", ["ctrl-c in a terminal", "sigterm to make started in the background"])
def test_make_ui_on_a_port_stops_everything_within_seconds(how: str, warehouse_url: str, empty_db_url: str,
                                                           tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "ui.log"
    env = {**os.environ, "SWIFTBOLT_DATABASE_URL": warehouse_url, "SWIFTBOLT_DAGSTER_DATABASE_URL": empty_db_url,
           "DAGSTER_HOME": str(tmp_path / "dagster_home"), "PYTHONPATH": str(PROJECT_ROOT)}
    # `-o install`: this interpreter's environment is already installed (BIN points at it)
    cmd = ["make", "--no-print-directory", "-o", "install", "ui", f"PORT={port}", f"BIN={Path(sys.executable).parent}"]
    with open(log, "w") as out:
        make = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True,
                                preexec_fn=_terminal_job if how.startswith("ctrl-c") else _background_job)
    try:
        procs = _wait_for_ui(make, port, log)
        roles = _roles(procs)
        assert all(str(port) in " ".join(p.cmdline()) for p in roles["webserver"])
        began = time.monotonic()
        if how.startswith("ctrl-c"):
            os.killpg(make.pid, signal.SIGINT)
        else:
            make.send_signal(signal.SIGTERM)
        _, alive = psutil.wait_procs(procs, timeout=STOPPED_WITHIN_SECONDS)
        took = time.monotonic() - began
        make.wait(timeout=STOPPED_WITHIN_SECONDS)
        assert not alive, f"still running after {took:.1f}s: {[' '.join(p.cmdline())[:120] for p in alive]}"
        assert took < STOPPED_WITHIN_SECONDS
        assert "stopped in" in log.read_text()
        print(f"{how}: {len(procs)} processes gone {took:.1f}s after the signal")
    finally:
        if make.poll() is None or psutil.pid_exists(make.pid):
            for p in psutil.Process(make.pid).children(recursive=True) if psutil.pid_exists(make.pid) else []:
                p.kill()
            make.kill()
