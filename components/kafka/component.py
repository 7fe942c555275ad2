"""Kafka trigger (consume a topic) and Kafka producer action.

The trigger reads batches with manual, explicit per-partition commits: the platform commits a
batch only after every message of it reached a final state, so delivery is at-least-once.
A record that cannot be decoded never stops the batch: it becomes a TriggerRecord carrying the
raw value and a non-retryable error naming what was wrong.
"""

from __future__ import annotations

import base64
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from confluent_kafka import (
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka import Message as KafkaMessage

from components.base import (
    JSON,
    Action,
    ConfigError,
    Descriptor,
    Message,
    Outcome,
    Runtime,
    StepError,
    Trigger,
    TriggerRecord,
)
from components.kafka.client_config import (
    DEFAULT_DELIVERY_TIMEOUT_MS,
    DEFAULT_SESSION_TIMEOUT_MS,
    DELIVERY_TIMEOUT_RANGE,
    SASL_MECHANISMS,
    SECURITY_PROTOCOLS,
    SESSION_TIMEOUT_RANGE,
    START_FROM,
    ClientConfig,
    choice,
    consumer_config,
    create_client,
    int_setting,
    kafka_reason,
    producer_config,
    resolve_topic,
)

logger = logging.getLogger(__name__)
# librdkafka's own log lines go through Python logging instead of raw stderr.
librdkafka_logger = logging.getLogger("components.kafka.librdkafka")

# What confluent-kafka hands out (a list of pairs) or a producer accepts (also a dict).
RawHeaders = list[tuple[str, str | bytes | None]] | Mapping[str, str | bytes | None] | None
VALUE_FORMATS = ("json", "text")
B64_PREFIX = "b64:"
TOPIC_PATTERN = r"^[A-Za-z0-9._-]{1,249}$"

CONNECTION_PROPERTIES: dict[str, Any] = {
    "bootstrap_servers": {
        "type": "string",
        "title": "Bootstrap servers",
        "description": "host:port[,host:port...]. Empty: the installation's "
        "KAFKA_BOOTSTRAP_SERVERS.",
        "default": "",
    },
    "topic": {
        "type": "string",
        "title": "Topic",
        "pattern": TOPIC_PATTERN,
        "description": "Letters, digits, '.', '_' and '-'.",
    },
    "security_protocol": {
        "type": "string",
        "title": "Security protocol",
        "enum": list(SECURITY_PROTOCOLS),
        "default": "PLAINTEXT",
    },
    "sasl_mechanism": {
        "type": "string",
        "title": "SASL mechanism",
        "enum": list(SASL_MECHANISMS),
        "default": "PLAIN",
        "description": "Used with SASL_PLAINTEXT and SASL_SSL; the credential holds the "
        "username and password.",
    },
}

CREDENTIAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "username": {"type": "string", "title": "SASL username"},
        "password": {"type": "string", "title": "SASL password", "secret": True},
        "ssl_ca_pem": {
            "type": "string",
            "title": "CA certificate (PEM)",
            "description": "Empty: the system's trusted CAs.",
            "format": "textarea",
        },
        "ssl_cert_pem": {
            "type": "string",
            "title": "Client certificate (PEM)",
            "format": "textarea",
        },
        "ssl_key_pem": {
            "type": "string",
            "title": "Client private key (PEM)",
            "secret": True,
            "format": "textarea",
        },
        "ssl_key_password": {
            "type": "string",
            "title": "Private key password",
            "description": "Only for an encrypted private key.",
            "secret": True,
        },
    },
}

TRIGGER_CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["topic"],
    "properties": {
        **CONNECTION_PROPERTIES,
        "group_id": {
            "type": "string",
            "title": "Consumer group",
            "description": "Empty: tributary-flow-<flow id>. Flows sharing a group share "
            "the topic's messages.",
            "default": "",
        },
        "start_from": {
            "type": "string",
            "title": "Start from",
            "enum": list(START_FROM),
            "default": "earliest",
            "description": "Where a group without committed offsets starts.",
        },
        "value_format": {
            "type": "string",
            "title": "Value format",
            "enum": list(VALUE_FORMATS),
            "default": "json",
        },
        "batch_size": {
            "type": "integer",
            "title": "Batch size",
            "minimum": 1,
            "maximum": 10_000,
            "default": 500,
        },
        "max_wait_ms": {
            "type": "integer",
            "title": "Max wait (ms)",
            "description": "How long a poll waits to fill a batch.",
            "minimum": 0,
            "maximum": 60_000,
            "default": 500,
        },
        "session_timeout_ms": {
            "type": "integer",
            "title": "Session timeout (ms)",
            "description": "After this long without heartbeats the group moves this "
            "consumer's partitions elsewhere.",
            "minimum": SESSION_TIMEOUT_RANGE[0],
            "maximum": SESSION_TIMEOUT_RANGE[1],
            "default": DEFAULT_SESSION_TIMEOUT_MS,
        },
    },
}

