"""Running one step of a job: the heart of the engine.

A step hands every message waiting at its node to the component in one batch, records a step
record per message, routes the outputs to the node's children and marks failed messages on
their own execution. One message's failure never fails the others.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import orjson
import redis
from django.conf import settings

from components.base import Action, ConfigError, Outcome, StepError
from flows.choices import StepStatus
from flows.engine import (
    dead_letters,
    instances,
    jobstore,
    ledger,
    profiling,
    records,
    tally,
    tracing,
)
from flows.engine.clipping import clip_json, clip_json_whole, clip_text, mask_text
from flows.engine.jobs import (
    BODY_ENCODED,
    SOURCE,
    Item,
    Job,
    StepRecordData,
    fill_from_messages,
    record_head,
    record_text,
    routed_message,
)
from flows.engine.redis import get_redis
from flows.graph import Node, Plan, plan_for
from flows.models import Credential, FlowVersion
from flows.services.credentials import credential_fields, secret_values

logger = logging.getLogger(__name__)

CONTEXT_TTL_SECONDS = 30.0


@dataclass(frozen=True)
class VersionContext:
    flow_id: int
    workspace_id: int
    version_id: int
    plan: Plan
    # Secret values of the credentials this version uses, masked in every record.
    secrets: tuple[str, ...]
    loaded_at: float


_contexts: dict[int, VersionContext] = {}
_contexts_lock = threading.Lock()


class VersionMismatch(Exception):
    """A job named a version that does not belong to its flow: refuse it, never trust ids."""


def version_context(flow_id: int, version_id: int) -> VersionContext:
    with _contexts_lock:
        cached = _contexts.get(version_id)
    if (
        cached
        and cached.flow_id == flow_id
        and time.time() - cached.loaded_at < CONTEXT_TTL_SECONDS
    ):
        return cached
    version = FlowVersion.objects.select_related("flow").filter(id=version_id).first()
    if version is None or version.flow_id != flow_id:
        raise VersionMismatch(f"version {version_id} does not belong to flow {flow_id}")
    plan = plan_for(version.graph)
    workspace_id = version.flow.workspace_id
    secrets: list[str] = []
    credential_ids = [n.credential for n in plan.nodes.values() if n.credential is not None]
    for credential in Credential.objects.filter(id__in=credential_ids, workspace_id=workspace_id):
        secrets.extend(secret_values(credential_fields(credential), credential.type))
    context = VersionContext(
        flow_id,
        workspace_id,
        version_id,
        plan,
        # Longest first, so a secret containing another is masked whole.
        tuple(sorted(set(secrets), key=lambda secret: (-len(secret), secret))),
        time.time(),
    )
    with _contexts_lock:
        _contexts[version_id] = context
    return context


def run_job_step(job: Job) -> Job | None:
    """Run the job's next step that has messages waiting; return the job for the following
    step, or None once the batch is complete (records written, runner told) or deferred
    (runner told to run it again later)."""
    context = version_context(job["flow_id"], job["version_id"])
    actions = context.plan.actions
    step = job["step"]
    if step == 0:
        trigger = context.plan.trigger
        fill_from_messages(job["items"], trigger.id, trigger.component)
    while step < len(actions):
        node = actions[step]
        waiting = [
            (item, message) for item in job["items"] for message in item["pending"].pop(node.id, [])
        ]
        step += 1
        if waiting:
            attributes = {
                "tributary.flow_id": context.flow_id,
                "tributary.step": node.id,
                "tributary.component": node.component,
                "tributary.messages": len(waiting),
                "tributary.attempt": job.get("attempt", 1),
            }
            with tracing.span(f"step {node.id}", parent=job.get("trace"), attributes=attributes):
                if "trace" not in job and (trace := tracing.traceparent()):
                    job["trace"] = trace  # a retry from the API: its first step starts a trace
                deferral = _run_node(context, node, waiting, job)
            if deferral is not None:
                defer_job(job, deferral, context)
                return None
            if step < len(actions):
                job["step"] = step
                return job
    finish_job(job, context)
    return None


def finish_job(job: Job, context: VersionContext) -> None:
    """Write the batch's records, dead-letter its failures, then tell the runner it is done.

    Dead letters go out before the runner hears of it, so a crash in between re-runs the batch
    rather than committing failures that never reached the dead-letter topic.
    """
    with tracing.span("finish", parent=job.get("trace")):
        with profiling.phase("records", len(job["items"])):
            trace_id = tracing.trace_id(job.get("trace")) or None
            records.write_batch(job["flow_id"], job["version_id"], job["items"], trace_id)
        with profiling.phase("dead letters"):
            dead_letters.send_failures(context, job["items"])
    _notify(job, {"state": "done"})
    jobstore.drop(job, len(context.plan.actions))


def defer_job(job: Job, deferral: Deferral, context: VersionContext) -> None:
    """Hand the batch back to its runner to run again later; nothing is recorded yet."""
    _notify(job, {"state": "deferred", **deferral.as_dict()})
    jobstore.drop(job, len(context.plan.actions))


def _notify(job: Job, answer: dict[str, object]) -> None:
    """Tell the batch's runner (on the list it waits on) how the batch ended, and count what
    its steps did, in one round trip."""
    pipe = get_redis().pipeline(transaction=False)
    tally.queue_batch(pipe, job, finished=answer["state"] == "done")
    if job["notify"]:
        pipe.rpush(job["notify"], orjson.dumps({"batch_id": job["batch_id"], **answer}))
        pipe.expire(job["notify"], 3600)
    if len(pipe):
        pipe.execute()


@dataclass(frozen=True)
class Deferral:
    """Why a batch waits for another attempt instead of failing its messages."""

    node_id: str
    reason: str
    delay_seconds: float
    # Every message the step tried found the destination unavailable: it looks down, rather
    # than refusing particular messages. Such a batch waits as long as it takes ("pause").
    outage: bool

    def as_dict(self) -> dict[str, object]:
        return {
            "node": self.node_id,
            "reason": self.reason,
            "delay": self.delay_seconds,
            "outage": self.outage,
        }


def _deferral(
    context: VersionContext, node: Node, outcomes: list[Outcome], job: Job
) -> Deferral | None:
    """A deferral when the step's transient failures should be tried again, else None (the
    messages fail). Only batches with a runner waiting can wait; a manual retry just fails."""
    transient = [o.error for o in outcomes if o.error is not None and o.error.retryable]
    if not transient or not job["notify"]:
        return None
    attempt = job.get("attempt", 1)
    tried = [o for o in outcomes if not o.skipped]
    outage = all(o.error is not None and _unavailable(o.error) for o in tried)
    if attempt >= node.retry.attempts and not (
        outage and context.plan.settings.on_outage == "pause"
    ):
        return None
    reason = f"{node.descriptor.title} ({node.id}): {transient[0].message}"
    reason = mask_text(reason, context.secrets)
    return Deferral(node.id, reason[:1500], node.retry.delay(attempt), outage)


# Answers saying the destination as a whole cannot take anything now (as opposed to a 500,
# which may be about this one message). Errors without a status (timeouts, refused
# connections, an unreachable broker) say the same.
UNAVAILABLE_STATUSES = frozenset({408, 429, 502, 503, 504})


def _unavailable(error: StepError) -> bool:
    status = error.details.get("status")
    return error.retryable and (status is None or status in UNAVAILABLE_STATUSES)


def _run_node(
    context: VersionContext, node: Node, waiting: list[tuple[Item, dict]], job: Job
) -> Deferral | None:
    # Where each message came from is the engine's to know, not the component's.
    sources = [message.pop(SOURCE, None) for _, message in waiting]
    messages = [message for _, message in waiting]
    _open(messages, node.descriptor.passes_bodies_through)
    started = time.time()
    counts = tally.StepCounts()
    with (
        profiling.phase(f"step {node.component}", len(messages)),
        tally.stepping(tally.Stepping(context.flow_id, node.id, counts)),
    ):
        outcomes, outputs_json = _outcomes(context, node, messages)
    deferral = _deferral(context, node, outcomes, job)
    if deferral is not None:
        # Only the retries count: the batch's next attempt counts the rest.
        transient = sum(1 for o in outcomes if o.error is not None and o.error.retryable)
        counts.retried("batch", transient)
        tally.add(job, node.id, counts)
        return deferral
    elapsed_ms = (time.time() - started) * 1000
    fresh = sum(1 for o in outcomes if not o.skipped) or 1
    children = context.plan.children.get(node.id, [])
    for (item, message), source, outcome, output_json in zip(
        waiting, sources, outcomes, outputs_json, strict=True
    ):
        duration = outcome.duration_ms if outcome.duration_ms is not None else elapsed_ms / fresh
        counts.observe(outcome, duration)
        input_from = _input_from(context, source, item["steps"])
        position = len(item["steps"])
        item["steps"].append(
            _step_record(
                context,
                node,
                position,
                message,
                outcome,
                started,
                duration,
                input_from,
                output_json,
            )
        )
        if outcome.error is not None:
            item["error"] = mask_text(outcome.error.message, context.secrets)
            item["failed_node"] = node.id
            item["retry_input"] = message
            continue
        _route(item, message, outcome, children)
    tally.add(job, node.id, counts)
    return None


def _open(messages: list[dict], pass_through: bool) -> None:
    """Bodies still encoded (jobs.BODY_ENCODED) decoded for the component, or, for one that
    only passes them on, handed over as they are."""
    for message in messages:
        if message.pop(BODY_ENCODED, False):
            text = message["body"]
            message["body"] = orjson.Fragment(text) if pass_through else orjson.loads(text)


def _route(item: Item, message: dict, outcome: Outcome, children: list[str]) -> None:
    if not children:
        if outcome.outputs:
            item["reached_end"] = True
        return
    many = len(outcome.outputs) > 1
    position = len(item["steps"]) - 1  # the step record of `outcome`, appended last
    pending = item["pending"]
    for index, body in enumerate(outcome.outputs):
        child_message = routed_message(message, index, body, many)
        child_message[SOURCE] = [position, index]
        if len(children) == 1:
            pending.setdefault(children[0], []).append(child_message)
            continue
        for child in children:
            # A dict of its own for each child: a step takes SOURCE off the messages it runs.
            pending.setdefault(child, []).append(dict(child_message))


def _input_from(
    context: VersionContext, source: list[int] | None, earlier: list[StepRecordData]
) -> list[int] | None:
    """`source` (see jobs.SOURCE) when the record it points to holds the message whole, so
    that this step's record can point there instead of storing it again; else None."""
    if source is None or not 0 <= source[0] < len(earlier):
        return None
    record = earlier[source[0]]
    if not record["whole"]:
        return None
    # The trigger's record is written before the version's secrets are known: a message
    # carrying one is stored (masked) as this step's input, as before.
    if source[0] == 0:
        stored = record["stored"]
        for secret in context.secrets:
            if secret in stored:
                return None
    return source


