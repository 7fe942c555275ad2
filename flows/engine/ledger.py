"""The delivery ledger: which messages a delivering step already sent out.

Keyed by flow version, step and message id (topic:partition:offset[/split index]) with the
record's timestamp (`delivery_id`). A batch
that runs again after a crash or a timeout looks its messages up first and skips those
already delivered, reusing their recorded outputs, so downstream steps still see them.

A message is also marked "in flight" while its chunk is being sent: its entry holds
IN_FLIGHT until its outputs replace it (or, if it failed, it is removed). A mark still there
when a batch looks its messages up means an earlier attempt died without an answer (a worker
killed mid-request): sending it again is a possible duplicate, and is counted per flow.

Entries live in Redis hashes, one per (version, step, topic, partition, block of
BLOCK_OFFSETS offsets), so a chunk costs one command rather than one per message, and a
block expires TTL after its last write. The mark and the outputs share the entry, so a chunk
costs two writes (mark, then outputs) and no reads; the batch's lookup reads both.

A message can only run again until its offset is committed: the trigger runner then drops
the blocks that lie wholly below what it committed (`forget_committed`), so the ledger holds
about a block per partition and step rather than every message of the TTL (some 430 bytes
each: at 1,000 events/s, 7 days came to 260 GB of Redis).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import orjson
from django.conf import settings

from flows.engine.redis import get_redis, key

BLOCK_OFFSETS = 10_000
# Blocks below the first commit of a consumer that may still be there (left by the one before).
FIRST_SWEEP_BLOCKS = 3
# At most this many blocks dropped per partition at one commit (a consumer that jumped far
# ahead); any older ones go with their TTL.
MAX_SWEEP_BLOCKS = 100

# An entry's value while its message is being sent (outputs are JSON, never empty).
IN_FLIGHT = b""


def delivery_id(message: Mapping[str, Any]) -> str:
    """The message's ledger id: its id plus the record's Kafka timestamp, so that an offset
    used again (a topic deleted and created anew, a memory-only broker restarted) is a new
    message, never one "already delivered"."""
    meta = message.get("meta") or {}
    return f"{message['id']}@{meta.get('timestamp')}"


# A chunk's ids are split here when its ledger entries are read, marked and written: three
# times per message, the same ids within moments. Small: entries that outlive their batch sit
# among its freed objects and keep the allocator from handing that memory back.
@lru_cache(maxsize=1024)
def _block(message_id: str) -> tuple[str, str]:
    """(hash name suffix, field) of a ledger id: "t:3:12345/1@17…" -> ("t:3:1", "12345/1@17…")."""
    head, _, offset = message_id.partition("@")[0].rpartition(":")
    number = offset.split("/", 1)[0]
    if not head or not number.isdigit():
        return message_id, ""
    return f"{head}:{int(number) // BLOCK_OFFSETS}", message_id[len(head) + 1 :]


def _grouped(message_ids: list[str]) -> dict[str, list[tuple[str, str]]]:
    """Block -> [(field, message id)], in the ids' order."""
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for message_id in message_ids:
        block, field = _block(message_id)
        groups[block].append((field, message_id))
    return groups


def _ledger_key(version_id: int, node_id: str, block: str) -> str:
    return key("ledger", version_id, node_id, block)


def duplicates_key() -> str:
    """Hash flow id -> messages sent again after an attempt with an unknown outcome."""
    return key("duplicates")


def look_up(
    version_id: int, node_id: str, message_ids: list[str]
) -> tuple[list[list[Any] | None], int]:
    """For each message id, the outputs recorded when it was delivered, or None; and how
    many of the others an earlier attempt left in flight (sent, its answer never known)."""
    if not message_ids:
        return [], 0
    groups = _grouped(message_ids)
    pipe = get_redis().pipeline(transaction=False)
    for block, members in groups.items():
        pipe.hmget(_ledger_key(version_id, node_id, block), [field for field, _ in members])
    found: dict[str, Any] = {}
    unanswered = 0
    for members, values in zip(groups.values(), pipe.execute(), strict=True):
        for (_, message_id), value in zip(members, values, strict=True):
            if value == IN_FLIGHT:
                unanswered += 1
            elif value is not None:
                found[message_id] = orjson.loads(value)
    return [found.get(message_id) for message_id in message_ids], unanswered


