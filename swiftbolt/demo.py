"""`make demo`: materialize the default pipeline headless on the project's Dagster instance.

Imports Dagster and the code location lazily: the rest of the core package stays framework-free.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

from swiftbolt.settings import PROJECT_ROOT


def _load_definitions() -> Any:
    sys.path.insert(0, str(PROJECT_ROOT))
    spec = importlib.util.spec_from_file_location("definitions", PROJECT_ROOT / "definitions.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_demo(days: int = 10) -> int:
    import warnings

    import dagster as dg

    # backfill_policy is a beta parameter in Dagster 1.13; the warning says nothing to a demo user
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    module = _load_definitions()
    from pipeline import run_default_pipeline

    with dg.DagsterInstance.get() as instance:
        summary = run_default_pipeline(module.defs, instance, days=days)
    print()
    print("demo finished:")
    for line in summary:
        print(f"  {line}")
    print()
    print("Open the UI with `make ui` (http://127.0.0.1:3000): Assets > market shows the lineage,")
    print("each asset's partitions and the metadata of every materialization; Runs lists these runs.")
    return 0
