"""Celery tasks: thin wrappers that hand JSON jobs to the engine."""

from __future__ import annotations

import logging
import time
from typing import cast

import redis
from celery import Task, shared_task
from django.db import OperationalError

from flows.engine import affinity, jobstore, profiling
from flows.engine.dead_letters import DeadLetterUnavailable
from flows.engine.jobs import Job, copy_job
from flows.engine.jobstore import JobRef
from flows.engine.steps import VersionMismatch, run_job_step

logger = logging.getLogger(__name__)

# Infrastructure hiccups (database locked or restarting, Redis reconnecting, the dead-letter
# topic unreachable) are retried with backoff; a step re-run is safe because records are
# upserted and the ledger stops re-sends.
INFRASTRUCTURE_ERRORS = (
    OperationalError,
    redis.ConnectionError,
    redis.TimeoutError,
    DeadLetterUnavailable,
)


@shared_task(
    bind=True,
    name="flows.run_step",
    acks_late=True,
    autoretry_for=INFRASTRUCTURE_ERRORS,
    retry_backoff=1,
    retry_backoff_max=60,
    max_retries=20,
)
def run_step(self: Task, job: Job | JobRef) -> None:
    """Run the next step of a batch, then queue the step after it (on this worker's own queue,
    see flows.engine.affinity).

    Takes a reference to a job stored in Redis (see jobstore), or for small jobs the job.
    """
    if "ref" in job:
        stored = jobstore.take(cast(JobRef, job))
        if stored is None:
            logger.info("batch %s is finished already; dropping a late task", job["batch_id"])
            return
        fresh = stored
    else:
        # On a copy: a retry of this task must start from the job as it arrived.
        fresh = copy_job(cast(Job, job))
    if profiling.ENABLED and "sent_at" in fresh:
        profiling.add("celery queue", time.time() - fresh["sent_at"], len(fresh["items"]))
    try:
        next_job = run_job_step(fresh)
    except VersionMismatch:
        logger.error("refusing job %s: its flow and version do not match", fresh["batch_id"])
        return
    if next_job is not None:
        send(next_job, node=self.request.hostname)


def send(job: Job, node: str | None = None) -> None:
    """Queue a job's next step: stored in Redis when a runner waits for it. From the worker
    `node`, to its own queue when it has one, with the job kept in memory."""
    job["sent_at"] = time.time()
    if not job["notify"]:
        run_step.apply_async((job,))
        return
    queue = affinity.own_queue(node)
    if queue is None:
        run_step.apply_async((jobstore.put(job),))
    else:
        ref = jobstore.put(job, keep=True, only_here=affinity.only_process(node))
        run_step.apply_async((ref,), queue=queue)


@shared_task(
    name="flows.prune_executions",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=10,
    max_retries=3,
)
def prune_executions() -> dict[str, int]:
    """Delete execution records past their retention (celery beat, every 10 minutes).

    Idempotent: a duplicate or retried run deletes what is left, or nothing.
    """
    from flows.services.retention import prune_executions as prune

    # JSON object keys are strings.
    return {str(flow_id): count for flow_id, count in prune().items()}
