"""Scenarios 1 to 3 of issue 5: engine processes killed mid-batch (SIGKILL, as a crash would)."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient

from components.bloomreach.standin import BloomreachStandIn
from tests.faults.harness import (
    LEDGER_CHUNK,
    SQLITE_PASS,
    Processes,
    Timeline,
    event_ids,
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


def mid_chunk(standin: BloomreachStandIn, after: int) -> bool:
    """More than `after` commands arrived and the current ledger chunk is partly sent."""
    commands = standin.stats()["commands"]
    return commands > after and 0 < commands % LEDGER_CHUNK < LEDGER_CHUNK - 5


def test_a_worker_killed_mid_chunk_loses_nothing_and_repeats_at_most_that_chunk(
    fault_api: APIClient,
    kafka_broker: Any,
    bloomreach_standin: BloomreachStandIn,
    processes: Processes,
) -> None:
    """Scenario 1. The ledger cannot cover the chunk in flight (sent, not yet recorded), so
    its sent part is delivered twice: bounded by one chunk, reported, never lost."""
    bootstrap = kafka_broker.bootstrap
    topic = new_topic(bootstrap, "kill-worker", partitions=1)
    events = valid_events(300, "w")
    ids = event_ids(events)
    # One partition, all events there before the consumer joins: every Kafka batch is a full
    # ledger chunk of 50, so a count of commands that is no multiple of 50 means a chunk is
    # half sent. Ten commands per request, 100 ms each: a chunk takes half a second. The
    # runner dispatches a batch again after 3 s without an answer (the killed worker's).
    bloomreach_standin.configure(latency_ms=100)
    flow_id = make_flow(
        fault_api, bootstrap, topic, bloomreach_standin.url, bloomreach={"batch_size": 10}
    )
    worker, _ = processes.start(TRIBUTARY_BATCH_TIMEOUT="3")
    timeline = Timeline()
    ends = produce(bootstrap, topic, events).ends

    wait_for(lambda: mid_chunk(bloomreach_standin, 60), 60, "a chunk half sent")
    worker.kill()
    timeline.mark_fault()
    before = tally(bloomreach_standin, ids)
    assert before.delivered < len(ids), "the kill came too late to prove anything"

    processes.worker(TRIBUTARY_BATCH_TIMEOUT="3")
    timeline.mark_restored()
    wait_delivered(bloomreach_standin, ids, 90, "every event after the worker restart", flow_id)
    timeline.mark_complete()
    executions = wait_settled(fault_api, flow_id, len(events), bootstrap, topic, ends, 1)
    result = tally(bloomreach_standin, ids)
    report(
        "worker SIGKILL mid-chunk",
        len(events),
        result,
        timeline,
        delivered_before_kill=before.delivered,
    )
    assert result.complete and not result.unexpected
    assert 0 < result.duplicates <= LEDGER_CHUNK, "only the chunk in flight may repeat"
    assert {e["status"] for e in executions} == {"succeeded"}


def test_a_trigger_runner_killed_mid_batch_loses_nothing_and_sends_nothing_twice(
    fault_api: APIClient,
    kafka_broker: Any,
    bloomreach_standin: BloomreachStandIn,
    processes: Processes,
) -> None:
    """Scenario 2. The worker finishes the batches the dead runner dispatched (and records
    them in the ledger); their offsets were never committed, so the new runner reads them
    again and the ledger skips every message of them."""
    bootstrap = kafka_broker.bootstrap
    topic = new_topic(bootstrap, "kill-runner", partitions=1)
    events = valid_events(300, "r")
    ids = event_ids(events)
    bloomreach_standin.configure(latency_ms=100)
    flow_id = make_flow(
        fault_api, bootstrap, topic, bloomreach_standin.url, bloomreach={"batch_size": 10}
    )
    _, runner = processes.start()
    timeline = Timeline()
    ends = produce(bootstrap, topic, events).ends

    wait_for(lambda: mid_chunk(bloomreach_standin, 60), 60, "a batch in flight")
    runner.kill()
    timeline.mark_fault()
    in_flight = tally(bloomreach_standin, ids).delivered
    # The batch the dead runner dispatched still completes: it was the worker's, not its.
    wait_for(
        lambda: tally(bloomreach_standin, ids).delivered % LEDGER_CHUNK == 0,
        30,
        "the orphaned batch to finish",
    )
    assert tally(bloomreach_standin, ids).delivered < len(ids), "the kill came too late"

    processes.runner()
    timeline.mark_restored()
    wait_delivered(bloomreach_standin, ids, 90, "every event after the runner restart", flow_id)
    timeline.mark_complete()
    executions = wait_settled(fault_api, flow_id, len(events), bootstrap, topic, ends, 1)
    result = tally(bloomreach_standin, ids)
    report("runner SIGKILL mid-batch", len(events), result, timeline, in_flight_at_kill=in_flight)
    assert result.complete and not result.unexpected
    assert result.duplicates == 0, "the ledger must skip what the orphaned batch delivered"
    assert {e["status"] for e in executions} == {"succeeded"}


def test_two_runners_share_a_flow_and_the_survivor_takes_over_a_killed_ones_partitions(
    fault_api: APIClient,
    kafka_broker: Any,
    bloomreach_standin: BloomreachStandIn,
    processes: Processes,
) -> None:
    """Scenario 3. Two runners consume the flow's topic in one consumer group; one dies,
    the group rebalances after its session timeout and the other takes all partitions."""
    bootstrap = kafka_broker.bootstrap
    partitions = 4
    topic = new_topic(bootstrap, "two-runners", partitions=partitions)
    events = valid_events(400, "g")
    ids = event_ids(events)
    bloomreach_standin.configure(latency_ms=50)
    flow_id = make_flow(
        fault_api, bootstrap, topic, bloomreach_standin.url, bloomreach={"batch_size": 10}
    )
    _, first, second = processes.start(workers=1, runners=2)

    def assigned(runner: Any) -> bool:
        return f"assigned ['{topic}[" in runner.output()

    wait_for(lambda: assigned(first) and assigned(second), 60, "both runners to own partitions")
    timeline = Timeline()
    ends = produce(bootstrap, topic, events).ends

    wait_for(lambda: mid_chunk(bloomreach_standin, 100), 60, "batches in flight")
    first.kill()
    timeline.mark_fault()
    timeline.mark_restored()  # nothing is restarted: recovery is the rebalance alone
    before = tally(bloomreach_standin, ids).delivered
    assert before < len(ids), "the kill came too late to prove anything"
    wait_delivered(bloomreach_standin, ids, 90, "every event after the rebalance", flow_id)
    timeline.mark_complete()
    executions = wait_settled(fault_api, flow_id, len(events), bootstrap, topic, ends, partitions)
    result = tally(bloomreach_standin, ids)
    report(
        "two runners, one SIGKILLed", len(events), result, timeline, delivered_before_kill=before
    )
    assert result.complete and not result.unexpected
    assert result.duplicates == 0
    assert {e["status"] for e in executions} == {"succeeded"}
    assert "revoked" in second.output() or second.output().count("assigned") > 1
