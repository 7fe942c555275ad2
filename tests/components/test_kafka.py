"""The Kafka trigger and producer, against a real Kafka-protocol broker (Tansu).

No mocks and no fixed sleeps: every wait polls a condition with a deadline. A new consumer
group takes a few seconds to get its partitions (the broker's join delay), so tests that
consume keep their session timeout at the minimum, which shortens that delay.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import ipaddress
import itertools
import os
import ssl
import stat
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from components.base import ConfigError, Message, Runtime, StepError, TriggerRecord
from components.kafka.client_config import (
    ClientConfig,
    PemFiles,
    build_client_config,
    consumer_config,
    create_client,
    producer_config,
    redacted,
)
from components.kafka.component import (
    KafkaProduce,
    KafkaTrigger,
    fetch_samples,
    parse_value,
    resolve_key,
)
from components.registry import component_class
from components.validation import validate_config
from config.services import free_port, start_tansu
from tests.fixtures.kafka import KafkaBroker, produce_records

pytestmark = pytest.mark.timeout(120)

CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----"
KEY_PEM = "-----BEGIN PRIVATE KEY-----\nMIIBsecret\n-----END PRIVATE KEY-----"
SCRAM_CREDENTIAL = {"username": "svc-tributary", "password": "s3cret-pw", "ssl_ca_pem": CA_PEM}
# Tansu hands out partitions about half a session timeout after a consumer joins.
FAST_JOIN = {"session_timeout_ms": 6000}
DEADLINE = 30.0

_flow_ids = itertools.count(1000)


def runtime(broker: KafkaBroker | None = None, **settings: Any) -> Runtime:
    if broker is not None:
        settings.setdefault("kafka_bootstrap_servers", broker.bootstrap)
    return Runtime(flow_id=next(_flow_ids), node_id="n1", settings=settings)


def opened_trigger(broker: KafkaBroker, topic: str, **config: Any) -> KafkaTrigger:
    trigger = KafkaTrigger({"topic": topic, **FAST_JOIN, **config}, None, runtime(broker))
    trigger.open()
    return trigger


def poll_until(
    trigger: KafkaTrigger,
    count: int,
    timeout: float = DEADLINE,
    between: Callable[[], object] | None = None,
) -> list[list[TriggerRecord]]:
    """Batches from `trigger` until `count` records arrived; fails after `timeout` seconds."""
    batches: list[list[TriggerRecord]] = []
    deadline = time.monotonic() + timeout
    while sum(map(len, batches)) < count:
        assert time.monotonic() < deadline, f"got {sum(map(len, batches))} of {count} records"
        if between is not None:
            between()
        batch = trigger.poll_batch()
        if batch:
            batches.append(batch)
    return batches


def flat(batches: list[list[TriggerRecord]]) -> list[TriggerRecord]:
    return [record for batch in batches for record in batch]


def committed(broker: KafkaBroker, group: str, topic: str, partitions: int) -> list[int]:
    """The group's committed offsets, read without joining it."""
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        return [tp.offset for tp in consumer.committed(tps, timeout=10)]
    finally:
        consumer.close()


def message(body: Any, **meta: Any) -> Message:
    return {"id": "t:0:0", "body": body, "headers": {}, "meta": meta}


# --- client configuration (no broker) -------------------------------------------------------


def test_plaintext_config_uses_the_installation_bootstrap_when_the_step_has_none() -> None:
    client = build_client_config({"topic": "t"}, None, {"kafka_bootstrap_servers": "k:9092"})

    assert client.properties == {"bootstrap.servers": "k:9092", "security.protocol": "PLAINTEXT"}
    assert client.pems == {}


def test_step_bootstrap_overrides_the_installation_one() -> None:
    config = {"topic": "t", "bootstrap_servers": " a:1,b:2 "}
    client = build_client_config(config, None, {"kafka_bootstrap_servers": "k:9092"})

    assert client.properties["bootstrap.servers"] == "a:1,b:2"


