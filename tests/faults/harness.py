"""What every fault scenario shares: events with ids, the flow, the processes, the tally.

A scenario produces a known set of events (the sample events' shape, each with its own
`event_id`), runs them through Kafka → code (the demo transform, which also passes the
`event_id` on) → Bloomreach stand-in on real processes, injects its fault, and counts at the
stand-in how often each event arrived. The numbers go to stdout (`pytest -s`) and, one JSON
line per scenario, to test-artifacts/faults.jsonl.

Times: `recover_s` is from the moment the fault was lifted (process restarted, server back)
to the moment every expected event had arrived; for faults that never lift (error rates,
slowness, poison) it is from the first event produced to the last one delivered.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer
from rest_framework.test import APIClient

from components.bloomreach.component import BloomreachAction
from components.bloomreach.standin import KEEP, BloomreachStandIn
from config.services import create_topic
from flows.demo import TRANSFORM
from flows.models import Flow
from tests.factories import (
    bloomreach_credential_fields,
    bloomreach_node,
    chain,
    code_node,
    kafka_node,
)
from tests.fixtures.stack import QUEUE, ROOT, Process, wait_for
from tests.test_end_to_end import all_executions, committed_offsets, sample_records

ARTIFACT = ROOT / "test-artifacts" / "faults.jsonl"
# The engine records a delivering step's messages in the ledger per chunk of this many, after
# the chunk's requests: a chunk cut short (worker killed, Redis gone) is re-sent in part.
LEDGER_CHUNK = BloomreachAction.descriptor.delivery_chunk
# One id for every scenario of a pytest session, so the lines of one run can be told apart.
RUN_ID = time.strftime("%Y%m%dT%H%M%S") + f"-{os.getpid()}"

# The demo transform, unchanged, plus the event's own id in the command's properties: the
# stand-in then shows which event each accepted command came from (a duplicate is an id seen
# twice). Sandbox code may not use names starting with "_".
FAULT_TRANSFORM = (
    TRANSFORM.read_text()
    + """

demo_run = run


def run(msg):
    command = demo_run(msg)
    if command is not None:
        command["data"]["properties"]["event_id"] = msg.body.event_id
    return command
"""
)

# A record as produce() takes it: (key, value) or (key, value, headers).
Record = tuple[Any, ...]


def valid_events(count: int, tag: str) -> list[tuple[str, bytes]]:
    """`count` sample events that the transform delivers, each with the id `<tag>-<n>`.

    They come from the shipped sample (valid JSON with a user id), cycled if need be, so
    they have the shape of real traffic; the id is rewritten so every one is unique.
    """
    pool = []
    for key, value in sample_records():
        try:
            body = json.loads(value)
        except ValueError:
            continue
        if isinstance(body, dict) and body.get("user_id"):
            pool.append((key, body))
    events = []
    for index in range(count):
        key, body = pool[index % len(pool)]
        body = {**body, "event_id": f"{tag}-{index:05d}"}
        events.append((key or "", json.dumps(body).encode()))
    return events


def event_ids(records: Iterable[Record]) -> list[str]:
    return [json.loads(record[1])["event_id"] for record in records]


@dataclass
class Produced:
    """Where produced records went: each record's (partition, offset), in produce order."""

    positions: list[tuple[int, int]]

    @property
    def ends(self) -> dict[int, int]:
        """Per partition, the offset after the last record written."""
        ends: dict[int, int] = {}
        for partition, offset in self.positions:
            ends[partition] = max(ends.get(partition, 0), offset + 1)
        return ends


def produce(
    bootstrap: str,
    topic: str,
    records: Iterable[Record],
    partition: int | None = None,
    **config: Any,
) -> Produced:
    """Produce and wait for every acknowledgement.

    Records are (key, value) or (key, value, headers). `config` adds producer settings
    (e.g. `message.max.bytes` for a large record).
    """
    records = list(records)
    positions: list[tuple[int, int] | None] = [None] * len(records)
    errors: list[Any] = []

    def reporter(index: int) -> Callable[[Any, Any], None]:
        def delivered(error: Any, message: Any) -> None:
            if error is not None:
                errors.append(error)
            else:
                positions[index] = (message.partition(), message.offset())

        return delivered

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, **config})
    for index, record in enumerate(records):
        key, value = record[0], record[1]
        headers = record[2] if len(record) > 2 else None
        extra = {"partition": partition} if partition is not None else {}
        producer.produce(
            topic, value=value, key=key, headers=headers, on_delivery=reporter(index), **extra
        )
    assert producer.flush(30) == 0, "records not acknowledged within 30 s"
    assert not errors, f"records not delivered: {errors[:3]}"
    return Produced([p for p in positions if p is not None])


def new_topic(bootstrap: str, prefix: str, partitions: int = 1) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, name, partitions=partitions)
    return name


