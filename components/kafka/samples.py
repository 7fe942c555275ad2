"""Fetch samples: the newest messages of a topic, for the editor, read without a group."""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from components.base import Message, StepError, TriggerRecord
from components.kafka.client_config import (
    choice,
    consumer_config,
    create_client,
    kafka_reason,
    resolve_topic,
    unique_client_id,
    with_properties,
)
from components.kafka.errors import ATTENTION_ERRORS
from components.kafka.records import record_from_kafka
from components.kafka.schema import VALUE_FORMATS


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
    topic = resolve_topic(config)
    value_format = choice(config, "value_format", VALUE_FORMATS, "json")
    client = consumer_config(
        config,
        credential,
        settings,
        # Required by the client; never used to commit or join, so the group never exists.
        group_id=f"tributary-samples-{uuid.uuid4().hex}",
        client_id=unique_client_id("samples", 0, "samples"),
    )
    # End-of-partition events tell us when each partition has been read to its end.
    client = with_properties(client, **{"enable.partition.eof": True})
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
