"""The dbt project (dbt_project/) as Dagster assets: adjusted bars, indicators and dashboard marts in the
`analytics` schema, with the dbt tests as asset checks.

Exports for definitions.py:
    swiftbolt_dbt_models  the @dbt_assets definition (one `dbt build`; tests are asset checks)
    dbt_resource()        the "dbt" resource, pointed at the warehouse (SWIFTBOLT_DATABASE_URL or embedded)

The manifest (dbt_project/target/manifest.json) is generated, never committed: `prepare_dbt_manifest()`
(`python -m assets.dbt`, called by the install step) runs `dbt parse`; the commands that start Dagster
(`swiftbolt demo`, `swiftbolt ui`) and the test suite's conftest parse again when the manifest is missing,
older than a file of the project, or has no partial parse for the runs' connection profile. Importing this
module has no side effect. dbt's partial parsing is valid only for the profile
it was parsed with (host, port, database, user...: "Unable to do partial parsing because profile has changed"),
so the parse uses the connection the runs use, its partial parse is kept per profile, and every run's
`dbt build` starts from the one of its own profile.
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

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)
from pydantic import Field

from assets import teams
from swiftbolt.db.urls import database_of, validate_url
from swiftbolt.db.warehouse import warehouse_url
from swiftbolt.settings import PROJECT_ROOT

logger = logging.getLogger(__name__)

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
ANALYTICS_GROUP = "analytics"
OWNERS = teams.ANALYTICS_ENGINEERING

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
    The install step calls it: `python -m assets.dbt`. Each parse writes into its own directory and the files
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

    def get_asset_check_spec(self, asset_spec: dg.AssetSpec, manifest: Mapping[str, Any], unique_id: str,
                             project: DbtProject | None) -> dg.AssetCheckSpec | None:
        """dbt tests as asset checks, each with a one-line description: the test's own `description` (schema.yml),
        else one written from the generic test and its arguments (dagster-dbt reads only meta.description)."""
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or spec.description:
            return spec
        node = manifest["nodes"].get(unique_id, {})
        return spec._replace(description=test_description(node))

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        if unique_id.startswith("model."):
            spec = spec.replace_attributes(kinds={"dbt", "postgres"})
        return spec


def test_description(node: Mapping[str, Any]) -> str:
    """One line saying what a dbt data test checks: its description, else the generic test's rule on the model
    and column, its severity and the rows it reads (its `where`)."""
    own = (node.get("description") or "").strip()
    if own:
        return own
    meta = node.get("test_metadata") or {}
    kwargs = {k: v for k, v in (meta.get("kwargs") or {}).items() if k != "model"}
    model = (node.get("attached_node") or "").rsplit(".", 1)[-1] or "the model"
    column = kwargs.get("column_name") or node.get("column_name")
    target = f"{model}.{column}" if column else model
    rules = {
        "not_null": f"{target} is never NULL",
        "unique": f"{target} is unique",
        "accepted_values": f"{target} is one of {', '.join(map(str, kwargs.get('values') or []))}",
        "relationships": f"every {target} exists in {_ref_name(kwargs.get('to'))}.{kwargs.get('field')}",
        "unique_combination": f"({', '.join(kwargs.get('columns') or [])}) is unique in {model}",
        "high_gte_low": f"every bar of {model} has high >= low, open and close inside [low, high]",
        "value_between": f"{target} lies in [{kwargs.get('min_value', '-inf')}, {kwargs.get('max_value', 'inf')}]",
    }
    name = meta.get("name") or node.get("name", "test")
    rule = rules.get(name, f"{name} on {target}" + (f" ({kwargs})" if kwargs else ""))
    config = node.get("config") or {}
    severity = str(config.get("severity") or "error").upper()
    where = config.get("where")
    scope = f" (where {where})" if where else ""
    if where and "_built_at" in where:
        scope = " (rows computed by the recent builds)"
    return f"dbt test {name}: {rule}{scope}; fails with {severity}."


def _ref_name(to: Any) -> str:
    """source('market', 'symbols') -> market.symbols; ref('x') -> x."""
    text = str(to or "")
    parts = [p.strip(" '\"") for p in text[text.find("(") + 1 : text.rfind(")")].split(",")] if "(" in text else [text]
    return ".".join(p for p in parts if p)


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


if __name__ == "__main__":  # `python -m assets.dbt`: the install step's manifest preparation
    print(f"dbt manifest: {prepare_dbt_manifest()}")
