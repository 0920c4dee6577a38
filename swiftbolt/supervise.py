"""Run `dagster dev` (webserver, daemon, code server and the runs they launch) as one process group that
stops as a whole within a few seconds of Ctrl-C or SIGTERM.

Why not exec `dagster dev` directly: it maps SIGTERM to whatever SIGINT does, and a process started with
SIGINT ignored (a background job of a non-interactive shell, some process managers) keeps SIGINT ignored,
so `dagster dev` then ignores both and its children outlive a stop by minutes. Here the child group starts
with the default dispositions; SIGINT, SIGTERM or SIGHUP to this process sends SIGINT to the whole group
(what a terminal's Ctrl-C does: the webserver, daemon and code servers shut down, runs are interrupted),
and once the webserver, daemon and run workers are gone (about 4 s; at most `grace`, 5 s), whatever is left
is killed: `dagster dev` and its code server take 8 s and more to tidy up on their own. On Linux the group
leader also dies with this process (PR_SET_PDEATHSIG), so a killed supervisor leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import psutil

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
DEFAULT_GRACE_SECONDS = 5.0
_PR_SET_PDEATHSIG = 1


def _child_setup() -> None:  # runs in the child between fork and exec
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)  # an inherited "ignore" would survive exec
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _stopped(p: psutil.Process) -> bool:
    try:
        return not p.is_running() or p.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def _is_code_server(p: psutil.Process) -> bool:
    try:
        head = " ".join(p.cmdline()[:6])  # the command, not its options (the webserver has --code-server-log-level)
    except psutil.Error:
        return False
    return any(cmd in head for cmd in ("dagster code-server start", "dagster api grpc",
                                       "multiprocessing.resource_tracker"))


def _group(proc: subprocess.Popen) -> list[psutil.Process]:
    try:
        leader = psutil.Process(proc.pid)
        return [leader, *leader.children(recursive=True)]
    except psutil.Error:
        return []


def _wait_stopped(procs: list[psutil.Process], proc: subprocess.Popen, until: float) -> list[psutil.Process]:
    alive = [p for p in procs if not _stopped(p)]
    while alive and time.monotonic() < until:
        proc.poll()  # reap the leader, our child
        time.sleep(0.05)
        alive = [p for p in alive if not _stopped(p)]
    return alive


def stop_group(proc: subprocess.Popen, grace: float = DEFAULT_GRACE_SECONDS) -> float:
    """SIGINT to the child's process group (the webserver and daemon shut down, runs are interrupted), SIGKILL
    to whatever is left after `grace` seconds (dagster's code server waits for heartbeats that will not
    come). Returns the seconds until no process of the group was left."""
    began = time.monotonic()
    procs = _group(proc)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGINT)
    # what holds state (webserver, daemon, run workers) gets the grace to shut down; `dagster dev` and its code
    # servers only tidy up after them (4 s and more) and are killed as soon as the others are gone
    stateful = [p for p in procs if p.pid != proc.pid and not _is_code_server(p)]
    _wait_stopped(stateful, proc, began + grace)
    alive = [p for p in procs if not _stopped(p)]
    if alive:
        procs = alive + [p for p in _group(proc) if p not in alive]  # anything started meanwhile
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        for p in procs:
            with contextlib.suppress(psutil.Error):
                p.kill()
        _wait_stopped(procs, proc, time.monotonic() + 5)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=1)
    return time.monotonic() - began


def run_supervised(cmd: Sequence[str], cwd: Path | None = None, grace: float = DEFAULT_GRACE_SECONDS) -> int:
    """Run `cmd` in a new process group until it exits or this process gets SIGINT/SIGTERM/SIGHUP; then stop
    the whole group (stop_group). Returns the exit code (130 after a stop by signal)."""
    received: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    try:
        proc = subprocess.Popen(list(cmd), cwd=cwd, start_new_session=True, preexec_fn=_child_setup)
        while not received and proc.poll() is None:
            time.sleep(0.2)
        if proc.poll() is not None and not received:
            stop_group(proc, grace)  # dagster dev ended by itself: leave none of its children behind
            return int(proc.returncode)
        name = signal.Signals(received[0]).name if received else "exit"
        print(f"\n{name}: stopping the webserver, daemon and code server ...", file=sys.stderr, flush=True)
        took = stop_group(proc, grace)
        print(f"stopped in {took:.1f}s", file=sys.stderr, flush=True)
        return 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
