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
