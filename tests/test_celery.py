"""The daily job on Celery workers (SWIFTBOLT_EXECUTOR=celery): two workers started by this test on the
machine's Redis, one per queue (market_data_provider, compute), the same way `make worker` starts them. The
run's steps must land on the queue of their pool, run on both workers, and leave the warehouse exactly as a
multiprocess run of the same partitions does (that run goes at the same time, into a second warehouse, on the
same Dagster instance: the provider pool they share must keep their ohlc_bars steps apart).

The Dagster instance is PostgreSQL-backed (a database on the test server): a Celery worker records its
step's events into the run's instance, so that storage must be reachable from every worker."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from psycopg import sql

from assets.partitions import symbol_partitions
from sensors.common import range_tags
from swiftbolt.db.connection import connect
from swiftbolt.db.urls import with_database
from swiftbolt.instance import COMPUTE_QUEUE, PROVIDER_POOL, PROVIDER_QUEUE, write_instance_config
from swiftbolt.settings import DEFAULT_CELERY_BROKER_URL, PROJECT_ROOT
from tests.helpers import add_symbols, bars_digest

pytestmark = [pytest.mark.warehouse, pytest.mark.slow]

SYMBOLS = ["AAPL", "MSFT", "NVDA"]  # partition insertion order = range order
FIRST_SESSION, LAST_SESSION = "2025-03-03", "2025-03-07"  # 5 sessions x 3 symbols = 15 partitions
SESSIONS = 5
JOB = "us_equity_daily_job"
# tables the daily job writes, compared without lineage columns (run ids, when a row was written);
# ml.supertrend_signals is compared too but may be empty: 5 daily bars give SuperTrend no flip
NON_EMPTY_TABLES = ("ml.feature_rows", "ml.sr_levels", "analytics.indicator_values", "analytics.bars_adjusted",
                    "analytics.dashboard_symbol_summary")
LINEAGE_COLUMNS = {"created_at", "updated_at", "computed_at", "refreshed_at", "ingested_at", "ingestion_run_id",
                   "dagster_run_id", "run_id", "_built_at"}
BROKER_HOST, BROKER_PORT = "127.0.0.1", 6379


def _redis_listening() -> bool:
    try:
        with socket.create_connection((BROKER_HOST, BROKER_PORT), timeout=2):
            return True
    except OSError:
        return False


def table_digest(url: str, table: str) -> tuple[int, str]:
    """(rows, md5 of the sorted rows) over the table's columns except lineage ones."""
    schema, name = table.split(".")
    with connect(url) as conn:
        columns = [c for (c,) in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
            "ORDER BY ordinal_position", (schema, name)).fetchall() if c not in LINEAGE_COLUMNS]
        assert columns, f"{table} does not exist"
        query = sql.SQL("SELECT count(*), md5(coalesce(string_agg(r::text, ';' ORDER BY r::text), '')) "
                        "FROM (SELECT {} FROM {}) r").format(
            sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(schema, name))
        row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


def _create_db(admin_url: str, name: str, template: str | None = None) -> str:
    with connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            create = create + sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        conn.execute(create)
    return with_database(admin_url, name)


def _drop_db(admin_url: str, name: str) -> None:
    with connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


class Setup:
    """Two warehouses (one per executor), one Dagster instance, the environment of every process."""

    def __init__(self, admin_url: str, template: str, home: Path, namespace: str) -> None:
        tag = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.admin_url = admin_url
        self.names = {"celery": f"swiftbolt_celery_{tag}", "multiprocess": f"swiftbolt_multi_{tag}",
                      "dagster": f"dagster_celery_{tag}"}
        self.warehouses = {k: _create_db(admin_url, self.names[k], template) for k in ("celery", "multiprocess")}
        self.dagster_url = _create_db(admin_url, self.names["dagster"])
        self.home = home
        self.namespace = namespace
        write_instance_config(home, self.dagster_url)

    def env(self, executor: str, warehouse: str) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("SWIFTBOLT_", "ALPACA_", "DAGSTER_"))}
        return {
            **keep,
            "PYTHONPATH": str(PROJECT_ROOT),
            "DAGSTER_HOME": str(self.home),
            "SWIFTBOLT_DAGSTER_DATABASE_URL": self.dagster_url,
            "SWIFTBOLT_DATABASE_URL": self.warehouses[warehouse],
            "SWIFTBOLT_HISTORY_START": os.environ["SWIFTBOLT_HISTORY_START"],  # same partitions everywhere
            "SWIFTBOLT_PROVIDER": "synthetic",
            "SWIFTBOLT_EXECUTOR": executor,
            "SWIFTBOLT_CELERY_BROKER_URL": DEFAULT_CELERY_BROKER_URL,
            "SWIFTBOLT_CELERY_NAMESPACE": self.namespace,
        }

    def drop(self) -> None:
        for name in self.names.values():
            _drop_db(self.admin_url, name)


