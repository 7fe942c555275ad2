"""Error handling in the engine, one step at a time in this process: deferral of batches whose
destination fails (back-pressure), per-step retry policies, dead letters on a real broker, and
the possible-duplicate count. The runner's side runs on real processes in tests/faults/."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from components.base import TriggerRecord
from components.kafka.records import build_record
from flows.choices import ExecutionStatus
from flows.engine import ledger
from flows.engine.jobs import Job, job_from_records, next_attempt
from flows.engine.redis import get_redis
from flows.engine.steps import run_job_step
from flows.graph import plan_for
from flows.models import Execution, Flow
from flows.services.flows import create_flow, publish_flow
from flows.services.workspaces import create_workspace
from tests.factories import chain, code_node, kafka_node
from tests.fixtures.kafka import produce_records
from tests.fixtures.stack import wait_for
from tests.fixtures.standin import ScriptedServer
from tests.flows.test_observability import consuming

pytestmark = pytest.mark.django_db

FLAG_FAILURES = """
def run(message):
    if message.body.get("bad"):
        raise ValueError("bad event " + str(message.body["n"]))
    return message.body
"""


def rest_node(url: str, retry: dict[str, Any] | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {
        "id": "send",
        "component": "rest",
        "config": {"method": "POST", "url": url + "/events", "body": "body", "retries": 0},
        "credential": None,
    }
    if retry is not None:
        node["retry"] = retry
    return node


def published(graph: dict[str, Any]) -> tuple[Flow, int]:
    user = User.objects.create_user("dee", password="delivery tests password")
    workspace = create_workspace("Delivery", user)
    flow = create_flow(workspace, "Delivery", graph, user)
    version = publish_flow(flow, user)
    return flow, version.id


def records(
    count: int, topic: str = "events", timestamp: int = 1, **extra: Any
) -> list[TriggerRecord]:
    return [
        build_record(topic, 0, n, b"k", orjson.dumps({"n": n, **extra}), [], timestamp, "json")
        for n in range(count)
    ]


def run(job: Job) -> dict[str, Any]:
    """Run the job's steps in this process; return what its runner would have been told."""
    current: Job | None = job
    while current is not None:
        current = run_job_step(current)
    assert job["notify"] is not None
    answer = get_redis().rpop(job["notify"])
    assert answer is not None, "the runner was not told anything"
    return dict(orjson.loads(answer))


def new_job(flow: Flow, version_id: int, batch: list[TriggerRecord], attempt: int = 1) -> Job:
    job = job_from_records(flow.id, version_id, plan_for(flow.graph), batch)
    for _ in range(attempt - 1):
        job = next_attempt(job)
    return job


def test_a_destination_failing_every_attempt_defers_the_batch_without_recording_it(
    scripted_server: ScriptedServer,
) -> None:
    scripted_server.default = (503, {}, "maintenance")
    retry = {"attempts": 2, "backoff_seconds": 3, "max_delay_seconds": 10}
    flow, version_id = published(chain(kafka_node(), rest_node(scripted_server.url, retry)))

    first = run(new_job(flow, version_id, records(3)))
    assert first["state"] == "deferred"
    assert first["outage"] is True
    assert first["node"] == "send"
    assert first["delay"] == 3
    assert "HTTP 503" in first["reason"] and "maintenance" in first["reason"]
    assert not Execution.objects.filter(flow=flow).exists()

    # The attempts are spent, but every message still fails: the flow pauses (the default).
    later = run(new_job(flow, version_id, records(3), attempt=5))
    assert later["state"] == "deferred"
    assert later["delay"] == 10  # capped by max_delay_seconds
    assert not Execution.objects.filter(flow=flow).exists()


def test_with_on_outage_fail_the_messages_fail_once_the_attempts_are_spent(
    scripted_server: ScriptedServer,
) -> None:
    scripted_server.default = (502, {}, "bad gateway")
    graph = chain(kafka_node(), rest_node(scripted_server.url, {"attempts": 2}))
    graph["settings"] = {"on_outage": "fail"}
    flow, version_id = published(graph)

    assert run(new_job(flow, version_id, records(2)))["state"] == "deferred"
    assert run(new_job(flow, version_id, records(2), attempt=2))["state"] == "done"
    failed = Execution.objects.filter(flow=flow, status=ExecutionStatus.FAILED)
    assert failed.count() == 2
    assert all("HTTP 502" in e.error and e.attempts == 2 for e in failed)


