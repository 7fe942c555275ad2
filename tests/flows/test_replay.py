"""Replaying a flow from a new consumer position, through the API, on a real broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from rest_framework.test import APIClient

from flows.engine import ledger
from flows.engine.redis import get_redis, key
from flows.models import Flow
from tests.factories import chain, code_node, kafka_node

pytestmark = pytest.mark.django_db


@pytest.fixture
def replayable(
    api: APIClient, workspace: Any, kafka_broker: Any, kafka_topic: Any, settings: Any
) -> tuple[Flow, str, int]:
    """A published, stopped flow on a 2-partition topic holding 3 records per partition,
    written a second apart; returns the flow, the topic and the middle record's time."""
    settings.KAFKA_BOOTSTRAP_SERVERS = kafka_broker.bootstrap
    topic = kafka_topic(partitions=2)
    start = int(datetime.now(UTC).timestamp() * 1000) - 60_000
    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap})
    for n in range(6):
        producer.produce(topic, b"{}", partition=n % 2, timestamp=start + (n // 2) * 1000)
    assert producer.flush(30) == 0
    graph = chain(kafka_node(topic), code_node())
    created = api.post("/api/v1/flows/", {"name": "Replay", "graph": graph}, format="json")
    flow = Flow.objects.get(id=created.json()["id"])
    assert api.post(f"/api/v1/flows/{flow.id}/publish/").status_code == 201
    assert api.post(f"/api/v1/flows/{flow.id}/stop/").status_code == 200
    return flow, topic, start + 1000


def committed(bootstrap: str, flow: Flow, topic: str) -> list[int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"tributary-flow-{flow.id}"})
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in (0, 1)], timeout=10)
        return [tp.offset for tp in found]
    finally:
        consumer.close()


def replay(api: APIClient, flow: Flow, **body: Any) -> Any:
    return api.post(f"/api/v1/flows/{flow.id}/replay/", body, format="json")


def test_replay_moves_the_group_to_each_position(
    api: APIClient, replayable: tuple[Flow, str, int], kafka_broker: Any
) -> None:
    flow, topic, middle = replayable

    latest = replay(api, flow, position="latest")
    assert latest.status_code == 200, latest.content
    assert latest.json()["partitions"] == [
        {"partition": 0, "offset": 3},
        {"partition": 1, "offset": 3},
    ]
    assert latest.json()["topic"] == topic
    assert committed(kafka_broker.bootstrap, flow, topic) == [3, 3]

    assert replay(api, flow, position="earliest").status_code == 200
    assert committed(kafka_broker.bootstrap, flow, topic) == [0, 0]

    when = datetime.fromtimestamp(middle / 1000, tz=UTC).isoformat()
    assert replay(api, flow, position="timestamp", timestamp=when).status_code == 200
    assert committed(kafka_broker.bootstrap, flow, topic) == [1, 1]

    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert replay(api, flow, position="timestamp", timestamp=later).status_code == 200
    assert committed(kafka_broker.bootstrap, flow, topic) == [3, 3]

    assert replay(api, flow, position="offsets", offsets={"1": 2}).status_code == 200
    assert committed(kafka_broker.bootstrap, flow, topic) == [3, 2]


def test_replay_clears_the_delivery_ledger_so_messages_go_out_again(
    api: APIClient, replayable: tuple[Flow, str, int]
) -> None:
    flow, topic, _ = replayable
    version_id = flow.versions.get().id
    ledger.end_delivery(version_id, "send", [], {f"{topic}:0:0": b"[{}]", f"{topic}:1:0": b"[{}]"})
    kept = key("ledger", version_id + 1000, "send", "x")
    get_redis().set(kept, "[]")

    response = replay(api, flow, position="earliest")

    assert response.json()["ledger_entries_cleared"] == 2
    assert ledger.look_up(version_id, "send", [f"{topic}:0:0"]) == ([None], 0)
    assert get_redis().get(kept) is not None  # another version's ledger is left alone
    get_redis().delete(kept)


@pytest.mark.parametrize(
    ("body", "field", "text"),
    [
        ({"position": "middle"}, "position", "not a valid choice"),
        ({"position": "timestamp"}, "timestamp", "required"),
        ({"position": "offsets"}, "offsets", "at least one"),
        ({"position": "offsets", "offsets": {"a": 1}}, "offsets", "numbers"),
        ({"position": "offsets", "offsets": {"0": -1}}, "offsets", "greater than or equal"),
    ],
)
def test_bad_replay_requests_name_the_field(
    api: APIClient, replayable: tuple[Flow, str, int], body: dict[str, Any], field: str, text: str
) -> None:
    flow, _, _ = replayable
    response = replay(api, flow, **body)
    assert response.status_code == 400
    assert text in str(response.json()["details"][field])


def test_a_partition_the_topic_lacks_is_refused(
    api: APIClient, replayable: tuple[Flow, str, int]
) -> None:
    flow, _, _ = replayable
    response = replay(api, flow, position="offsets", offsets={"7": 0})
    assert response.status_code == 400
    assert "no partition 7" in response.json()["error"]


def test_a_running_flow_is_not_replayed(api: APIClient, replayable: tuple[Flow, str, int]) -> None:
    flow, _, _ = replayable
    assert api.post(f"/api/v1/flows/{flow.id}/start/").status_code == 200
    response = replay(api, flow, position="earliest")
    assert response.status_code == 409
    assert "stop the flow before replaying" in response.json()["error"]