@pytest.fixture
def setup(pg_admin_url: str, template_db: str, tmp_path: Path) -> Iterator[Setup]:
    if not _redis_listening():
        pytest.skip(f"no Celery broker: nothing listens on {BROKER_HOST}:{BROKER_PORT} (Redis)")
    namespace = f"swiftbolt-test-{uuid.uuid4().hex[:8]}"  # concurrent test sessions share the machine's Redis
    s = Setup(pg_admin_url, template_db, tmp_path / "dagster_home", namespace)
    try:
        for url in s.warehouses.values():
            add_symbols(url, dict.fromkeys(SYMBOLS, "us_equity"))
        with dg.DagsterInstance.from_config(str(s.home)) as instance:
            instance.add_dynamic_partitions(symbol_partitions("us_equity").name, SYMBOLS)
            instance.event_log_storage.set_concurrency_slots(PROVIDER_POOL, 1)
        yield s
    finally:
        s.drop()
        import redis

        client = redis.Redis(host=BROKER_HOST, port=BROKER_PORT)
        keys = list(client.scan_iter(match=f"{namespace}:*"))
        if keys:
            client.delete(*keys)


def _start_worker(setup: Setup, queue: str, name: str, log: Path) -> subprocess.Popen:
    """`swiftbolt worker`, exactly what `make worker QUEUES=<queue>` runs."""
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "swiftbolt.cli", "worker", "--queues", queue, "--concurrency", "1",
             "--name", name, "--loglevel", "INFO"],
            cwd=PROJECT_ROOT, env=setup.env("celery", "celery"), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(procs: list[subprocess.Popen]) -> None:
    """Warm shutdown of the workers this test started (each its own process group: it and its pool)."""
    running = [p for p in procs if p.poll() is None]
    for proc in running:
        os.killpg(proc.pid, signal.SIGTERM)
    for proc in running:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


class Run:
    """`dagster job execute` of the daily job over the test's partitions, in the background."""

    def __init__(self, setup: Setup, executor: str, log: Path) -> None:
        self.setup, self.executor, self.log = setup, executor, log
        self.marker = uuid.uuid4().hex
        window = range_tags(dt.date.fromisoformat(FIRST_SESSION), dt.date.fromisoformat(LAST_SESSION),
                            SYMBOLS[0], SYMBOLS[-1])
        tags = {**{k: str(v) for k, v in window.items()}, "swiftbolt/test_marker": self.marker}
        config = []
        if executor == "multiprocess":  # step processes fork from a server that loaded the code location once
            path = setup.home / "multiprocess.yaml"
            path.write_text(json.dumps({"execution": {"config": {"start_method": {
                "forkserver": {"preload_modules": ["definitions"]}}}}}))
            config = ["-c", str(path)]
        with log.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "dagster", "job", "execute", "-f", "definitions.py", "-j", JOB,
                 "--tags", json.dumps(tags), *config],
                cwd=PROJECT_ROOT, env=setup.env(executor, executor), stdout=out, stderr=subprocess.STDOUT,
            )

    def run_id(self) -> str:
        """The finished run's id; fails unless it succeeded."""
        with dg.DagsterInstance.from_config(str(self.setup.home)) as instance:
            runs = instance.get_runs(dg.RunsFilter(tags={"swiftbolt/test_marker": self.marker}))
            tail = self.log.read_text()[-4000:]
            assert len(runs) == 1, f"{self.executor} run not found (exit {self.proc.returncode}):\n{tail}"
            assert runs[0].status == dg.DagsterRunStatus.SUCCESS, f"{self.executor} run {runs[0].status}:\n{tail}"
            return runs[0].run_id


def _wait(runs: list[Run], workers: list[subprocess.Popen], worker_logs: list[Path], timeout: float) -> None:
    """Wait for the runs; a worker that dies meanwhile fails the test at once (its steps would never run)."""
    deadline = time.monotonic() + timeout
    while any(r.proc.poll() is None for r in runs):
        for proc, log in zip(workers, worker_logs, strict=True):
            assert proc.poll() is None, f"worker exited ({proc.returncode}):\n{log.read_text()[-3000:]}"
        if time.monotonic() > deadline:
            for r in runs:
                r.proc.kill()
            pytest.fail(f"the runs did not finish within {timeout:.0f} s")
        time.sleep(1)