def _step_record(
    context: VersionContext,
    node: Node,
    position: int,
    message: dict,
    outcome: Outcome,
    started: float,
    duration_ms: float,
    input_from: list[int] | None,
    output_json: bytes | None = None,
) -> StepRecordData:
    """`output_json`: the outputs already encoded (as the delivery ledger recorded them)."""
    error = outcome.error
    if error is not None:
        status = StepStatus.FAILED
    elif outcome.skipped:
        status = StepStatus.SKIPPED
    elif not outcome.outputs:
        status = StepStatus.FILTERED
    else:
        status = StepStatus.SUCCEEDED
    secrets = context.secrets
    if input_from is None:
        input_text, input_whole = clip_json_whole(message, secrets)
    else:
        input_text, input_whole = None, True
    if output_json is None:
        output, output_whole = clip_json_whole(outcome.outputs, secrets)
    else:
        output, output_whole = clip_text(output_json.decode(), secrets)
    # jobs.step_record's parts, called directly: this runs twice a message or more.
    stored = record_text(
        record_head(position, node.id, node.component, status, started),
        round(duration_ms, 3),
        input_text,
        output,
        [mask_text(line, secrets)[:2000] for line in outcome.logs[:200]] if outcome.logs else None,
        mask_text(error.message, secrets) if error else "",
        clip_json(error.as_dict(), secrets) if error else None,
        input_from,
    )
    return {"stored": stored, "whole": input_whole and output_whole}


