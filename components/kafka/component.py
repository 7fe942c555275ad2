"""Kafka trigger (consume a topic) and Kafka producer action.

The trigger reads batches with manual, explicit per-partition commits: the platform commits a
batch only after every message of it reached a final state, so delivery is at-least-once.
A record that cannot be decoded never stops the batch: it becomes a TriggerRecord carrying the
raw value and a non-retryable error naming what was wrong.

This module holds the two step classes and their I/O. The rest of the package: client settings
(client_config.py), descriptor schemas (schema.py), record <-> message translation
(records.py), error classification (errors.py) and fetching samples (samples.py).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka import Message as KafkaMessage

from components.base import (
    Action,
    ConfigError,
    Descriptor,
    Message,
    Outcome,
    PartitionLag,
    Runtime,
    StepError,
    Trigger,
    TriggerRecord,
)
from components.kafka.client_config import (
    choice,
    consumer_config,
    create_client,
    int_setting,
    kafka_reason,
    producer_config,
    resolve_topic,
    unique_client_id,
    with_properties,
)
from components.kafka.errors import ATTENTION_ERRORS, delivery_error
from components.kafka.positions import Position, reposition_group
from components.kafka.records import commit_offsets, parse_value, record_from_kafka, resolve_key
from components.kafka.samples import fetch_samples
from components.kafka.schema import (
    CREDENTIAL_SCHEMA,
    PRODUCE_CONFIG_SCHEMA,
    TRIGGER_CONFIG_SCHEMA,
    VALUE_FORMATS,
)

logger = logging.getLogger(__name__)
# Bound of each broker round trip when measuring lag (the consumer loop waits for it).
LAG_TIMEOUT_SECONDS = 2.0


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
            "batch_size": 1000,
            "max_wait_ms": 500,
        },
    )

    def __init__(
        self, config: dict[str, Any], credential: dict[str, Any] | None, runtime: Runtime
    ) -> None:
        super().__init__(config, credential, runtime)
        # Everything is checked here, before any connection, so a bad config fails at start.
        self.topic = resolve_topic(config)
        self.value_format = choice(config, "value_format", VALUE_FORMATS, "json")
        self.batch_size = int_setting(config, "batch_size", 1, 10_000, 1000)
        self.max_wait_ms = int_setting(config, "max_wait_ms", 0, 60_000, 500)
        group_id = config.get("group_id") or f"tributary-flow-{runtime.flow_id}"
        self.group_id = str(group_id).strip()
        self.client_config = consumer_config(
            config,
            credential,
            runtime.settings,
            group_id=self.group_id,
            client_id=unique_client_id("consumer", runtime.flow_id, runtime.node_id),
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
        client = with_properties(self.client_config, error_cb=self._on_client_error)
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

    def commit(self, records: list[TriggerRecord]) -> list[tuple[str, int, int]]:
        """Synchronously commit, per partition, the highest offset among `records` plus one;
        returns those (topic, partition, next offset).

        Committing nothing is a no-op (an empty offset list would commit the consumer's current
        positions, i.e. records nobody finished). Raises StepError(retryable=True) when the
        broker refuses, e.g. because a rebalance gave the partition to another consumer: its
        records will then be read again there (the delivery ledger prevents double sends).
        """
        offsets = commit_offsets(records)
        if not offsets:
            return []
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
        return [(tp.topic, tp.partition, tp.offset) for tp in offsets]

    def reposition(
        self,
        position: Position,
        *,
        timestamp_ms: int | None = None,
        offsets: dict[int, int] | None = None,
    ) -> list[tuple[int, int]]:
        """Move the (idle) group's committed position; used to replay. See positions.py."""
        return reposition_group(
            self.client_config,
            self.topic,
            position,
            timestamp_ms=timestamp_ms,
            offsets=offsets,
        )

    def keep_alive(self) -> None:
        """Serve the group (heartbeats, rebalances, max.poll.interval.ms) without reading:
        the assigned partitions are paused around one poll, so the position does not move."""
        consumer = self._require_open()
        assignment = consumer.assignment()
        try:
            if assignment:
                consumer.pause(assignment)
            stray = consumer.consume(num_messages=100, timeout=0)
            # Only a partition assigned during this very poll can deliver: seek back to it.
            rewind: dict[tuple[str, int], int] = {}
            for message in stray:
                topic, partition, offset = message.topic(), message.partition(), message.offset()
                if message.error() is None and topic and partition is not None:
                    rewind.setdefault((topic, partition), offset or 0)
            for (topic, partition), offset in rewind.items():
                consumer.seek(TopicPartition(topic, partition, offset))
        except KafkaException as error:
            logger.warning("kafka consumer %s: keep-alive: %s", self.group_id, kafka_reason(error))
        finally:
            if assignment:
                with contextlib.suppress(KafkaException):  # revoked meanwhile
                    consumer.resume(assignment)

    def lag(self) -> list[PartitionLag]:
        """Per assigned partition: the end of the partition minus the group's committed
        offset (before the first commit: where the group starts, per `start_from`).

        The end is the broker's high watermark, or the consumer's own position when that is
        further (brokers answering per record batch, like Tansu, report the start of the last
        batch). A round trip for the committed offsets and one per partition, each bounded
        by LAG_TIMEOUT_SECONDS; [] when the broker does not answer in time.
        """
        consumer = self._require_open()
        try:
            assignment = consumer.assignment()
            if not assignment:
                return []
            committed = consumer.committed(assignment, timeout=LAG_TIMEOUT_SECONDS)
            positions = {
                (tp.topic, tp.partition): tp.offset for tp in consumer.position(assignment)
            }
            lags = []
            for tp in committed:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(tp.topic, tp.partition),
                    timeout=LAG_TIMEOUT_SECONDS,
                    cached=False,
                )
                position = positions.get((tp.topic, tp.partition), -1)
                end = max(int(high), position)
                if tp.offset >= 0:
                    done = tp.offset
                elif self.client_config.properties.get("auto.offset.reset") == "latest":
                    done = position if position >= 0 else end
                else:
                    done = int(low)
                lags.append(PartitionLag(tp.topic, tp.partition, max(end - done, 0)))
            return lags
        except KafkaException as error:
            logger.debug("kafka consumer %s: no lag: %s", self.group_id, kafka_reason(error))
            return []

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


