"""The dbt project (dbt_project/) as a Dagster resource, and its manifest.

`dbt_resource()` is the "dbt" resource, pointed at the warehouse (SWIFTBOLT_DATABASE_URL or embedded).
The manifest (dbt_project/target/manifest.json) is generated, never committed: `prepare_dbt_manifest()`
(`python -m resources.dbt`, called by the install step) runs `dbt parse`; the commands that start Dagster
(`swiftbolt demo`, `swiftbolt ui`) and the test suite's conftest parse again when the manifest is missing,
older than a file of the project, or has no partial parse for the runs' connection profile. This module does
not need the manifest (assets/dbt.py, which defines the dbt assets, does), so a fresh clone can build it.
dbt's partial parsing is valid only for the profile it was parsed with (host, port, database, user...:
"Unable to do partial parsing because profile has changed"), so the parse uses the connection the runs use,
its partial parse is kept per profile, and every run's `dbt build` starts from the one of its own profile.
Re-parsing at every load under `dagster dev` (DbtProject.prepare_if_dev, as Dagster's reference projects do)
is not done: every run and step process loads the code location, and a parse there cost 5-10 s per process.
"""

import contextlib
import hashlib
import json
import logging
import os
import shutil
import sys
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from dagster_dbt import DbtCliResource, DbtProject
from dagster_dbt.compat import DBT_PYTHON_VERSION
from dagster_dbt.core import resource as dagster_dbt_resource
from pydantic import Field

from swiftbolt.db.urls import database_of, validate_url
from swiftbolt.db.warehouse import warehouse_url
from swiftbolt.settings import PROJECT_ROOT

logger = logging.getLogger(__name__)

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"

# Environment variables read by dbt_project/profiles.yml. The password's name carries dbt's
# DBT_ENV_SECRET_ prefix: dbt scrubs such values from all of its output.
ENV_HOST = "SWIFTBOLT_DBT_HOST"
ENV_PORT = "SWIFTBOLT_DBT_PORT"
ENV_USER = "SWIFTBOLT_DBT_USER"
ENV_PASSWORD = "DBT_ENV_SECRET_SWIFTBOLT_DBT_PASSWORD"
ENV_DBNAME = "SWIFTBOLT_DBT_DBNAME"
ENV_SSLMODE = "SWIFTBOLT_DBT_SSLMODE"

_MANIFEST_INPUTS = {".sql", ".yml", ".yaml", ".md", ".csv", ".jinja"}
_NOT_INPUTS = {"target", "logs", "dbt_packages"}

