"""The Celery app of a swiftbolt worker: `celery -A resources.celery_app worker -Q <queues>` (what
`swiftbolt worker` / `make worker` run). Built from the same settings as the executor
(resources/executor.py), so broker, backend, key namespace and default queue always agree. The task is
dagster-celery's: it loads the code location named in each message and executes one step against the
Dagster instance of the run (its storage must be reachable from the worker: PostgreSQL). The code
location is imported here, before the pool forks, so a broken location fails the worker at start and each
pool process does not load it again (dagster reuses a loaded `definitions` module of the same file)."""

from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

import definitions  # noqa: F401  the code location, loaded once here: the pool processes fork with it
from resources.executor import celery_app_args

app = make_app(celery_app_args())
execute_plan = create_task(app)