def make_flow(
    api: APIClient,
    bootstrap: str,
    topic: str,
    standin_url: str,
    *,
    code: str = FAULT_TRANSFORM,
    batch_size: int = 50,
    bloomreach: dict[str, Any] | None = None,
    retry: dict[str, Any] | None = None,
    start: bool = True,
) -> int:
    """Create, publish and (by default) start Kafka → code → Bloomreach; the flow's id.

    Fast settings for tests: the trigger waits at most 100 ms to fill a batch and uses the
    shortest session timeout brokers accept (6 s), so a dead runner's partitions move soon.
    `retry` is the delivering node's engine retry policy (node["retry"]).
    """
    credential = api.post(
        "/api/v1/credentials/",
        {"name": "Stand-in", "type": "bloomreach", "fields": bloomreach_credential_fields()},
        format="json",
    ).json()["id"]
    destination = bloomreach_node(
        standin_url, credential, **{"retries": 12, "timeout_seconds": 10, **(bloomreach or {})}
    )
    if retry is not None:
        destination["retry"] = retry
    graph = chain(
        kafka_node(
            topic,
            bootstrap_servers=bootstrap,
            batch_size=batch_size,
            max_wait_ms=100,
            session_timeout_ms=6000,
        ),
        code_node(code),
        destination,
    )
    flow = api.post("/api/v1/flows/", {"name": f"faults {topic}", "graph": graph}, format="json")
    assert flow.status_code == 201, flow.content
    flow_id = int(flow.json()["id"])
    published = api.post(f"/api/v1/flows/{flow_id}/publish/")
    assert published.status_code == 201, published.content
    if start:
        assert api.post(f"/api/v1/flows/{flow_id}/start/").json()["status"] == "running"
    return flow_id


def flow_status(flow_id: int) -> tuple[str, str]:
    flow = Flow.objects.get(id=flow_id)
    return str(flow.status), flow.status_reason


# --- counting at the stand-in ---------------------------------------------------------------


@dataclass
class Tally:
    """What the stand-in accepted, against the ids we expect."""

    expected: int
    delivered: int  # expected ids seen at least once
    duplicates: int  # accepted commands beyond one per expected id
    missing: list[str]
    unexpected: list[str]  # ids seen that we never expected (poison that got through)
    commands: int

    @property
    def complete(self) -> bool:
        return not self.missing


def tally(standin: BloomreachStandIn, expected: Iterable[str]) -> Tally:
    """Count the stand-in's accepted commands by event id.

    The stand-in shows only its last KEEP accepted commands, so a scenario stays below that
    (asserted here): then every accepted command is in view and the counts are exact.
    """
    stats = standin.stats()
    assert stats["commands"] <= KEEP, (
        f"{stats['commands']} commands exceed the stand-in's window of {KEEP}: "
        "the scenario must produce fewer events"
    )
    seen = Counter(str((e.get("properties") or {}).get("event_id")) for e in stats["events"])
    wanted = set(expected)
    delivered = sum(1 for event_id in wanted if seen[event_id])
    duplicates = sum(n - 1 for event_id, n in seen.items() if event_id in wanted and n > 1)
    return Tally(
        expected=len(wanted),
        delivered=delivered,
        duplicates=duplicates,
        missing=sorted(wanted - set(seen)),
        unexpected=sorted(set(seen) - wanted),
        commands=stats["commands"],
    )


def wait_delivered(
    standin: BloomreachStandIn,
    expected: list[str],
    timeout: float,
    what: str = "",
    flow_id: int | None = None,
) -> Tally:
    """Wait until every expected id arrived at least once; the tally at that moment.

    With `flow_id`, a flow that turned "failed" ends the wait at once, with its reason: it
    would never deliver the rest.
    """
    state: dict[str, Tally] = {}

    def done() -> bool:
        state["tally"] = tally(standin, expected)
        if flow_id is not None and not state["tally"].complete:
            status, reason = flow_status(flow_id)
            assert status != "failed", (
                f"the flow failed with {state['tally'].delivered}/{len(expected)} events "
                f"delivered: {reason}"
            )
        return state["tally"].complete

    try:
        wait_for(done, timeout, what or f"{len(expected)} events at the stand-in", interval=0.2)
    except AssertionError as error:
        last = state.get("tally")
        if last is not None:
            raise AssertionError(
                f"{error}: {last.delivered}/{last.expected} arrived, "
                f"{len(last.missing)} missing (first: {last.missing[:5]})"
            ) from None
        raise
    return state["tally"]