def test_missing_bootstrap_everywhere_names_the_field() -> None:
    with pytest.raises(ConfigError) as raised:
        build_client_config({"topic": "t"}, None, {})

    assert raised.value.field == "bootstrap_servers"


def test_sasl_ssl_with_scram_takes_username_password_and_ca_from_the_credential() -> None:
    config = {
        "topic": "t",
        "bootstrap_servers": "k:9093",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
    }
    client = build_client_config(config, SCRAM_CREDENTIAL, {})

    assert client.properties == {
        "bootstrap.servers": "k:9093",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "svc-tributary",
        "sasl.password": "s3cret-pw",
    }
    assert client.pems == {"ssl.ca.location": CA_PEM + "\n"}
    assert redacted(client.properties)["sasl.password"] == "***"


@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
def test_sasl_without_a_credential_is_a_config_error_naming_the_credential(protocol: str) -> None:
    config = {"topic": "t", "bootstrap_servers": "k:1", "security_protocol": protocol}

    with pytest.raises(ConfigError) as raised:
        build_client_config(config, None, {})

    assert raised.value.field == "credential"
    assert protocol in raised.value.message


def test_sasl_credential_without_password_names_the_password_and_leaks_nothing() -> None:
    config = {"topic": "t", "bootstrap_servers": "k:1", "security_protocol": "SASL_PLAINTEXT"}

    with pytest.raises(ConfigError) as raised:
        build_client_config(config, {"username": "svc-tributary"}, {})

    assert raised.value.field == "credential.password"
    assert "svc-tributary" not in str(raised.value)


def test_client_certificate_without_its_key_names_the_key_field() -> None:
    config = {"topic": "t", "bootstrap_servers": "k:1", "security_protocol": "SSL"}

    with pytest.raises(ConfigError) as raised:
        build_client_config(config, {"ssl_cert_pem": CA_PEM}, {})

    assert raised.value.field == "credential.ssl_key_pem"


def test_unknown_security_protocol_names_the_field() -> None:
    config = {"topic": "t", "bootstrap_servers": "k:1", "security_protocol": "KERBEROS"}

    with pytest.raises(ConfigError) as raised:
        build_client_config(config, None, {})

    assert raised.value.field == "security_protocol"


def test_plaintext_ignores_a_credential_so_no_pem_is_written() -> None:
    config = {"topic": "t", "bootstrap_servers": "k:1"}

    client = build_client_config(config, SCRAM_CREDENTIAL, {})

    assert client.pems == {}
    assert "sasl.password" not in client.properties


def test_consumer_config_commits_only_explicitly_and_fetches_with_a_short_wait() -> None:
    config = {"topic": "t", "bootstrap_servers": "k:1", "start_from": "latest"}

    properties = consumer_config(config, None, {}, group_id="g", client_id="c").properties

    assert properties["enable.auto.commit"] is False
    assert properties["enable.auto.offset.store"] is False
    assert properties["auto.offset.reset"] == "latest"
    assert properties["fetch.wait.max.ms"] == 100
    assert (properties["group.id"], properties["client.id"]) == ("g", "c")


def test_producer_config_is_idempotent_with_all_acks() -> None:
    properties = producer_config(
        {"topic": "t", "bootstrap_servers": "k:1"}, None, {}, client_id="c"
    )

    assert properties.properties["acks"] == "all"
    assert properties.properties["enable.idempotence"] is True


def test_pem_files_are_private_and_gone_once_the_client_exists() -> None:
    seen: dict[str, Any] = {}

    def factory(properties: dict[str, Any]) -> str:
        path = properties["ssl.ca.location"]
        seen["mode"] = stat.S_IMODE(os.stat(path).st_mode)
        seen["dir_mode"] = stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode)
        seen["text"] = Path(path).read_text(encoding="utf-8")
        seen["path"] = path
        return "client"

    assert create_client(factory, ClientConfig({}, {"ssl.ca.location": CA_PEM})) == "client"

    assert (seen["mode"], seen["dir_mode"], seen["text"]) == (0o600, 0o700, CA_PEM)
    assert not os.path.exists(os.path.dirname(seen["path"]))


