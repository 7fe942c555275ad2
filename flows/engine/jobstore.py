"""Jobs travel through Redis, not through the Celery message.

A job carries its batch's step records and grows with every step (a batch of 500 is easily a
megabyte or two). Celery would serialise it with the standard json module and base64-encode it
into the broker on every hop; here it is stored once per step with orjson, and the task gets a
small reference. Each step's copy stays until the batch is finished, so a task redelivered
after a worker crash still finds the job as it was when that step started.
"""

from __future__ import annotations

from typing import TypedDict

import orjson
from django.conf import settings

from flows.engine.jobs import Job
from flows.engine.redis import get_redis, key


class JobRef(TypedDict):
    ref: str
    batch_id: str


def _name(batch_id: str, step: int) -> str:
    return key("job", batch_id, step)


def ttl_seconds() -> int:
    """Long enough for every retry and re-dispatch of the batch."""
    return int(settings.TRIBUTARY_BATCH_TIMEOUT * 4 + 3600)


def put(job: Job) -> JobRef:
    name = _name(job["batch_id"], job["step"])
    get_redis().set(name, orjson.dumps(job), ex=ttl_seconds())
    return JobRef(ref=name, batch_id=job["batch_id"])


def take(ref: JobRef) -> Job | None:
    """The job as stored, or None once its batch is finished (a late redelivery)."""
    raw = get_redis().get(ref["ref"])
    if raw is None:
        return None
    job: Job = orjson.loads(raw)
    return job


def drop(job: Job, steps: int) -> None:
    """Forget every step's copy of a finished batch."""
    get_redis().delete(*[_name(job["batch_id"], step) for step in range(steps + 1)])
