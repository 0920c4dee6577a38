"""One-line failure descriptions for assets: a run that fails for a known reason (bad configuration,
the provider giving up, the database going away) says so in one line in the UI, not in a traceback."""

import contextlib
from collections.abc import Iterator

import dagster as dg
import psycopg

from swiftbolt.errors import SwiftboltError
from swiftbolt.market_data.types import ProviderError

# Dagster run states in which a run may still be writing; any other has ended, one way or another.
ALIVE_RUN_STATES = frozenset({
    dg.DagsterRunStatus.QUEUED.value, dg.DagsterRunStatus.NOT_STARTED.value, dg.DagsterRunStatus.MANAGED.value,
    dg.DagsterRunStatus.STARTING.value, dg.DagsterRunStatus.STARTED.value, dg.DagsterRunStatus.CANCELING.value,
})


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return " ".join(text.splitlines()[0].split()) if text else type(exc).__name__


def database_lost(what: str, exc: psycopg.OperationalError) -> str:
    """The one-line reason of a warehouse connection lost mid-run (server shut down or restarted,
    connection terminated, network cut)."""
    state = f", SQLSTATE {exc.sqlstate}" if exc.sqlstate else ""
    return (f"{what}: the warehouse database went away mid-run ({type(exc).__name__}{state}: {first_line(exc)}); "
            "partitions committed before it are kept, the rest was rolled back: re-run once the database is back")


@contextlib.contextmanager
def one_line_failures(what: str) -> Iterator[None]:
    """Turn the known failures of `what` into a dagster.Failure whose description is one line."""
    try:
        yield
    except psycopg.OperationalError as exc:  # AdminShutdown, a closed connection, ...
        raise dg.Failure(description=database_lost(what, exc)) from None
    except (SwiftboltError, ProviderError) as exc:
        raise dg.Failure(description=f"{what}: {first_line(exc)}") from None


def dagster_run_state(instance: dg.DagsterInstance, run_id: str) -> str | None:
    """The status of a run in this Dagster instance, None when the instance does not know it."""
    run = instance.get_run_by_id(run_id)
    return run.status.value if run is not None else None
