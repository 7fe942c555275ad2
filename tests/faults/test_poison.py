"""Scenario 9 of issue 5: poison records mixed into a stream of valid events."""

from __future__ import annotations

import json
from typing import Any

from rest_framework.test import APIClient

from components.bloomreach.standin import BloomreachStandIn
from tests.faults.harness import (
    SQLITE_PASS,
    Processes,
    Timeline,
    event_ids,
    flow_status,
    make_flow,
    new_topic,
    produce,
    report,
    tally,
    valid_events,
    wait_delivered,
    wait_settled,
)

pytestmark = SQLITE_PASS

MEGABYTE = 1024 * 1024


def poison() -> dict[str, tuple[Any, ...]]:
    """Records no flow can deliver, by what is wrong with them."""
    key, value = valid_events(1, "poison")[0]
    event = json.loads(value)
    return {
        "invalid UTF-8": (key, b'{"user_id": "u-\xff\xfe"}'),
        "not JSON": (key, b"user_id=u-1&type=purchase"),
        "empty value": (key, b""),
        "null key and null value (a tombstone)": (None, None),
        "10,000 nested lists": (key, b"[" * 10_000 + b"]" * 10_000),
        "10,000 nested objects": (key, b'{"a":' * 10_000 + b"1" + b"}" * 10_000),
        # Valid JSON whose transform output holds a 1 MB property: past Bloomreach's limits.
        "a 1 MB event": (key, json.dumps({**event, "email": "x" * MEGABYTE}).encode()),
        "a timestamp that is no number": (key, json.dumps({**event, "ts": "yesterday"}).encode()),
        "a JSON list, not an object": (key, b"[1, 2, 3]"),
    }


# What each poison record's error must name (lower-cased substrings, any of them).
NAMED = {
    "invalid UTF-8": ["utf-8"],
    "not JSON": ["not valid json"],
    "empty value": ["empty"],
    "null key and null value (a tombstone)": ["empty"],
    "10,000 nested lists": ["depth", "recursion", "nest"],
    "10,000 nested objects": ["depth", "recursion", "nest"],
    "a 1 MB event": ["too large", "too long", "exceeds", "bytes"],
    "a timestamp that is no number": ["valueerror", "invalid literal"],
    "a JSON list, not an object": ["attributeerror", "has no attribute"],
}


def test_poison_records_fail_cleanly_naming_the_problem_and_every_valid_event_arrives(
    fault_api: APIClient,
    kafka_broker: Any,
    bloomreach_standin: BloomreachStandIn,
    processes: Processes,
) -> None:
    bootstrap = kafka_broker.bootstrap
    topic = new_topic(bootstrap, "poison", partitions=1)
    valid = valid_events(200, "v")
    # Valid events with awkward envelopes: they must arrive like any other.
    valid[10] = (None, valid[10][1])  # null key
    valid[20] = (valid[20][0], valid[20][1], [("trace", b"\xff\x00\xfe"), ("empty", None)])
    bad = poison()
    # Poison every 20 events, so each batch holds some.
    stream: list[tuple[Any, ...]] = []
    kinds: dict[int, str] = {}
    names = list(bad)
    for index, record in enumerate(valid):
        if index % 20 == 5 and names:
            kinds[len(stream)] = names.pop()
            stream.append(bad[kinds[len(stream)]])
        stream.append(record)
    assert not names, "every poison kind is in the stream"

    flow_id = make_flow(fault_api, bootstrap, topic, bloomreach_standin.url)
    processes.start()
    timeline = Timeline()
    produced = produce(bootstrap, topic, stream, **{"message.max.bytes": 4 * MEGABYTE})
    ids = event_ids(valid)

    wait_delivered(bloomreach_standin, ids, 60, "every valid event among the poison", flow_id)
    timeline.mark_complete()
    executions = wait_settled(fault_api, flow_id, len(stream), bootstrap, topic, produced.ends, 1)
    result = tally(bloomreach_standin, ids)
    by_offset = {e["offset"]: e for e in executions}
    outcomes = {}
    for position, kind in kinds.items():
        execution = by_offset[produced.positions[position][1]]
        outcomes[kind] = (execution["status"], execution["error"])
    report(
        "poison records", len(stream), result, timeline,
        poison={kind: f"{status}: {error[:160]}" for kind, (status, error) in outcomes.items()},
    )  # fmt: skip
    for kind, (status, error) in outcomes.items():
        assert status in ("failed", "filtered"), f"{kind}: {status}"
        if status == "failed":
            assert any(word in error.lower() for word in NAMED[kind]), f"{kind}: {error!r}"
    assert result.complete and not result.unexpected and result.duplicates == 0
    valid_offsets = {produced.positions[i][1] for i in range(len(stream)) if i not in kinds}
    assert {by_offset[o]["status"] for o in valid_offsets} == {"succeeded"}
    assert flow_status(flow_id)[0] == "running"