def count_possible_duplicates(flow_id: int, messages: int) -> None:
    """Count messages sent again after an attempt whose outcome is unknown (`look_up`)."""
    if messages:
        get_redis().hincrby(duplicates_key(), str(flow_id), messages)


def begin_delivery(version_id: int, node_id: str, message_ids: list[str]) -> None:
    """Mark messages as being sent."""
    if not message_ids:
        return
    ttl = settings.TRIBUTARY_LEDGER_TTL_SECONDS
    pipe = get_redis().pipeline(transaction=False)
    for block, members in _grouped(message_ids).items():
        name = _ledger_key(version_id, node_id, block)
        pipe.hset(name, mapping=dict.fromkeys([field for field, _ in members], IN_FLIGHT))
        pipe.expire(name, ttl)
    pipe.execute()


def end_delivery(
    version_id: int, node_id: str, message_ids: list[str], delivered: dict[str, bytes]
) -> None:
    """Record what went out of `message_ids` (`delivered`: id -> its outputs as JSON) and
    clear the in-flight marks of the rest: every outcome is known now."""
    ttl = settings.TRIBUTARY_LEDGER_TTL_SECONDS
    pipe = get_redis().pipeline(transaction=False)
    marked = set(message_ids)
    # Grouped once for both: what went out is (nearly always) among the ids marked.
    every_id = [*message_ids, *(m for m in delivered if m not in marked)]
    for block, members in _grouped(every_id).items():
        name = _ledger_key(version_id, node_id, block)
        outputs: dict[Any, bytes] = {f: delivered[m] for f, m in members if m in delivered}
        if outputs:
            pipe.hset(name, mapping=outputs)
            pipe.expire(name, ttl)
        if len(outputs) < len(members):
            pipe.hdel(name, *[field for field, m in members if m not in delivered])
    pipe.execute()


def forget_committed(
    version_id: int,
    node_ids: list[str],
    committed: list[tuple[str, int, int]],
    swept: dict[tuple[str, int], int],
) -> int:
    """Drop the ledger blocks of `node_ids` that lie wholly below offsets just committed:
    `committed` holds (topic, partition, next offset) and `swept` the next block to drop per
    partition, kept by the committing consumer (a new consumer drops the last
    FIRST_SWEEP_BLOCKS; none drops more than MAX_SWEEP_BLOCKS at once). Returns how many
    hashes were dropped or asked to be.

    Their messages cannot run again (commits are in order, and a batch runs again only until
    it is committed), except by rewinding the partition, which should send them again anyway:
    a replay clears the whole ledger for that reason."""
    names, reached = [], {}
    for topic, partition, next_offset in committed:
        end = next_offset // BLOCK_OFFSETS
        start = swept.get((topic, partition), end - FIRST_SWEEP_BLOCKS)
        start = max(0, start, end - MAX_SWEEP_BLOCKS)
        for block in range(start, end):
            for node_id in node_ids:
                names.append(_ledger_key(version_id, node_id, f"{topic}:{partition}:{block}"))
        reached[(topic, partition)] = max(start, end)
    if names:
        get_redis().unlink(*names)  # freed by Redis in the background
    swept.update(reached)  # only once dropped: a failure leaves them to the next commit
    return len(names)


def duplicates(flow_id: int) -> int:
    return int(get_redis().hget(duplicates_key(), str(flow_id)) or 0)


def forget_version(version_id: int) -> int:
    """Drop a version's ledger, so that a replay sends its messages again. Returns the number
    of messages forgotten."""
    client = get_redis()
    ledgers = list(client.scan_iter(match=key("ledger", version_id, "*"), count=1000))
    dropped = 0
    for start in range(0, len(ledgers), 500):
        part = ledgers[start : start + 500]
        pipe = client.pipeline(transaction=False)
        for name in part:
            pipe.hlen(name)
        dropped += sum(pipe.execute())
        client.delete(*part)
    return dropped
