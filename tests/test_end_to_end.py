"""Kafka → code → Bloomreach through the API, on real processes: broker, Redis, Celery worker,
trigger runner and the Bloomreach stand-in over HTTP."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from config.services import create_topic
from flows.demo import SAMPLE_EVENTS, TRANSFORM
from flows.engine.redis import get_redis
from flows.engine.runner import consumers_key
from flows.services.workspaces import create_workspace
from tests.factories import (
    bloomreach_credential_fields,
    bloomreach_node,
    chain,
    code_node,
    kafka_node,
)
from tests.fixtures.stack import Process, wait_for

pytestmark = pytest.mark.slow


class AttrDict(dict[str, Any]):
    """Plain-Python stand-in for the sandbox's attribute access, to compute expectations."""

    def __getattr__(self, name: str) -> Any:
        value = self.get(name)
        return AttrDict(value) if isinstance(value, dict) else value


def sample_records() -> list[tuple[str | None, bytes]]:
    records = []
    for line in SAMPLE_EVENTS.read_text().splitlines():
        row = json.loads(line)
        value = base64.b64decode(row["value_b64"]) if "value_b64" in row else row["value"].encode()
        records.append((row["key"], value))
    return records


def expected_commands(records: list[tuple[str | None, bytes]]) -> list[dict[str, Any]]:
    namespace: dict[str, Any] = {}
    exec(compile(TRANSFORM.read_text(), "transform", "exec"), namespace)  # our own file
    expected = []
    for _, value in records:
        try:
            body = json.loads(value)
        except ValueError:
            continue
        if not isinstance(body, dict):
            continue
        result = namespace["run"](AttrDict(body=AttrDict(body)))
        if result is not None:
            expected.append(json.loads(json.dumps(result)))
    return expected


def produce(bootstrap: str, topic: str, records: list[tuple[str | None, bytes]]) -> dict[int, int]:
    """Produce and return, per partition, the offset after the last record written."""
    ends: dict[int, int] = {}

    def delivered(error: Any, message: Any) -> None:
        assert error is None, error
        ends[message.partition()] = max(ends.get(message.partition(), 0), message.offset() + 1)

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for key, value in records:
        producer.produce(topic, value=value, key=key, on_delivery=delivered)
    assert producer.flush(30) == 0
    return ends


