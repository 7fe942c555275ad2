"""The delivery ledger: which messages a delivering step already sent out.

Keyed by flow version, step and message id (topic:partition:offset[/split index]). A batch
that runs again after a crash or a timeout looks its messages up first and skips those
already delivered, reusing their recorded outputs, so downstream steps still see them.
"""

from __future__ import annotations

from typing import Any

import orjson
from django.conf import settings

from flows.engine.redis import get_redis, key


def _key(version_id: int, node_id: str, message_id: str) -> str:
    return key("ledger", version_id, node_id, message_id)


def delivered_outputs(
    version_id: int, node_id: str, message_ids: list[str]
) -> list[list[Any] | None]:
    """For each message id, the outputs recorded when it was delivered, or None."""
    if not message_ids:
        return []
    raw = get_redis().mget([_key(version_id, node_id, m) for m in message_ids])
    return [orjson.loads(value) if value is not None else None for value in raw]


def record_delivered(version_id: int, node_id: str, delivered: dict[str, list[Any]]) -> None:
    if not delivered:
        return
    ttl = settings.TRIBUTARY_LEDGER_TTL_SECONDS
    pipe = get_redis().pipeline(transaction=False)
    for message_id, outputs in delivered.items():
        pipe.set(_key(version_id, node_id, message_id), orjson.dumps(outputs), ex=ttl)
    pipe.execute()