def test_a_few_transient_failures_are_retried_then_fail_on_their_own(
    scripted_server: ScriptedServer,
) -> None:
    def flaky(request: Any) -> tuple[int, dict[str, str], Any]:
        return (500, {}, "oops") if request.json()["n"] == 1 else (200, {}, {"ok": True})

    scripted_server.default = flaky
    flow, version_id = published(chain(kafka_node(), rest_node(scripted_server.url)))

    first = run(new_job(flow, version_id, records(3)))
    assert first["state"] == "deferred" and first["outage"] is False
    sent_first = len(scripted_server.requests)
    assert sent_first == 3

    # The last attempt: the ledger keeps the two delivered messages from going out again.
    assert run(new_job(flow, version_id, records(3), attempt=3))["state"] == "done"
    assert len(scripted_server.requests) == sent_first + 1
    statuses = dict(Execution.objects.filter(flow=flow).values_list("offset", "status"))
    assert statuses == {0: "succeeded", 1: "failed", 2: "succeeded"}


def test_permanent_failures_fail_at_once(scripted_server: ScriptedServer) -> None:
    scripted_server.default = (400, {}, "malformed")
    flow, version_id = published(chain(kafka_node(), rest_node(scripted_server.url)))

    assert run(new_job(flow, version_id, records(2)))["state"] == "done"
    assert Execution.objects.filter(flow=flow, status="failed").count() == 2


def test_failed_messages_go_to_the_dead_letter_topic_with_headers(
    kafka_broker: Any, kafka_topic: Any, settings: Any
) -> None:
    settings.KAFKA_BOOTSTRAP_SERVERS = kafka_broker.bootstrap
    source, dead = kafka_topic(), kafka_topic(prefix="dead")
    graph = chain(kafka_node(source), code_node(FLAG_FAILURES))
    graph["settings"] = {"dead_letter_topic": dead}
    flow, version_id = published(graph)
    batch = records(4, topic=source)
    batch[1] = build_record(source, 0, 1, b"k1", b'{"n": 1, "bad": true}', [], 1, "json")
    batch[3] = build_record(source, 0, 3, None, b"\xff not json", [], 1, "json")

    assert run(new_job(flow, version_id, batch))["state"] == "done"

    consumer = Consumer(
        {"bootstrap.servers": kafka_broker.bootstrap, "group.id": "dlq-check"}
        | {"auto.offset.reset": "earliest"}
    )
    consumer.subscribe([dead])
    letters: list[Any] = []
    try:
        for _ in range(60):  # bounded: at most ~60 s
            letters += [m for m in consumer.consume(10, timeout=1) if m.error() is None]
            if len(letters) >= 2:
                break
    finally:
        consumer.close()
    assert len(letters) == 2
    by_offset = {dict(m.headers())["tributary-source-offset"]: m for m in letters}
    bad, unreadable = by_offset[b"1"], by_offset[b"3"]
    headers = dict(bad.headers())
    assert orjson.loads(bad.value()) == {"n": 1, "bad": True}
    assert bad.key() == b"k1"
    assert headers["tributary-flow-id"] == str(flow.id).encode()
    assert headers["tributary-step"] == b"transform"
    assert b"bad event 1" in headers["tributary-error"]
    assert headers["tributary-source-topic"] == source.encode()
    assert dict(unreadable.headers())["tributary-step"] == b"in"
    assert b"not valid UTF-8" in dict(unreadable.headers())["tributary-error"]

    stats = stats_of(flow)
    assert stats["dead_lettered"] == 2
    assert stats["failed"] == 2


def stats_of(flow: Flow) -> dict[str, Any]:
    client = APIClient()
    client.force_authenticate(flow.created_by)
    response = client.get(f"/api/v1/flows/{flow.id}/stats/")
    assert response.status_code == 200, response.content
    return dict(response.json())


