"""`swiftbolt` command line: the embedded database, migrations, the Dagster instance, the demo, Celery
workers."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence

from swiftbolt.db.urls import redact
from swiftbolt.errors import ConfigError, SwiftboltError
from swiftbolt.settings import PROJECT_ROOT, load_settings

DEMO_HISTORY_SESSIONS = 510
"""The demo's d1 history: about two years, more than the features' 500-bar warm-up."""


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
    from swiftbolt.instance import apply_event_env, sqlalchemy_url

    os.environ["SWIFTBOLT_DAGSTER_STORAGE_URL"] = sqlalchemy_url(dagster_url)
    # Dagster's event batching settings (swiftbolt.instance.EVENT_ENV) for every process started from here:
    # `dagster dev`'s webserver and daemon (run creation) and the run workers and the demo (materializations)
    apply_event_env()


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


def worker_command(queues: Sequence[str], concurrency: int | None, name: str | None,
                   loglevel: str = "INFO") -> list[str]:
    """The Celery worker command line for the code location (run from the project root)."""
    from swiftbolt.instance import CELERY_QUEUES, PROVIDER_QUEUE

    unknown = sorted(set(queues) - set(CELERY_QUEUES))
    if unknown or not queues:
        raise ConfigError(f"unknown queues {unknown}; use one or more of {', '.join(CELERY_QUEUES)}")
    if concurrency is None:  # the provider queue alone: one step at a time, one rate limiter
        concurrency = 1 if list(queues) == [PROVIDER_QUEUE] else max(1, os.cpu_count() or 1)
    node = f"{name or '+'.join(queues) + f'-{os.getpid()}'}@%h"
    return [sys.executable, "-m", "celery", "-A", "resources.celery_app", "worker", "-Q", ",".join(queues),
            "-n", node, "--concurrency", str(concurrency), "--prefetch-multiplier", "1", "--loglevel", loglevel]


def _worker(args: argparse.Namespace) -> int:
    """Exec a Celery worker. Nothing is started or migrated here: the warehouse and Dagster's storage are
    the ones the settings name (the machine running `swiftbolt ui` or the daemon prepared them)."""
    from swiftbolt.db.warehouse import dagster_storage_url
    from swiftbolt.settings import executor_settings

    settings = executor_settings()
    cmd = worker_command([q.strip() for q in args.queues.split(",") if q.strip()], args.concurrency, args.name,
                         args.loglevel)
    if not settings.uses_celery:
        print("note: SWIFTBOLT_EXECUTOR is not celery here; runs launched with this environment will not use "
              "the workers", file=sys.stderr)
    _export_env(dagster_storage_url())
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH")) if p)
    print(f"celery worker on {redact(settings.broker_url)}, queues {cmd[cmd.index('-Q') + 1]}, "
          f"concurrency {cmd[cmd.index('--concurrency') + 1]}", flush=True)
    os.chdir(PROJECT_ROOT)
    os.execv(sys.executable, cmd)
    return 0  # not reached


def _demo(args: argparse.Namespace) -> int:
    _, dagster_url = _setup()
    _export_env(dagster_url)
    _prepare_dbt_manifest()
    # the demo runs jobs through Dagster: the Dagster side of the project, started as a child process
    return subprocess.run([sys.executable, "-m", "demo", "--days", str(args.days), "--history", str(args.history)],
                          cwd=PROJECT_ROOT).returncode


def _evaluate_forecasts(args: argparse.Namespace) -> int:
    """Check the files and the range, make a scratch warehouse on the configured server (the embedded one by
    default), then run the assets through Dagster on it in a child process (demo/evaluate.py) and print
    its figures."""
    import datetime as dt
    import tempfile

    from swiftbolt.db.warehouse import embedded_server, warehouse_url
    from swiftbolt.forecasts.evaluate_command import plan_evaluation, scratch_database, universe_yaml

    plan = plan_evaluation(args.files, args.start, args.end)
    print(f"evaluate-forecasts: {plan.describe()}", flush=True)
    settings = load_settings()
    if settings.uses_embedded_server:
        embedded_server(settings).start()
    url = scratch_database(warehouse_url(settings), args.database)
    print(f"scratch warehouse: {redact(url)} (dropped and created again on every run)", flush=True)
    with tempfile.TemporaryDirectory(prefix="swiftbolt-evaluate-") as tmp:
        universe = os.path.join(tmp, "universe.yaml")
        with open(universe, "w", encoding="utf-8") as fh:
            fh.write(universe_yaml(plan.symbols))
        env = {**os.environ, "SWIFTBOLT_DATABASE_URL": url, "SWIFTBOLT_PROVIDER": "files",
               "SWIFTBOLT_FILES_DIR": str(plan.directory.resolve()), "SWIFTBOLT_UNIVERSE_FILE": universe,
               "SWIFTBOLT_HISTORY_START": plan.history_start.isoformat(),
               "SWIFTBOLT_FORECAST_TRAIN_SESSIONS": str(plan.train_sessions), "DAGSTER_HOME": tmp,
               "PYTHONPATH": os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH")) if p)}
        env.pop("SWIFTBOLT_EXTRA_MARKETS", None)
        from swiftbolt.instance import apply_event_env

        apply_event_env(env)  # Dagster's event batching, as for the demo
        log = settings.state_dir / "logs" / f"evaluate-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}.log"
        _prepare_dbt_manifest()
        cmd = [sys.executable, "-m", "demo.evaluate", "--start", plan.start.isoformat(), "--end", plan.end.isoformat(),
               "--history-start", plan.history_start.isoformat(), "--bars-end", plan.bars_end.isoformat(),
               "--log", str(log)]
        return subprocess.run(cmd, cwd=PROJECT_ROOT, env=env).returncode


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
    worker = sub.add_parser("worker", help="start a Celery worker for the code location (SWIFTBOLT_EXECUTOR=celery)")
    worker.add_argument("--queues", default="market_data_provider,compute",
                        help="comma-separated: market_data_provider (one worker in a deployment), compute")
    worker.add_argument("--concurrency", type=int, default=None,
                        help="worker processes (default: 1 for the provider queue alone, else the CPU count)")
    worker.add_argument("--name", default=None, help="worker name (default: <queues>-<pid>); @<host> is appended")
    worker.add_argument("--loglevel", default="INFO")
    worker.set_defaults(func=_worker)
    demo = sub.add_parser("demo", help="materialize the default pipeline headless and summarize it")
    demo.add_argument("--days", type=int, default=10, help="recent trading days to materialize")
    demo.add_argument("--history", type=int, default=DEMO_HISTORY_SESSIONS,
                      help="closed sessions of d1 history before them, for the forecast models to train on "
                           f"(default {DEMO_HISTORY_SESSIONS}; 0: none)")
    demo.set_defaults(func=_demo)
    evaluate = sub.add_parser(
        "evaluate-forecasts",
        help="load a directory of vendor daily bars into a scratch warehouse, run the forecast assets walk-forward "
             "through Dagster and print out-of-sample figures beside the naive baselines")
    evaluate.add_argument("--files", required=True, help="directory with one CSV or Parquet of daily bars per symbol "
                                                         "(the layout of the file provider, see README)")
    evaluate.add_argument("--start", default=None, help="first forecast day, YYYY-MM-DD (default: 60 sessions "
                                                        "before --end)")
    evaluate.add_argument("--end", default=None, help="last forecast day, YYYY-MM-DD (default: the last session "
                                                      "whose 20-session horizon has realised in the files)")
    evaluate.add_argument("--database", default="swiftbolt_evaluate",
                          help="name of the scratch warehouse database on the configured server (dropped first)")
    evaluate.set_defaults(func=_evaluate_forecasts)
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
