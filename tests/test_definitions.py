"""The code location loads, validates, and describes itself."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg

from assets.metadata import WRITES_TABLES
from definitions import defs
from swiftbolt.settings import PROJECT_ROOT


def test_definitions_load_and_every_asset_is_described() -> None:
    type(defs).validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description, f"{key.to_user_string()} has no description"
        assert node.owners, f"{key.to_user_string()} has no owners"
        assert node.kinds, f"{key.to_user_string()} has no kinds"


def test_dagster_validates_the_workspace(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
        env={"DAGSTER_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Validation successful for code location swiftbolt" in result.stderr + result.stdout


# -- snapshot of the definitions ------------------------------------------------------------------------
# A refactor that drops an asset from a job, regroups it or loses a check fails here. After an intended
# change: SWIFTBOLT_UPDATE_SNAPSHOTS=1 pytest tests/test_definitions.py, and review the diff.

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"


def _partitions(partitions_def: dg.PartitionsDefinition | None) -> str | None:
    if partitions_def is None:
        return None
    if isinstance(partitions_def, dg.MultiPartitionsDefinition):
        return " x ".join(f"{d.name}:{_partitions(d.partitions_def)}" for d in partitions_def.partitions_defs)
    if isinstance(partitions_def, dg.DynamicPartitionsDefinition):
        return f"dynamic({partitions_def.name})"
    if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
        return f"time_window({partitions_def.cron_schedule}, {partitions_def.timezone})"
    return type(partitions_def).__name__


def definitions_snapshot() -> dict:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys()):
        node = graph.get(key)
        if not node.is_materializable:
            continue
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "partitions": _partitions(node.partitions_def),
            "kinds": sorted(node.kinds),
            "tags": {k: v for k, v in sorted(node.tags.items()) if k.startswith("swiftbolt/")},
            "automation_condition": node.automation_condition.get_label() if node.automation_condition else None,
            "checks": sorted(c.name for c in node.check_keys),
            "writes_tables": (node.metadata.get(WRITES_TABLES).value if WRITES_TABLES in node.metadata else None),
        }
    jobs = {
        job.name: sorted(k.to_user_string() for k in defs.resolve_job_def(job.name).asset_layer.executable_asset_keys)
        for job in defs.jobs or []
    }
    schedules = {s.name: {"cron": s.cron_schedule, "job": s.job_name} for s in defs.schedules or []}
    sensors = {s.name: sorted(t.job_name for t in s.targets) for s in defs.sensors or []}
    return {"assets": assets, "jobs": jobs, "schedules": schedules, "sensors": sensors}


def test_definitions_match_the_snapshot() -> None:
    current = json.loads(json.dumps(definitions_snapshot(), sort_keys=True, default=str))
    if os.environ.get("SWIFTBOLT_UPDATE_SNAPSHOTS") or not SNAPSHOT.exists():
        SNAPSHOT.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
    assert current == json.loads(SNAPSHOT.read_text())


# -- table ownership --------------------------------------------------------------------------------------

# Tables written by something other than an asset, with the writer.
NOT_WRITTEN_BY_ASSETS = {
    "ops.alerts": "sensors/alerting.py and us_equity/ranking_evaluations (ranking_unhealthy) through "
                  "swiftbolt/alerts.py",
}
# Tables several assets write, each its own rows (the column that tells them apart).
SHARED_BY_ASSETS = {
    "ml.ml_forecasts": "model_type",
    "ml.forecast_points": "the forecast's model_type",
    "ml.ml_model_versions": "horizon (daily 1D..20D: forecast_models; intraday 15m, 1h: intraday_forecast_models)",
    "ml.training_runs": "timeframe (d1: forecast_models, m15: intraday_forecast_models)",
    "ml.forecast_evaluations": "model_type (forecast_evaluations: base models; ensemble_evaluations: ensemble)",
}
_CREATE_TABLE = re.compile(r"CREATE TABLE (?:IF NOT EXISTS )?([a-z_]+\.[a-z_0-9]+)\s*\(", re.IGNORECASE)


def test_every_table_has_exactly_one_writer() -> None:
    created = {m.group(1) for f in sorted((PROJECT_ROOT / "migrations").glob("*.sql"))
               for m in _CREATE_TABLE.finditer(f.read_text())}
    graph = defs.resolve_asset_graph()
    writers: dict[str, list[str]] = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        for table in (node.metadata.get(WRITES_TABLES).value if WRITES_TABLES in node.metadata else []):
            # per-market assets write the same table for their market: one writer per asset name
            writers.setdefault(table, []).append(key.path[-1])
    for table, names in writers.items():
        assert len(set(names)) == 1 or table in SHARED_BY_ASSETS, f"{table} is written by {sorted(set(names))}"
        assert table in created, f"{table} is declared written but no migration creates it"
    unowned = created - set(writers) - set(NOT_WRITTEN_BY_ASSETS)
    assert not unowned, f"tables without a writing asset: {sorted(unowned)}"
    assert not set(writers) & set(NOT_WRITTEN_BY_ASSETS)
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if WRITES_TABLES in node.metadata:
            assert node.metadata["dagster/table_name"] == node.metadata[WRITES_TABLES].value[0]
