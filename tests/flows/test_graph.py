from __future__ import annotations

from typing import Any

import pytest

from flows.graph import validate_graph
from tests.factories import bloomreach_node, chain, code_node, kafka_node


def errors_of(graph: Any, complete: bool = True) -> list[str]:
    _, errors = validate_graph(graph, require_complete=complete)
    return [str(e) for e in errors]


def test_a_chain_plans_actions_parents_first() -> None:
    graph = chain(kafka_node(), code_node(), bloomreach_node("http://x", 1))
    plan, errors = validate_graph(graph, require_complete=True)
    assert errors == []
    assert plan is not None
    assert plan.trigger.id == "in"
    assert [n.id for n in plan.actions] == ["transform", "bloomreach"]


def test_a_tree_fans_out() -> None:
    graph = chain(kafka_node(), code_node())
    graph["nodes"].append(code_node("def run(msg):\n    return msg.body\n", node_id="copy"))
    graph["edges"].append({"source": "in", "target": "copy"})
    plan, errors = validate_graph(graph, require_complete=True)
    assert errors == []
    assert plan is not None
    assert plan.children["in"] == ["transform", "copy"]


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ([], "graph must be a JSON object"),
        ({"nodes": "x", "edges": []}, "'nodes' must be a list"),
        (chain({"id": "a", "component": "ftp", "config": {}}), "unknown component 'ftp'"),
        (
            chain(kafka_node(), {"id": "c", "component": "code", "config": {}}),
            "field 'config.code'",
        ),
        (
            chain(kafka_node(node_id="a"), kafka_node(node_id="b")),
            "a trigger cannot have an incoming edge",
        ),
        (
            {"nodes": [kafka_node(node_id="a"), kafka_node(node_id="b")], "edges": []},
            "exactly one trigger",
        ),
        (
            {
                "nodes": [kafka_node(), code_node(node_id="x"), code_node(node_id="y")],
                "edges": [
                    {"source": "x", "target": "y"},
                    {"source": "y", "target": "x"},
                ],
            },
            "cycle",
        ),
        ({"nodes": [kafka_node()], "edges": [{"source": "in", "target": "nope"}]}, "absent"),
        (chain(kafka_node(), code_node(node_id="in")), "duplicate node id"),
        (chain(kafka_node(batch_size="many"), code_node()), "field 'config.batch_size'"),
    ],
)
def test_bad_graphs_are_rejected_naming_the_problem(graph: Any, expected: str) -> None:
    errors = errors_of(graph)
    assert any(expected in e for e in errors), errors


def test_a_draft_may_be_unfinished_but_publishing_needs_it_whole() -> None:
    graph = {"nodes": [kafka_node(), code_node()], "edges": []}
    assert errors_of(graph, complete=False) == []
    assert any("not connected to the trigger" in e for e in errors_of(graph, complete=True))
    assert errors_of({"nodes": [], "edges": []}, complete=False) == []
    assert any("needs a trigger" in e for e in errors_of({"nodes": [], "edges": []}))


def test_publishing_refuses_code_that_does_not_compile_naming_its_line() -> None:
    graph = chain(kafka_node(), code_node("def run(msg):\n    return (\n"))
    assert errors_of(graph, complete=False) == []
    errors = errors_of(graph, complete=True)
    assert any("field 'config.code'" in e and "line" in e for e in errors), errors


def with_policies(retry: Any = None, settings: Any = None) -> dict[str, Any]:
    graph = chain(kafka_node(), code_node())
    if retry is not None:
        graph["nodes"][1]["retry"] = retry
    if settings is not None:
        graph["settings"] = settings
    return graph


def test_error_handling_defaults_apply_when_the_graph_says_nothing() -> None:
    plan, errors = validate_graph(with_policies(), require_complete=True)
    assert errors == [] and plan is not None
    assert plan.settings.on_outage == "pause" and plan.settings.dead_letter_topic == ""
    retry = plan.actions[0].retry
    assert (retry.attempts, retry.backoff_seconds, retry.max_delay_seconds) == (3, 2.0, 60.0)


def test_a_step_retry_policy_and_flow_settings_are_read() -> None:
    graph = with_policies(
        {"attempts": 5, "backoff_seconds": 0.5, "max_delay_seconds": 4},
        {"dead_letter_topic": " events.dead ", "on_outage": "fail"},
    )
    plan, errors = validate_graph(graph, require_complete=True)
    assert errors == [] and plan is not None
    assert plan.settings.dead_letter_topic == "events.dead"
    assert plan.settings.on_outage == "fail"
    retry = plan.actions[0].retry
    assert [retry.delay(n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 4, 4]


@pytest.mark.parametrize(
    ("retry", "settings", "expected"),
    [
        ({"attempts": 0}, None, "node 'transform', field 'retry.attempts': must be between 1"),
        ({"attempts": 2.5}, None, "field 'retry.attempts': must be a whole number"),
        ({"backoff_seconds": "2"}, None, "field 'retry.backoff_seconds': a number"),
        ({"max_delay_seconds": 7200}, None, "field 'retry.max_delay_seconds': must be between"),
        ({"tries": 3}, None, "field 'retry': unknown keys: tries"),
        ([3], None, "field 'retry': must be an object"),
        (None, {"dead_letter_topic": "dead letters!"}, "'settings.dead_letter_topic': a topic"),
        (None, {"dead_letter_topic": 7}, "'settings.dead_letter_topic': must be a topic name"),
        (None, {"on_outage": "later"}, "field 'settings.on_outage': must be 'pause' or 'fail'"),
        (None, {"retries": 1}, "field 'settings': unknown keys: retries"),
        (None, "pause", "field 'settings': must be an object"),
    ],
)
def test_bad_error_handling_is_named_by_node_and_field(
    retry: Any, settings: Any, expected: str
) -> None:
    assert any(expected in e for e in errors_of(with_policies(retry, settings), complete=False))


def test_a_trigger_takes_no_retry_policy() -> None:
    graph = with_policies()
    graph["nodes"][0]["retry"] = {"attempts": 2}
    assert "node 'in', field 'retry': a trigger has no retry policy" in " ".join(errors_of(graph))
