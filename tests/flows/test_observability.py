"""Observability: per step counters, duration histograms, consumer lag, sandbox kills and
OpenTelemetry traces, after real work through the engine (in this process: the runner's
consumer in a thread, step tasks run eagerly) on a real broker, Redis and HTTP server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from components.base import TriggerRecord
from components.kafka.records import build_record
from flows.engine import lag, tally, tracing
from flows.engine.jobs import Job, job_from_records, next_attempt
from flows.engine.redis import get_redis
from flows.engine.runner import FlowConsumer
from flows.engine.steps import run_job_step
from flows.graph import plan_for
from flows.models import Execution, Flow
from flows.services.flows import create_flow, publish_flow
from flows.services.workspaces import create_workspace
from tests.factories import chain, code_node, kafka_node
from tests.fixtures.kafka import produce_records
from tests.fixtures.stack import wait_for
from tests.fixtures.standin import ScriptedServer
from tests.test_operations import sample, scrape

SHAPES = """
def run(msg):
    n = msg.body["n"]
    if n == 0:
        return None
    if n == 1:
        raise ValueError("one is refused")
    if n == 2:
        return [{"n": 2, "part": 0}, {"n": 2, "part": 1}]
    return msg.body
"""


@pytest.fixture(autouse=True)
def _fresh_counters() -> Iterator[None]:
    """Flow ids repeat between tests: start and end without anyone's counts."""
    names = [tally.steps_key(), tally.kills_key(), lag.lag_key()]
    get_redis().delete(*names)
    yield
    get_redis().delete(*names)


def rest_node(url: str, **retry: Any) -> dict[str, Any]:
    return {
        "id": "send",
        "component": "rest",
        "config": {"method": "POST", "url": url + "/events", "body": "body", "retries": 0},
        "credential": None,
        **({"retry": retry} if retry else {}),
    }


def published(graph: dict[str, Any]) -> tuple[Flow, int]:
    user = User.objects.create_user("olly", password="observability tests password")
    flow = create_flow(create_workspace("Observability", user), "Watched", graph, user)
    return flow, publish_flow(flow, user).id


def records(count: int, topic: str = "events") -> list[TriggerRecord]:
    return [
        build_record(topic, 0, n, b"k", orjson.dumps({"n": n}), [], 1, "json") for n in range(count)
    ]


def new_job(flow: Flow, version_id: int, batch: list[TriggerRecord]) -> Job:
    job = job_from_records(flow.id, version_id, plan_for(flow.graph), batch)
    tally.count_trigger(job, "in", batch)  # as the runner does
    return job


def run(job: Job) -> str:
    """Run the job's steps in this process; the state its runner was told."""
    current: Job | None = job
    while current is not None:
        current = run_job_step(current)
    assert job["notify"] is not None
    answer = get_redis().rpop(job["notify"])
    assert answer is not None
    return str(orjson.loads(answer)["state"])


def step_samples(flow: Flow, step: str) -> dict[str, float | None]:
    samples = scrape()
    where = {"flow_id": str(flow.id), "step": step}
    found: dict[str, float | None] = {
        outcome: sample(samples, "tributary_step_events_total", outcome=outcome, **where)
        for outcome in ("in", "out", "failed", "filtered")
    }
    for kind in ("request", "batch"):
        found[f"retries:{kind}"] = sample(
            samples, "tributary_step_retries_total", kind=kind, **where
        )
    found["avoided"] = sample(samples, "tributary_step_duplicates_avoided_total", **where)
    return found


def buckets(flow: Flow, step: str) -> tuple[list[tuple[float, float]], float | None, float | None]:
    """([(le, cumulative count)], _sum, _count) of the step's duration histogram."""
    samples = scrape()
    metric = "tributary_step_duration_seconds"
    labels = {"flow_id": str(flow.id), "step": step}
    found = [
        (float(ls["le"]), value)
        for name, ls, value in samples
        if name == f"{metric}_bucket" and labels.items() <= ls.items()
    ]
    return (
        sorted(found),
        sample(samples, f"{metric}_sum", **labels),
        sample(samples, f"{metric}_count", **labels),
    )


