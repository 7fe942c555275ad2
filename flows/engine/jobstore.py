"""Jobs travel through Redis, not through the Celery message.

A job carries its batch's step records and grows with every step (a batch of 500 is easily a
megabyte or two). Celery would serialise it with the standard json module and base64-encode it
into the broker on every hop; here it is stored once per step with orjson, and the task gets a
small reference. Each step's copy stays until the batch is finished, so a task redelivered
after a worker crash still finds the job as it was when that step started.

A job queued for the next step on this same process (flows.engine.affinity) is also kept in
memory, and taken from there: decoding it is a step's largest cost after its own work. When no
other process can take that step (a worker of one pool process), the job is not even stored
(`put` with `only_here`): encoding it cost as much again. It is written to Redis only if it
leaves memory before its step takes it (pushed out by newer jobs, or the process stopping:
`store_kept`). Lost with its process (killed), its step runs the batch again from the copy
its runner stored, which is safe as any redelivery is: records are upserted and the delivery
ledger stops re-sends.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
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
    # Set when the job was kept in memory only (`only_here`): the copy its runner stored, to
    # run the batch again from if this one was never written.
    first: NotRequired[str]


# Jobs this process queued for itself (see _kept). Bounded: a job whose task went
# to another process (or never came) is forgotten in time, and read from Redis if it comes.
# A decoded job of 1,000 messages (the trigger's default batch) takes about 6 MB; a worker
# rarely has more than a few of its batches waiting for their next step
# (TRIBUTARY_BATCHES_IN_FLIGHT per flow and runner).
KEPT_JOBS = 8


@dataclass(frozen=True)
class _Kept:
    job: Job
    # Set when it is not in Redis yet: its batch's first copy, while which (the batch still
    # running) it is written there if it leaves memory before its step takes it.
    first: str | None


# Keyed by name and copy: two attempts of one batch (a runner's re-dispatch, a task run again
# from the first copy) share names, and each must find its own job, never drop the other's.
_kept: OrderedDict[tuple[str, str], _Kept] = OrderedDict()
_kept_lock = threading.Lock()


def _name(batch_id: str, step: int) -> str:
    return key("job", batch_id, step)


def ttl_seconds() -> int:
    """Long enough for every retry and re-dispatch of the batch."""
    return int(settings.TRIBUTARY_BATCH_TIMEOUT * 4 + 3600)


def put(job: Job, keep: bool = False, only_here: bool = False) -> JobRef:
    """Store the job for its next step; `keep` it in memory too when this process runs that
    step, and with `only_here` (no other process can take that step) store it only if it
    leaves memory first. A kept job must not change after this: it is what the next step
    takes."""
    name = _name(job["batch_id"], job["step"])
    ref = JobRef(ref=name, batch_id=job["batch_id"])
    first = _name(job["batch_id"], 0) if keep and only_here and job["step"] > 0 else None
    if first is not None:
        ref["first"] = first
    else:
        get_redis().set(name, orjson.dumps(job), ex=ttl_seconds())
    if keep:
        ref["kept"] = secrets.token_hex(8)
        with _kept_lock:
            _kept[(name, ref["kept"])] = _Kept(job, first)
            while len(_kept) > KEPT_JOBS:
                (evicted, _), kept = _kept.popitem(last=False)
                _store(evicted, kept)
    return ref


def _store(name: str, kept: _Kept) -> bool:
    """A kept job leaving memory: written to Redis if it is not there yet and its batch still
    runs. Returns whether it was written."""
    client = get_redis()
    if kept.first is None or not client.exists(kept.first):
        return False
    client.set(name, orjson.dumps(kept.job), ex=ttl_seconds())
    return True


def store_kept() -> int:
    """Write every kept job that is only in memory to Redis, and forget them all: before this
    process stops, for whichever worker takes their steps. Returns how many were written."""
    with _kept_lock:
        leaving = list(_kept.items())
        _kept.clear()
    return sum(_store(name, kept) for (name, _), kept in leaving)


def take(ref: JobRef) -> Job | None:
    """The job as stored (or, if its copy was never written, the batch from its first step),
    or None once its batch is finished (a late redelivery)."""
    with _kept_lock:
        kept = _kept.pop((ref["ref"], ref.get("kept", "")), None)
    if kept is not None:
        # Still stored means still running: a finished batch drops its copies.
        return kept.job if get_redis().exists(ref.get("first", ref["ref"])) else None
    raw = get_redis().get(ref["ref"])
    if raw is None and "first" in ref:
        raw = get_redis().get(ref["first"])
    if raw is None:
        return None
    job: Job = orjson.loads(raw)
    return job


def drop(job: Job, steps: int) -> None:
    """Forget every step's copy of a finished batch."""
    get_redis().delete(*[_name(job["batch_id"], step) for step in range(steps + 1)])