class _WithoutInProcessAdapter(logging.Filter):
    """Drops dagster-dbt's warning that it could not build dbt-core's adapter in this process. It builds one
    before every invocation, only for the row-count and column metadata this project does not fetch; with
    dbt-core in its own environment (dbt_project/requirements.txt) that fails by design, and the warning
    would put a traceback in every dbt run's log. Only that record is dropped, and only without dbt-core."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("An error was encountered when creating a handle to the dbt adapter")


if DBT_PYTHON_VERSION is None:
    dagster_dbt_resource.logger.addFilter(_WithoutInProcessAdapter())

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


ENV_EXECUTABLE = "SWIFTBOLT_DBT_EXECUTABLE"
DBT_VENV = PROJECT_ROOT / ".venv-dbt"


def _dbt_executable() -> str:
    """The dbt that Dagster runs: SWIFTBOLT_DBT_EXECUTABLE, else dbt's own environment made by `make install`
    (.venv-dbt, from dbt_project/requirements.txt), else a dbt beside this interpreter, else PATH's. dbt-core is
    kept out of the Dagster environment so that loading the code location does not import it (dagster-dbt
    imports dbt-core at import time when it is installed beside it)."""
    configured = os.environ.get(ENV_EXECUTABLE)
    if configured:
        return configured
    for candidate in (DBT_VENV / "bin" / "dbt", Path(sys.executable).with_name("dbt")):
        if candidate.exists():
            return os.fspath(candidate)
    return shutil.which("dbt") or "dbt"


DBT_EXECUTABLE = _dbt_executable()


def dbt_env(url: str) -> dict[str, str]:
    """The profile's environment variables for a postgresql:// URL (host, port, user, password, database,
    sslmode). Never log the result: it holds the password."""
    url = validate_url(url, "warehouse URL")
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    return {
        ENV_HOST: parts.hostname or "127.0.0.1",
        ENV_PORT: str(parts.port or 5432),
        ENV_USER: unquote(parts.username) if parts.username else "postgres",
        ENV_PASSWORD: unquote(parts.password) if parts.password else "",
        ENV_DBNAME: database_of(url),
        ENV_SSLMODE: query.get("sslmode", ["prefer"])[0],
    }


_env_lock = threading.Lock()


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block (the dbt subprocess and dagster-dbt's
    adapter handle read them when they start), then restore the previous values."""
    with _env_lock:
        previous = {k: os.environ.get(k) for k in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for key, value in previous.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


class SwiftboltDbtCliResource(DbtCliResource):
    """dagster-dbt's DbtCliResource on the project's dbt project, connected to the warehouse: without
    `database_url`, the project's settings decide (SWIFTBOLT_DATABASE_URL, else the embedded server).
    The URL's parts reach dbt as the environment variables profiles.yml reads, only for the dbt process
    (the password never appears on a command line or in logs)."""

    database_url: str | None = Field(
        default=None, description="postgresql:// URL; empty = SWIFTBOLT_DATABASE_URL or the embedded server"
    )

    def warehouse_url(self) -> str:
        return validate_url(self.database_url, "dbt database_url") if self.database_url else warehouse_url()

    def cli(self, args: Sequence[str], **kwargs: Any):  # type: ignore[override]
        env = dbt_env(self.warehouse_url())
        seed = partial_parse_path(env)
        if seed.exists() and kwargs.get("target_path") is None:
            # start from the partial parse made for this profile (dagster-dbt would copy target/'s, valid only
            # for the profile it was parsed with)
            target = self._get_unique_target_path(context=kwargs.get("context"))
            run_target = Path(self.project_dir) / target
            run_target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(seed, run_target / "partial_parse.msgpack")
            kwargs["target_path"] = target
        with _environment(env):
            return super().cli(args, **kwargs)


def dbt_resource(database_url: str | None = None) -> SwiftboltDbtCliResource:
    """The "dbt" resource for definitions.py and tests."""
    return SwiftboltDbtCliResource(
        project_dir=os.fspath(DBT_PROJECT_DIR),
        profiles_dir=os.fspath(DBT_PROJECT_DIR),
        dbt_executable=DBT_EXECUTABLE,
        database_url=database_url,
    )


# --- the manifest --------------------------------------------------------------------------------------


def _project_files() -> Iterator[Path]:
    for path in DBT_PROJECT_DIR.rglob("*"):
        rel = path.relative_to(DBT_PROJECT_DIR)
        if rel.parts and rel.parts[0] in _NOT_INPUTS:
            continue
        if path.is_file() and path.suffix in _MANIFEST_INPUTS:
            yield path


KEEP_PARTIAL_PARSES = 4


def _runtime_profile_env() -> dict[str, str]:
    """The profile environment of the runs (the project's warehouse), or {} (profiles.yml's defaults) when the
    settings are invalid: importing the code location must not fail on them."""
    from swiftbolt.errors import SwiftboltError

    try:
        return dbt_env(warehouse_url())
    except SwiftboltError:
        return {}


def profile_fingerprint(env: Mapping[str, str]) -> str:
    """What dbt's partial parsing depends on in the profile (connection details; never the password)."""
    shown = {k: v for k, v in sorted(env.items()) if k != ENV_PASSWORD}
    return json.dumps(shown, sort_keys=True)


def partial_parse_path(env: Mapping[str, str]) -> Path:
    """The partial parse made for one connection profile: target/partial_parse-<hash of the profile>.msgpack.
    One file per profile, so processes with different settings (a test database, the demo's server) never
    invalidate each other's."""
    digest = hashlib.sha256(profile_fingerprint(env).encode()).hexdigest()[:12]
    return dbt_project.manifest_path.with_name(f"partial_parse-{digest}.msgpack")


def manifest_is_stale(env: Mapping[str, str] | None = None) -> bool:
    """True when the manifest, or the partial parse for the profile `env` (default: the runs' profile), is
    missing or older than a file of the dbt project."""
    manifest = dbt_project.manifest_path
    seed = partial_parse_path(_runtime_profile_env() if env is None else env)
    if not manifest.exists() or not seed.exists():
        return True
    newest = max((p.stat().st_mtime for p in _project_files()), default=0.0)
    return manifest.stat().st_mtime < newest or seed.stat().st_mtime < newest


def prepare_dbt_manifest(env: Mapping[str, str] | None = None) -> Path:
    """Run `dbt parse` (needs no database) with the runs' connection profile (`env`, default the project's
    warehouse) and install its manifest as dbt_project/target/manifest.json and its partial parse as
    partial_parse-<profile hash>.msgpack, from which each run's `dbt build` starts (SwiftboltDbtCliResource.cli).
    The install step calls it: `python -m resources.dbt`. Each parse writes into its own directory and the files
    are moved into place atomically, so concurrent callers never read a half-written file."""
    env = _runtime_profile_env() if env is None else dict(env)
    target = dbt_project.project_dir / dbt_project.target_path
    scratch = target / f".parse-{uuid.uuid4().hex[:12]}"
    try:
        parser = DbtCliResource(
            project_dir=os.fspath(DBT_PROJECT_DIR), profiles_dir=os.fspath(DBT_PROJECT_DIR),
            dbt_executable=DBT_EXECUTABLE,
        )
        with _environment(env):
            parser.cli(["parse", "--quiet"], target_path=scratch).wait()
        if not (scratch / "manifest.json").exists():
            raise RuntimeError(f"dbt parse wrote no manifest into {scratch}; run `dbt parse` in {DBT_PROJECT_DIR}")
        if (scratch / "partial_parse.msgpack").exists():
            os.replace(scratch / "partial_parse.msgpack", partial_parse_path(env))
        os.replace(scratch / "manifest.json", dbt_project.manifest_path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _prune_partial_parses()
    return dbt_project.manifest_path


def _prune_partial_parses(keep: int = KEEP_PARTIAL_PARSES) -> None:
    """Keep the newest `keep` per-profile partial parses (test databases each get one)."""
    files = sorted(dbt_project.manifest_path.parent.glob("partial_parse-*.msgpack"),
                   key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[keep:]:
        with contextlib.suppress(OSError):
            old.unlink()


def ensure_manifest() -> None:
    """Parse when the manifest is stale (called by the commands that start Dagster and by the tests)."""
    if manifest_is_stale():
        logger.info("preparing the dbt manifest (dbt parse)")
        prepare_dbt_manifest()


if __name__ == "__main__":  # `python -m resources.dbt`: the install step's manifest preparation
    print(f"dbt manifest: {prepare_dbt_manifest()}")