# --- step counters and histograms -----------------------------------------------------------


@pytest.mark.django_db
def test_each_step_counts_its_messages_in_out_failed_and_filtered(
    scripted_server: ScriptedServer,
) -> None:
    flow, version_id = published(
        chain(kafka_node(), code_node(SHAPES), rest_node(scripted_server.url))
    )
    batch = [*records(6), build_record("events", 0, 6, None, b"\xff", [], 1, "json")]

    assert run(new_job(flow, version_id, batch)) == "done"

    zero_retries = {"retries:request": 0, "retries:batch": 0, "avoided": 0}
    # The trigger: 7 read, one of them undecodable.
    assert (
        step_samples(flow, "in")
        == {
            "in": 7,
            "out": 6,
            "failed": 1,
            "filtered": 0,
        }
        | zero_retries
    )
    # 0 filtered, 1 failed, 2 split in two, 3 to 5 passed on: 5 out.
    assert (
        step_samples(flow, "transform")
        == {
            "in": 6,
            "out": 5,
            "failed": 1,
            "filtered": 1,
        }
        | zero_retries
    )
    assert (
        step_samples(flow, "send")
        == {
            "in": 5,
            "out": 5,
            "failed": 0,
            "filtered": 0,
        }
        | zero_retries
    )
    assert len(scripted_server.requests) == 5


@pytest.mark.django_db
def test_duration_histogram_buckets_are_cumulative_and_count_every_message(
    scripted_server: ScriptedServer,
) -> None:
    flow, version_id = published(chain(kafka_node(), rest_node(scripted_server.url)))
    assert run(new_job(flow, version_id, records(4))) == "done"
    assert run(new_job(flow, version_id, [*records(7)[4:]])) == "done"

    found, total, count = buckets(flow, "send")
    assert [le for le, _ in found] == [*tally.BUCKETS, float("inf")]
    counts = [value for _, value in found]
    assert counts == sorted(counts), "cumulative buckets never go down"
    assert counts[-1] == count == 7
    assert step_samples(flow, "send")["in"] == 7
    recorded = Execution.objects.filter(flow=flow).values_list("steps", flat=True)
    durations = [
        step["duration_ms"] / 1000
        for steps in recorded
        for step in steps
        if step["duration_ms"] is not None
    ]
    assert total == pytest.approx(sum(durations), abs=0.001)
    for le, value in found:
        assert value == sum(1 for seconds in durations if seconds <= le + 1e-9)
    # The trigger's records have no duration: no histogram.
    assert buckets(flow, "in") == ([], None, None)


@pytest.mark.django_db
def test_retries_count_requests_sent_again_and_messages_whose_batch_was_deferred(
    scripted_server: ScriptedServer,
) -> None:
    node = rest_node(scripted_server.url, attempts=3, backoff_seconds=1)
    node["config"]["retries"] = 1
    flow, version_id = published(chain(kafka_node(), node))
    # Once an in-place retry that succeeds, then a destination that stays down.
    scripted_server.script([(503, {}, "busy")])
    assert run(new_job(flow, version_id, records(1))) == "done"
    scripted_server.default = (503, {}, "down")
    job = new_job(flow, version_id, records(3)[1:])
    again = next_attempt(job)  # from the job as dispatched, as the runner does
    assert run(job) == "deferred"

    counts = step_samples(flow, "send")
    # Two messages, each sent twice (in place), then their batch deferred.
    assert counts["retries:request"] == 1 + 2
    assert counts["retries:batch"] == 2
    # The deferred attempt is not counted: it runs again.
    assert counts["in"] == 1 and counts["out"] == 1
    assert step_samples(flow, "in")["in"] == 1

    scripted_server.default = (200, {}, {"ok": True})
    assert run(again) == "done"
    counts = step_samples(flow, "send")
    assert (counts["in"], counts["out"], counts["retries:batch"]) == (3, 3, 2)
    assert step_samples(flow, "in")["in"] == 3


