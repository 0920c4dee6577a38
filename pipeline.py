"""The default pipeline, run headless: reference data, then every market's partitioned assets for
its active symbols over recent sessions (one run per market and symbol range)."""

from __future__ import annotations

import dagster as dg


def run_default_pipeline(defs: dg.Definitions, instance: dg.DagsterInstance, days: int) -> list[str]:
    """Materialize the reference assets; returns summary lines."""
    summary: list[str] = []
    job = defs.resolve_job_def("reference_job")
    result = job.execute_in_process(instance=instance, raise_on_error=False)
    _require_success(result, "reference_job")
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization  # type: ignore[union-attr]
        summary.append(f"{mat.asset_key.to_user_string()}: run {result.run_id[:8]}")
    return summary


def _require_success(result: dg.ExecuteInProcessResult, what: str) -> None:
    if result.success:
        return
    failures = [e.message for e in result.all_events if e.is_step_failure or e.is_failure]
    reason = failures[-1].splitlines()[0] if failures and failures[-1] else "see the run in the UI"
    raise SystemExit(f"swiftbolt: error: {what} failed (run {result.run_id[:8]}): {reason}")