def committed_offsets(bootstrap: str, group: str, topic: str, partitions: int) -> list[int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        found = consumer.committed(
            [TopicPartition(topic, p) for p in range(partitions)], timeout=10
        )
        return [tp.offset for tp in found]
    finally:
        consumer.close()


@pytest.fixture
def e2e_api(stack_env: dict[str, str]) -> APIClient:
    user = User.objects.create_user("erin", password="end to end password")
    create_workspace("Integration team", user)
    client = APIClient()
    client.force_authenticate(user)
    return client


def make_flow(api: APIClient, bootstrap: str, topic: str, standin_url: str) -> int:
    credential = api.post(
        "/api/v1/credentials/",
        {"name": "Stand-in", "type": "bloomreach", "fields": bloomreach_credential_fields()},
        format="json",
    ).json()["id"]
    graph = chain(
        kafka_node(topic, bootstrap_servers=bootstrap, batch_size=200, max_wait_ms=200),
        code_node(),
        bloomreach_node(standin_url, credential, retries=8),
    )
    flow = api.post("/api/v1/flows/", {"name": "Shop → Bloomreach", "graph": graph}, format="json")
    assert flow.status_code == 201, flow.content
    flow_id = int(flow.json()["id"])
    assert api.post(f"/api/v1/flows/{flow_id}/publish/").status_code == 201
    assert api.post(f"/api/v1/flows/{flow_id}/start/").json()["status"] == "running"
    return flow_id


def consuming(flow_id: int) -> bool:
    return get_redis().hexists(consumers_key(), str(flow_id))


def all_executions(api: APIClient, flow_id: int, **params: Any) -> list[dict[str, Any]]:
    results, page = [], 1
    while True:
        data = api.get(
            f"/api/v1/flows/{flow_id}/executions/", {**params, "page": page, "page_size": 500}
        ).json()
        results.extend(data["results"])
        if not data["next"]:
            return results
        page += 1


def test_sample_events_flow_end_to_end(
    e2e_api: APIClient,
    kafka_broker: Any,
    bloomreach_standin: Any,
    celery_worker: Process,
    trigger_runner: Process,
) -> None:
    topic = f"shop-{uuid.uuid4().hex[:8]}"
    create_topic(kafka_broker.bootstrap, topic, partitions=3)
    records = sample_records()
    expected = expected_commands(records)
    flow_id = make_flow(e2e_api, kafka_broker.bootstrap, topic, bloomreach_standin.url)
    produced = produce(kafka_broker.bootstrap, topic, records)

    wait_for(
        lambda: bloomreach_standin.stats()["commands"] >= len(expected),
        180,
        f"{len(expected)} commands at the stand-in",
    )
    stats = bloomreach_standin.stats()
    assert stats["commands"] == len(expected)
    received = sorted(orjson.dumps(e, option=orjson.OPT_SORT_KEYS) for e in stats["events"])
    wanted = sorted(orjson.dumps(e["data"], option=orjson.OPT_SORT_KEYS) for e in expected)
    assert received == wanted

    wait_for(
        lambda: len(all_executions(e2e_api, flow_id)) == len(records), 60, "an execution per record"
    )
    executions = all_executions(e2e_api, flow_id)
    by_status: dict[str, int] = {}
    for execution in executions:
        by_status[execution["status"]] = by_status.get(execution["status"], 0) + 1
    assert by_status["succeeded"] == len(expected)
    failed = all_executions(e2e_api, flow_id, status="failed")
    filtered = all_executions(e2e_api, flow_id, status="filtered")
    assert len(failed) + len(filtered) + len(expected) == len(records)
    assert failed, "the sample holds malformed records"
    assert all(f["error"] for f in failed)
    assert any("not valid JSON" in f["error"] for f in failed)
    assert filtered, "the sample holds events without a user id"

    detail = e2e_api.get(f"/api/v1/executions/{failed[0]['id']}/").json()
    assert detail["steps"][-1]["status"] == "failed"
    assert detail["steps"][-1]["error"] == failed[0]["error"]
    ok = next(e for e in executions if e["status"] == "succeeded")
    ok_detail = e2e_api.get(f"/api/v1/executions/{ok['id']}/").json()
    assert [s["node_id"] for s in ok_detail["steps"]] == ["in", "transform", "bloomreach"]
    assert "demo-secret" not in json.dumps(ok_detail)

    group = f"tributary-flow-{flow_id}"
    # Tansu's high watermarks are unreliable, so the producer's own offsets are the reference.
    ends = [produced.get(p, 0) for p in range(3)]
    wait_for(
        lambda: committed_offsets(kafka_broker.bootstrap, group, topic, 3) == ends,
        30,
        "committed offsets at the end of every partition",
    )
    stats_api = e2e_api.get(f"/api/v1/flows/{flow_id}/stats/").json()
    assert stats_api["in"] == len(records)
    assert stats_api["out"] == len(expected)


def test_stop_holds_events_and_start_delivers_them(
    e2e_api: APIClient,
    kafka_broker: Any,
    bloomreach_standin: Any,
    celery_worker: Process,
    trigger_runner: Process,
) -> None:
    topic = f"stop-{uuid.uuid4().hex[:8]}"
    create_topic(kafka_broker.bootstrap, topic, partitions=1)
    records = [r for r in sample_records() if r[1].startswith(b"{")][:300]
    expected = expected_commands(records)
    first, second = records[:100], records[100:]
    flow_id = make_flow(e2e_api, kafka_broker.bootstrap, topic, bloomreach_standin.url)
    produce(kafka_broker.bootstrap, topic, first)
    first_expected = len(expected_commands(first))
    wait_for(lambda: bloomreach_standin.stats()["commands"] == first_expected, 90, "first events")

    assert e2e_api.post(f"/api/v1/flows/{flow_id}/stop/").json()["status"] == "stopped"
    wait_for(lambda: not consuming(flow_id), 5, "the runner to stop consuming within 5 s")
    produce(kafka_broker.bootstrap, topic, second)
    with pytest.raises(AssertionError):
        wait_for(lambda: bloomreach_standin.stats()["commands"] > first_expected, 4, "nothing")

    assert e2e_api.post(f"/api/v1/flows/{flow_id}/start/").json()["status"] == "running"
    wait_for(lambda: consuming(flow_id), 5, "the runner to consume again within 5 s")
    wait_for(lambda: bloomreach_standin.stats()["commands"] == len(expected), 90, "the held events")


def test_a_failed_execution_is_retried_from_its_failed_step(
    e2e_api: APIClient,
    kafka_broker: Any,
    bloomreach_standin: Any,
    celery_worker: Process,
    trigger_runner: Process,
) -> None:
    topic = f"retry-{uuid.uuid4().hex[:8]}"
    create_topic(kafka_broker.bootstrap, topic, partitions=1)
    records = [r for r in sample_records() if b'"user_id": "u-' in r[1]][:20]
    expected = expected_commands(records)
    bloomreach_standin.configure(fail_next=1000, fail_status=403)
    flow_id = make_flow(e2e_api, kafka_broker.bootstrap, topic, bloomreach_standin.url)
    produce(kafka_broker.bootstrap, topic, records)
    wait_for(
        lambda: len(all_executions(e2e_api, flow_id, status="failed")) == len(expected),
        60,
        "every event to fail on the 403",
    )
    failed = all_executions(e2e_api, flow_id, status="failed")[0]
    assert failed["failed_node"] == "bloomreach"
    assert "403" in failed["error"] or "permission" in failed["error"].lower()
    assert bloomreach_standin.stats()["commands"] == 0

    bloomreach_standin.configure()
    response = e2e_api.post(f"/api/v1/executions/{failed['id']}/retry/")
    assert response.status_code == 202, response.content
    wait_for(
        lambda: e2e_api.get(f"/api/v1/executions/{failed['id']}/").json()["status"] == "succeeded",
        30,
        "the retried execution to succeed",
    )
    detail = e2e_api.get(f"/api/v1/executions/{failed['id']}/").json()
    assert detail["attempts"] == 2
    assert [s["node_id"] for s in detail["steps"]] == ["in", "transform", "bloomreach"]
    assert bloomreach_standin.stats()["commands"] == 1
    again = e2e_api.post(f"/api/v1/executions/{failed['id']}/retry/")
    assert again.status_code == 400
    assert "only failed executions" in again.json()["error"]
