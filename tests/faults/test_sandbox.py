"""Scenario 8 of issue 5: the code step's sandbox process killed while it runs a message."""

from __future__ import annotations

import json
import os
import signal
from typing import Any

from rest_framework.test import APIClient

from components.bloomreach.standin import BloomreachStandIn
from tests.faults.harness import (
    FAULT_TRANSFORM,
    SQLITE_PASS,
    Processes,
    Timeline,
    children_of,
    command_line,
    cpu_seconds,
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
from tests.fixtures.stack import wait_for

pytestmark = SQLITE_PASS

# The marked event spins until killed: deterministic, since the test kills the sandbox only
# once it sees it burning CPU on that message (idle, it uses none). The CPU limit is raised
# for this worker so that the spin cannot end by itself first.
SPINNING_TRANSFORM = (
    FAULT_TRANSFORM
    + """

checked_run = run


def run(msg):
    if msg.body.get("spin"):
        while True:
            pass
    return checked_run(msg)
"""
)


def sandbox_processes(worker_pid: int) -> list[int]:
    return [pid for pid in children_of(worker_pid) if "components.code.child" in command_line(pid)]


def test_a_sandbox_process_killed_mid_message_fails_that_message_and_the_rest_flows(
    fault_api: APIClient,
    kafka_broker: Any,
    bloomreach_standin: BloomreachStandIn,
    processes: Processes,
) -> None:
    bootstrap = kafka_broker.bootstrap
    topic = new_topic(bootstrap, "sandbox-kill", partitions=1)
    before, after = valid_events(100, "a"), valid_events(150, "b")[50:]
    key, value = valid_events(1, "spin")[0]
    spinning = (key, json.dumps({**json.loads(value), "spin": True}).encode())
    flow_id = make_flow(
        fault_api, bootstrap, topic, bloomreach_standin.url, code=SPINNING_TRANSFORM
    )
    worker, _ = processes.start(
        TRIBUTARY_SANDBOX_CPU_SECONDS="30", TRIBUTARY_SANDBOX_WALL_SECONDS="60"
    )
    produce(bootstrap, topic, before)
    wait_delivered(bloomreach_standin, event_ids(before), 60, "the events before", flow_id)
    [sandbox] = wait_for(lambda: sandbox_processes(worker.process.pid), 10, "the sandbox process")
    idle_cpu = cpu_seconds(sandbox)

    # The marked event first, in the same batch as the events after it.
    timeline = Timeline()
    produced = produce(bootstrap, topic, [spinning, *after])
    wait_for(lambda: cpu_seconds(sandbox) > idle_cpu + 0.3, 30, "the sandbox to spin on the event")
    os.kill(sandbox, signal.SIGKILL)
    timeline.mark_fault()
    # Its results come grouped, so the worker cannot tell on which message the process was
    # lost: it runs the messages it had no result for again, one by one, on a fresh process
    # (the pool replaces it on its own). That one spins on the event too and is killed too;
    # now the event is known, and only it fails.
    again = wait_for(
        lambda: next(iter(set(sandbox_processes(worker.process.pid)) - {sandbox}), None),
        30,
        "a fresh sandbox process",
    )
    started_cpu = cpu_seconds(again)
    wait_for(lambda: cpu_seconds(again) > started_cpu + 1.0, 30, "it to spin on the event")
    os.kill(again, signal.SIGKILL)
    timeline.mark_restored()

    ids = event_ids(before) + event_ids(after)
    wait_delivered(bloomreach_standin, ids, 60, "every other event after the kill", flow_id)
    timeline.mark_complete()
    records = len(before) + 1 + len(after)
    executions = wait_settled(
        fault_api, flow_id, records, bootstrap, topic, produced.ends, 1, timeout=30
    )
    result = tally(bloomreach_standin, ids)
    marked_offset = produced.positions[0][1]
    [marked] = [e for e in executions if e["offset"] == marked_offset]
    respawned = sandbox_processes(worker.process.pid)
    report(
        "sandbox SIGKILL mid-message", records, result, timeline,
        killed_message=marked["status"], error=marked["error"],
    )  # fmt: skip
    assert marked["status"] == "failed" and marked["failed_node"] == "transform"
    assert "sandbox process died" in marked["error"] and "signal 9" in marked["error"]
    assert result.complete and not result.unexpected and result.duplicates == 0
    others = [e for e in executions if e["offset"] != marked_offset]
    assert {e["status"] for e in others} == {"succeeded"}
    assert respawned and not {sandbox, again} & set(respawned), "the pool starts fresh ones"
    assert flow_status(flow_id)[0] == "running"