PRODUCE_CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["topic"],
    "properties": {
        **CONNECTION_PROPERTIES,
        "key": {
            "type": "string",
            "title": "Key",
            "description": "A message field path starting with body., headers., meta. or "
            "id (e.g. body.user_id), or a literal. Empty: no key.",
            "default": "",
        },
        "delivery_timeout_ms": {
            "type": "integer",
            "title": "Delivery timeout (ms)",
            "minimum": DELIVERY_TIMEOUT_RANGE[0],
            "maximum": DELIVERY_TIMEOUT_RANGE[1],
            "default": DEFAULT_DELIVERY_TIMEOUT_MS,
        },
    },
}

# Consumer errors that do not go away by waiting: surfaced to the runner (which retries with
# backoff) so the user sees them. Everything else that is not fatal is librdkafka reporting
# a condition it recovers from by itself (a broker restarting, a coordinator moving).
ATTENTION_ERRORS = frozenset(
    {
        KafkaError._AUTHENTICATION,
        KafkaError._SSL,
        KafkaError.SASL_AUTHENTICATION_FAILED,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.GROUP_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._UNKNOWN_TOPIC,
        KafkaError.TOPIC_EXCEPTION,
    }
)
# Delivery failures that a retry of the same message cannot fix.
PERMANENT_DELIVERY_ERRORS = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.INVALID_MSG_SIZE,
        KafkaError.INVALID_RECORD,
    }
)


# --- decoding -------------------------------------------------------------------------------


def decode_text(raw: str | bytes | None) -> str | None:
    """UTF-8 text, or "b64:" + base64 when the bytes are not UTF-8 (keys, header values)."""
    if raw is None or isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return B64_PREFIX + base64.b64encode(raw).decode("ascii")


def decode_headers(raw: RawHeaders) -> dict[str, str]:
    """Header values as text. A null value becomes ""; of repeated names the last one wins."""
    pairs = raw.items() if isinstance(raw, Mapping) else raw or ()
    return {name: decode_text(value) or "" for name, value in pairs}


def parse_value(raw: bytes | None, value_format: str) -> tuple[JSON, StepError | None]:
    """The message body, or the raw value (text, or "b64:" + base64) and what is wrong with it.

    Never raises: poison input is reported, not thrown, so one bad record cannot stop a batch.
    """
    if not raw:
        return ("" if raw is not None else None), StepError("value is empty")
    if value_format == "json":
        try:
            return orjson.loads(raw), None
        except orjson.JSONDecodeError as json_error:
            # orjson also rejects invalid UTF-8; decode first to say which it was.
            text, utf8_error = _utf8(raw)
            if utf8_error is not None:
                return text, utf8_error
            return text, StepError(f"value is not valid JSON: {json_error}")
    return _utf8(raw)


def _utf8(raw: bytes) -> tuple[str, StepError | None]:
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as error:
        bad = raw[error.start : error.end].hex(" ")
        return B64_PREFIX + base64.b64encode(raw).decode("ascii"), StepError(
            f"value is not valid UTF-8: byte(s) {bad} at position {error.start} "
            f"({error.reason}); the body holds the value as base64",
            details={"encoding": "base64"},
        )


def build_record(
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: RawHeaders,
    timestamp: int | None,
    value_format: str,
) -> TriggerRecord:
    """A TriggerRecord from a Kafka record's parts; a decode problem becomes its error."""
    body, error = parse_value(value, value_format)
    message: Message = {
        "id": f"{topic}:{partition}:{offset}",
        "body": body,
        "headers": decode_headers(headers),
        "meta": {
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "key": decode_text(key),
            "timestamp": timestamp,
        },
    }
    return TriggerRecord(message=message, error=error)


def record_from_kafka(message: KafkaMessage, value_format: str) -> TriggerRecord:
    timestamp_type, timestamp = message.timestamp()
    return build_record(
        topic=message.topic() or "",
        partition=message.partition() or 0,
        offset=message.offset() or 0,
        key=_as_bytes(message.key()),
        value=_as_bytes(message.value()),
        headers=message.headers(),
        timestamp=None if timestamp_type == TIMESTAMP_NOT_AVAILABLE else timestamp,
        value_format=value_format,
    )


