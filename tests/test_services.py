"""Embedded services: the Redis and Kafka-protocol servers the project starts by itself.

This is the test that covers the embedded-Redis path: the `redis_url` fixture prefers a
running Redis, so without these the embedded one would go untested on machines that have it.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest
import redis
from confluent_kafka.admin import AdminClient

from config.services import (
    EmbeddedService,
    ServiceError,
    create_topic,
    free_port,
    kafka_answers,
    redis_answers,
    start_embedded_redis,
    start_tansu,
)
from tests.fixtures.kafka import KafkaBroker

pytestmark = pytest.mark.timeout(60)


def test_free_port_can_be_bound() -> None:
    port = free_port()

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
    assert 1024 <= port <= 65535


def test_nothing_listening_does_not_answer() -> None:
    port = free_port()

    assert redis_answers(f"redis://127.0.0.1:{port}/0", timeout=0.2) is False
    assert kafka_answers(f"127.0.0.1:{port}", timeout=0.5) is False


def test_embedded_redis_starts_answers_ping_and_stops(tmp_path: Path) -> None:
    workdir = tmp_path / "not-yet-there"
    service = start_embedded_redis(dir=str(workdir))
    try:
        assert service.running()
        assert service.url == f"redis://127.0.0.1:{service.port}/0"
        assert redis_answers(service.url)
        client = redis.Redis.from_url(service.url)
        client.set("tributary:probe", "1")
        assert client.get("tributary:probe") == b"1"
        client.close()
    finally:
        service.stop()

    assert not service.running()
    assert not redis_answers(service.url, timeout=0.2)
    assert os.listdir(workdir) == []  # persistence is off: nothing written


def test_embedded_redis_as_context_manager_cleans_up_its_temporary_dir() -> None:
    with start_embedded_redis() as service:
        workdir = service.owned_dir
        assert workdir is not None and os.path.isdir(workdir)
        assert redis_answers(service.url)
    assert not service.running()
    assert not os.path.exists(workdir)


def test_embedded_redis_runs_in_its_own_process_group() -> None:
    with start_embedded_redis() as service:
        assert os.getpgid(service.pid) == service.pid
        assert os.getpgid(service.pid) != os.getpgid(0)


def test_a_taken_port_is_a_clear_error_with_the_server_output() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]

        with pytest.raises(ServiceError) as raised:
            start_embedded_redis(port=port, timeout=5)

    assert "redis exited" in str(raised.value)
    assert "Address already in use" in str(raised.value)


def test_redis_url_fixture_answers(redis_url: str) -> None:
    assert redis_answers(redis_url)


def test_session_broker_lists_topics(kafka_broker: KafkaBroker) -> None:
    assert kafka_answers(kafka_broker.bootstrap)
    if kafka_broker.service is not None:
        assert isinstance(kafka_broker.service, EmbeddedService)
        assert kafka_broker.service.url == f"tcp://{kafka_broker.bootstrap}"


def test_create_topic_makes_partitions_and_tolerates_an_existing_topic(
    kafka_broker: KafkaBroker,
) -> None:
    name = f"svc-{uuid.uuid4().hex[:8]}"

    create_topic(kafka_broker.bootstrap, name, partitions=3)
    create_topic(kafka_broker.bootstrap, name, partitions=3)

    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap})
    topic = admin.list_topics(topic=name, timeout=10).topics[name]
    assert topic.error is None and len(topic.partitions) == 3


def test_embedded_tansu_starts_answers_and_stops() -> None:
    with start_tansu() as service:
        assert service.bootstrap == f"127.0.0.1:{service.port}"
        assert kafka_answers(service.bootstrap)
    assert not service.running()
    assert not kafka_answers(service.bootstrap, timeout=0.5)
