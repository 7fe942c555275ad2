"""Produces the sample events, refreshing each JSON event's `ts` so the demo looks live."""

from __future__ import annotations

import base64
import itertools
import time
from collections.abc import Iterator

import orjson
from confluent_kafka import Producer

from flows.demo import SAMPLE_EVENTS


def sample_records() -> list[tuple[str | None, bytes]]:
    """The sample file as (key, raw value bytes), poison records included."""
    records = []
    for line in SAMPLE_EVENTS.read_text().splitlines():
        row = orjson.loads(line)
        if "value_b64" in row:
            value = base64.b64decode(row["value_b64"])
        else:
            value = (row.get("value") or "").encode()
        records.append((row.get("key"), value))
    return records


def _refreshed(value: bytes) -> bytes:
    try:
        event = orjson.loads(value)
    except orjson.JSONDecodeError:
        return value
    if isinstance(event, dict) and isinstance(event.get("ts"), int):
        event["ts"] = int(time.time() * 1000)
        return orjson.dumps(event)
    return value


def _paced(
    records: list[tuple[str | None, bytes]], rate: float
) -> Iterator[tuple[str | None, bytes]]:
    interval = 1.0 / rate if rate > 0 else 0.0
    next_at = time.monotonic()
    for record in itertools.cycle(records):
        if interval:
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # pacing a producer, not synchronising a test
            next_at += interval
        yield record


def produce_samples(bootstrap: str, topic: str, *, rate: float, count: int | None) -> int:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    produced = 0
    try:
        for key, value in _paced(sample_records(), rate):
            producer.produce(topic, value=_refreshed(value), key=key)
            producer.poll(0)
            produced += 1
            if count is not None and produced >= count:
                break
    except KeyboardInterrupt:
        pass
    finally:
        producer.flush(10)
    return produced
