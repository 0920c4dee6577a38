"""The dbt project (dbt_project/) as Dagster assets: adjusted bars, indicators and dashboard marts in the
`analytics` schema, with the dbt tests as asset checks.

Exports for definitions.py:
    swiftbolt_dbt_models  the @dbt_assets definition (one `dbt build`; tests are asset checks)
    dbt_resource()        the "dbt" resource, pointed at the warehouse (SWIFTBOLT_DATABASE_URL or embedded)
    analytics_job         an asset job that runs `dbt build` over every model

The manifest (dbt_project/target/manifest.json) is generated, never committed: `prepare_dbt_manifest()`
(`python -m assets.dbt`, called by the install step) runs `dbt parse`; importing this module parses again only
when the manifest is missing, older than a file of the project (so edits show on reload under `dagster dev`),
or was parsed for another connection profile. dbt's partial parsing is valid only for the profile it was
parsed with (host, port, database, user...: "Unable to do partial parsing because profile has changed"), so the
parse uses the connection the runs use, and every run's `dbt build` starts from a valid partial parse.
Re-parsing at every load under `dagster dev` (DbtProject.prepare_if_dev) is not done: every run and step
process loads the code location, and a parse there cost 5-10 s per process.
"""

import contextlib
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

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)
from pydantic import Field

from swiftbolt.db.urls import database_of, validate_url
from swiftbolt.db.warehouse import warehouse_url
from swiftbolt.settings import PROJECT_ROOT

logger = logging.getLogger(__name__)

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
ANALYTICS_GROUP = "analytics"
OWNERS = ["team:analytics-engineering"]

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

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def _dbt_executable() -> str:
    """The dbt beside this interpreter (the project's .venv, whether or not it is on PATH), else PATH's."""
    beside = Path(sys.executable).with_name("dbt")
    return os.fspath(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


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
        with _environment(dbt_env(self.warehouse_url())):
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


PROFILE_STAMP = "swiftbolt_profile.txt"  # beside the manifest: the profile the partial parse is valid for


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


def _stamp_path() -> Path:
    return dbt_project.manifest_path.with_name(PROFILE_STAMP)


def manifest_is_stale(env: Mapping[str, str] | None = None) -> bool:
    """True when the manifest is missing, older than a file of the dbt project, or parsed for another
    connection profile than `env` (default: the runs' profile)."""
    manifest = dbt_project.manifest_path
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    if any(p.stat().st_mtime > built for p in _project_files()):
        return True
    stamp = _stamp_path()
    wanted = profile_fingerprint(_runtime_profile_env() if env is None else env)
    return not stamp.exists() or stamp.read_text() != wanted


def prepare_dbt_manifest(env: Mapping[str, str] | None = None) -> Path:
    """Run `dbt parse` (needs no database) with the runs' connection profile (`env`, default the project's
    warehouse) and install its manifest as dbt_project/target/manifest.json and its partial parse (which
    dagster-dbt copies into each run's target). The install step calls it: `python -m assets.dbt`. Each parse
    writes into its own directory and the files are moved into place atomically, so concurrent callers never
    read a half-written file."""
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
        if (scratch / "partial_parse.msgpack").exists():  # dagster-dbt seeds each run's target with it
            os.replace(scratch / "partial_parse.msgpack", target / "partial_parse.msgpack")
        (scratch / PROFILE_STAMP).write_text(profile_fingerprint(env))
        os.replace(scratch / PROFILE_STAMP, _stamp_path())
        os.replace(scratch / "manifest.json", dbt_project.manifest_path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return dbt_project.manifest_path


def _ensure_manifest() -> None:
    if manifest_is_stale():
        logger.info("preparing the dbt manifest (dbt parse)")
        prepare_dbt_manifest()


_ensure_manifest()


# --- translation to Dagster -----------------------------------------------------------------------------


class SwiftboltDbtTranslator(DagsterDbtTranslator):
    """Models: group `analytics`, the analytics owners, kinds dbt + postgres, the model's description (the
    raw SQL is in the code version and dbt docs, not the UI description). Sources: the asset key in their
    meta (sources.yml), several sources sharing one key where a Python asset writes several tables."""

    def __init__(self) -> None:
        super().__init__(
            settings=DagsterDbtTranslatorSettings(
                enable_asset_checks=True,
                enable_duplicate_source_asset_keys=True,
            )
        )

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_group_name(dbt_resource_props)
        return super().get_group_name(dbt_resource_props) or ANALYTICS_GROUP

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> Sequence[str] | None:
        return super().get_owners(dbt_resource_props) or OWNERS

    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        description = (dbt_resource_props.get("description") or "").strip()
        kind = dbt_resource_props["resource_type"]
        return description or f"dbt {kind} {dbt_resource_props['name']}"

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        if unique_id.startswith("model."):
            spec = spec.replace_attributes(kinds={"dbt", "postgres"})
        return spec


TRANSLATOR = SwiftboltDbtTranslator()


class DbtBuildConfig(dg.Config):
    """Run config of the dbt build."""

    full_refresh: bool = False
    """Rebuild incremental models (indicator_values) from scratch."""
    dbt_vars: dict[str, str] = Field(default_factory=dict)
    """dbt vars for this run (e.g. data_health_as_of); values are rendered into SQL by the models."""


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=TRANSLATOR,
    name="swiftbolt_dbt_models",
)
def swiftbolt_dbt_models(
    context: dg.AssetExecutionContext, dbt: SwiftboltDbtCliResource, config: DbtBuildConfig
) -> Iterator[Any]:
    """`dbt build` of the selected models: models, then their tests, reported as asset checks."""
    args = ["build"]
    if config.full_refresh:
        args.append("--full-refresh")
    if config.dbt_vars:
        args += ["--vars", json.dumps(config.dbt_vars)]
    yield from dbt.cli(args, context=context).stream()


analytics_job = dg.define_asset_job(
    "analytics_job",
    selection=dg.AssetSelection.assets(swiftbolt_dbt_models),
    description="dbt build of the analytics schema (adjusted bars, indicators, dashboard marts, data health).",
)


if __name__ == "__main__":  # `python -m assets.dbt`: the install step's manifest preparation
    print(f"dbt manifest: {prepare_dbt_manifest()}")
