"""Is a session already done? Answered from Dagster's own records (the event log's latest
materialization per partition, its code version tag, the run that wrote it), not from a table of ours.

A session is done for a market when, for every symbol partition and every asset of the daily pipeline
that is partitioned by trading day x symbol:
* the partition has a materialization, tagged with the asset's current code version;
* the bars were written by a run that started after the session closed (plus a grace) and was not an
  intraday refresh, so they hold the whole session (swiftbolt.calendars.timing.holds_whole_session);
* every downstream partition was written after the bars it reads (its storage id is later).
The after-close sensor requests only sessions that are not done.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import dagster as dg

from assets.partitions import DATE_DIM, SYMBOL_DIM
from sensors.common import RUN_KIND_TAG
from swiftbolt.calendars.timing import holds_whole_session

CODE_VERSION_TAG = "dagster/code_version"  # dagster._core.definitions.data_version.CODE_VERSION_TAG


@dataclass(frozen=True)
class SessionStatus:
    session: dt.date
    done: bool
    reason: str  # one line: why it is (not) done


def partition_key(session: dt.date, symbol: str) -> str:
    return str(dg.MultiPartitionKey({DATE_DIM: session.isoformat(), SYMBOL_DIM: symbol}))


def session_statuses(
    instance: dg.DagsterInstance,
    bars_key: dg.AssetKey,
    code_versions: Mapping[dg.AssetKey, str | None],
    closes: Mapping[dt.date, dt.datetime],
    symbols: Sequence[str],
) -> dict[dt.date, SessionStatus]:
    """The status of each session in `closes` (session -> its close, UTC) for `symbols`.
    `code_versions` holds the current code version of the bars asset and of every downstream asset
    partitioned like it (None = the asset has no code version: not compared)."""
    wanted = {partition_key(s, sym): s for s in closes for sym in symbols}
    latest: dict[dg.AssetKey, dict[str, dg.EventLogRecord]] = {}
    for key in [bars_key, *(k for k in code_versions if k != bars_key)]:
        ids = instance.event_log_storage.get_latest_storage_id_by_partition(
            key, dg.DagsterEventType.ASSET_MATERIALIZATION, set(wanted))
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, storage_ids=list(ids.values())), limit=max(1, len(ids))
        ).records if ids else []
        latest[key] = {r.partition_key: r for r in records if r.partition_key}
    run_ids = {r.run_id for r in latest[bars_key].values()}
    runs = {r.dagster_run.run_id: r for r in instance.get_run_records(dg.RunsFilter(run_ids=list(run_ids)))} \
        if run_ids else {}
    out: dict[dt.date, SessionStatus] = {}
    for session, close in closes.items():
        keys = [partition_key(session, sym) for sym in symbols]
        out[session] = SessionStatus(session, True, _done_reason(session, len(keys), latest[bars_key], keys))
        for key, current in code_versions.items():
            reason = _not_done(key, keys, latest[key], current, latest[bars_key] if key != bars_key else None)
            if reason:
                out[session] = SessionStatus(session, False, reason)
                break
        else:
            for k in keys:
                record = latest[bars_key][k]
                run = runs.get(record.run_id)
                started = run.start_time if run and run.start_time else record.timestamp
                started_at = dt.datetime.fromtimestamp(started, dt.UTC)
                kind = run.dagster_run.tags.get(RUN_KIND_TAG) if run else None
                if not holds_whole_session(started_at, close, kind):
                    what = "an intraday refresh" if kind == "intraday" else f"a run started {started_at:%H:%M} UTC"
                    out[session] = SessionStatus(session, False, (
                        f"{bars_key.to_user_string()} {k} was written by {what} (run {record.run_id[:8]}), "
                        f"before the session closed at {close:%H:%M} UTC: it holds part of the session"))
                    break
    return out


def _done_reason(session: dt.date, n: int, bars: Mapping[str, dg.EventLogRecord], keys: list[str]) -> str:
    runs = sorted({bars[k].run_id[:8] for k in keys if k in bars})
    return (f"{session} is already materialized for all {n} symbols with the current code version, "
            f"after its close (run {', '.join(runs[:3])}{' ...' if len(runs) > 3 else ''})")


def _not_done(key: dg.AssetKey, keys: list[str], records: Mapping[str, dg.EventLogRecord], current: str | None,
              bars: Mapping[str, dg.EventLogRecord] | None) -> str | None:
    name = key.to_user_string()
    missing = [k for k in keys if k not in records]
    if missing:
        return f"{name} has no materialization of {len(missing)} partition(s) (e.g. {missing[0]})"
    if current is not None:
        old = [k for k in keys if records[k].asset_materialization.tags.get(CODE_VERSION_TAG) != current]
        if old:
            was = records[old[0]].asset_materialization.tags.get(CODE_VERSION_TAG)
            return f"{name} {old[0]} was materialized with code version {was}; the current one is {current}"
    if bars is not None:
        older = [k for k in keys if k in bars and records[k].storage_id < bars[k].storage_id]
        if older:
            return f"{name} {older[0]} was materialized before the bars it reads were last written"
    return None


def daily_pipeline_code_versions(repository_def: dg.RepositoryDefinition, job_name: str, bars_key: dg.AssetKey
                                 ) -> dict[dg.AssetKey, str | None]:
    """Current code versions of the job's assets partitioned like the bars (bars first)."""
    graph = repository_def.asset_graph
    partitions_def = graph.get(bars_key).partitions_def
    keys = repository_def.get_job(job_name).asset_layer.executable_asset_keys
    out = {bars_key: graph.get(bars_key).code_version}
    for key in sorted(keys):
        if key != bars_key and graph.get(key).partitions_def == partitions_def:
            out[key] = graph.get(key).code_version
    return out


def sessions_to_request(context: dg.SensorEvaluationContext, market: str, job_name: str, bars_key: dg.AssetKey,
                        due: Sequence[dt.date], symbols: Sequence[str]) -> tuple[list[dt.date], list[SessionStatus]]:
    """(sessions to request, statuses of the sessions left out because they are done). Without a
    repository (a bare test context) nothing is known to be done."""
    from swiftbolt.calendars.timing import session_close

    repo = context.repository_def
    if repo is None or not due:
        return list(due), []
    closes = {s: session_close(market, s) for s in due}
    statuses = session_statuses(context.instance, bars_key, daily_pipeline_code_versions(repo, job_name, bars_key),
                                closes, symbols)
    done = [statuses[s] for s in due if statuses[s].done]
    return [s for s in due if not statuses[s].done], done
