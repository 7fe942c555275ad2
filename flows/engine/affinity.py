"""A batch's next step runs on the worker that ran its last one.

Every worker also consumes a queue of its own (`register`, when it starts). A step queues the
step after it there and keeps the job in memory (jobstore.put with keep): the next step then
skips decoding the job from Redis, a megabyte or more for a batch of 500 and the largest cost
of a step after the step's own work. Redis still holds every step's copy, so a task that ends
up elsewhere (a retry, a worker with more than one pool process) reads it from there as
before. A worker that stops hands its queue's tasks back to the shared queue (`hand_back`);
a crashed one's batches are dispatched again by their runner after TRIBUTARY_BATCH_TIMEOUT,
like the batch it was running.
"""

from __future__ import annotations

import logging

from celery import Celery, current_app
from celery.contrib.migrate import move
from django.conf import settings
from kombu import Queue

logger = logging.getLogger(__name__)

# This process's worker node, once its queue is registered (inherited by its pool processes).
_node: str | None = None


def queue_name(node: str) -> str:
    return f"{current_app.conf.task_default_queue}.{node}"


def register(app: Celery, node: str) -> None:
    """Make the worker `node` consume its own queue too (the celeryd_after_setup signal)."""
    global _node
    if not settings.TRIBUTARY_STEP_AFFINITY:
        return
    # A name: Celery declares it as the shared queue is (exchange and routing key its name).
    app.amqp.queues.select_add(queue_name(node))  # type: ignore[arg-type]
    _node = node


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
