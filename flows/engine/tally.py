"""Per-step counters and latency histograms for /metrics, counted per batch, not per message.

A step counts what it did to a batch in memory (`StepCounts`) and adds it to its job's
tally; the tally travels with the job and reaches Redis in the pipeline that tells the
runner the batch ended: no extra round trip. Counts of a deferred attempt are dropped (the
batch runs again and is counted then), except retries, which did happen. A batch that runs
twice to the end (a lost answer, a worker killed after the records were written) is counted
twice: these counters are at-least-once, like delivery.

Redis hash `metrics:steps`, field "<flow id>|<node id>|<measure>": in, out, failed,
filtered, skipped (already delivered: a duplicate avoided), retries:request (an HTTP request
retried in place), retries:batch (messages whose transient failure sent the batch back for
another attempt), sum (seconds), b<i> (messages whose step duration fell into bucket i,
not cumulative; i = len(BUCKETS) is +Inf).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import redis

from components.base import Outcome, TriggerRecord
from flows.engine.jobs import Job
from flows.engine.redis import get_redis, key

logger = logging.getLogger(__name__)

# Upper bounds (seconds) of the step duration histogram: from a fast transform (well under a
# millisecond per message) to a slow HTTP destination.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# The field of each bucket, "b0" to "b14": named once, not once a message.
BUCKET_FIELDS = tuple(f"b{index}" for index in range(len(BUCKETS) + 1))
RETRY_FIELDS = ("retries:request", "retries:batch")

Tally = dict[str, dict[str, float]]


def steps_key() -> str:
    return key("metrics", "steps")


def kills_key() -> str:
    """Hash "<flow id>|<node id>|<reason>" -> sandbox processes killed (ids empty when the
    code ran outside a flow, from the editor)."""
    return key("metrics", "sandbox_kills")


@dataclass
class StepCounts:
    """What one step did to one batch. `retried` may be called from delivery threads."""

    fields: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, outcome: Outcome, duration_ms: float) -> None:
        fields = self.fields
        fields["in"] += 1
        if outcome.error is not None:
            fields["failed"] += 1
        elif not outcome.outputs:
            fields["filtered"] += 1
        else:
            fields["out"] += len(outcome.outputs)
        if outcome.skipped:
            fields["skipped"] += 1
        seconds = duration_ms / 1000
        fields["sum"] += seconds
        fields[BUCKET_FIELDS[bisect_left(BUCKETS, seconds)]] += 1

    def retried(self, kind: str, amount: int = 1) -> None:
        with self._lock:
            self.fields[f"retries:{kind}"] += amount


@dataclass(frozen=True)
class Stepping:
    flow_id: int
    node_id: str
    counts: StepCounts


_current: ContextVar[Stepping | None] = ContextVar("tributary_step", default=None)


def current() -> Stepping | None:
    """The step this thread is running, if any (what a component's report is about)."""
    return _current.get()


@contextlib.contextmanager
def stepping(step: Stepping | None) -> Iterator[None]:
    """Attribute components' reports in this thread to `step` while the block runs."""
    token = _current.set(step)
    try:
        yield
    finally:
        _current.reset(token)


def add(job: Job, node_id: str, counts: StepCounts) -> None:
    """Add a step's counts to its job's tally."""
    entry = job.setdefault("tally", {}).setdefault(node_id, {})
    for name, value in counts.fields.items():
        if value:
            entry[name] = entry.get(name, 0) + value


def count_trigger(job: Job, node_id: str, records: list[TriggerRecord]) -> None:
    """The trigger's share: every record read is in; decoded ones out, the others failed."""
    failed = sum(1 for record in records if record.error is not None)
    entry = job.setdefault("tally", {}).setdefault(node_id, {})
    entry.update({"in": len(records), "out": len(records) - failed, "failed": failed})


def queue_batch(pipe: Any, job: Job, *, finished: bool) -> None:
    """Queue the job's tally on `pipe`: all of it for a finished batch, only the retries for
    one that will run again."""
    tally: Tally = job.get("tally") or {}
    flow_id = job["flow_id"]
    name = steps_key()
    for node_id, fields in tally.items():
        for measure, value in fields.items():
            if not value or not (finished or measure in RETRY_FIELDS):
                continue
            field_name = f"{flow_id}|{node_id}|{measure}"
            if measure == "sum":
                pipe.hincrbyfloat(name, field_name, value)
            else:
                pipe.hincrby(name, field_name, int(value))


def record_kill(reason: str) -> None:
    """Count a sandbox process killed, under the step running here (one Redis command: kills
    are rare, and each costs a process start anyway). Best effort: never raises."""
    step = current()
    where = f"{step.flow_id}|{step.node_id}" if step else "|"
    try:
        get_redis().hincrby(kills_key(), f"{where}|{reason}", 1)
    except redis.RedisError as error:
        logger.warning("could not count a sandbox kill (%s): %s", reason, error)


# --- reading, for /metrics -----------------------------------------------------------------


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read_steps() -> dict[tuple[int, str], dict[str, float]]:
    """(flow id, node id) -> {measure: value}."""
    steps: dict[tuple[int, str], dict[str, float]] = defaultdict(dict)
    for raw, value in get_redis().hgetall(steps_key()).items():
        flow, _, rest = _text(raw).partition("|")
        node_id, _, measure = rest.rpartition("|")
        if flow.isdigit() and measure:
            steps[int(flow), node_id][measure] = float(value)
    return dict(steps)


def read_kills() -> dict[tuple[str, str, str], int]:
    """(flow id or "", node id or "", reason) -> kills."""
    kills: dict[tuple[str, str, str], int] = {}
    for raw, value in get_redis().hgetall(kills_key()).items():
        flow, _, rest = _text(raw).partition("|")
        node_id, _, reason = rest.rpartition("|")
        kills[flow, node_id, reason] = int(value)
    return kills