def _as_bytes(raw: str | bytes | None) -> bytes | None:
    # Without deserializers confluent-kafka hands out bytes; the str case only satisfies types.
    return raw.encode("utf-8") if isinstance(raw, str) else raw


# --- config helpers -------------------------------------------------------------------------


def _topic(config: Mapping[str, Any]) -> str:
    topic = resolve_topic(config)
    # Kafka's own rule. It also keeps a "^" out: librdkafka would read that as a regex.
    if len(topic) > 249 or not all(c.isascii() and (c.isalnum() or c in "._-") for c in topic):
        raise ConfigError("topic", "may hold only letters, digits, '.', '_' and '-'")
    return topic


def _client_id(role: str, flow_id: int, node_id: str) -> str:
    # Unique per client so broker logs and quotas tell trigger runners apart.
    return f"tributary-{role}-{flow_id}-{node_id}-{uuid.uuid4().hex[:8]}"


def _with_properties(client: ClientConfig, **extra: Any) -> ClientConfig:
    """`client` plus callbacks or properties that are not part of the step's settings."""
    return ClientConfig({**client.properties, "logger": librdkafka_logger, **extra}, client.pems)


# --- trigger --------------------------------------------------------------------------------


class KafkaTrigger(Trigger):
    """Consumes a topic in a consumer group; commits only what `commit` is given."""

    descriptor = Descriptor(
        name="kafka",
        kind="trigger",
        title="Kafka consumer",
        description="Reads messages from a Kafka topic in a consumer group and starts the "
        "flow for each. Offsets are committed only after a batch is fully processed "
        "(at-least-once); undecodable records are logged as failed, never dropped silently.",
        config_schema=TRIGGER_CONFIG_SCHEMA,
        credential_type="kafka",
        credential_schema=CREDENTIAL_SCHEMA,
        sample_config={
            "topic": "events",
            "start_from": "earliest",
            "value_format": "json",
            "batch_size": 500,
            "max_wait_ms": 500,
        },
    )

    def __init__(
        self, config: dict[str, Any], credential: dict[str, Any] | None, runtime: Runtime
    ) -> None:
        super().__init__(config, credential, runtime)
        # Everything is checked here, before any connection, so a bad config fails at start.
        self.topic = _topic(config)
        self.value_format = choice(config, "value_format", VALUE_FORMATS, "json")
        self.batch_size = int_setting(config, "batch_size", 1, 10_000, 500)
        self.max_wait_ms = int_setting(config, "max_wait_ms", 0, 60_000, 500)
        group_id = config.get("group_id") or f"tributary-flow-{runtime.flow_id}"
        self.group_id = str(group_id).strip()
        self.client_config = consumer_config(
            config,
            credential,
            runtime.settings,
            group_id=self.group_id,
            client_id=_client_id("consumer", runtime.flow_id, runtime.node_id),
        )
        self._consumer: Consumer | None = None
        # An error seen while records were also in hand: raised on the next poll, so the
        # records already read are handed over first (the consumer's position moved past them).
        self._pending_error: StepError | None = None

    def open(self) -> None:
        """Create the consumer and subscribe; partitions arrive with the group's rebalance."""
        if self._consumer is not None:
            return
        self._pending_error = None
        client = _with_properties(self.client_config, error_cb=self._on_client_error)
        consumer = create_client(Consumer, client)
        consumer.subscribe(
            [self.topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        self._consumer = consumer

    def poll_batch(self) -> list[TriggerRecord]:
        """Up to `batch_size` records, waiting at most `max_wait_ms` for them.

        Raises StepError(retryable=True) for consumer errors that need attention (fatal
        errors, authentication, a missing topic); informational ones are logged and skipped.
        """
        consumer = self._require_open()
        self._raise_pending()
        try:
            messages = consumer.consume(
                num_messages=self.batch_size, timeout=self.max_wait_ms / 1000
            )
        except KafkaException as failure:
            raise StepError(
                f"Kafka consumer error: {kafka_reason(failure)}", retryable=True
            ) from None
        records = []
        for message in messages:
            error = message.error()
            if error is None:
                records.append(record_from_kafka(message, self.value_format))
            else:
                self._on_client_error(error)
        if not records:
            self._raise_pending()
        return records

    def commit(self, records: list[TriggerRecord]) -> None:
        """Synchronously commit, per partition, the highest offset among `records` plus one.

        Committing nothing is a no-op (an empty offset list would commit the consumer's current
        positions, i.e. records nobody finished). Raises StepError(retryable=True) when the
        broker refuses, e.g. because a rebalance gave the partition to another consumer: its
        records will then be read again there (the delivery ledger prevents double sends).
        """
        offsets = commit_offsets(records)
        if not offsets:
            return
        consumer = self._require_open()
        try:
            results = consumer.commit(offsets=offsets, asynchronous=False) or []
        except KafkaException as error:
            raise StepError(
                f"committing offsets failed: {kafka_reason(error)}",
                retryable=True,
                details={"offsets": _describe(offsets)},
            ) from None
        failed = [tp for tp in results if tp.error is not None]
        if failed:
            reasons = "; ".join(f"{tp.topic}[{tp.partition}]: {_text(tp.error)}" for tp in failed)
            raise StepError(
                f"committing offsets failed: {reasons}",
                retryable=True,
                details={"offsets": _describe(failed)},
            )

    def close(self) -> None:
        """Leave the group (its partitions move to the other members at once)."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            consumer.close()

    # --- internals ---

    def _require_open(self) -> Consumer:
        if self._consumer is None:
            raise RuntimeError("KafkaTrigger.open() must be called first")
        return self._consumer

    def _raise_pending(self) -> None:
        error, self._pending_error = self._pending_error, None
        if error is not None:
            raise error

    def _on_client_error(self, error: KafkaError) -> None:
        code = error.code()
        if code == KafkaError._PARTITION_EOF:
            return
        if error.fatal() or code in ATTENTION_ERRORS:
            # Keep the first: later ones are usually consequences of it.
            if self._pending_error is None:
                self._pending_error = StepError(
                    self._describe_error(error),
                    retryable=True,
                    details={"code": error.name(), "fatal": error.fatal()},
                )
            return
        logger.warning("kafka consumer %s (%s): %s", self.group_id, self.topic, error.str())

    def _describe_error(self, error: KafkaError) -> str:
        code = error.code()
        if code in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC):
            return f"topic {self.topic!r} does not exist or is not visible to this client"
        if code in (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED):
            return f"Kafka authentication failed; check the credential ({error.str()})"
        prefix = "fatal Kafka consumer error" if error.fatal() else "Kafka consumer error"
        return f"{prefix}: {error.str()}"

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        logger.info("group %s assigned %s", self.group_id, _describe(partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        logger.info("group %s revoked %s", self.group_id, _describe(partitions))

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        logger.warning(
            "group %s lost %s (session timed out?)", self.group_id, _describe(partitions)
        )


def commit_offsets(records: list[TriggerRecord]) -> list[TopicPartition]:
    """Per partition, the offset to commit: the highest offset among `records` plus one."""
    highest: dict[tuple[str, int], int] = {}
    for record in records:
        meta = record.message["meta"]
        partition = (meta["topic"], meta["partition"])
        highest[partition] = max(highest.get(partition, -1), meta["offset"])
    return [
        TopicPartition(topic, part, offset + 1) for (topic, part), offset in sorted(highest.items())
    ]


def _text(error: KafkaError | None) -> str:
    return error.str() if error is not None else "unknown error"


def _describe(partitions: list[TopicPartition]) -> list[str]:
    return [f"{tp.topic}[{tp.partition}]@{tp.offset}" for tp in partitions]


# --- samples --------------------------------------------------------------------------------


def fetch_samples(
    config: Mapping[str, Any],
    credential: Mapping[str, Any] | None,
    settings: Mapping[str, Any],
    n: int = 10,
    timeout: float = 5.0,
) -> list[Message]:
    """The last `n` messages of the topic, oldest first, read without joining a group.

    Nothing is committed and no consumer group is created (partitions are assigned, not
    subscribed). Records that cannot be decoded are included with their raw value and
    `meta["error"]` saying what is wrong. Returns what it has when `timeout` runs out.
    Raises StepError when the topic does not exist or the cluster does not answer.
    """
    if n <= 0:
        return []
    topic = _topic(config)
    value_format = choice(config, "value_format", VALUE_FORMATS, "json")
    client = consumer_config(
        config,
        credential,
        settings,
        # Required by the client; never used to commit or join, so the group never exists.
        group_id=f"tributary-samples-{uuid.uuid4().hex}",
        client_id=_client_id("samples", 0, "samples"),
    )
    # End-of-partition events tell us when each partition has been read to its end.
    client = _with_properties(client, **{"enable.partition.eof": True})
    deadline = time.monotonic() + timeout
    consumer = create_client(Consumer, client)
    try:
        starts = _sample_starts(consumer, topic, n, deadline)
        if not starts:
            return []
        consumer.assign(starts)
        tails = _read_to_end(consumer, starts, n, value_format, deadline)
    finally:
        consumer.close()
    return _newest(tails, n)


def _remaining(deadline: float) -> float:
    return max(0.01, deadline - time.monotonic())


def _sample_starts(consumer: Consumer, topic: str, n: int, deadline: float) -> list[TopicPartition]:
    try:
        metadata = consumer.list_topics(topic, timeout=_remaining(deadline))
    except KafkaException as error:
        raise StepError(f"Kafka did not answer: {kafka_reason(error)}", retryable=True) from None
    described = metadata.topics.get(topic)
    if described is None or described.error is not None or not described.partitions:
        raise StepError(f"topic {topic!r} does not exist or is not visible to this client")
    starts = []
    for partition in sorted(described.partitions):
        try:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=_remaining(deadline)
            )
        except KafkaException as error:
            raise StepError(
                f"reading offsets of {topic}[{partition}] failed: {kafka_reason(error)}",
                retryable=True,
            ) from None
        if high > low:
            # Tansu reports the last batch's base offset + 1 as the high watermark, which may
            # be below the true end; we then start earlier and keep only the last n read.
            starts.append(TopicPartition(topic, partition, max(low, high - n)))
    return starts


def _read_to_end(
    consumer: Consumer, starts: list[TopicPartition], n: int, value_format: str, deadline: float
) -> list[TriggerRecord]:
    """Read each assigned partition up to its end; keep the last n records of each."""
    pending = {tp.partition for tp in starts}
    tails: dict[int, deque[TriggerRecord]] = {tp.partition: deque(maxlen=n) for tp in starts}
    while pending and time.monotonic() < deadline:
        for message in consumer.consume(num_messages=1000, timeout=min(0.2, _remaining(deadline))):
            error = message.error()
            if error is None:
                tails[message.partition() or 0].append(record_from_kafka(message, value_format))
            elif error.code() == KafkaError._PARTITION_EOF:
                pending.discard(message.partition() or 0)
            elif error.fatal() or error.code() in ATTENTION_ERRORS:
                raise StepError(f"reading samples failed: {error.str()}", retryable=True)
    return [record for tail in tails.values() for record in tail]


def _newest(records: list[TriggerRecord], n: int) -> list[Message]:
    def order(record: TriggerRecord) -> tuple[int, int, int]:
        meta = record.message["meta"]
        return (meta["timestamp"] or 0, meta["partition"], meta["offset"])

    samples = []
    for record in sorted(records, key=order)[-n:]:
        message = record.message
        if record.error is not None:
            message["meta"]["error"] = record.error.message
        samples.append(message)
    return samples


# --- producer action ------------------------------------------------------------------------

KEY_ROOTS = ("id", "body", "headers", "meta")


def key_path(spec: str) -> list[str] | None:
    """The field path a `key` setting names, or None when it is a literal."""
    parts = spec.split(".")
    return parts if parts[0] in KEY_ROOTS and all(parts) else None


def resolve_key(message: Message, spec: str) -> bytes | None:
    """The record key for `message`: a field's value, or the literal `spec` itself.

    A named field that is missing or null fails the message: producing it without a key would
    silently give up the per-key ordering the key was set for.
    """
    if not spec:
        return None
    path = key_path(spec)
    if path is None:
        return spec.encode("utf-8")
    value: Any = message
    for part in path:
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            value = None
        if value is None:
            raise StepError(f"key: {spec} is missing or null in this message")
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes):
        return value
    # Numbers, booleans and objects: their JSON form, so 42 and "42" give the same key.
    return orjson.dumps(value)


class KafkaProduce(Action):
    """Produces each message's body as JSON to a topic; one flush per batch."""

    descriptor = Descriptor(
        name="kafka_produce",
        kind="action",
        title="Kafka producer",
        description="Sends each message body as JSON to a Kafka topic, optionally keyed by a "
        "message field. Waits for the broker's acknowledgement (acks=all) of every message.",
        config_schema=PRODUCE_CONFIG_SCHEMA,
        credential_type="kafka",
        credential_schema=CREDENTIAL_SCHEMA,
        sample_config={"topic": "events-out", "key": "body.customer_id"},
        delivers=True,
    )

    def __init__(
        self, config: dict[str, Any], credential: dict[str, Any] | None, runtime: Runtime
    ) -> None:
        super().__init__(config, credential, runtime)
        self.topic = _topic(config)
        key = config.get("key") or ""
        if not isinstance(key, str):
            raise ConfigError("key", "must be a field path or a literal string")
        self.key = key.strip()
        self.client_config = producer_config(
            config,
            credential,
            runtime.settings,
            client_id=_client_id("producer", runtime.flow_id, runtime.node_id),
        )
        self.delivery_timeout_ms = int(self.client_config.properties["message.timeout.ms"])
        # Made on first use: building the step must not need a reachable cluster.
        self._producer: Producer | None = None

    def process(self, message: Message) -> Outcome:
        return self.process_batch([message])[0]

    def process_batch(self, messages: list[Message]) -> list[Outcome]:
        """One outcome per message; a failed delivery fails only its own message.

        An acknowledged message's outcome passes its body on unchanged and logs where it went.
        """
        if not messages:
            return []
        try:
            producer = self._client()
        except ConfigError as error:
            # Only when librdkafka refuses the settings (e.g. a key that does not fit its
            # certificate): the same for every message, and no retry can fix it.
            return [Outcome.failed(StepError(str(error))) for _ in messages]
        outcomes: list[Outcome | None] = [None] * len(messages)
        for index, message in enumerate(messages):
            try:
                key = resolve_key(message, self.key)
                value = orjson.dumps(message["body"])
            except StepError as error:
                outcomes[index] = Outcome.failed(error)
                continue
            except TypeError as error:  # orjson: not JSON-serialisable
                outcomes[index] = Outcome.failed(StepError(f"body is not JSON: {error}"))
                continue
            callback = self._on_delivery(outcomes, index, message)
            outcomes[index] = self._produce(producer, key, value, callback)
        # librdkafka gives up on a message after message.timeout.ms; wait a little longer so
        # every message gets its own report rather than a blanket timeout.
        producer.flush(self.delivery_timeout_ms / 1000 + 5)
        return [outcome or _unconfirmed() for outcome in outcomes]

    def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            remaining = producer.flush(self.delivery_timeout_ms / 1000)
            if remaining:
                logger.warning("kafka producer closed with %d unconfirmed messages", remaining)

    def _client(self) -> Producer:
        if self._producer is None:
            self._producer = create_client(Producer, _with_properties(self.client_config))
        return self._producer

    def _produce(
        self,
        producer: Producer,
        key: bytes | None,
        value: bytes,
        callback: Callable[[KafkaError | None, KafkaMessage], None],
    ) -> Outcome | None:
        """None once queued (the delivery report fills the outcome in), else the failure."""
        deadline = time.monotonic() + self.delivery_timeout_ms / 1000
        while True:
            try:
                producer.produce(self.topic, value=value, key=key, on_delivery=callback)
                return None
            except BufferError:
                # The local queue is full: serve delivery reports to make room, then retry.
                if time.monotonic() >= deadline:
                    return Outcome.failed(
                        StepError("the producer's local queue stayed full", retryable=True)
                    )
                producer.poll(0.1)
            except KafkaException as error:
                return Outcome.failed(_delivery_error(error.args[0]))

    def _on_delivery(
        self, outcomes: list[Outcome | None], index: int, message: Message
    ) -> Callable[[KafkaError | None, KafkaMessage], None]:
        def report(error: KafkaError | None, record: KafkaMessage) -> None:
            if error is not None:
                outcomes[index] = Outcome.failed(_delivery_error(error))
            else:
                where = f"{record.topic()}[{record.partition()}]@{record.offset()}"
                outcomes[index] = Outcome(outputs=[message["body"]], logs=[f"produced to {where}"])

        return report


def _delivery_error(error: Any) -> StepError:
    if not isinstance(error, KafkaError):
        return StepError(f"Kafka delivery failed: {error}", retryable=True)
    return StepError(
        f"Kafka delivery failed: {error.str()}",
        retryable=error.code() not in PERMANENT_DELIVERY_ERRORS,
        details={"code": error.name()},
    )


def _unconfirmed() -> Outcome:
    return Outcome.failed(StepError("Kafka did not confirm delivery in time", retryable=True))


__all__ = [
    "KafkaProduce",
    "KafkaTrigger",
    "build_record",
    "commit_offsets",
    "fetch_samples",
    "parse_value",
    "resolve_key",
]