def _outcomes(
    context: VersionContext, node: Node, messages: list[dict]
) -> tuple[list[Outcome], list[bytes | None]]:
    """One outcome per message: from the ledger when already delivered, else from the
    component. A component that breaks fails its messages with the reason, not the batch.
    With them, the outputs of each message delivered now as the JSON the ledger recorded
    (for its step record), else None.

    A delivering step gets its messages in chunks, sent concurrently (a batch of requests
    in flight, like any good HTTP client), each chunk recorded in the ledger as it returns.
    """
    results: list[Outcome | None] = [None] * len(messages)
    outputs_json: list[bytes | None] = [None] * len(messages)
    delivers = node.descriptor.delivers
    ids = [ledger.delivery_id(m) for m in messages] if delivers else []
    unanswered = 0
    if delivers:
        delivered, unanswered = ledger.look_up(context.version_id, node.id, ids)
        for index, outputs in enumerate(delivered):
            if outputs is not None:
                results[index] = Outcome(outputs=outputs, skipped=True)
    todo = [i for i, result in enumerate(results) if result is None]
    if not todo:
        return [r for r in results if r is not None], outputs_json
    try:
        action: Action | None = instances.action_for(
            context.version_id, node, context.flow_id, context.workspace_id
        )
    except ConfigError as error:
        action, broken = None, StepError(f"invalid configuration of {node.id}: {error}")
    except Exception as error:
        logger.exception("cannot build component %s of node %s", node.component, node.id)
        action, broken = None, StepError(f"{node.component} could not start: {error}")
    if action is None:
        return [r or Outcome.failed(broken) for r in results], outputs_json
    # They go out again now.
    ledger.count_possible_duplicates(context.flow_id, unanswered)

    # Delivery threads report to this step and continue its trace.
    step, trace = tally.current(), tracing.traceparent()

    def deliver(part: list[int]) -> None:
        if delivers:
            with (
                tally.stepping(step),
                tracing.span("deliver", parent=trace, attributes={"tributary.messages": len(part)}),
            ):
                send_part(part)
        else:
            send_part(part)

    def send_part(part: list[int]) -> None:
        if not delivers:
            fresh = _call_component(action, node, [messages[i] for i in part])
            for index, outcome in zip(part, fresh, strict=True):
                results[index] = outcome
            return
        part_ids = [ids[i] for i in part]
        ledger.begin_delivery(context.version_id, node.id, part_ids)
        fresh = _call_component(action, node, [messages[i] for i in part])
        delivered = {}
        for index, outcome in zip(part, fresh, strict=True):
            results[index] = outcome
            if outcome.error is None:
                # Encoded once, for the ledger and the step record.
                encoded = orjson.dumps(outcome.outputs, default=str)
                outputs_json[index] = delivered[ids[index]] = encoded
        _record_delivery(context.version_id, node.id, part_ids, delivered)

    chunk = node.descriptor.delivery_chunk if delivers else len(todo)
    parts = [todo[start : start + chunk] for start in range(0, len(todo), chunk)]
    if len(parts) == 1:
        deliver(parts[0])
    else:
        list(_delivery_pool().map(deliver, parts))
    return [r for r in results if r is not None], outputs_json


