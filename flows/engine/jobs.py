"""The job: a batch of trigger messages on its way through a flow version's steps.

A job is plain JSON so that it travels through Celery between step tasks. Each item is one
execution in the making: the messages waiting at each node and the step records so far.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, NotRequired, TypedDict

import orjson

from components.base import TriggerRecord
from flows.choices import StepStatus
from flows.engine.clipping import clip_json, clip_json_whole
from flows.engine.redis import key
from flows.graph import Plan


class StepRecordData(TypedDict):
    """A step record on its way to the database. Its input, output and error details are
    JSON text (flows.engine.clipping.clip_json): a 500-message job's records would otherwise be
    tens of thousands of objects to decode and encode again at every hop."""

    node_id: str
    component: str
    status: str
    started_at: float
    duration_ms: float | None
    input: str | None
    output: str | None
    logs: list[str]
    error: str
    error_details: str | None
    # Set instead of `input` when the input is in an earlier record already (see SOURCE).
    input_from: NotRequired[list[int]]
    # Its input and output are their values' own encodings, nothing masked or cut: a later
    # step's input may then point into them rather than be stored again.
    whole: NotRequired[bool]


# A message waiting at a node says where it came from under this key, as the `input_from` its
# step record will keep instead of a copy of it: [position] when it is the output of the step
# at that position (a trigger's message), [position, index] when its body is that step's
# output number `index`, with the id, headers and meta of that step's input (flows.engine.steps
# routes it so). The engine takes the key off before a component sees the message; readers
# rebuild the input (flows.step_records.resolve_inputs). Like n8n, which keeps each node's
# output once, this stores a message's body once per hop instead of twice.
SOURCE = "_source"


class Item(TypedDict):
    key: str
    meta: dict[str, Any]
    summary: str
    started_at: float
    pending: dict[str, list[dict[str, Any]]]
    steps: list[StepRecordData]
    error: str
    failed_node: str
    retry_input: Any
    reached_end: bool
    attempts: int


class Job(TypedDict):
    batch_id: str
    flow_id: int
    version_id: int
    step: int
    items: list[Item]
    notify: str | None
    # 1 for the first run of a batch; the runner counts up when it runs a deferred batch again.
    attempt: int
    # When its runner dispatched it (epoch seconds): the time to the first step is queueing.
    sent_at: NotRequired[float]
    # W3C traceparent of the batch's trace, while tracing is on (flows.engine.tracing).
    trace: NotRequired[str]
    # What its steps did so far, for /metrics (flows.engine.tally): node id -> measures.
    tally: NotRequired[dict[str, dict[str, float]]]


def done_key(batch_id: str) -> str:
    return key("batch", batch_id, "done")


def json_text(value: Any) -> str | None:
    """A record's value as JSON text (see StepRecordData); None stays None (SQL NULL)."""
    return None if value is None else orjson.dumps(value).decode()


def summary_of(body: Any) -> str:
    text = body if isinstance(body, str) else orjson.dumps(body).decode(errors="replace")
    return text[:500]


def new_item(key: str, meta: dict[str, Any], summary: str, started_at: float | None = None) -> Item:
    return Item(
        key=key,
        meta=meta,
        summary=summary,
        started_at=time.time() if started_at is None else started_at,
        pending={},
        steps=[],
        error="",
        failed_node="",
        retry_input=None,
        reached_end=False,
        attempts=1,
    )


def job_from_records(
    flow_id: int, version_id: int, plan: Plan, records: list[TriggerRecord]
) -> Job:
    """Turn what the trigger read into a job whose first step is the first action."""
    batch_id = uuid.uuid4().hex
    trigger = plan.trigger
    first_actions = plan.children.get(trigger.id, [])
    # One moment for the batch: its messages were read together (and the records' writer
    # converts one timestamp instead of one per message).
    started_at = time.time()
    items = []
    for record in records:
        message = record.message
        item = new_item(
            f"v{version_id}:{message['id']}",
            message["meta"],
            summary_of(message["body"]),
            started_at,
        )
        output, whole = clip_json_whole(message)
        step = StepRecordData(
            node_id=trigger.id,
            component=trigger.component,
            status=StepStatus.SUCCEEDED,
            started_at=item["started_at"],
            duration_ms=None,
            input=None,
            output=output,
            logs=[],
            error="",
            error_details=None,
            whole=whole,
        )
        if record.error is not None:
            step["status"] = StepStatus.FAILED
            step["error"] = record.error.message
            step["error_details"] = clip_json(record.error.as_dict())
            item["error"] = record.error.message
            item["failed_node"] = trigger.id
        else:
            for node_id in first_actions:
                item["pending"][node_id] = [{**message, SOURCE: [0]}]
        item["steps"].append(step)
        items.append(item)
    return Job(
        batch_id=batch_id,
        flow_id=flow_id,
        version_id=version_id,
        step=0,
        items=items,
        notify=done_key(batch_id),
        attempt=1,
    )


def copy_job(job: Job) -> Job:
    """A deep copy (jobs are plain JSON)."""
    copied: Job = orjson.loads(orjson.dumps(job))
    return copied


def next_attempt(job: Job) -> Job:
    """The same batch, to run again from its first step after a deferral; its answer goes
    to the same runner list, under a new batch id (a late answer to the old one is ignored)."""
    again = copy_job(job)
    again["attempt"] = job.get("attempt", 1) + 1
    again["batch_id"] = uuid.uuid4().hex
    for item in again["items"]:
        item["attempts"] = again["attempt"]
    return again
