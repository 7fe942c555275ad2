"""The job: a batch of trigger messages on its way through a flow version's steps.

A job is plain JSON so that it travels through Celery between step tasks. Each item is one
execution in the making: the messages waiting at each node and the step records so far.
"""

from __future__ import annotations

import math
import time
import uuid
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NotRequired, TypedDict

import orjson

from components.base import StepError, TriggerRecord
from flows.choices import StepStatus
from flows.engine.clipping import clip_json, clip_text
from flows.engine.redis import key
from flows.graph import Plan


class StepRecordData(TypedDict):
    """A step record on its way to the database: `stored` is its object as `Execution.steps`
    keeps it (flows.engine.records.STEP_FIELDS), encoded once when its step ran
    (`step_record`). A 500-message job's records would otherwise be tens of thousands of
    objects to decode and encode again at every hop, and to build into rows at the end."""

    stored: str
    # Its input and output are their values' own encodings, nothing masked or cut: a later
    # step's input may then point into them rather than be stored again (see SOURCE).
    whole: bool


# A step's error message is cut to this many characters in its record.
ERROR_MAX_CHARS = 5000


def step_record(
    position: int,
    node_id: str,
    component: str,
    status: str,
    started_at: float,
    *,
    duration_ms: float | None = None,
    input: str | None = None,
    output: str | None = None,
    logs: list[str] | None = None,
    error: str = "",
    error_details: str | None = None,
    input_from: list[int] | None = None,
    whole: bool = False,
) -> StepRecordData:
    """A step record at `position` in its execution. `input`, `output` and `error_details` are
    JSON text (flows.engine.clipping.clip_json), taken in as they are; `input_from` is set
    instead of `input` when the input is an earlier record's output."""
    head = record_head(position, node_id, component, status, started_at)
    stored = record_text(head, duration_ms, input, output, logs, error, error_details, input_from)
    return {"stored": stored, "whole": whole}


# A step's records share their beginning: a few (position, status) pairs per batch and step.
@lru_cache(maxsize=256)
def record_head(position: int, node_id: str, component: str, status: str, started_at: float) -> str:
    """The JSON of a step record (flows.engine.records.STEP_FIELDS) from `{` to its
    `"duration_ms":`, which the records of a step's messages share (`record_text`)."""
    shared = {
        "position": position,
        "node_id": node_id,
        "component": component,
        "status": status,
        "started_at": iso_time(started_at),
    }
    return orjson.dumps(shared).decode()[:-1] + ',"duration_ms":'


def record_text(
    head: str,
    duration_ms: float | None,
    input: str | None,
    output: str | None,
    logs: list[str] | None,
    error: str,
    error_details: str | None,
    input_from: list[int] | None,
) -> str:
    """A step record's JSON: `head` (record_head) and the message's own fields, joined as
    text. Built so rather than as a dict to encode: a step makes one per message, and the
    JSON texts among them (`input`, `output`, `error_details`) go in as they are."""
    text = (
        f"{head}{_number(duration_ms)},"
        f'"input":{input or "null"},"output":{output or "null"},'
        f'"logs":{orjson.dumps(logs).decode() if logs else "[]"},'
        f'"error":{orjson.dumps(error[:ERROR_MAX_CHARS]).decode() if error else EMPTY_TEXT},'
        f'"error_details":{error_details or "null"}'
    )
    if input_from is not None:
        text += ',"input_from":' + orjson.dumps(input_from).decode()
    return text + "}"


EMPTY_TEXT = '""'


def _number(value: float | None) -> str:
    """A number as JSON; null for none (and for what JSON cannot hold: NaN, infinities)."""
    if value is None or not math.isfinite(value):
        return "null"
    return repr(value) if type(value) is float else repr(float(value))


# The steps of a batch's messages share a few start times (one per batch and step).
@lru_cache(maxsize=256)
def iso_time(seconds: float) -> str:
    """A moment as the API writes times (ISO 8601, UTC, `Z`)."""
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat().replace("+00:00", "Z")


# A message waiting at a node says where it came from under this key, as the `input_from` its
# step record will keep instead of a copy of it: [position] when it is the output of the step
# at that position (a trigger's message), [position, index] when its body is that step's
# output number `index`, with the id, headers and meta of that step's input (flows.engine.steps
# routes it so). The engine takes the key off before a component sees the message; readers
# rebuild the input (flows.step_records.resolve_inputs). Like n8n, which keeps each node's
# output once, this stores a message's body once per hop instead of twice.
SOURCE = "_source"


