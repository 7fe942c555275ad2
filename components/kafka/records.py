"""Kafka records and flow messages, translated both ways; pure functions, no broker.

A consumed record becomes a TriggerRecord (`build_record`, `record_from_kafka`), handled
records become the offsets that commit them (`commit_offsets`), and a message to produce gets
its record key (`resolve_key`). Nothing here raises on bad input from the topic: a record that
cannot be decoded carries its raw value and the error instead.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import orjson
from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, TopicPartition
from confluent_kafka import Message as KafkaMessage

from components.base import JSON, Message, StepError, TriggerRecord

# What confluent-kafka hands out (a list of pairs) or a producer accepts (also a dict).
RawHeaders = list[tuple[str, str | bytes | None]] | Mapping[str, str | bytes | None] | None
B64_PREFIX = "b64:"


# --- consumed records -----------------------------------------------------------------------


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
    """`build_record` for a record as confluent-kafka hands it out."""
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


# --- produced records -----------------------------------------------------------------------

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