@pytest.mark.django_db
def test_messages_the_ledger_keeps_from_being_sent_again_count_as_duplicates_avoided(
    scripted_server: ScriptedServer,
) -> None:
    flow, version_id = published(chain(kafka_node(), rest_node(scripted_server.url)))
    assert run(new_job(flow, version_id, records(3))) == "done"
    assert run(new_job(flow, version_id, records(3))) == "done"  # the same records again

    assert len(scripted_server.requests) == 3
    counts = step_samples(flow, "send")
    assert (counts["in"], counts["out"], counts["avoided"]) == (6, 6, 3)


# --- sandbox kills ----------------------------------------------------------------------------

ENDLESS_C_LOOP = """
import itertools

def run(msg):
    if msg.body["n"] == 1:
        return {"n": sum(itertools.repeat(1))}
    return msg.body
"""


@pytest.mark.django_db
def test_a_sandbox_killed_at_the_cpu_limit_is_counted_for_its_flow_and_step(
    settings: Any,
) -> None:
    # C code the in-process CPU timer cannot interrupt: the kernel's limit kills the process.
    # In the middle of a batch whose results come grouped, the process is lost without saying
    # on which message: the messages it owed are run again, and only the one that kills it
    # fails, and is counted, once.
    settings.TRIBUTARY_SANDBOX_CPU_SECONDS = 0.2
    flow, version_id = published(chain(kafka_node(), code_node(ENDLESS_C_LOOP)))

    assert run(new_job(flow, version_id, records(3))) == "done"

    killed, *others = Execution.objects.filter(flow=flow).order_by("status", "offset")
    assert killed.offset == 1 and "(in C code)" in killed.error
    assert [(e.offset, e.status) for e in others] == [(0, "succeeded"), (2, "succeeded")]
    metric = "tributary_sandbox_kills_total"
    where = {"flow_id": str(flow.id), "flow": "Watched", "step": "transform"}
    assert sample(scrape(), metric, reason="cpu_time", **where) == 1
    samples = step_samples(flow, "transform")
    assert (samples["in"], samples["out"], samples["failed"]) == (3, 2, 1)


# --- consumer lag, through the trigger runner's consumer ------------------------------------


@contextmanager
def consuming(flow: Flow, version_id: int) -> Iterator[FlowConsumer]:
    consumer = FlowConsumer(flow.id, version_id)
    consumer.start()
    try:
        yield consumer
    finally:
        consumer.stop()
        consumer.join(30)
        assert not consumer.is_alive()


def lag_samples(flow: Flow) -> dict[tuple[str, str], float]:
    return {
        (labels["topic"], labels["partition"]): value
        for name, labels, value in scrape()
        if name == "tributary_consumer_lag" and labels["flow_id"] == str(flow.id)
    }


