"""`swiftbolt` command line: the embedded database, migrations, the Dagster instance, the demo."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence

from swiftbolt.db.urls import redact
from swiftbolt.errors import SwiftboltError
from swiftbolt.settings import PROJECT_ROOT, load_settings


def _db(args: argparse.Namespace) -> int:
    from swiftbolt.db.warehouse import embedded_server, warehouse_url

    settings = load_settings()
    if args.action == "url":
        print(redact(warehouse_url(settings)))
        return 0
    if not settings.uses_embedded_server:
        print(f"SWIFTBOLT_DATABASE_URL is set ({redact(settings.database_url or '')}): "
              "no embedded server is managed")
        return 0
    server = embedded_server(settings)
    if args.action == "start":
        was_running = server.status().running
        status = server.start()
        print(("already " if was_running else "") + status.describe())
    elif args.action == "stop":
        print("stopped" if server.stop() else "not running")
    else:
        print(server.status().describe())
    return 0


def _check_configuration() -> None:
    """Refuse bad settings (history start, extra timeframes, after-close buffer, the universe file)
    with their one-line error before anything is started or migrated."""
    from swiftbolt.settings import after_close_buffer, check_settings, market_data_settings
    from swiftbolt.universe import load_universe

    check_settings()
    after_close_buffer()
    market_data_settings()
    load_universe()


def _setup() -> tuple[str, str]:
    """Start (if embedded), create databases, migrate, write dagster.yaml. Returns the two URLs."""
    from swiftbolt.db.warehouse import prepare
    from swiftbolt.instance import apply_pool_limits, sqlalchemy_url, write_instance_config

    _check_configuration()
    settings = load_settings()
    ready = prepare(settings)
    path = write_instance_config(settings.dagster_home, ready.dagster_url)
    os.environ["SWIFTBOLT_DAGSTER_STORAGE_URL"] = sqlalchemy_url(ready.dagster_url)
    pools = apply_pool_limits(settings.dagster_home)
    print(f"warehouse: {redact(ready.url)} ({ready.migrations.summary()})")
    print(f"dagster instance: {path} (pool limits {pools})")
    return ready.url, ready.dagster_url


def _export_env(dagster_url: str) -> None:
    settings = load_settings()
    os.environ["DAGSTER_HOME"] = str(settings.dagster_home)
    from swiftbolt.instance import sqlalchemy_url

    os.environ["SWIFTBOLT_DAGSTER_STORAGE_URL"] = sqlalchemy_url(dagster_url)


def _prepare_dbt_manifest() -> None:
    """Parse the dbt project when its manifest is stale, in a child process: the manifest belongs to the
    Dagster side (resources/dbt.py), which the core does not import."""
    result = subprocess.run([sys.executable, "-m", "resources.dbt"], cwd=PROJECT_ROOT, capture_output=True,
                            text=True)
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines() or ["no output"]
        raise SwiftboltError(f"dbt parse of dbt_project/ failed: {lines[-1]}")


def _migrate(_: argparse.Namespace) -> int:
    _setup()
    return 0


def _ui(args: argparse.Namespace) -> int:
    _, dagster_url = _setup()
    _prepare_dbt_manifest()
    _export_env(dagster_url)
    from swiftbolt.supervise import run_supervised

    cmd = [sys.executable, "-m", "dagster", "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"),
           "-h", args.host, "-p", str(args.port)]
    print(f"Dagster UI on http://{args.host}:{args.port} (webserver + daemon + code server); "
          "Ctrl-C stops all of them", flush=True)
    return run_supervised(cmd, cwd=PROJECT_ROOT)


def _demo(args: argparse.Namespace) -> int:
    _, dagster_url = _setup()
    _export_env(dagster_url)
    _prepare_dbt_manifest()
    # the demo runs jobs through Dagster: the Dagster side of the project, started as a child process
    return subprocess.run([sys.executable, "-m", "demo", "--days", str(args.days)], cwd=PROJECT_ROOT).returncode


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="swiftbolt", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    db = sub.add_parser("db", help="manage the embedded PostgreSQL server")
    db.add_argument("action", choices=["start", "stop", "status", "url"])
    db.set_defaults(func=_db)
    sub.add_parser("migrate", help="create databases, apply migrations, write dagster.yaml").set_defaults(
        func=_migrate
    )
    ui = sub.add_parser("ui", help="start the Dagster webserver and daemon on the project's instance")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000, help="webserver port (make ui PORT=3401)")
    ui.set_defaults(func=_ui)
    demo = sub.add_parser("demo", help="materialize the default pipeline headless and summarize it")
    demo.add_argument("--days", type=int, default=10, help="recent trading days to materialize")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SwiftboltError as exc:
        print(f"swiftbolt: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
