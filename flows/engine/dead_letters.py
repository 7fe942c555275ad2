"""The flow's dead-letter topic: where messages that finally failed are produced, if set.

The producer talks to the trigger's cluster with the trigger's credential (a dead-letter topic
is a topic next to the one the flow reads). Producers are cached per flow version.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import orjson

from components.base import StepError
from components.kafka.client_config import unique_client_id
from components.kafka.dead_letters import DeadLetter, DeadLetterProducer, error_header
from components.validation import with_defaults
from flows.engine import instances
from flows.engine.jobs import Item
from flows.engine.redis import get_redis, key

if TYPE_CHECKING:
    from flows.engine.steps import VersionContext

MAX_PRODUCERS = 16
_lock = threading.Lock()
_producers: OrderedDict[int, DeadLetterProducer] = OrderedDict()


class DeadLetterUnavailable(Exception):
    """The dead-letter topic did not take the batch's failures; the step is tried again."""


def dead_lettered_key() -> str:
    """Hash flow id -> messages produced to the flow's dead-letter topic."""
    return key("dead_lettered")


def dead_lettered(flow_id: int) -> int:
    return int(get_redis().hget(dead_lettered_key(), str(flow_id)) or 0)


def send_failures(context: VersionContext, items: list[Item]) -> None:
    topic = context.plan.settings.dead_letter_topic
    failed = [item for item in items if item["error"]]
    if not topic or not failed:
        return
    letters = [letter_for(context, item) for item in failed]
    try:
        _producer(context, topic).send(letters)
    except StepError as error:
        raise DeadLetterUnavailable(error.message) from None
    get_redis().hincrby(dead_lettered_key(), str(context.flow_id), len(letters))


def letter_for(context: VersionContext, item: Item) -> DeadLetter:
    """The message as it reached the failing step; for an unreadable record, its raw value."""
    message = item["retry_input"]
    if message is None and item["steps"]:
        message = orjson.loads(item["steps"][0]["stored"])["output"]
    body = message.get("body") if isinstance(message, dict) else message
    meta = item["meta"] or {}
    record_key = meta.get("key")
    headers = {
        "flow-id": str(context.flow_id),
        "flow-version-id": str(context.version_id),
        "step": item["failed_node"],
        "error": error_header(item["error"]),
        "source-topic": str(meta.get("topic") or ""),
        "source-partition": str(meta.get("partition")),
        "source-offset": str(meta.get("offset")),
        "attempts": str(item["attempts"]),
    }
    return DeadLetter(
        key=None if record_key is None else str(record_key).encode(),
        value=orjson.dumps(body),
        headers=headers,
    )


def _producer(context: VersionContext, topic: str) -> DeadLetterProducer:
    with _lock:
        cached = _producers.get(context.version_id)
        if cached is not None and cached.topic == topic:
            _producers.move_to_end(context.version_id)
            return cached
    trigger = context.plan.trigger
    config: dict[str, Any] = with_defaults(trigger.descriptor.config_schema, trigger.config)
    producer = DeadLetterProducer(
        config,
        instances.load_credential(trigger, context.workspace_id),
        instances.runtime_settings(),
        topic=topic,
        client_id=unique_client_id("dead-letters", context.flow_id, trigger.id),
    )
    with _lock:
        _producers[context.version_id] = producer
        while len(_producers) > MAX_PRODUCERS:
            _, old = _producers.popitem(last=False)
            old.close()
    return producer