def test_a_send_whose_earlier_attempt_left_no_answer_counts_as_a_possible_duplicate(
    scripted_server: ScriptedServer,
) -> None:
    flow, version_id = published(chain(kafka_node(), rest_node(scripted_server.url)))
    # As if a worker died mid-request: the chunk is marked in flight, nothing recorded.
    marked = ["events:0:0@1", "events:0:1@1"]  # ledger ids: message id @ Kafka timestamp
    ledger.begin_delivery(version_id, "send", marked)

    assert run(new_job(flow, version_id, records(3)))["state"] == "done"

    assert len(scripted_server.requests) == 3
    assert stats_of(flow)["duplicates"] == 2
    metrics = APIClient().get("/metrics").content.decode()
    line = f'tributary_possible_duplicates_total{{flow_id="{flow.id}",flow="Delivery"}} 2'
    assert line in metrics
    # Outcomes known: the marks are gone, so running the batch again counts nothing more
    # (and sends nothing: the ledger has all three).
    assert run(new_job(flow, version_id, records(3)))["state"] == "done"
    assert len(scripted_server.requests) == 3
    assert stats_of(flow)["duplicates"] == 2


def test_the_ledger_keeps_what_went_out_and_forgets_the_marks_of_what_failed() -> None:
    ids = ["events:0:7@5", "events:0:8@5", "events:1:7@5"]
    ledger.begin_delivery(9001, "send", ids)
    assert ledger.look_up(9001, "send", ids) == ([None, None, None], 3)

    ledger.end_delivery(9001, "send", ids, {"events:0:8@5": b'[{"sent": 8}]'})

    assert ledger.look_up(9001, "send", ids) == ([None, [{"sent": 8}], None], 0)
    assert ledger.forget_version(9001) == 1
    assert ledger.look_up(9001, "send", ids) == ([None, None, None], 0)