def _step_window(setup: Setup, run_id: str, step_key: str) -> tuple[float, float]:
    """(STEP_START, STEP_SUCCESS) timestamps of a step."""
    with dg.DagsterInstance.from_config(str(setup.home)) as instance:
        times = {r.dagster_event.event_type: r.timestamp for r in instance.all_logs(run_id)
                 if r.dagster_event is not None and r.dagster_event.step_key == step_key
                 and r.dagster_event.event_type in (dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS)}
    return times[dg.DagsterEventType.STEP_START], times[dg.DagsterEventType.STEP_SUCCESS]


def _celery_placement(setup: Setup, run_id: str) -> tuple[dict[str, str], dict[str, str]]:
    """step key -> queue it was submitted to, step key -> Celery worker that executed it (the engine events
    of dagster-celery's executor and of its worker task)."""
    queues: dict[str, str] = {}
    workers: dict[str, str] = {}
    with dg.DagsterInstance.from_config(str(setup.home)) as instance:
        for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
            event = record.dagster_event
            message = record.user_message or ""
            if event is None or event.step_key is None:
                continue
            if message.startswith("Submitting celery task"):
                queues[event.step_key] = message.rsplit('to queue "', 1)[1].rstrip('".')
            metadata = event.engine_event_data.metadata if event.engine_event_data else {}
            if "Celery worker" in metadata:
                workers[event.step_key] = str(metadata["Celery worker"].value)
    return queues, workers


def test_daily_job_on_two_celery_workers_equals_a_multiprocess_run(setup: Setup, tmp_path: Path) -> None:
    """Both runs at once, on one Dagster instance, into two warehouses: the provider pool (limit 1) is
    shared, so their ohlc_bars steps must take turns whichever executor runs them."""
    started = time.monotonic()
    tag = uuid.uuid4().hex[:6]
    nodes = {PROVIDER_QUEUE: f"provider-{tag}", COMPUTE_QUEUE: f"compute-{tag}"}
    worker_logs = [tmp_path / f"worker-{q}.log" for q in nodes]
    procs = [_start_worker(setup, q, name, log) for (q, name), log in zip(nodes.items(), worker_logs, strict=True)]
    try:  # steps wait in their queues until the workers are up
        runs = [Run(setup, executor, tmp_path / f"{executor}-run.log") for executor in ("celery", "multiprocess")]
        _wait(runs, procs, worker_logs, timeout=420)
    finally:
        _stop(procs)
    celery_run, multi_run = (r.run_id() for r in runs)
    elapsed = time.monotonic() - started

    queues, workers = _celery_placement(setup, celery_run)
    provider_steps = {k for k in queues if k.endswith(("__ohlc_bars", "__options_chain_snapshots"))}
    assert provider_steps == {"us_equity__ohlc_bars", "us_equity__options_chain_snapshots"}, queues
    for step, queue in queues.items():  # the provider pool's step on its queue, everything else on compute
        assert queue == (PROVIDER_QUEUE if step in provider_steps else COMPUTE_QUEUE), (step, queue)
    assert set(workers) == set(queues), f"steps without a worker event: {set(queues) - set(workers)}"
    for step, worker in workers.items():
        expected = nodes[PROVIDER_QUEUE] if step in provider_steps else nodes[COMPUTE_QUEUE]
        assert worker.startswith(f"{expected}@"), (step, worker)
    assert {w.split("@")[0] for w in workers.values()} == set(nodes.values())  # both workers did work
    assert "swiftbolt_dbt_models" in workers and "us_equity__feature_rows" in workers

    assert _celery_placement(setup, multi_run) == ({}, {})  # the multiprocess run used no queue, no worker

    celery_url, multi_url = setup.warehouses["celery"], setup.warehouses["multiprocess"]
    rows, digest = bars_digest(celery_url)
    assert rows > len(SYMBOLS) * SESSIONS * 26, "fewer bars than 26 m15 bars per partition"
    assert (rows, digest) == bars_digest(multi_url)
    for table in (*NON_EMPTY_TABLES, "ml.supertrend_signals"):
        got = table_digest(celery_url, table)
        assert got[0] > 0 or table not in NON_EMPTY_TABLES, f"{table} is empty after the celery run"
        assert got == table_digest(multi_url, table), f"{table} differs between the celery and multiprocess runs"
    # the shared provider pool: the two runs' ohlc_bars steps never overlapped
    a, b = (_step_window(setup, run, "us_equity__ohlc_bars") for run in (celery_run, multi_run))
    assert a[1] <= b[0] or b[1] <= a[0], f"ohlc_bars ran concurrently in both runs: {a} {b}"
    print(f"workers started + both runs: {elapsed:.0f} s")
