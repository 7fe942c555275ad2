"""Celery tasks: thin wrappers that hand JSON jobs to the engine."""

from __future__ import annotations

import logging
import time

import redis
from celery import shared_task
from django.db import OperationalError

from flows.engine import profiling
from flows.engine.dead_letters import DeadLetterUnavailable
from flows.engine.jobs import Job, copy_job
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
    name="flows.run_step",
    acks_late=True,
    autoretry_for=INFRASTRUCTURE_ERRORS,
    retry_backoff=1,
    retry_backoff_max=60,
    max_retries=20,
)
def run_step(job: Job) -> None:
    """Run the next step of a batch, then queue the step after it."""
    if profiling.ENABLED and "sent_at" in job:
        profiling.add("celery queue", time.time() - job["sent_at"], len(job["items"]))
    try:
        # On a copy: a retry of this task must start from the job as it arrived.
        next_job = run_job_step(copy_job(job))
    except VersionMismatch:
        logger.error("refusing job %s: its flow and version do not match", job.get("batch_id"))
        return
    if next_job is not None:
        next_job["sent_at"] = time.time()
        run_step.apply_async((next_job,))