def _text(error: KafkaError | None) -> str:
    return error.str() if error is not None else "unknown error"


def _describe(partitions: list[TopicPartition]) -> list[str]:
    return [f"{tp.topic}[{tp.partition}]@{tp.offset}" for tp in partitions]


# --- producer action ------------------------------------------------------------------------


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
        self.topic = resolve_topic(config)
        key = config.get("key") or ""
        if not isinstance(key, str):
            raise ConfigError("key", "must be a field path or a literal string")
        self.key = key.strip()
        self.client_config = producer_config(
            config,
            credential,
            runtime.settings,
            client_id=unique_client_id("producer", runtime.flow_id, runtime.node_id),
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
            self._producer = create_client(Producer, with_properties(self.client_config))
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
                return Outcome.failed(delivery_error(error.args[0]))

    def _on_delivery(
        self, outcomes: list[Outcome | None], index: int, message: Message
    ) -> Callable[[KafkaError | None, KafkaMessage], None]:
        def report(error: KafkaError | None, record: KafkaMessage) -> None:
            if error is not None:
                outcomes[index] = Outcome.failed(delivery_error(error))
            else:
                where = f"{record.topic()}[{record.partition()}]@{record.offset()}"
                outcomes[index] = Outcome(outputs=[message["body"]], logs=[f"produced to {where}"])

        return report


def _unconfirmed() -> Outcome:
    return Outcome.failed(StepError("Kafka did not confirm delivery in time", retryable=True))


__all__ = [
    "KafkaProduce",
    "KafkaTrigger",
    # Re-exported: tests/components/test_kafka.py imports these from here.
    "fetch_samples",
    "parse_value",
    "resolve_key",
]