def test_no_pem_means_no_directory() -> None:
    files = PemFiles({})

    assert files.directory is None and files.locations == {}


def test_trigger_config_errors_name_their_field() -> None:
    settings = {"kafka_bootstrap_servers": "k:1"}
    bad = [
        ({"topic": "t", "batch_size": 0}, "batch_size"),
        ({"topic": "t", "batch_size": 10_001}, "batch_size"),
        ({"topic": "^t.*"}, "topic"),
        ({"topic": ""}, "topic"),
        ({"topic": "t", "value_format": "avro"}, "value_format"),
        ({"topic": "t", "start_from": "middle"}, "start_from"),
    ]
    for config, field in bad:
        with pytest.raises(ConfigError) as raised:
            KafkaTrigger(config, None, Runtime(flow_id=1, node_id="n1", settings=settings))
        assert raised.value.field == field, config


def test_group_id_defaults_to_one_per_flow() -> None:
    trigger = KafkaTrigger(
        {"topic": "t"}, None, Runtime(7, "n1", {"kafka_bootstrap_servers": "k:1"})
    )

    assert trigger.group_id == "tributary-flow-7"
    assert trigger.client_config.properties["client.id"].startswith("tributary-consumer-7-n1-")


def test_descriptors_are_registered_and_their_samples_validate() -> None:
    for name in ("kafka", "kafka_produce"):
        descriptor = component_class(name).descriptor
        assert descriptor.credential_type == "kafka"
        assert validate_config(descriptor, descriptor.sample_config) == []
        secret = {
            k for k, v in descriptor.credential_schema["properties"].items() if v.get("secret")
        }  # type: ignore[index]
        assert {"password", "ssl_key_pem"} <= secret
    assert component_class("kafka").descriptor.kind == "trigger"
    assert component_class("kafka_produce").descriptor.delivers is True


# --- decoding (no broker) -------------------------------------------------------------------


def test_parse_value_reports_json_errors_with_their_position() -> None:
    body, error = parse_value(b'{"a": 1,}', "json")

    assert body == '{"a": 1,}'
    assert error is not None and not error.retryable
    assert error.message.startswith("value is not valid JSON: ")
    assert "column" in error.message


def test_parse_value_keeps_invalid_utf8_as_base64() -> None:
    body, error = parse_value(b"ok\xff\xfe", "text")

    assert body == "b64:" + base64.b64encode(b"ok\xff\xfe").decode()
    assert (
        error is not None and "not valid UTF-8" in error.message and "position 2" in error.message
    )


def test_parse_value_text_format_passes_text_through() -> None:
    assert parse_value("héllo".encode(), "text") == ("héllo", None)


def test_resolve_key_reads_a_path_or_uses_a_literal() -> None:
    msg = message({"user_id": "u1", "n": 42, "tags": ["a"]}, topic="t")

    assert resolve_key(msg, "body.user_id") == b"u1"
    assert resolve_key(msg, "body.n") == b"42"
    assert resolve_key(msg, "body.tags.0") == b"a"
    assert resolve_key(msg, "meta.topic") == b"t"
    assert resolve_key(msg, "fixed-key") == b"fixed-key"
    assert resolve_key(msg, "") is None
    with pytest.raises(StepError, match=r"body\.missing is missing"):
        resolve_key(msg, "body.missing")


# --- trigger against the broker -------------------------------------------------------------


