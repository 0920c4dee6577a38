"""The code location loads, validates, and describes itself."""

import subprocess
import sys

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
