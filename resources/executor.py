"""The executor of every job, chosen by configuration (SWIFTBOLT_EXECUTOR):

- `in_process` (default): every step of a run in the run's own process. The multiprocess executor starts
  a process per step, and each loads the code location (4-5 s on a 2-core machine, x6 steps per daily run;
  30-50 s each while two runs and the UI compete for the cores): that, not the work, made daemon-launched
  runs ~10x slower than the demo.
- `multiprocess`: Dagster's default executor, each step a process on the machine of the run.
- `celery`: dagster-celery; each step is a Celery task that a worker (`make worker`) picks up from a queue.
- `celery_k8s`: dagster-celery-k8s under the Helm chart's CeleryK8sRunLauncher; each step a Kubernetes
  Job, launched by the Celery workers of its queue (deploy/helm/values.yaml).

Queues: a step in the provider pool (ohlc_bars, quotes, corporate_actions: `pool=PROVIDER_POOL`) goes to
the `market_data_provider` queue, which one worker serves, so the provider's rate limit holds however many
machines run workers; every other step goes to `compute`. The queue is the step's `dagster-celery/queue`
tag, set here from the step's pool when the executor receives the plan, so no asset names a queue (an op
that sets the tag itself keeps it). The Celery app of the workers is built from the same settings
(`celery_app_args`, used by resources/celery_app.py), so executor and workers cannot disagree.
"""

from __future__ import annotations

import os
from typing import Any

import dagster as dg
from dagster._core.execution.plan.plan import ExecutionPlan
from dagster._core.execution.plan.step import ExecutionStep

from swiftbolt.instance import CELERY_QUEUES, COMPUTE_QUEUE, PROVIDER_POOL, PROVIDER_QUEUE
from swiftbolt.settings import CELERY_BACKEND_ENV, CELERY_BROKER_ENV, ExecutorSettings, executor_settings

QUEUE_TAG = "dagster-celery/queue"  # dagster_celery.tags.DAGSTER_CELERY_QUEUE_TAG
# Celery's broker retry settings that dagster-celery uses by default (dagster_celery.defaults)
_BROKER_TRANSPORT_OPTIONS = {"max_retries": 3, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


def queue_for_pool(pool: str | None) -> str:
    """The Celery queue of a step in `pool` (None: no pool)."""
    return PROVIDER_QUEUE if pool == PROVIDER_POOL else COMPUTE_QUEUE


def route_steps(plan: ExecutionPlan) -> ExecutionPlan:
    """The plan with every step's queue tag set from its pool (a tag the op set itself is kept)."""
    def routed(step: Any) -> Any:
        if not isinstance(step, ExecutionStep) or QUEUE_TAG in step.tags:
            return step
        return step._replace(tags={**step.tags, QUEUE_TAG: queue_for_pool(step.pool)})

    step_dict = {handle: routed(step) for handle, step in plan.step_dict.items()}
    by_key = {step.key: step_dict.get(step.handle, step) for step in plan.step_dict_by_key.values()}
    return plan._replace(step_dict=step_dict, step_dict_by_key=by_key)


class QueueRoutingExecutor(dg.Executor):
    """A Celery executor (dagster-celery's or dagster-celery-k8s') that routes steps to queues by pool.
    Everything else is the wrapped executor's: its attributes are read through (the Celery execution
    loop reads `app_args()`, the k8s one `job_config`, ...)."""

    def __init__(self, inner: dg.Executor) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @property
    def retries(self):  # type: ignore[override]
        return self.inner.retries

    def execute(self, plan_context, execution_plan: ExecutionPlan):  # type: ignore[override]
        return self.inner.execute(plan_context, route_steps(execution_plan))


def with_queue_routing(base: dg.ExecutorDefinition) -> dg.ExecutorDefinition:
    """`base` (same name and config) whose executor routes steps by pool."""
    creation_fn = base.executor_creation_fn
    assert creation_fn is not None

    return dg.ExecutorDefinition(
        name=base.name,
        config_schema=base.config_schema,
        requirements=base.get_requirements,
        executor_creation_fn=lambda init_context: QueueRoutingExecutor(creation_fn(init_context)),
        description=f"{base.description or base.name}; steps routed to the {' / '.join(CELERY_QUEUES)} queues by pool",
    )


def celery_config_source(settings: ExecutorSettings) -> dict[str, Any]:
    """Celery settings shared by the executor and the workers."""
    transport = dict(_BROKER_TRANSPORT_OPTIONS)
    if settings.namespace:
        transport["global_keyprefix"] = f"{settings.namespace}:"  # kombu's Redis transport
    return {
        "task_default_queue": COMPUTE_QUEUE,
        "worker_prefetch_multiplier": 1,  # a worker takes the next step only when it is free
        "broker_transport_options": transport,
        "result_backend_transport_options": transport,
        "broker_connection_retry_on_startup": True,
    }


def celery_app_args(settings: ExecutorSettings | None = None) -> dict[str, Any]:
    """What a Celery worker's app is built from (resources/celery_app.py): the URLs as they are."""
    settings = settings or executor_settings()
    from dagster_celery.config import DEFAULT_CONFIG, dict_wrapper

    return {
        "broker": settings.broker_url,
        "backend": settings.backend_url,
        "include": [],
        "config_source": dict_wrapper(dict(DEFAULT_CONFIG, **celery_config_source(settings))),
    }


def _is_set(env_name: str) -> bool:
    return bool((os.environ.get(env_name) or "").strip())


def url_config(settings: ExecutorSettings) -> dict[str, str | dict[str, str]]:
    """The executor's broker and backend config. A URL from the environment is referenced by the variable's
    name ({"env": ...}), so a password never enters a job's config or the UI."""
    broker: str | dict[str, str] = {"env": CELERY_BROKER_ENV} if _is_set(CELERY_BROKER_ENV) else settings.broker_url
    if _is_set(CELERY_BACKEND_ENV):
        backend: str | dict[str, str] = {"env": CELERY_BACKEND_ENV}
    else:  # the default backend is the broker itself (Redis) or rpc://
        backend = broker if settings.backend_url == settings.broker_url else settings.backend_url
    return {"broker": broker, "backend": backend}


def build_executor(settings: ExecutorSettings | None = None) -> dg.ExecutorDefinition:
    """The executor for definitions.py."""
    settings = settings or executor_settings()
    if settings.executor == "celery":
        from dagster_celery import celery_executor

        return with_queue_routing(celery_executor).configured(
            {**url_config(settings), "config_source": celery_config_source(settings)},
            name="celery",
        )
    if settings.executor == "celery_k8s":
        # broker, backend and the job image come from the CeleryK8sRunLauncher of the Helm chart
        from dagster_celery_k8s import celery_k8s_job_executor

        return with_queue_routing(celery_k8s_job_executor)
    if settings.executor == "multiprocess":
        return dg.multiprocess_executor
    return dg.in_process_executor