def test_trigger_consumes_json_messages_in_batches_with_their_coordinates(
    kafka_broker: KafkaBroker, kafka_topic: Callable[..., str]
) -> None:
    topic = kafka_topic(partitions=2)
    records = [
        (
            f"user-{i}".encode(),
            orjson.dumps({"i": i}),
            [("source", b"test"), ("n", str(i).encode())],
        )
        for i in range(25)
    ]
    produce_records(kafka_broker.bootstrap, topic, records[:12], partition=0)
    produce_records(kafka_broker.bootstrap, topic, records[12:], partition=1)
    trigger = opened_trigger(kafka_broker, topic, batch_size=10, max_wait_ms=200)
    try:
        batches = poll_until(trigger, 25)
    finally:
        trigger.close()

    got = flat(batches)
    assert all(len(batch) <= 10 for batch in batches)
    assert len(got) == 25 and all(record.error is None for record in got)
    by_partition = {p: [r for r in got if r.message["meta"]["partition"] == p] for p in (0, 1)}
    assert [r.message["meta"]["offset"] for r in by_partition[0]] == list(range(12))
    assert [r.message["body"]["i"] for r in by_partition[1]] == list(range(12, 25))
    first = by_partition[1][0].message
    assert first["id"] == f"{topic}:1:0"
    assert first["headers"] == {"source": "test", "n": "12"}
    assert first["meta"]["topic"] == topic
    assert first["meta"]["key"] == "user-12"
    assert isinstance(first["meta"]["timestamp"], int) and first["meta"]["timestamp"] > 1e12


def test_poison_records_become_errors_without_stopping_the_batch(
    kafka_broker: KafkaBroker, kafka_topic: Callable[..., str]
) -> None:
    topic = kafka_topic()
    produce_records(
        kafka_broker.bootstrap,
        topic,
        [
            (b"k0", b'{"ok": 0}'),
            (b"k1", b"\xff\xfe{}"),  # invalid UTF-8
            (b"k2", b"not json at all"),
            (b"k3", b""),  # empty
            (b"k4", None),  # tombstone
            (None, b'{"ok": 5}', [("bin", b"\x00\xff\x10"), ("none", None)]),  # null key
            (b"\xc3\x28", b'{"ok": 6}'),  # key that is not UTF-8
        ],
    )
    trigger = opened_trigger(kafka_broker, topic)
    try:
        got = flat(poll_until(trigger, 7))
    finally:
        trigger.close()

    errors = [record.error.message if record.error else None for record in got]
    assert errors[0] is None and got[0].message["body"] == {"ok": 0}
    assert errors[1] is not None and errors[1].startswith("value is not valid UTF-8")
    assert got[1].message["body"] == "b64:" + base64.b64encode(b"\xff\xfe{}").decode()
    assert errors[2] is not None and errors[2].startswith("value is not valid JSON: ")
    assert got[2].message["body"] == "not json at all"
    assert errors[3] == errors[4] == "value is empty"
    assert all(record.error is None or not record.error.retryable for record in got)
    null_key = got[5].message
    assert errors[5] is None and null_key["meta"]["key"] is None
    assert null_key["headers"] == {
        "bin": "b64:" + base64.b64encode(b"\x00\xff\x10").decode(),
        "none": "",
    }
    assert got[6].message["meta"]["key"] == "b64:" + base64.b64encode(b"\xc3\x28").decode()
    assert [record.message["meta"]["offset"] for record in got] == list(range(7))


def test_commit_makes_the_next_consumer_of_the_group_start_after_it(
    kafka_broker: KafkaBroker, kafka_topic: Callable[..., str]
) -> None:
    topic = kafka_topic()
    group = f"g-{uuid.uuid4().hex[:8]}"
    produce_records(kafka_broker.bootstrap, topic, [(None, orjson.dumps(i)) for i in range(10)])
    first = opened_trigger(kafka_broker, topic, group_id=group)
    try:
        got = flat(poll_until(first, 10))
        # Out of order on purpose: the commit takes the highest offset per partition.
        assert first.commit([got[3], got[0], got[2], got[1]]) == [(topic, 0, 4)]
        # Committing nothing must not commit the consumer's position.
        assert first.commit([]) == []
    finally:
        first.close()
    assert committed(kafka_broker, group, topic, 1) == [4]

    second = opened_trigger(kafka_broker, topic, group_id=group)
    try:
        resumed = flat(poll_until(second, 6))
    finally:
        second.close()
    assert [record.message["meta"]["offset"] for record in resumed] == [4, 5, 6, 7, 8, 9]