# What went out must reach the ledger, or a re-run sends it again: a Redis restart is waited
# for this long before the step gives up (and is retried whole).
LEDGER_PATIENCE_SECONDS = 60.0


def _record_delivery(
    version_id: int, node_id: str, message_ids: list[str], delivered: dict[str, bytes]
) -> None:
    deadline = time.monotonic() + LEDGER_PATIENCE_SECONDS
    pause = 0.25
    while True:
        try:
            ledger.end_delivery(version_id, node_id, message_ids, delivered)
            return
        except (redis.ConnectionError, redis.TimeoutError) as error:
            if time.monotonic() + pause > deadline:
                raise
            logger.warning("delivery ledger unreachable (%s); trying again", error)
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _delivery_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=settings.TRIBUTARY_DELIVERY_CONCURRENCY,
                thread_name_prefix="delivery",
            )
        return _pool


def _call_component(action: Action, node: Node, messages: list[dict]) -> list[Outcome]:
    try:
        outcomes = action.process_batch(messages)  # type: ignore[arg-type]
    except StepError as error:
        return [Outcome.failed(error) for _ in messages]
    except ConfigError as error:
        failure = StepError(f"invalid configuration of {node.id}: {error}")
        return [Outcome.failed(failure) for _ in messages]
    except Exception as error:
        logger.exception("component %s failed on node %s", node.component, node.id)
        failure = StepError(
            f"{node.component} failed unexpectedly: {type(error).__name__}: {error}"
        )
        return [Outcome.failed(failure) for _ in messages]
    if len(outcomes) != len(messages):
        failure = StepError(
            f"{node.component} returned {len(outcomes)} results for {len(messages)} messages"
        )
        return [Outcome.failed(failure) for _ in messages]
    return outcomes
