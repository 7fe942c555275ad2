"""The delivery ledger: which messages a delivering step already sent out.

Keyed by flow version, step and message id (topic:partition:offset[/split index]). A batch
that runs again after a crash or a timeout looks its messages up first and skips those
already delivered, reusing their recorded outputs, so downstream steps still see them.

A message is also marked "in flight" while its chunk is being sent. A mark still there when
the message is sent again means an earlier attempt died without an answer (a worker killed
mid-request): that send is a possible duplicate, and is counted per flow.
"""

from __future__ import annotations

from typing import Any

import orjson
from django.conf import settings

from flows.engine.redis import get_redis, key


def _key(version_id: int, node_id: str, message_id: str) -> str:
    return key("ledger", version_id, node_id, message_id)


def _inflight_key(version_id: int, node_id: str, message_id: str) -> str:
    return key("inflight", version_id, node_id, message_id)


def duplicates_key() -> str:
    """Hash flow id -> messages sent again after an attempt with an unknown outcome."""
    return key("duplicates")


def delivered_outputs(
    version_id: int, node_id: str, message_ids: list[str]
) -> list[list[Any] | None]:
    """For each message id, the outputs recorded when it was delivered, or None."""
    if not message_ids:
        return []
    raw = get_redis().mget([_key(version_id, node_id, m) for m in message_ids])
    return [orjson.loads(value) if value is not None else None for value in raw]


def begin_delivery(flow_id: int, version_id: int, node_id: str, message_ids: list[str]) -> int:
    """Mark messages as being sent; count (and return) those an earlier attempt left marked."""
    if not message_ids:
        return 0
    ttl = settings.TRIBUTARY_LEDGER_TTL_SECONDS
    pipe = get_redis().pipeline(transaction=False)
    for message_id in message_ids:
        pipe.set(_inflight_key(version_id, node_id, message_id), 1, nx=True, ex=ttl)
    again = sum(1 for fresh in pipe.execute() if not fresh)
    if again:
        get_redis().hincrby(duplicates_key(), str(flow_id), again)
    return again


def end_delivery(
    version_id: int, node_id: str, message_ids: list[str], delivered: dict[str, list[Any]]
) -> None:
    """Record what went out and clear the in-flight marks: every outcome is known now."""
    ttl = settings.TRIBUTARY_LEDGER_TTL_SECONDS
    pipe = get_redis().pipeline(transaction=False)
    for message_id, outputs in delivered.items():
        pipe.set(_key(version_id, node_id, message_id), orjson.dumps(outputs), ex=ttl)
    if message_ids:
        pipe.delete(*[_inflight_key(version_id, node_id, m) for m in message_ids])
    pipe.execute()


def duplicates(flow_id: int) -> int:
    return int(get_redis().hget(duplicates_key(), str(flow_id)) or 0)


def forget_version(version_id: int) -> int:
    """Drop a version's ledger, so that a replay sends its messages again. Returns keys dropped."""
    client = get_redis()
    dropped = 0
    for pattern in (key("ledger", version_id, "*"), key("inflight", version_id, "*")):
        batch: list[Any] = []
        for name in client.scan_iter(match=pattern, count=1000):
            batch.append(name)
            if len(batch) >= 500:
                dropped += client.delete(*batch)
                batch = []
        if batch:
            dropped += client.delete(*batch)
    return dropped