def test_commit_is_per_partition(
    kafka_broker: KafkaBroker, kafka_topic: Callable[..., str]
) -> None:
    topic = kafka_topic(partitions=2)
    group = f"g-{uuid.uuid4().hex[:8]}"
    for partition in (0, 1):
        produce_records(kafka_broker.bootstrap, topic, [(None, b"{}")] * 5, partition=partition)
    trigger = opened_trigger(kafka_broker, topic, group_id=group)
    try:
        got = flat(poll_until(trigger, 10))
        part = {p: [r for r in got if r.message["meta"]["partition"] == p] for p in (0, 1)}
        trigger.commit(part[0][:2] + part[1][:4])
    finally:
        trigger.close()

    assert committed(kafka_broker, group, topic, 2) == [2, 4]


def test_start_from_latest_skips_what_was_there_before(
    kafka_broker: KafkaBroker, kafka_topic: Callable[..., str]
) -> None:
    topic = kafka_topic()
    produce_records(kafka_broker.bootstrap, topic, [(None, b'"old"')] * 5)
    trigger = opened_trigger(kafka_broker, topic, start_from="latest", max_wait_ms=200)

    def produce_new() -> None:
        # Until the group has placed the consumer, there is no "latest" yet to start from:
        # keep adding records so the first one after the placement shows up.
        produce_records(kafka_broker.bootstrap, topic, [(None, b'"new"')])

    try:
        got = flat(poll_until(trigger, 1, between=produce_new))
    finally:
        trigger.close()
    assert {record.message["body"] for record in got} == {"new"}
    assert got[0].message["meta"]["offset"] >= 5


def test_subscribing_to_a_missing_topic_raises_a_retryable_error(
    kafka_broker: KafkaBroker,
) -> None:
    trigger = opened_trigger(kafka_broker, f"missing-{uuid.uuid4().hex[:8]}", max_wait_ms=200)
    deadline = time.monotonic() + DEADLINE
    try:
        with pytest.raises(StepError) as raised:
            while time.monotonic() < deadline:
                trigger.poll_batch()
    finally:
        trigger.close()

    assert raised.value.retryable
    assert "does not exist" in raised.value.message


def test_poll_before_open_is_a_programming_error() -> None:
    trigger = KafkaTrigger({"topic": "t"}, None, runtime(kafka_bootstrap_servers="k:1"))

    with pytest.raises(RuntimeError, match="open"):
        trigger.poll_batch()


def test_twenty_thousand_messages_arrive_once_in_full_batches(
    kafka_broker: KafkaBroker, kafka_topic: Callable[..., str]
) -> None:
    topic = kafka_topic(partitions=4)
    produce_records(
        kafka_broker.bootstrap, topic, [(None, orjson.dumps({"i": i})) for i in range(20_000)]
    )
    trigger = opened_trigger(kafka_broker, topic, batch_size=500)
    try:
        batches = poll_until(trigger, 20_000, timeout=60)
        for batch in batches:
            trigger.commit(batch)
    finally:
        trigger.close()

    got = flat(batches)
    assert sorted(record.message["body"]["i"] for record in got) == list(range(20_000))
    assert max(map(len, batches)) == 500


# --- samples ---------------------------------------------------------------------------------


def test_fetch_samples_returns_the_last_n_without_committing(
    kafka_broker: KafkaBroker, kafka_topic: Callable[..., str]
) -> None:
    topic = kafka_topic()
    # One producer batch: Tansu then reports a high watermark below the real end.
    produce_records(kafka_broker.bootstrap, topic, [(None, orjson.dumps(i)) for i in range(30)])
    produce_records(kafka_broker.bootstrap, topic, [(None, b"{broken")])
    config = {"topic": topic}
    settings = {"kafka_bootstrap_servers": kafka_broker.bootstrap}

    samples = fetch_samples(config, None, settings, n=5)

    assert [s["meta"]["offset"] for s in samples] == [26, 27, 28, 29, 30]
    assert [s["body"] for s in samples[:4]] == [26, 27, 28, 29]
    assert samples[4]["meta"]["error"].startswith("value is not valid JSON")
    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap})
    groups = admin.list_consumer_groups(request_timeout=10).result(timeout=10).valid
    assert not [g for g in groups if g.group_id.startswith("tributary-samples-")]


