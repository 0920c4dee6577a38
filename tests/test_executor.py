"""The executor by configuration (SWIFTBOLT_EXECUTOR), the queue of every step, the worker command line.
The Celery run itself is tests/test_celery.py."""

from __future__ import annotations

import os
import subprocess
import sys

import dagster as dg
import pytest
from dagster._core.execution.api import create_execution_plan
from dagster._core.snap import JobSnap
from dagster._serdes import serialize_value

from definitions import defs
from resources.executor import QUEUE_TAG, build_executor, celery_app_args, route_steps, url_config
from swiftbolt.cli import worker_command
from swiftbolt.errors import ConfigError
from swiftbolt.instance import COMPUTE_QUEUE, PROVIDER_POOL, PROVIDER_QUEUE
from swiftbolt.settings import PROJECT_ROOT, executor_settings

SECRET = "s3cret-broker-pw"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("SWIFTBOLT_CELERY_") or name == "SWIFTBOLT_EXECUTOR":
            monkeypatch.delenv(name)
    return monkeypatch


def test_defaults(clean_env: pytest.MonkeyPatch) -> None:
    s = executor_settings()
    assert (s.executor, s.broker_url, s.backend_url, s.namespace) == (
        "in_process", "redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0", None)
    assert build_executor(s) is dg.in_process_executor  # one process per run (the 2-core default)
    clean_env.setenv("SWIFTBOLT_EXECUTOR", "multiprocess")
    assert build_executor(executor_settings()) is dg.multiprocess_executor
    clean_env.setenv("SWIFTBOLT_EXECUTOR", "Celery-K8s")
    clean_env.setenv("SWIFTBOLT_CELERY_BROKER_URL", "amqp://guest@mq:5672//")
    s = executor_settings()
    assert (s.executor, s.backend_url) == ("celery_k8s", "rpc://")  # Redis is its own backend, RabbitMQ is not


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("SWIFTBOLT_EXECUTOR", "dask",
     "SWIFTBOLT_EXECUTOR='dask' is not valid; use in_process, multiprocess, celery, celery_k8s"),
    ("SWIFTBOLT_CELERY_BROKER_URL", f"http://user:{SECRET}@q:80/0", "SWIFTBOLT_CELERY_BROKER_URL has scheme 'http'"),
    ("SWIFTBOLT_CELERY_BACKEND_URL", f"{SECRET}", "SWIFTBOLT_CELERY_BACKEND_URL has scheme '(none)'"),
    ("SWIFTBOLT_CELERY_NAMESPACE", "a b", "SWIFTBOLT_CELERY_NAMESPACE='a b' is not valid"),
])
def test_bad_settings_are_one_line_without_secrets(clean_env: pytest.MonkeyPatch, name: str, value: str,
                                                   expected: str) -> None:
    clean_env.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        executor_settings()
    message = str(info.value)
    assert message.startswith(expected) and "\n" not in message and SECRET not in message


def test_broker_urls_from_the_environment_never_enter_the_job(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SWIFTBOLT_EXECUTOR", "celery")
    clean_env.setenv("SWIFTBOLT_CELERY_BROKER_URL", f"redis://:{SECRET}@redis.internal:6379/0")
    settings = executor_settings()
    # referenced by name; the default backend (the broker itself) too
    assert url_config(settings) == {"broker": {"env": "SWIFTBOLT_CELERY_BROKER_URL"},
                                    "backend": {"env": "SWIFTBOLT_CELERY_BROKER_URL"}}
    executor = build_executor(settings)
    assert executor is not None and executor.name == "celery"

    @dg.asset
    def probe() -> None:
        """A one-asset job to snapshot."""

    job = dg.Definitions(assets=[probe], executor=executor).resolve_implicit_global_asset_job_def()
    assert SECRET not in serialize_value(JobSnap.from_job_def(job))
    # the worker's app resolves the value itself, from the same variable
    assert celery_app_args(settings)["broker"].endswith(f"{SECRET}@redis.internal:6379/0")


def test_steps_go_to_the_queue_of_their_pool() -> None:
    plan = route_steps(create_execution_plan(defs.resolve_job_def("us_equity_daily_job")))
    queues = {step.key: step.tags[QUEUE_TAG] for step in plan.steps}
    pools = {step.key: step.pool for step in plan.steps}
    assert pools["us_equity__ohlc_bars"] == PROVIDER_POOL
    # the steps that call the market-data provider: the bars and the option chains
    assert {k for k, q in queues.items() if q == PROVIDER_QUEUE} == {"us_equity__ohlc_bars",
                                                                      "us_equity__options_chain_snapshots"}
    assert queues["swiftbolt_dbt_models"] == queues["us_equity__feature_rows"] == COMPUTE_QUEUE
    assert {plan.get_step_by_key(k).tags[QUEUE_TAG] for k in queues} == {PROVIDER_QUEUE, COMPUTE_QUEUE}
    intraday = route_steps(create_execution_plan(defs.resolve_job_def("us_equity_intraday_job")))
    assert {s.key: s.tags[QUEUE_TAG] for s in intraday.steps}["us_equity__quotes"] == PROVIDER_QUEUE


def test_a_queue_set_on_the_op_is_kept() -> None:
    @dg.asset(op_tags={QUEUE_TAG: "gpu"}, pool=PROVIDER_POOL)
    def special() -> None:
        """Routed by hand."""

    @dg.asset(deps=[special])
    def plain() -> None:
        """Routed by pool (none: compute)."""

    job = dg.Definitions(assets=[special, plain]).resolve_implicit_global_asset_job_def()
    plan = route_steps(create_execution_plan(job))
    assert {s.key: s.tags[QUEUE_TAG] for s in plan.steps} == {"special": "gpu", "plain": COMPUTE_QUEUE}


def test_worker_command() -> None:
    cmd = worker_command(["market_data_provider"], None, None)
    assert cmd[1:6] == ["-m", "celery", "-A", "resources.celery_app", "worker"]
    assert cmd[cmd.index("-Q") + 1] == "market_data_provider" and cmd[cmd.index("--concurrency") + 1] == "1"
    cmd = worker_command(["market_data_provider", "compute"], 3, "box1")
    assert cmd[cmd.index("-Q") + 1] == "market_data_provider,compute"
    assert cmd[cmd.index("--concurrency") + 1] == "3" and cmd[cmd.index("-n") + 1] == "box1@%h"
    with pytest.raises(ConfigError, match="unknown queues"):
        worker_command(["dagster"], None, None)


def test_worker_cli_refuses_an_unknown_queue_in_one_line() -> None:
    result = subprocess.run([sys.executable, "-m", "swiftbolt.cli", "worker", "--queues", "compute,gpu"],
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip() == ("swiftbolt: error: unknown queues ['gpu']; use one or more of "
                                     "market_data_provider, compute")