# A trigger's message waiting at a first action has its body as JSON text, marked so by this
# key: the trigger's record holds that text anyway, and a step that only passes bodies on
# (Descriptor.passes_bodies_through: the code step, to its sandbox) gets it undecoded, as an
# orjson.Fragment. Other steps get it decoded. The engine takes the key off (steps._open).
BODY_ENCODED = "_body_encoded"


def routed_message(parent: dict[str, Any], index: int, body: Any, many: bool) -> dict[str, Any]:
    """Output number `index` (`body`) of the step that got `parent`, as the message its children
    get: the engine routes it so, and readers rebuild a `[position, index]` input so."""
    return {
        "id": f"{parent['id']}/{index}" if many else parent["id"],
        "body": body,
        "headers": parent.get("headers", {}),
        "meta": parent.get("meta", {}),
    }


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
    """The first 500 characters of a body: its text, or its JSON."""
    if isinstance(body, str):
        return body[:500]
    return orjson.dumps(body).decode()[:500]


def summary_of_json(encoded: str) -> str:
    """`summary_of` the body whose JSON is `encoded`, without decoding any but a string."""
    return orjson.loads(encoded)[:500] if encoded.startswith('"') else encoded[:500]


def new_item(key: str, meta: dict[str, Any], summary: str, started_at: float | None = None) -> Item:
    # A literal: calling the TypedDict costs twice as much, once per message.
    return {
        "key": key,
        "meta": meta,
        "summary": summary,
        "started_at": time.time() if started_at is None else started_at,
        "pending": {},
        "steps": [],
        "error": "",
        "failed_node": "",
        "retry_input": None,
        "reached_end": False,
        "attempts": 1,
    }


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
        key = f"v{version_id}:{message['id']}"
        # The body encoded once: for the first actions, the trigger's record and the summary.
        body = orjson.dumps(message["body"], default=str).decode()
        error = record.error
        if error is None and first_actions:
            # Its meta, summary and trigger's record are filled in where the batch runs
            # (`fill_from_messages`), so that the job carries the message once, not four times.
            item = new_item(key, {}, "", started_at)
            for node_id in first_actions:
                item["pending"][node_id] = [
                    {**message, "body": body, SOURCE: [0], BODY_ENCODED: True}
                ]
        else:
            item = new_item(key, message["meta"], summary_of_json(body), started_at)
            shown = {**message, "body": orjson.Fragment(body)}
            _record_trigger(item, trigger.id, trigger.component, shown, error)
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


def fill_from_messages(items: list[Item], trigger_id: str, component: str) -> None:
    """Give the items of a trigger's job that arrived without them (job_from_records) their
    meta, summary and trigger's record, made from the message waiting at a first action
    exactly as the runner would have made them. Items that have them are left alone."""
    for item in items:
        if item["steps"] or not item["pending"]:
            continue
        message = next(iter(item["pending"].values()))[0]
        shown = message.copy()
        for name in _ENGINE_KEYS:
            shown.pop(name, None)
        body = message["body"]
        if message.get(BODY_ENCODED):
            shown["body"] = orjson.Fragment(body)
            item["summary"] = summary_of_json(body)
        else:
            item["summary"] = summary_of(body)
        item["meta"] = message["meta"]
        _record_trigger(item, trigger_id, component, shown, None)


# What the engine adds to a waiting message, not part of the message itself.
_ENGINE_KEYS = (SOURCE, BODY_ENCODED)


def _record_trigger(
    item: Item, trigger_id: str, component: str, message: dict[str, Any], error: StepError | None
) -> None:
    """The trigger's record of its message (the body already encoded, as a Fragment), and
    the item failed at the trigger if it could not read the message."""
    output, whole = clip_text(orjson.dumps(message, default=str).decode())
    item["steps"].append(
        step_record(
            0,
            trigger_id,
            component,
            StepStatus.SUCCEEDED if error is None else StepStatus.FAILED,
            item["started_at"],
            output=output,
            error="" if error is None else error.message,
            error_details=None if error is None else clip_json(error.as_dict()),
            whole=whole,
        )
    )
    if error is not None:
        item["error"] = error.message
        item["failed_node"] = trigger_id


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