def test_fetch_samples_across_partitions_returns_n(
    kafka_broker: KafkaBroker, kafka_topic: Callable[..., str]
) -> None:
    topic = kafka_topic(partitions=3)
    for partition in range(3):
        produce_records(
            kafka_broker.bootstrap,
            topic,
            [(None, orjson.dumps([partition, i])) for i in range(4)],
            partition=partition,
        )
    settings = {"kafka_bootstrap_servers": kafka_broker.bootstrap}

    samples = fetch_samples({"topic": topic}, None, settings, n=6)

    assert len(samples) == 6
    assert {s["meta"]["partition"] for s in samples} <= {0, 1, 2}
    assert all(s["body"][1] >= 0 for s in samples)


def test_fetch_samples_of_a_missing_topic_says_so(kafka_broker: KafkaBroker) -> None:
    settings = {"kafka_bootstrap_servers": kafka_broker.bootstrap}

    with pytest.raises(StepError, match="does not exist"):
        fetch_samples({"topic": f"missing-{uuid.uuid4().hex[:8]}"}, None, settings)


def test_fetch_samples_of_an_empty_topic_is_empty(
    kafka_broker: KafkaBroker, kafka_topic: Callable[..., str]
) -> None:
    settings = {"kafka_bootstrap_servers": kafka_broker.bootstrap}

    assert fetch_samples({"topic": kafka_topic()}, None, settings) == []


# --- producer --------------------------------------------------------------------------------


def test_kafka_produce_round_trip_with_keys_from_the_message(
    kafka_broker: KafkaBroker, kafka_topic: Callable[..., str]
) -> None:
    topic = kafka_topic()
    action = KafkaProduce({"topic": topic, "key": "body.user_id"}, None, runtime(kafka_broker))
    bodies: list[Any] = [{"user_id": "u1", "n": 1}, {"n": 2}, {"user_id": 7, "n": 3}]
    try:
        outcomes = action.process_batch([message(body) for body in bodies])
    finally:
        action.close()

    assert outcomes[0].error is None and outcomes[0].outputs == [bodies[0]]
    assert outcomes[0].logs[0].startswith(f"produced to {topic}[0]@")
    assert outcomes[1].error is not None and not outcomes[1].error.retryable
    assert "body.user_id" in outcomes[1].error.message
    assert outcomes[2].error is None
    samples = fetch_samples(
        {"topic": topic}, None, {"kafka_bootstrap_servers": kafka_broker.bootstrap}
    )
    assert [(s["meta"]["key"], s["body"]) for s in samples] == [("u1", bodies[0]), ("7", bodies[2])]


def test_kafka_produce_fails_only_the_oversized_message(
    kafka_broker: KafkaBroker, kafka_topic: Callable[..., str]
) -> None:
    topic = kafka_topic()
    action = KafkaProduce({"topic": topic}, None, runtime(kafka_broker))
    try:
        outcomes = action.process_batch(
            [message({"n": 1}), message({"blob": "x" * 2_000_000}), message({"n": 3})]
        )
    finally:
        action.close()

    assert [o.error is None for o in outcomes] == [True, False, True]
    assert outcomes[1].error is not None and not outcomes[1].error.retryable


def test_kafka_produce_to_an_unreachable_cluster_fails_retryably() -> None:
    config = {
        "topic": "t",
        "bootstrap_servers": f"127.0.0.1:{free_port()}",
        "delivery_timeout_ms": 1000,
    }
    action = KafkaProduce(config, None, runtime())
    try:
        outcomes = action.process_batch([message({"n": 1}), message({"n": 2})])
    finally:
        action.close()

    assert all(o.error is not None and o.error.retryable for o in outcomes)