def wait_settled(
    api: APIClient,
    flow_id: int,
    records: int,
    bootstrap: str,
    topic: str,
    ends: dict[int, int],
    partitions: int,
    timeout: float = 60,
) -> list[dict[str, Any]]:
    """Wait until the flow recorded one execution per record and committed every offset.

    After that no batch of this flow is in flight, so a later tally is final. Returns the
    executions.
    """
    group = f"tributary-flow-{flow_id}"
    wanted = [ends.get(p, 0) for p in range(partitions)]
    found: dict[str, list[dict[str, Any]]] = {}

    def recorded() -> bool:
        found["all"] = all_executions(api, flow_id)
        return len(found["all"]) >= records

    wait_for(recorded, timeout, f"an execution for each of {records} records")
    wait_for(
        lambda: committed_offsets(bootstrap, group, topic, partitions) == wanted,
        timeout,
        f"committed offsets {wanted}",
    )
    return found["all"]


# --- the scenario's record ------------------------------------------------------------------


@dataclass
class Timeline:
    """Moments of a scenario (time.monotonic()); see the module docstring for recover_s."""

    started: float = field(default_factory=time.monotonic)
    fault: float | None = None
    restored: float | None = None
    complete: float | None = None

    def mark_fault(self) -> None:
        self.fault = time.monotonic()

    def mark_restored(self) -> None:
        self.restored = time.monotonic()

    def mark_complete(self) -> None:
        self.complete = time.monotonic()

    def recover_seconds(self) -> float | None:
        if self.complete is None:
            return None
        return round(self.complete - (self.restored or self.started), 2)


def report(
    scenario: str,
    produced: int,
    result: Tally,
    timeline: Timeline,
    **extra: Any,
) -> dict[str, Any]:
    """Print the scenario's numbers and append them as one JSON line to ARTIFACT."""
    line = {
        "run": RUN_ID,
        "scenario": scenario,
        "produced": produced,
        "expected": result.expected,
        "delivered": result.delivered,
        "duplicates": result.duplicates,
        "missing": len(result.missing),
        "recover_s": timeline.recover_seconds(),
        "scenario_s": round(time.monotonic() - timeline.started, 2),
        **extra,
    }
    print(f"\nFAULT {json.dumps(line)}", file=sys.stderr)
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    with ARTIFACT.open("a") as out:
        out.write(json.dumps(line) + "\n")
    return line


# --- processes ------------------------------------------------------------------------------


class Processes:
    """Celery workers and trigger runners of one scenario, started in parallel where asked.

    Each gets the scenario's environment plus per-process overrides; all are killed when the
    scenario ends. Start them after creating the flow: a runner that finds the flow running
    at its first sync joins the consumer group at once.
    """

    def __init__(self, env: dict[str, str], label: str) -> None:
        self.env = env
        self.label = label
        self.started: list[Process] = []
        self._count = 0
        self._lock = threading.Lock()

    def _name(self, kind: str) -> str:
        with self._lock:
            self._count += 1
            return f"{self.label}-{kind}{self._count}"

    def worker(self, **env: str) -> Process:
        name = self._name("worker")
        argv = [
            sys.executable, "-m", "celery", "-A", "config", "worker",
            "--pool", "solo", "-Q", QUEUE, "-l", "info", "-n", f"{name}@%h",
            # Not needed by the engine; skipping them saves a second at every start.
            "--without-mingle", "--without-gossip",
        ]  # fmt: skip
        return self._add(Process(name, argv, {**self.env, **env}, "ready."))

    def runner(self, **env: str) -> Process:
        argv = [sys.executable, str(ROOT / "manage.py"), "run_triggers"]
        name = self._name("runner")
        return self._add(Process(name, argv, {**self.env, **env}, "watching for running flows"))

    def start(self, workers: int = 1, runners: int = 1, **env: str) -> list[Process]:
        """Start that many workers and runners at once; workers first in the result."""
        jobs: list[Callable[[], Process]] = [lambda: self.worker(**env)] * workers
        jobs += [lambda: self.runner(**env)] * runners
        with ThreadPoolExecutor(len(jobs)) as pool:
            return list(pool.map(lambda job: job(), jobs))

    def _add(self, process: Process) -> Process:
        with self._lock:
            self.started.append(process)
        return process

    def stop_all(self) -> None:
        """Kill them all: by then the scenario has settled (every batch recorded and
        committed), so a graceful stop would only cost a second or two per process."""
        for process in self.started:
            process.kill()
            process.log.close()


def children_of(pid: int) -> Iterator[int]:
    """Pids of the processes whose parent is `pid` (from /proc, no psutil)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited while we looked
        # The command name may hold spaces and parentheses: fields start after the last ")".
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            yield int(entry.name)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process used so far (0 if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def json_key(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def on_postgres() -> bool:
    from django.conf import settings

    return "postgresql" in settings.DATABASES["default"]["ENGINE"]


# The marks of every scenario module but the database's. The PostgreSQL pass runs that one
# alone: the others exercise processes, Redis and the destination, whatever the database.
SQLITE_PASS = [
    pytest.mark.slow,
    pytest.mark.skipif(on_postgres(), reason="runs in the SQLite pass (see test_database.py)"),
]
