"""Jobs travel through Redis, not through the Celery message.

A job carries its batch's step records and grows with every step (a batch of 500 is easily a
megabyte or two). Celery would serialise it with the standard json module and base64-encode it
into the broker on every hop; here it is stored once per step with orjson, and the task gets a
small reference. Each step's copy stays until the batch is finished, so a task redelivered
after a worker crash still finds the job as it was when that step started.

A job queued for the next step on this same process (flows.engine.affinity) is also kept in
memory, and taken from there: decoding it is a step's largest cost after its own work.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from typing import NotRequired, TypedDict

import orjson
from django.conf import settings

from flows.engine.jobs import Job
from flows.engine.redis import get_redis, key


class JobRef(TypedDict):
    ref: str
    batch_id: str
    # Set when the job was kept in memory: which copy. A batch dispatched again by its runner
    # stores its steps under the same names, and must not be taken for an older copy.
    kept: NotRequired[str]


# Jobs this process queued for itself, by name: (copy, job). Bounded: a job whose task went
# to another process (or never came) is forgotten in time, and read from Redis if it comes.
# A decoded job of 500 messages takes about 3 MB; a worker rarely has more than a few of its
# batches waiting for their next step (TRIBUTARY_BATCHES_IN_FLIGHT per flow and runner).
KEPT_JOBS = 8
_kept: OrderedDict[str, tuple[str, Job]] = OrderedDict()
_kept_lock = threading.Lock()


def _name(batch_id: str, step: int) -> str:
    return key("job", batch_id, step)


def ttl_seconds() -> int:
    """Long enough for every retry and re-dispatch of the batch."""
    return int(settings.TRIBUTARY_BATCH_TIMEOUT * 4 + 3600)


def put(job: Job, keep: bool = False) -> JobRef:
    """Store the job for its next step; `keep` it in memory too when this process runs that
    step. A kept job must not change after this: it is what the next step takes."""
    name = _name(job["batch_id"], job["step"])
    get_redis().set(name, orjson.dumps(job), ex=ttl_seconds())
    ref = JobRef(ref=name, batch_id=job["batch_id"])
    if keep:
        ref["kept"] = secrets.token_hex(8)
        with _kept_lock:
            _kept[name] = (ref["kept"], job)
            while len(_kept) > KEPT_JOBS:
                _kept.popitem(last=False)
    return ref


def take(ref: JobRef) -> Job | None:
    """The job as stored, or None once its batch is finished (a late redelivery)."""
    with _kept_lock:
        kept = _kept.pop(ref["ref"], None)
    if kept is not None and kept[0] == ref.get("kept"):
        # Still stored means still running: a finished batch drops its copies.
        return kept[1] if get_redis().exists(ref["ref"]) else None
    raw = get_redis().get(ref["ref"])
    if raw is None:
        return None
    job: Job = orjson.loads(raw)
    return job


def drop(job: Job, steps: int) -> None:
    """Forget every step's copy of a finished batch."""
    get_redis().delete(*[_name(job["batch_id"], step) for step in range(steps + 1)])