# --- TLS with a client certificate, end to end -------------------------------------------------


def _certificates() -> dict[str, str]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM text."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(common_name: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    def issue(
        subject: str,
        key: ec.EllipticCurvePrivateKey,
        issuer_key: ec.EllipticCurvePrivateKey,
        ca: bool,
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(name("tributary-test-ca"))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            san = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    def pem_key(key: ec.EllipticCurvePrivateKey) -> str:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    def pem_cert(cert: x509.Certificate) -> str:
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    ca_key, server_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    return {
        "ca": pem_cert(issue("tributary-test-ca", ca_key, ca_key, ca=True)),
        "server_cert": pem_cert(issue("127.0.0.1", server_key, ca_key, ca=False)),
        "server_key": pem_key(server_key),
        "client_cert": pem_cert(issue("tributary-client", client_key, ca_key, ca=False)),
        "client_key": pem_key(client_key),
    }


class TlsProxy:
    """Terminates TLS (client certificate required) in front of a plaintext broker."""

    def __init__(self, context: ssl.SSLContext, port: int, upstream: tuple[str, int]) -> None:
        self.loop = asyncio.new_event_loop()
        self.upstream = upstream
        self.connections = 0
        started = threading.Event()

        async def serve() -> None:
            await asyncio.start_server(self._handle, "127.0.0.1", port, ssl=context)
            started.set()

        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(serve(), self.loop).result(timeout=10)
        assert started.is_set()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            finally:
                sink.close()

        await asyncio.gather(
            pump(reader, up_writer), pump(up_reader, writer), return_exceptions=True
        )

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


@pytest.fixture(scope="module")
def tls_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A Tansu broker reachable only through mutual TLS; yields (bootstrap, PEMs)."""
    pems = _certificates()
    folder = tmp_path_factory.mktemp("tls")
    for key in ("ca", "server_cert", "server_key"):
        (folder / f"{key}.pem").write_text(pems[key])
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(folder / "ca.pem"))
    context.load_cert_chain(folder / "server_cert.pem", folder / "server_key.pem")
    context.verify_mode = ssl.CERT_REQUIRED
    proxy_port = free_port()
    broker = start_tansu(advertised=f"127.0.0.1:{proxy_port}")
    proxy = TlsProxy(context, proxy_port, ("127.0.0.1", broker.port))
    try:
        yield f"127.0.0.1:{proxy_port}", pems
    finally:
        proxy.stop()
        broker.stop()


def test_ssl_with_a_client_certificate_consumes_and_produces(
    tls_kafka: tuple[str, dict[str, str]],
) -> None:
    bootstrap, pems = tls_kafka
    credential = {
        "ssl_ca_pem": pems["ca"],
        "ssl_cert_pem": pems["client_cert"],
        "ssl_key_pem": pems["client_key"],
    }
    config = {"topic": "tls-topic", "bootstrap_servers": bootstrap, "security_protocol": "SSL"}
    before = set(Path(tempfile.gettempdir()).glob("tributary-kafka-*"))
    action = KafkaProduce(config, credential, runtime())
    try:
        outcomes = action.process_batch([message({"over": "tls"})])
    finally:
        action.close()
    assert outcomes[0].error is None, outcomes[0].error

    # The PEM files were removed as soon as the client had loaded them, before it connected.
    assert set(Path(tempfile.gettempdir()).glob("tributary-kafka-*")) == before
    samples = fetch_samples(config, credential, {})
    assert [s["body"] for s in samples] == [{"over": "tls"}]


def test_ssl_without_the_client_certificate_does_not_connect(
    tls_kafka: tuple[str, dict[str, str]],
) -> None:
    bootstrap, pems = tls_kafka
    config = {"topic": "tls-topic", "bootstrap_servers": bootstrap, "security_protocol": "SSL"}

    with pytest.raises(StepError) as raised:
        fetch_samples(config, {"ssl_ca_pem": pems["ca"]}, {}, timeout=3)

    assert raised.value.retryable