def test_ledger_blocks_wholly_below_a_commit_are_dropped_once() -> None:
    client, block = get_redis(), ledger.BLOCK_OFFSETS
    names = {n: ledger._ledger_key(9002, "send", f"t:0:{n}") for n in range(6)}
    for name in names.values():
        client.hset(name, "x", "1")

    def left() -> list[int]:
        return [n for n, name in names.items() if client.exists(name)]

    swept: dict[tuple[str, int], int] = {}
    try:
        # A consumer's first commit: the three blocks below it, not what lies further back.
        assert ledger.forget_committed(9002, ["send"], [("t", 0, 4 * block + 7)], swept) == 3
        assert left() == [0, 4, 5]
        assert ledger.forget_committed(9002, ["send"], [("t", 0, 4 * block + 9)], swept) == 0
        assert ledger.forget_committed(9002, ["send"], [("t", 0, 6 * block)], swept) == 2
        assert left() == [0]
        # Another partition, another step: nothing of theirs goes.
        assert ledger.forget_committed(9002, ["other"], [("t", 1, 3 * block)], {}) == 3
        assert left() == [0]
        # A consumer far ahead drops a bounded number of blocks at once; the TTL does the rest.
        far = {("t", 2): 0}
        assert ledger.forget_committed(9002, ["send"], [("t", 2, 10**6 * block)], far) == 100
        assert far == {("t", 2): 10**6}
    finally:
        client.delete(*names.values())


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_tasks")
def test_the_runner_drops_ledger_blocks_once_their_offsets_are_committed(
    kafka_broker: Any,
    kafka_topic: Any,
    scripted_server: ScriptedServer,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A message runs again only until its offset is committed: the ledger keeps no more
    than the blocks of offsets still to commit, not every message of its TTL."""
    settings.KAFKA_BOOTSTRAP_SERVERS = kafka_broker.bootstrap
    monkeypatch.setattr(ledger, "BLOCK_OFFSETS", 10)
    topic = kafka_topic()
    produce_records(kafka_broker.bootstrap, topic, [(None, b'{"n": %d}' % n) for n in range(25)])
    source = kafka_node(topic, batch_size=5, max_wait_ms=100)
    flow, version_id = published(chain(source, rest_node(scripted_server.url)))
    pattern = ledger._ledger_key(version_id, "send", f"{topic}:0:*")

    def blocks() -> list[str]:
        return sorted(name.decode().rsplit(":", 1)[1] for name in get_redis().scan_iter(pattern))

    with consuming(flow, version_id):
        wait_for(lambda: len(scripted_server.requests) == 25, 30, "25 deliveries")
        wait_for(lambda: blocks() == ["2"], 30, "blocks 0 and 1 dropped, block 2 kept")
        assert get_redis().hlen(ledger._ledger_key(version_id, "send", f"{topic}:0:2")) == 5
    assert Execution.objects.filter(flow=flow, status=ExecutionStatus.SUCCEEDED).count() == 25


@pytest.mark.usefixtures("eager_tasks")
def test_bulk_retry_runs_the_matching_failed_executions_again(
    scripted_server: ScriptedServer,
) -> None:
    scripted_server.default = (400, {}, "refused for now")
    flow, version_id = published(chain(kafka_node(), rest_node(scripted_server.url)))
    assert run(new_job(flow, version_id, records(5)))["state"] == "done"
    Execution.objects.filter(flow=flow, offset=4).update(summary="leave this one")
    assert Execution.objects.filter(flow=flow, status="failed").count() == 5
    scripted_server.default = (200, {}, {"ok": True})
    api = APIClient()
    api.force_authenticate(flow.created_by)

    bad = api.post(f"/api/v1/flows/{flow.id}/executions/retry/", {"since": "x"}, format="json")
    assert bad.status_code == 400 and "since" in bad.json()["details"]

    response = api.post(
        f"/api/v1/flows/{flow.id}/executions/retry/", {"search": '{"n"'}, format="json"
    )

    assert response.status_code == 202, response.content
    assert response.json() == {"retried": 4, "skipped": 0}
    statuses = dict(Execution.objects.filter(flow=flow).values_list("offset", "status"))
    assert statuses == {0: "succeeded", 1: "succeeded", 2: "succeeded", 3: "succeeded"} | {
        4: "failed"
    }
    assert Execution.objects.get(flow=flow, offset=0).attempts == 2
    again = api.post(f"/api/v1/flows/{flow.id}/executions/retry/", {}, format="json")
    assert again.json() == {"retried": 1, "skipped": 0}


def test_an_offset_used_again_by_a_new_record_is_not_taken_for_delivered(
    scripted_server: ScriptedServer,
) -> None:
    """A topic created anew (or a memory-only broker restarted) starts its offsets over: the
    ledger tells the new records from the old by their timestamps."""
    flow, version_id = published(chain(kafka_node(), rest_node(scripted_server.url)))
    assert run(new_job(flow, version_id, records(2, timestamp=1000)))["state"] == "done"
    assert run(new_job(flow, version_id, records(2, timestamp=1000)))["state"] == "done"
    assert len(scripted_server.requests) == 2  # the same records: skipped

    assert run(new_job(flow, version_id, records(2, timestamp=2000)))["state"] == "done"

    assert len(scripted_server.requests) == 4


def test_a_delivered_message_is_recorded_as_the_ledger_keeps_it(
    scripted_server: ScriptedServer,
) -> None:
    """Its outputs are encoded once, for the ledger and the step record: the same JSON, and a
    batch run again takes them from the ledger, skipped, with the same record output."""
    scripted_server.default = (200, {}, '{"ok": true, "n": 1}')
    flow, version_id = published(chain(kafka_node(), rest_node(scripted_server.url)))
    batch = records(2)

    assert run(new_job(flow, version_id, batch))["state"] == "done"

    ids = [ledger.delivery_id(record.message) for record in batch]
    kept, unanswered = ledger.look_up(version_id, "send", ids)
    assert unanswered == 0
    first = {e.key: e.steps[1] for e in Execution.objects.filter(flow=flow)}
    for record, outputs in zip(batch, kept, strict=True):
        step = first[f"v{version_id}:{record.message['id']}"]
        assert step["status"] == "succeeded" and outputs is not None
        assert step["output"] == outputs
    assert run(new_job(flow, version_id, batch))["state"] == "done"
    again = {e.key: e.steps[1] for e in Execution.objects.filter(flow=flow)}
    assert [step["status"] for step in again.values()] == ["skipped", "skipped"]
    assert [step["output"] for step in again.values()] == [s["output"] for s in first.values()]
    assert len(scripted_server.requests) == 2
