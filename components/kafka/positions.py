"""Moving a consumer group's committed position: the Kafka half of "replay from here".

The group must have no active member (the flow is stopped): Kafka refuses commits from outside
a group that is consuming. The new positions take effect when the flow starts again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from confluent_kafka import Consumer, KafkaException, TopicPartition

from components.base import StepError
from components.kafka.client_config import (
    ClientConfig,
    create_client,
    kafka_reason,
    with_properties,
)

Position = Literal["earliest", "latest", "timestamp", "offsets"]
POSITIONS: tuple[Position, ...] = ("earliest", "latest", "timestamp", "offsets")
TIMEOUT_SECONDS = 10.0
# Bounds of the forward scan that makes positions exact on brokers answering per record batch.
MAX_SCAN = 100_000
SCAN_IDLE_SECONDS = 1.0


def reposition_group(
    client: ClientConfig,
    topic: str,
    position: Position,
    *,
    timestamp_ms: int | None = None,
    offsets: Mapping[int, int] | None = None,
) -> list[tuple[int, int]]:
    """Commit the group's new offset per partition; return [(partition, offset)].

    `earliest`/`latest`: each partition's first / next offset; `timestamp`: the first offset
    at or after the time (the end of the partition if none); `offsets`: the given partitions
    only, others keep their position. Raises StepError naming the problem.
    """
    consumer = create_client(Consumer, with_properties(client))
    try:
        partitions = _partitions(consumer, topic)
        if position == "offsets":
            wanted = _given_offsets(partitions, offsets or {})
        else:
            wanted = [
                (partition, _offset_for(consumer, topic, partition, position, timestamp_ms))
                for partition in partitions
            ]
        _commit(consumer, topic, wanted)
        return wanted
    except KafkaException as error:
        raise StepError(
            f"moving the position on {topic!r} failed: {kafka_reason(error)}", retryable=True
        ) from None
    finally:
        consumer.close()


def _partitions(consumer: Consumer, topic: str) -> list[int]:
    metadata = consumer.list_topics(topic, timeout=TIMEOUT_SECONDS)
    described = metadata.topics.get(topic)
    if described is None or described.error is not None or not described.partitions:
        reason = described.error.str() if described and described.error else "no partitions"
        raise StepError(f"topic {topic!r} cannot be read: {reason}")
    return sorted(described.partitions)


def _given_offsets(partitions: list[int], offsets: Mapping[int, int]) -> list[tuple[int, int]]:
    if not offsets:
        raise StepError("give at least one partition's offset")
    unknown = sorted(set(offsets) - set(partitions))
    if unknown:
        raise StepError(
            f"the topic has no partition {unknown[0]} (partitions: "
            f"{', '.join(map(str, partitions))})"
        )
    return sorted(offsets.items())


def _offset_for(
    consumer: Consumer, topic: str, partition: int, position: Position, timestamp_ms: int | None
) -> int:
    low, high = consumer.get_watermark_offsets(
        TopicPartition(topic, partition), timeout=TIMEOUT_SECONDS, cached=False
    )
    if position == "earliest":
        return int(low)
    if position == "latest":
        # Some brokers (Tansu) report the start of the last record batch as its end: read on.
        return _scan(consumer, topic, partition, max(int(high) - 1, int(low)), None)
    if timestamp_ms is None:
        raise StepError("a timestamp is needed to replay from a point in time")
    found = consumer.offsets_for_times(
        [TopicPartition(topic, partition, timestamp_ms)], timeout=TIMEOUT_SECONDS
    )
    offset = found[0].offset if found else -1
    # The broker may answer per record batch rather than per record: check from there on.
    start = int(low) if offset < 0 else int(offset)
    return _scan(consumer, topic, partition, start, timestamp_ms)


def _scan(
    consumer: Consumer, topic: str, partition: int, start: int, timestamp_ms: int | None
) -> int:
    """The first offset from `start` whose record is at or after `timestamp_ms` (None: the
    end of the partition), reading at most MAX_SCAN records; the end if there is none."""
    consumer.assign([TopicPartition(topic, partition, start)])
    try:
        next_offset, read = start, 0
        while read < MAX_SCAN:
            records = consumer.consume(num_messages=500, timeout=SCAN_IDLE_SECONDS)
            if not records:
                return next_offset
            for record in records:
                if record.error() is not None:
                    continue
                offset = record.offset() or 0
                if timestamp_ms is not None and record.timestamp()[1] >= timestamp_ms:
                    return offset
                next_offset = offset + 1
            read += len(records)
        return next_offset
    finally:
        consumer.unassign()


def _commit(consumer: Consumer, topic: str, wanted: list[tuple[int, int]]) -> None:
    offsets = [TopicPartition(topic, partition, offset) for partition, offset in wanted]
    results = consumer.commit(offsets=offsets, asynchronous=False) or []
    failed = [tp for tp in results if tp.error is not None]
    if failed:
        first = failed[0]
        reason = first.error.str() if first.error else "refused"
        raise StepError(
            f"the broker refused the new position of {topic}[{first.partition}]: {reason}. "
            "Is the flow still consuming? Stop it and wait until it has stopped.",
            retryable=True,
        )
