"""Which dbt models a `dbt build` step must build: those whose inputs changed since their last build.

A model's inputs are the Dagster assets that write its sources (sources.yml maps each source to one), taken
through its refs to other models, its compiled definition (the node's SQL checksum and config, the macros it
calls, dbt_project.yml's vars, the run's dbt vars) and the relation itself. Dagster's event log says when an
input was last written: every materialization has a storage id, increasing. Each model the step builds is
stamped (materialization metadata) with the event log's newest storage id *read before dbt starts* and with
the fingerprint of its definition; the next step rebuilds the model when

- an upstream asset has a materialization newer than that stamp (the write committed after the previous
  build began reading, or while it ran: rebuilt once more, never missed),
- its fingerprint differs (SQL, config, a macro or a project var changed), or it has no stamp yet,
- its relation is missing from the warehouse (a reset database), or
- a model it refs (directly or through other models) is rebuilt by this step (a view that dbt re-creates
  drops the views on it), or was rebuilt by another step after this model's last build, or
- its SQL reads the clock (freshness against now(): data_health, options_health) and its last build is older
  than its `rebuild_after_minutes` (dbt meta); the tables say when they were evaluated (evaluated_as_of,
  refreshed_at).

Views hold no data: one whose definition did not change is re-created only when it has data tests and its
inputs changed (so the tests see the new data). Everything else is left as it is, with its tests: tests run
with the build of the model they test, i.e. whenever its data changed. Writes that bypass Dagster are not
seen; run the dbt assets with `rebuild_all` (or `full_refresh`) after them.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

UPSTREAM_CURSOR = "swiftbolt/upstream_cursor"
"""Materialization metadata: the event log's newest storage id when the build that wrote the model began."""
FINGERPRINT = "swiftbolt/definition_fingerprint"
"""Materialization metadata: hash of what the model's SQL depends on besides its data (see module doc)."""
UNIQUE_ID = "dagster_dbt/unique_id"
REBUILD_AFTER_MINUTES = "rebuild_after_minutes"
"""dbt meta of a model whose SQL reads the clock (now()): rebuilt, when a dbt step runs, once its last build is
older than this many minutes, even with nothing new upstream."""


@dataclass
class BuildPlan:
    """The decision for the models a step selected: `build` (with the reason of each) and `skip`."""

    cursor: int
    build: dict[dg.AssetKey, str] = field(default_factory=dict)
    skip: dict[dg.AssetKey, str] = field(default_factory=dict)
    fingerprints: dict[dg.AssetKey, str] = field(default_factory=dict)

    def summary(self) -> str:
        def names(keys: Iterable[dg.AssetKey]) -> str:
            return ", ".join(sorted(k.path[-1] for k in keys)) or "none"

        built = "; ".join(f"{k.path[-1]}: {why}" for k, why in sorted(self.build.items()))
        return f"dbt models to build: {built or 'none'}. Unchanged, not built: {names(self.skip)}."


def _hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def definition_fingerprint(manifest: Mapping[str, Any], unique_id: str, project_vars: str,
                           dbt_vars: Mapping[str, str]) -> str:
    """Hash of the model's SQL checksum and config, the SQL of the macros it calls (and theirs), the project's
    vars (`project_vars`: dbt_project.yml's text) and the run's dbt vars."""
    node = manifest["nodes"][unique_id]
    macros: dict[str, str] = {}
    todo = list(node.get("depends_on", {}).get("macros", []))
    while todo:
        name = todo.pop()
        macro = manifest.get("macros", {}).get(name)
        if name in macros or macro is None:
            continue
        macros[name] = macro.get("macro_sql", "")
        todo += macro.get("depends_on", {}).get("macros", [])
    # Hooks are stored rendered, with the profile's database in {{ this }} ("postgres"."analytics"...): a parse
    # for another profile would change the fingerprint. They are written in the model's file or in
    # dbt_project.yml, which the checksum and project_vars already cover.
    config = {k: v for k, v in (node.get("config") or {}).items() if k not in ("pre-hook", "post-hook")}
    return _hash({"checksum": node.get("checksum"), "config": config, "macros": macros,
                  "project": project_vars, "vars": dict(dbt_vars)})


def _metadata_value(entry: Any, key: str) -> Any:
    materialization = entry.asset_materialization if entry is not None else None
    if materialization is None or key not in materialization.metadata:
        return None
    return materialization.metadata[key].value


