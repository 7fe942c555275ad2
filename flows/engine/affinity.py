"""A batch's next step runs on the worker that ran its last one.

Every worker also consumes a queue of its own (`register`, when it starts). A step queues the
step after it there and keeps the job in memory (jobstore.put with keep): the next step then
skips decoding the job from Redis, a megabyte or more for a batch of 500 and the largest cost
of a step after the step's own work. A worker with several pool processes stores every step's
copy in Redis as well, for whichever of its processes gets the task; a worker of one process
(`only_process`) stores it only if it leaves memory first (see flows.engine.jobstore). A
worker that stops writes what it kept to Redis and hands its queue's tasks back to the shared
queue (`hand_back`); a crashed one's batches are dispatched again by their runner after
TRIBUTARY_BATCH_TIMEOUT, like the batch it was running.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, current_app
from celery.contrib.migrate import move
from django.conf import settings
from kombu import Queue

from flows.engine import jobstore

logger = logging.getLogger(__name__)

# This process's worker node, once its queue is registered (inherited by its pool processes).
_node: str | None = None
# Whether the worker runs its tasks in one process: its own queue's tasks all come here.
_one_process = False

# Celery's pool modules whose tasks all run in the worker's own process (threads, green threads).
IN_PROCESS_POOLS = ("solo", "thread", "eventlet", "gevent")


def queue_name(node: str) -> str:
    return f"{current_app.conf.task_default_queue}.{node}"


def register(app: Celery, node: str, worker: Any = None) -> None:
    """Make the worker `node` consume its own queue too (the celeryd_after_setup signal, with
    its WorkController `worker`)."""
    global _node, _one_process
    if not settings.TRIBUTARY_STEP_AFFINITY:
        return
    # A name: Celery declares it as the shared queue is (exchange and routing key its name).
    app.amqp.queues.select_add(queue_name(node))  # type: ignore[arg-type]
    _node = node
    _one_process = worker is not None and runs_in_one_process(worker)


def runs_in_one_process(worker: Any) -> bool:
    """Whether a Celery worker runs all its tasks in one process (a prefork pool of one
    process that does not autoscale, or a pool in the worker's own process)."""
    pool = getattr(worker, "pool_cls", None)
    module = pool.__module__ if isinstance(pool, type) else str(pool or "")
    if module.rsplit(".", 1)[-1] in IN_PROCESS_POOLS:
        return True
    return bool(worker.concurrency == 1 and not getattr(worker, "autoscale", None))


def only_process(node: str | None) -> bool:
    """Whether the tasks of `node`'s own queue can only run in this process."""
    return node is not None and node == _node and _one_process


def own_queue(node: str | None) -> str | None:
    """The queue of `node` when it is the worker of this process, else None (the shared one)."""
    if node is None or node != _node:
        return None
    return queue_name(node)


def hand_back(app: Celery, node: str) -> int:
    """Move the tasks still waiting in `node`'s queue to the shared queue (worker_shutdown:
    the worker consumes nothing more, its pool has finished). Returns how many moved.

    Never holds up the shutdown: with the broker unreachable the tasks stay where they are,
    and their batches are dispatched again by their runners (TRIBUTARY_BATCH_TIMEOUT).
    """
    if node != _node:
        return 0
    # As the app declares it (exchange and routing key named after it), created if missing.
    shared: Queue = app.amqp.queues[app.conf.task_default_queue]
    moved = 0

    def count(*_: object) -> None:
        nonlocal moved
        moved += 1

    with app.connection_for_write() as connection:
        try:
            connection.ensure_connection(max_retries=1)
            move(
                lambda body, message: shared,
                connection=connection,
                app=app,
                source=[queue_name(node)],
                callback=count,
                timeout=0.5,
            )
        except Exception as error:  # a shutdown must go on, whatever happened here
            logger.warning(
                "could not hand %s's waiting steps back to queue %s (%s moved): %s",
                node,
                shared.name,
                moved,
                error,
            )
    if moved:
        logger.info("handed %d waiting step(s) back to queue %s", moved, shared.name)
    return moved


def store_kept() -> int:
    """Write the jobs this process kept only in memory to Redis before it stops (see
    flows.engine.jobstore). Never holds up the stop: with Redis unreachable their batches run
    again from their first step. Returns how many were written."""
    try:
        written = jobstore.store_kept()
    except Exception as error:  # a shutdown must go on, whatever happened here
        logger.warning("could not store the jobs kept in memory: %s", error)
        return 0
    if written:
        logger.info("stored %d job(s) kept in memory for their next step", written)
    return written
