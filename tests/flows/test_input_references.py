"""A step's input stored once: a record whose input is an earlier record's output points there
(`input_from`), and every reader (the API, a retry) gets the input back as it was.

Runs the real engine step by step (the code steps in the real sandbox) on SQLite and on
PostgreSQL (DATABASE_URL).
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from components.base import TriggerRecord
from components.kafka.records import build_record
from flows.choices import ExecutionStatus
from flows.engine.jobs import (
    BODY_ENCODED,
    SOURCE,
    Job,
    fill_from_messages,
    job_from_records,
    step_record,
    summary_of,
)
from flows.engine.steps import VersionContext, _input_from, _open, run_job_step
from flows.graph import plan_for
from flows.models import Flow, Workspace
from flows.services.executions import retry_execution
from flows.services.flows import create_flow, publish_flow
from flows.step_records import resolve_inputs
from tests.factories import chain, code_node, kafka_node

pytestmark = pytest.mark.django_db

# Two outputs per message, then each output on its own: the second step's inputs are outputs
# of the first, by index.
SPLIT = "def run(msg):\n    return [{'part': 1, **msg.body}, {'part': 2, **msg.body}]\n"
ECHO = (
    "def run(msg):\n"
    "    if msg.body.get('fail') and msg.body['part'] == 2:\n"
    "        raise ValueError('part two refused')\n"
    "    return msg.body\n"
)


def run_flow(workspace: Workspace, bodies: list[dict[str, Any]], name: str = "Split") -> Flow:
    graph = chain(kafka_node(), code_node(SPLIT, "split"), code_node(ECHO, "echo"))
    flow = create_flow(workspace, name, graph, None)
    version = publish_flow(flow, None)
    records = [
        build_record(
            "events", 0, offset, b"k", orjson.dumps(body), [("h", b"v")], 1_700_000, "json"
        )
        for offset, body in enumerate(bodies)
    ]
    job: Job | None = job_from_records(flow.id, version.id, plan_for(graph), records)
    while job is not None:
        job = run_job_step(job)
    return flow


def stored_steps(flow: Flow) -> list[dict[str, Any]]:
    execution = flow.executions.get()
    return list(execution.steps)


def test_inputs_point_to_the_outputs_they_were_and_the_api_shows_them_whole(
    workspace: Workspace, api: APIClient
) -> None:
    flow = run_flow(workspace, [{"n": 7}])
    stored = stored_steps(flow)
    assert [step["node_id"] for step in stored] == ["in", "split", "echo", "echo"]
    # Only the trigger's message and each step's outputs are stored; inputs are references.
    assert [step.get("input_from") for step in stored] == [None, [0], [1, 0], [1, 1]]
    assert [step["input"] for step in stored[1:]] == [None, None, None]

    execution = flow.executions.get()
    response = api.get(f"/api/v1/executions/{execution.id}/")
    assert response.status_code == 200, response.content
    steps = response.json()["steps"]
    assert all("input_from" not in step for step in steps)
    message = steps[0]["output"]
    assert message["body"] == {"n": 7} and message["headers"] == {"h": "v"}
    assert steps[1]["input"] == message
    for index, step in enumerate(steps[2:]):
        assert step["input"] == {
            "id": f"{message['id']}/{index}",
            "body": {"part": index + 1, "n": 7},
            "headers": message["headers"],
            "meta": message["meta"],
        }
        assert step["output"] == [step["input"]["body"]]


def test_a_failed_step_retried_gets_its_input_back(workspace: Workspace, eager_tasks: None) -> None:
    flow = run_flow(workspace, [{"n": 1, "fail": True}])
    execution = flow.executions.get()
    assert execution.status == ExecutionStatus.FAILED and execution.failed_node == "echo"
    assert execution.retry_input is not None and SOURCE not in execution.retry_input
    assert execution.retry_input["body"] == {"part": 2, "n": 1, "fail": True}

    retry_execution(execution)
    execution.refresh_from_db()
    steps = resolve_inputs(execution.steps)
    # The failed step ran again on the same input (it fails the same way, on the same message).
    assert execution.attempts == 2 and steps[-1]["node_id"] == "echo"
    assert steps[-1]["input"] == execution.retry_input
    assert "ValueError: part two refused" in steps[-1]["error"]
    # The steps before it are kept, their inputs whole (the retry stores them in full).
    assert steps[1]["input"] == steps[0]["output"] and steps[1]["node_id"] == "split"


def test_a_cut_output_is_no_source_the_input_is_stored_itself(workspace: Workspace) -> None:
    with override_settings(TRIBUTARY_RECORD_MAX_BYTES=200):
        flow = run_flow(workspace, [{"blob": "b" * 300}])
    stored = stored_steps(flow)
    assert stored[0]["output"]["truncated"] is True
    # Nothing points into a cut record: each input is kept (cut) in its own record.
    assert all("input_from" not in step for step in stored)
    assert all(step["input"]["truncated"] is True for step in stored[1:])


def test_a_trigger_message_waits_with_its_body_encoded_once() -> None:
    """The runner encodes a body once and the job carries it once, at the first actions; the
    worker makes the summary and the trigger's record from it, as the runner would have. The
    code step gets it as that JSON, undecoded, and any other step decoded."""
    graph = chain(kafka_node(), code_node(ECHO))
    plan = plan_for(graph)
    body = {"n": 7, "text": "é\u2028", "nested": {"list": [1, 2.5, None]}}
    record = build_record("events", 0, 3, b"k", orjson.dumps(body), [], 1_700_000, "json")
    job = job_from_records(1, 1, plan, [record])

    item = job["items"][0]
    (waiting,) = item["pending"][graph["nodes"][1]["id"]]
    assert waiting["body"] == orjson.dumps(body).decode() and waiting[BODY_ENCODED] is True
    assert (item["steps"], item["summary"], item["meta"]) == ([], "", {})
    job = orjson.loads(orjson.dumps(job))  # as the worker gets it
    item = job["items"][0]
    fill_from_messages(job["items"], plan.trigger.id, plan.trigger.component)
    assert item["summary"] == waiting["body"] and item["meta"] == record.message["meta"]
    trigger_output = orjson.loads(item["steps"][0]["stored"])["output"]
    assert trigger_output == record.message and item["steps"][0]["whole"]
    assert list(trigger_output) == list(record.message)
    steps_before = list(item["steps"])
    fill_from_messages(job["items"], plan.trigger.id, plan.trigger.component)
    assert item["steps"] == steps_before  # filled once

    passed, decoded = dict(waiting), dict(waiting)
    _open([passed], pass_through=True)
    _open([decoded], pass_through=False)
    assert isinstance(passed["body"], orjson.Fragment) and BODY_ENCODED not in passed
    assert orjson.loads(orjson.dumps(passed)) == {**record.message, SOURCE: [0]}
    assert decoded == {**record.message, SOURCE: [0]}
    # The key order a step sees is the message's own.
    assert list(decoded) == [*record.message, SOURCE]


@pytest.mark.parametrize("body", ["plain text, " * 60, "", {"long": "x" * 600}])
def test_a_summary_made_by_the_worker_is_the_runners(body: Any) -> None:
    plan = plan_for(chain(kafka_node(), code_node(ECHO)))
    message = {"id": "t:0:1", "body": body, "headers": {}, "meta": {"offset": 1}}
    [item] = job_from_records(1, 1, plan, [TriggerRecord(message=message)])["items"]

    fill_from_messages([item], plan.trigger.id, plan.trigger.component)

    assert item["summary"] == summary_of(body)


def test_a_message_the_trigger_could_not_read_is_recorded_by_the_runner() -> None:
    plan = plan_for(chain(kafka_node(), code_node(ECHO)))
    record = build_record("events", 0, 3, b"k", b"{broken", [], 1_700_000, "json")
    [item] = job_from_records(1, 1, plan, [record])["items"]

    assert item["failed_node"] == plan.trigger.id and not item["pending"]
    assert item["summary"] == "{broken" and item["meta"] == record.message["meta"]
    stored = orjson.loads(item["steps"][0]["stored"])
    assert stored["status"] == "failed" and "not valid JSON" in stored["error"]


def test_a_trigger_message_carrying_a_secret_is_not_pointed_to() -> None:
    """The trigger's record is not masked (the runner knows no secrets): a step whose input
    holds a secret keeps its own, masked, copy."""
    plan = plan_for(chain(kafka_node(), code_node(ECHO)))
    message = '{"id":"m","body":{"token":"s3cr3t-value"}}'
    trigger = step_record(0, "in", "kafka", "succeeded", 0.0, output=message, whole=True)

    def source(secrets: tuple[str, ...], earlier: list[Any]) -> list[int] | None:
        return _input_from(VersionContext(1, 1, 1, plan, secrets, 0), [0], earlier)

    assert source((), [trigger]) == [0]
    assert source(("s3cr3t-value",), [trigger]) is None
    assert source((), [{**trigger, "whole": False}]) is None  # masked or cut
    assert _input_from(VersionContext(1, 1, 1, plan, (), 0), [3], [trigger]) is None


def test_resolving_leaves_records_without_references_alone() -> None:
    plain = [{"position": 0, "input": {"a": 1}, "output": [1]}]
    assert resolve_inputs(plain) == plain
    # A reference that does not fit (never written so) reads as no input, not an error.
    broken: list[dict[str, Any]] = [
        {"position": 0, "output": [1]},
        {"position": 1, "input": None, "input_from": [0, 5]},
    ]
    assert resolve_inputs(broken)[1] == {"position": 1, "input": None}
    assert "input_from" in broken[1]  # the stored records are not changed


def test_each_branch_points_to_the_step_it_came_from(workspace: Workspace) -> None:
    """One output routed to two steps: both keep a reference, neither a copy."""
    nodes = [kafka_node(), code_node(SPLIT, "split"), code_node(ECHO, "a"), code_node(ECHO, "b")]
    edges = [{"source": "in", "target": "split"}]
    edges += [{"source": "split", "target": target} for target in ("a", "b")]
    graph = {"nodes": nodes, "edges": edges}
    flow = create_flow(workspace, "Branches", graph, None)
    version = publish_flow(flow, None)
    record = build_record("events", 0, 0, b"k", b'{"n": 3}', [], 1_700_000, "json")
    job: Job | None = job_from_records(flow.id, version.id, plan_for(graph), [record])
    while job is not None:
        job = run_job_step(job)

    stored = stored_steps(flow)
    branches = sorted((step["node_id"], step["input_from"]) for step in stored[2:])
    assert branches == [("a", [1, 0]), ("a", [1, 1]), ("b", [1, 0]), ("b", [1, 1])]
    resolved = resolve_inputs(stored)
    assert {step["input"]["body"]["part"] for step in resolved[2:]} == {1, 2}