def plan_build(
    instance: dg.DagsterInstance,
    assets_def: dg.AssetsDefinition,
    selected: Iterable[dg.AssetKey],
    manifest: Mapping[str, Any],
    existing_relations: set[tuple[str, str]],
    project_vars: str,
    dbt_vars: Mapping[str, str],
    build_all: str | None = None,
    now: float | None = None,
) -> BuildPlan:
    """Decide which of the `selected` dbt models (keys of `assets_def`) to build; `existing_relations` holds
    the warehouse's (schema, name) pairs; `build_all` (a reason) builds every selected model; `now` (epoch
    seconds, default the current time) ages the models that read the clock."""
    cursor = instance.event_log_storage.get_maximum_record_id() or 0
    now = time.time() if now is None else now
    selected = set(selected)
    models = set(assets_def.keys)
    deps = {spec.key: {d.asset_key for d in spec.deps} for spec in assets_def.specs}
    node_of = {key: assets_def.specs_by_key[key].metadata[UNIQUE_ID] for key in models}

    def walk(key: dg.AssetKey, seen: set[dg.AssetKey]) -> set[dg.AssetKey]:
        """Every asset upstream of `key`, through the models it refs (`seen` collects those models)."""
        out: set[dg.AssetKey] = set()
        for dep in deps.get(key, ()):
            if dep in models:
                if dep not in seen:
                    seen.add(dep)
                    out |= walk(dep, seen)
            else:
                out.add(dep)
        return out

    upstream: dict[dg.AssetKey, set[dg.AssetKey]] = {}
    upstream_models: dict[dg.AssetKey, set[dg.AssetKey]] = {}
    for key in selected:
        upstream_models[key] = set()
        upstream[key] = walk(key, upstream_models[key])
    wanted = selected | set().union(*upstream.values(), *upstream_models.values())
    records = {r.asset_entry.asset_key: r.asset_entry for r in instance.get_asset_records(list(wanted))}

    def last_written(key: dg.AssetKey) -> int:
        entry = records.get(key)
        record = entry.last_materialization_record if entry is not None else None
        return record.storage_id if record is not None else 0

    tested = {spec.asset_key for spec in assets_def.node_check_specs_by_output_name.values()}
    plan = BuildPlan(cursor=cursor)
    order = _topological(selected, deps)
    for key in order:
        unique_id = node_of[key]
        node = manifest["nodes"][unique_id]
        fingerprint = definition_fingerprint(manifest, unique_id, project_vars, dbt_vars)
        plan.fingerprints[key] = fingerprint
        entry = records.get(key)
        last = entry.last_materialization if entry is not None else None
        stamped = _metadata_value(last, UPSTREAM_CURSOR)
        changed = sorted(u.to_user_string() for u in upstream[key] if last_written(u) > (stamped or 0))
        rebuilt_refs = sorted(m.path[-1] for m in upstream_models[key] if m in plan.build)
        # models upstream that another step rebuilt after this model's last build
        newer_refs = sorted(m.path[-1] for m in upstream_models[key] if m not in plan.build
                            and last is not None and last_written(m) > last_written(key))
        is_view = (node.get("config") or {}).get("materialized") == "view"
        has_tests = key in tested
        relation = (str(node.get("schema")), str(node.get("alias") or node.get("name")))
        max_age = ((node.get("config") or {}).get("meta") or {}).get(REBUILD_AFTER_MINUTES)
        age_minutes = (now - last.timestamp) / 60 if last is not None else math.inf
        if build_all:
            plan.build[key] = build_all
        elif stamped is None:
            plan.build[key] = "no earlier build stamped with its inputs"
        elif _metadata_value(last, FINGERPRINT) != fingerprint:
            plan.build[key] = "its definition changed (SQL, config, macros or vars)"
        elif relation not in existing_relations:
            plan.build[key] = f"{'.'.join(relation)} is missing"
        elif max_age is not None and age_minutes > max_age:
            plan.build[key] = f"reads the clock: built {age_minutes:.0f} min ago (rebuild_after_minutes {max_age})"
        elif rebuilt_refs:  # (a view re-created by dbt drops the views on it: those are re-created too)
            plan.build[key] = f"refs rebuilt: {', '.join(rebuilt_refs)}"
        elif newer_refs:
            plan.build[key] = f"refs rebuilt since its last build: {', '.join(newer_refs)}"
        elif changed and (not is_view or has_tests):
            plan.build[key] = f"new data in {', '.join(changed)}"
        else:
            plan.skip[key] = "view, definition unchanged" if is_view and changed else "nothing new upstream"
    return plan


def _topological(keys: set[dg.AssetKey], deps: Mapping[dg.AssetKey, set[dg.AssetKey]]) -> list[dg.AssetKey]:
    ordered: list[dg.AssetKey] = []
    seen: set[dg.AssetKey] = set()

    def visit(key: dg.AssetKey) -> None:
        if key in seen:
            return
        seen.add(key)
        for dep in sorted(deps.get(key, ()), key=lambda k: k.to_user_string()):
            if dep in keys:
                visit(dep)
        ordered.append(key)

    for key in sorted(keys, key=lambda k: k.to_user_string()):
        visit(key)
    return ordered
