"""The dbt project (dbt_project/) as Dagster assets: adjusted bars, indicators and dashboard marts in the
`analytics` schema, with the dbt tests as asset checks. The "dbt" resource and the manifest's preparation
are in resources/dbt.py (the assets need the manifest when this module is imported)."""

import functools
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtProject, dbt_assets
from pydantic import Field

from assets import dbt_plan, teams
from assets.dbt_plan import BuildPlan
from resources.dbt import SwiftboltDbtCliResource, dbt_project
from swiftbolt.db.connection import connect

ANALYTICS_GROUP = "analytics"
OWNERS = teams.ANALYTICS_ENGINEERING


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
    rebuild_all: bool = False
    """Build every selected model, even those with nothing new upstream (after writing the warehouse
    outside Dagster, which the change detection cannot see)."""


def _existing_relations(dbt: SwiftboltDbtCliResource, schemas: set[str]) -> set[tuple[str, str]]:
    with connect(dbt.warehouse_url(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'v', 'm', 'p')", (sorted(schemas),)).fetchall()
    return {(str(schema), str(name)) for schema, name in rows}


def plan_dbt_build(context: dg.AssetExecutionContext, dbt: SwiftboltDbtCliResource,
                   config: DbtBuildConfig) -> BuildPlan:
    """Which selected models this step builds (assets/dbt_plan.py): those whose inputs changed."""
    assets_def = context.assets_def
    manifest = _manifest()
    schemas = {str(manifest["nodes"][assets_def.specs_by_key[k].metadata[dbt_plan.UNIQUE_ID]]["schema"])
               for k in context.selected_asset_keys}
    build_all = "full refresh" if config.full_refresh else ("rebuild_all" if config.rebuild_all else None)
    return dbt_plan.plan_build(
        context.instance, assets_def, context.selected_asset_keys, manifest,
        existing_relations=_existing_relations(dbt, schemas), project_vars=_project_vars(),
        dbt_vars=config.dbt_vars, build_all=build_all)


@functools.cache
def _manifest() -> Mapping[str, Any]:
    return json.loads(dbt_project.manifest_path.read_text())


@functools.cache
def _project_vars() -> str:
    return (dbt_project.project_dir / "dbt_project.yml").read_text()


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=TRANSLATOR,
    name="swiftbolt_dbt_models",
)
def swiftbolt_dbt_models(
    context: dg.AssetExecutionContext, dbt: SwiftboltDbtCliResource, config: DbtBuildConfig
) -> Iterator[Any]:
    """`dbt build` of the selected models whose inputs changed since their last build (assets/dbt_plan.py):
    models, then their tests, reported as asset checks. With nothing new upstream, dbt is not started."""
    plan = plan_dbt_build(context, dbt, config)
    context.log.info(plan.summary())
    # tests selected on their own (a check launched from the UI) run whatever the plan says
    checks_alone = [c for c in context.selected_asset_check_keys if c.asset_key not in context.selected_asset_keys]
    if not plan.build and not checks_alone:
        return
    args = ["build"]
    if config.full_refresh:
        args.append("--full-refresh")
    if config.dbt_vars:
        args += ["--vars", json.dumps(config.dbt_vars)]
    if plan.skip:  # with their tests (dbt's indirect selection excludes the tests of excluded models)
        nodes = [_manifest()["nodes"][context.assets_def.specs_by_key[k].metadata[dbt_plan.UNIQUE_ID]]
                 for k in sorted(plan.skip)]
        args += ["--exclude", " ".join(".".join(node["fqn"]) for node in nodes)]
    outputs = context.assets_def.keys_by_output_name
    for event in dbt.cli(args, context=context).stream():
        key = outputs.get(event.output_name) if isinstance(event, dg.Output) else None
        if key is not None and key in plan.fingerprints:
            event = event.with_metadata({**event.metadata, dbt_plan.UPSTREAM_CURSOR: plan.cursor,
                                         dbt_plan.FINGERPRINT: plan.fingerprints[key]})
        yield event