def stats_of(flow: Flow) -> dict[str, Any]:
    client = APIClient()
    client.force_authenticate(flow.created_by)
    response = client.get(f"/api/v1/flows/{flow.id}/stats/")
    assert response.status_code == 200, response.content
    return dict(response.json())


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_tasks")
def test_consumer_lag_counts_unfinished_records_and_goes_once_the_consumer_stops(
    kafka_broker: Any, kafka_topic: Any, scripted_server: ScriptedServer, settings: Any
) -> None:
    settings.KAFKA_BOOTSTRAP_SERVERS = kafka_broker.bootstrap
    settings.TRIBUTARY_LAG_SECONDS = 0.2
    topic = kafka_topic()
    produce_records(kafka_broker.bootstrap, topic, [(None, b'{"n": %d}' % n) for n in range(29)])
    # Tansu's high watermark is where the last record batch starts, plus one: ending on a
    # batch of one record makes it exact.
    produce_records(kafka_broker.bootstrap, topic, [(None, b'{"n": 29}')])
    scripted_server.default = (503, {}, "down for now")
    source = kafka_node(topic, batch_size=5, max_wait_ms=100)
    retry = {"attempts": 2, "backoff_seconds": 0.2, "max_delay_seconds": 0.2}
    flow, version_id = published(chain(source, rest_node(scripted_server.url, **retry)))

    with consuming(flow, version_id):
        # The destination is down: the first batch is held, nothing is committed.
        wait_for(lambda: lag_samples(flow) == {(topic, "0"): 30}, 30, "a lag of 30")
        assert stats_of(flow)["consumer_lag"] == [{"topic": topic, "partition": 0, "lag": 30}]

        scripted_server.default = (200, {}, {"ok": True})
        wait_for(lambda: lag_samples(flow) == {(topic, "0"): 0}, 30, "the lag to fall to 0")
        assert Execution.objects.filter(flow=flow, status="succeeded").count() == 30

    assert lag_samples(flow) == {}
    assert stats_of(flow)["consumer_lag"] == []


# --- tracing ---------------------------------------------------------------------------------


@pytest.fixture
def spans() -> Iterator[Any]:
    """Tracing on, into an in-memory exporter; the finished spans."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_provider(provider)
    try:
        yield exporter
    finally:
        tracing.use_provider(None)
        provider.shutdown()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_tasks")
def test_a_batch_is_one_trace_from_consume_through_every_step_to_commit(
    kafka_broker: Any,
    kafka_topic: Any,
    scripted_server: ScriptedServer,
    settings: Any,
    spans: Any,
) -> None:
    settings.KAFKA_BOOTSTRAP_SERVERS = kafka_broker.bootstrap
    topic = kafka_topic()
    produce_records(kafka_broker.bootstrap, topic, [(None, b'{"n": %d}' % n) for n in range(3, 6)])
    source = kafka_node(topic, batch_size=10, max_wait_ms=500)
    flow, version_id = published(chain(source, code_node(SHAPES), rest_node(scripted_server.url)))

    with consuming(flow, version_id):
        wait_for(
            lambda: any(s.name == "commit" for s in spans.get_finished_spans()),
            30,
            "the batch to be committed",
        )

    finished = spans.get_finished_spans()
    names = {span.name for span in finished}
    assert {"batch", "consume", "step transform", "step send", "deliver", "HTTP POST"} <= names
    assert {"finish", "commit"} <= names
    batch = next(span for span in finished if span.name == "batch")
    trace_id = batch.context.trace_id
    assert batch.parent is None
    assert {span.context.trace_id for span in finished} == {trace_id}
    by_id = {span.context.span_id: span for span in finished}
    for span in finished:
        if span.name.startswith("step ") or span.name in ("consume", "finish", "commit"):
            assert span.parent is not None and by_id[span.parent.span_id].name == "batch"
    requests = [span for span in finished if span.name == "HTTP POST"]
    assert len(requests) == 3
    for request in requests:
        assert by_id[request.parent.span_id].name == "deliver"
        assert request.attributes["http.response.status_code"] == 200
    step = next(span for span in finished if span.name == "step transform")
    assert step.attributes["tributary.messages"] == 3
    # The execution log keeps the batch's trace id.
    assert set(Execution.objects.filter(flow=flow).values_list("trace_id", flat=True)) == {
        f"{trace_id:032x}"
    }


def test_tracing_is_a_no_op_while_off() -> None:
    with tracing.span("anything", attributes={"a": 1}) as span:
        span.set_attribute("b", 2)
        assert tracing.traceparent() is None
    assert not tracing.enabled()
    assert tracing.trace_id("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01") == (
        "0af7651916cd43dd8448eb211c80319c"
    )
    assert tracing.trace_id(None) == ""
