"""Kubernetes deployment files (deploy/helm/values.yaml for Dagster's chart, the user-code Dockerfile), tested
as far as a machine without a cluster, helm or docker allows: every environment variable they set is one the
README documents and the code reads; the queues are the executor's; the image's command, run here as a local
process in the project directory, serves the code location."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

from swiftbolt.instance import CELERY_QUEUES, PROVIDER_QUEUE
from swiftbolt.settings import PROJECT_ROOT
from tests.helpers import free_port

HELM = PROJECT_ROOT / "deploy" / "helm"
DOCKERFILE = PROJECT_ROOT / "Dockerfile"
SOURCES = ("swiftbolt", "assets", "resources", "sensors", "dbt_project")


def _values() -> dict[str, Any]:
    return yaml.safe_load((HELM / "values.yaml").read_text())


def _env_names(node: Any) -> Iterator[tuple[str, str]]:
    """(name, value) of every `env:` entry anywhere in the values (list of name/value, or a map)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "env" and isinstance(value, list):
                yield from ((e["name"], str(e.get("value", ""))) for e in value)
            elif key == "env" and isinstance(value, dict):
                yield from ((k, str(v)) for k, v in value.items())
            else:
                yield from _env_names(value)
    elif isinstance(node, list):
        for item in node:
            yield from _env_names(item)


def _secret_keys() -> list[str]:
    return list(yaml.safe_load((HELM / "secret.example.yaml").read_text())["stringData"])


def _documented() -> set[str]:
    """Variable names in the README's configuration table (first column, in backticks)."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in table.splitlines():
        if line.startswith("| `"):
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1]))
    return names


def _read_by_code(name: str) -> bool:
    pattern = re.compile(rf"\b{re.escape(name)}\b")
    return any(pattern.search(p.read_text(errors="ignore")) for root in SOURCES
               for p in (PROJECT_ROOT / root).rglob("*") if p.suffix in (".py", ".yml", ".sql") and p.is_file())


def _user_deployment() -> dict[str, Any]:
    (deployment,) = _values()["dagster-user-deployments"]["deployments"]
    return deployment


def _dockerfile_cmd() -> list[str]:
    (line,) = [li for li in DOCKERFILE.read_text().splitlines() if li.startswith("CMD ")]
    return json.loads(line.removeprefix("CMD "))


def _dockerfile_workdir() -> str:
    (line,) = [li for li in DOCKERFILE.read_text().splitlines() if li.startswith("WORKDIR ")]
    return line.split()[1]


def test_every_variable_the_deployment_sets_is_documented_and_read() -> None:
    names = [n for n, _ in _env_names(_values())] + _secret_keys()
    assert {"SWIFTBOLT_EXECUTOR", "SWIFTBOLT_DATABASE_URL", "ALPACA_API_KEY", "ALPACA_SECRET_KEY"} <= set(names)
    documented = _documented()
    assert "SWIFTBOLT_CELERY_BROKER_URL" in documented and "SWIFTBOLT_EXTRA_MARKETS" in documented
    missing = sorted(set(names) - documented)
    assert not missing, f"set by deploy/helm but not in the README's configuration table: {missing}"
    unread = sorted(n for n in set(names) if not _read_by_code(n))
    assert not unread, f"set by deploy/helm but read by no code: {unread}"


def test_values_match_the_executor_and_the_image() -> None:
    values = _values()
    assert dict(_env_names(_user_deployment()))["SWIFTBOLT_EXECUTOR"] == "celery_k8s"
    assert values["runLauncher"]["type"] == "CeleryK8sRunLauncher"
    queues = {q["name"]: q for q in values["runLauncher"]["config"]["celeryK8sRunLauncher"]["workerQueues"]}
    assert set(queues) == set(CELERY_QUEUES)
    provider = queues[PROVIDER_QUEUE]
    assert provider["replicaCount"] == 1 and provider["configSource"]["worker_concurrency"] == 1
    # the chart runs `dagster api grpc -h 0.0.0.0 -p <port> <args>`: the Dockerfile's command is the same
    deployment = _user_deployment()
    assert _dockerfile_cmd() == ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", str(deployment["port"]),
                                 *deployment["dagsterApiGrpcArgs"]]
    # one Dagster release everywhere: the chart's worker image = the pinned dagster
    pinned = re.search(r'"dagster==([0-9.]+)"', (PROJECT_ROOT / "pyproject.toml").read_text())
    assert pinned and values["runLauncher"]["config"]["celeryK8sRunLauncher"]["image"]["tag"] == pinned.group(1)
    assert f"--version {pinned.group(1)}" in (HELM / "values.yaml").read_text()


def test_the_image_command_serves_the_code_location(tmp_path: Path) -> None:
    """The Dockerfile's CMD with the deployment's environment (values + the example secret, WORKDIR paths
    mapped to this checkout), run from the project directory as the image runs it from its WORKDIR. A database
    URL that points nowhere is fine: loading the location must not connect."""
    port = free_port()
    cmd = _dockerfile_cmd()
    cmd[cmd.index("-p") + 1] = str(port)
    cmd[cmd.index("-h") + 1] = "127.0.0.1"
    workdir = _dockerfile_workdir()
    secret_value = "k8s-secret-value-x9"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWIFTBOLT_", "ALPACA_", "DAGSTER_"))}
    env.update({n: v.replace(workdir, str(PROJECT_ROOT)) for n, v in _env_names(_user_deployment())})
    env.update(dict.fromkeys(_secret_keys(), secret_value))
    env["SWIFTBOLT_DATABASE_URL"] = f"postgresql://swiftbolt:{secret_value}@127.0.0.1:1/swiftbolt"
    env.update(DAGSTER_HOME=str(tmp_path), PYTHONPATH=str(PROJECT_ROOT),  # the image's ENV
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    # The server and the `dagster job list` client each open a Dagster instance. On one fresh SQLite
    # DAGSTER_HOME both would create its tables at once ("table secondary_indexes already exists", the
    # server exits 1), a race that a faster-loading code location loses more often: the client gets a home
    # of its own, and the server's is created before it starts.
    client_env = {**env, "DAGSTER_HOME": str(tmp_path / "client")}
    (tmp_path / "client").mkdir()
    dg.DagsterInstance.from_config(str(tmp_path)).dispose()
    log = tmp_path / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        listed = None
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            assert server.poll() is None, f"`{shlex.join(cmd)}` exited {server.returncode}:\n{log.read_text()[-3000:]}"
            result = subprocess.run(
                [sys.executable, "-m", "dagster", "job", "list", "--grpc-host", "127.0.0.1", "--grpc-port", str(port)],
                cwd=tmp_path, env=client_env, capture_output=True, text=True, timeout=120,
            )
            if result.returncode == 0:
                listed = result.stdout
                break
            time.sleep(3)
        assert listed is not None, f"the code server never answered:\n{log.read_text()[-3000:]}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    assert "Repository __repository__" in listed
    for job in ("us_equity_daily_job", "crypto_daily_job", "daily_refresh_job", "analytics_job"):
        assert f"Job: {job}" in listed, listed
    assert secret_value not in log.read_text() + listed
