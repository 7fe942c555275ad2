"""The Celery application; tasks live in each app's `tasks.py`."""

from __future__ import annotations

import os

from celery import Celery, Task
from celery.signals import (
    celeryd_after_setup,
    task_postrun,
    task_prerun,
    worker_process_init,
    worker_process_shutdown,
    worker_shutdown,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("tributary")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _tune_collector(**_: object) -> None:
    """In each pool process, once it has forked with everything loaded."""
    from flows.engine import collector

    collector.tune()


@task_prerun.connect
@task_postrun.connect
def _drop_stale_connections(task: Task | None = None, **_: object) -> None:
    """Connections outlive tasks (CELERY_DB_REUSE_MAX): close one that failed or is past
    CONN_MAX_AGE, so that the next query reconnects instead of failing too. Not around an
    eager task, which runs inside its caller's transaction (as Celery's fix-up does)."""
    from django.db import close_old_connections

    if task is None or not getattr(task.request, "is_eager", False):
        close_old_connections()


# Periodic tasks, sent by exactly one `celery -A config beat` (the `beat` child of `make run`,
# the `beat` service of docker-compose.yml); a second beat would send everything twice.
app.conf.beat_schedule = {
    "prune-executions": {
        "task": "flows.prune_executions",
        "schedule": 600.0,
        # A copy still queued when the next one is due is dropped rather than piling up
        # behind busy workers.
        "options": {"expires": 540},
    },
}


@celeryd_after_setup.connect
def _own_queue(sender: str, instance: object, **_: object) -> None:
    """Each worker also consumes a queue of its own: a batch's next step stays on it."""
    from flows.engine import affinity

    affinity.register(app, sender, instance)


@worker_process_shutdown.connect
def _store_kept(**_: object) -> None:
    """A pool process that stops writes the jobs it kept only in memory to Redis, for the
    worker that will run their steps."""
    from flows.engine import affinity

    affinity.store_kept()


@worker_shutdown.connect
def _hand_back(sender: object, **_: object) -> None:
    """What still waits in this worker's own queue goes to the shared one: nothing is left
    behind for a worker that may not come back."""
    from flows.engine import affinity

    affinity.store_kept()  # a worker whose tasks ran in its own process (solo, threads)
    affinity.hand_back(app, getattr(sender, "hostname", ""))
