"""Validation and planning of flow graphs.

A graph is `{"nodes": [{"id", "component", "config", "credential", "position", "retry"}],
"edges": [{"source", "target"}], "settings": {...}}`: exactly one trigger without incoming
edges, and actions forming a chain or a tree below it (retry and settings: flows.policies).
Every problem is reported with the node and field it concerns, so the editor can flag it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from components.base import Descriptor
from components.registry import COMPONENTS, component_class, descriptor
from components.validation import validate_config
from flows.policies import FlowSettings, StepRetry, parse_retry, parse_settings

MAX_NODES = 200


@dataclass(frozen=True)
class GraphError:
    message: str
    node: str | None = None
    field: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"node": self.node, "field": self.field, "message": self.message}

    def __str__(self) -> str:
        parts = [f"node {self.node!r}"] if self.node else []
        if self.field:
            parts.append(f"field {self.field!r}")
        return ", ".join(parts) + ": " + self.message if parts else self.message


class GraphInvalid(Exception):
    def __init__(self, errors: list[GraphError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


@dataclass
class Node:
    id: str
    component: str
    config: dict[str, Any]
    credential: int | None
    descriptor: Descriptor
    retry: StepRetry = field(default_factory=StepRetry)


@dataclass
class Plan:
    """A valid graph in execution order: the trigger, then actions parents-first."""

    trigger: Node
    actions: list[Node]
    children: dict[str, list[str]] = field(default_factory=dict)
    settings: FlowSettings = field(default_factory=FlowSettings)

    @property
    def nodes(self) -> dict[str, Node]:
        return {n.id: n for n in [self.trigger, *self.actions]}


def _check_shape(graph: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[GraphError]]:
    if not isinstance(graph, dict):
        return [], [], [GraphError("graph must be a JSON object with 'nodes' and 'edges'")]
    nodes, edges = graph.get("nodes", []), graph.get("edges", [])
    errors = []
    unknown = set(graph) - {"nodes", "edges", "viewport", "settings"}
    if unknown:
        errors.append(GraphError(f"unknown graph keys: {', '.join(sorted(unknown))}"))
    if not isinstance(nodes, list) or not all(isinstance(n, dict) for n in nodes):
        errors.append(GraphError("'nodes' must be a list of objects"))
        nodes = []
    if not isinstance(edges, list) or not all(isinstance(e, dict) for e in edges):
        errors.append(GraphError("'edges' must be a list of objects"))
        edges = []
    if len(nodes) > MAX_NODES:
        errors.append(GraphError(f"a flow holds at most {MAX_NODES} nodes"))
    return nodes, edges, errors


def _check_node(
    raw: dict[str, Any], seen: set[str], *, deep: bool
) -> tuple[Node | None, list[GraphError]]:
    node_id = raw.get("id")
    if not isinstance(node_id, str) or not node_id.strip() or len(node_id) > 100:
        return None, [GraphError("every node needs an 'id': a non-empty string of ≤100 chars")]
    if node_id in seen:
        return None, [GraphError("duplicate node id", node=node_id, field="id")]
    seen.add(node_id)
    component = raw.get("component")
    if not isinstance(component, str) or component not in COMPONENTS:
        known = ", ".join(sorted(COMPONENTS))
        message = f"unknown component {component!r} (known: {known})"
        return None, [GraphError(message, node=node_id, field="component")]
    desc = descriptor(component)
    errors = []
    config = raw.get("config", {})
    if config is None:
        config = {}
    schema_problems = validate_config(desc, config)
    for problem in schema_problems:
        name = "config" + (f".{problem.field}" if problem.field else "")
        errors.append(GraphError(problem.message, node=node_id, field=name))
    if deep and not schema_problems:
        for config_error in component_class(component).check_config(config):
            field = f"config.{config_error.field}"
            errors.append(GraphError(config_error.message, node=node_id, field=field))
    credential = raw.get("credential")
    if credential is not None and (isinstance(credential, bool) or not isinstance(credential, int)):
        errors.append(GraphError("must be a credential id or null", node_id, "credential"))
        credential = None
    if credential is not None and desc.credential_type is None:
        errors.append(GraphError(f"{component} takes no credential", node_id, "credential"))
    position = raw.get("position")
    if position is not None and not (
        isinstance(position, dict)
        and all(isinstance(position.get(k), int | float) for k in ("x", "y"))
    ):
        errors.append(GraphError("must be {'x': number, 'y': number}", node_id, "position"))
    retry, retry_problems = parse_retry(raw.get("retry"))
    if raw.get("retry") is not None and desc.kind == "trigger":
        retry_problems = [("retry", "a trigger has no retry policy; set it on the actions")]
    errors.extend(GraphError(message, node_id, name) for name, message in retry_problems)
    cfg = config if isinstance(config, dict) else {}
    return Node(node_id, component, cfg, credential, desc, retry), errors


def validate_graph(graph: Any, *, require_complete: bool) -> tuple[Plan | None, list[GraphError]]:
    """Check a graph; with `require_complete` (publishing) it must also be runnable as a whole.

    A draft may be unfinished (no trigger yet, a node not yet connected) but never wrong:
    unknown components, bad config, two triggers, cycles and dangling edges are rejected.
    """
    raw_nodes, raw_edges, errors = _check_shape(graph)
    settings, problems = parse_settings(graph.get("settings") if isinstance(graph, dict) else None)
    errors.extend(GraphError(message, field=name) for name, message in problems)
    seen: set[str] = set()
    nodes: dict[str, Node] = {}
    for raw in raw_nodes:
        node, node_errors = _check_node(raw, seen, deep=require_complete)
        errors.extend(node_errors)
        if node:
            nodes[node.id] = node

    parents: dict[str, str] = {}
    children: dict[str, list[str]] = {node_id: [] for node_id in nodes}
    for edge in raw_edges:
        source, target = edge.get("source"), edge.get("target")
        if not isinstance(source, str) or not isinstance(target, str):
            errors.append(GraphError("an edge's 'source' and 'target' must be node ids"))
            continue
        if source not in seen or target not in seen:
            errors.append(GraphError(f"edge {source!r} → {target!r} names a node that is absent"))
            continue
        if source not in nodes or target not in nodes:
            continue  # the node itself is already reported
        assert isinstance(source, str) and isinstance(target, str)
        if source == target:
            errors.append(GraphError("a node cannot connect to itself", node=source))
        elif nodes[target].descriptor.kind == "trigger":
            errors.append(GraphError("a trigger cannot have an incoming edge", node=target))
        elif target in parents:
            errors.append(
                GraphError("an action takes input from exactly one step", target, "edges")
            )
        else:
            parents[target] = source
            children[source].append(target)

    triggers = [n for n in nodes.values() if n.descriptor.kind == "trigger"]
    if len(triggers) > 1:
        names = ", ".join(t.id for t in triggers)
        errors.append(GraphError(f"a flow has exactly one trigger; found {len(triggers)}: {names}"))
    errors.extend(_cycles(nodes, parents))
    if require_complete and not triggers and not errors:
        errors.append(GraphError("a flow needs a trigger (for example a Kafka consumer)"))
    if errors or len(triggers) != 1:
        return None, errors

    trigger = triggers[0]
    order = _reachable(trigger.id, children)
    if require_complete:
        for node_id in nodes:
            if node_id not in order:
                errors.append(GraphError("not connected to the trigger", node=node_id))
        if not order[1:]:
            errors.append(GraphError("add at least one action after the trigger", trigger.id))
        if errors:
            return None, errors
    actions = [nodes[node_id] for node_id in order[1:]]
    kept_children = {k: v for k, v in children.items() if k in order}
    return Plan(trigger, actions, kept_children, settings), []


def _cycles(nodes: dict[str, Node], parents: dict[str, str]) -> list[GraphError]:
    for start in nodes:
        seen = {start}
        current = start
        while current in parents:
            current = parents[current]
            if current in seen:
                return [GraphError("the edges form a cycle", node=current)]
            seen.add(current)
    return []


def _reachable(root: str, children: dict[str, list[str]]) -> list[str]:
    order, queue = [], deque([root])
    while queue:
        node_id = queue.popleft()
        order.append(node_id)
        queue.extend(children.get(node_id, []))
    return order


def plan_for(graph: dict[str, Any]) -> Plan:
    """The execution plan of a published (already validated) graph."""
    plan, errors = validate_graph(graph, require_complete=True)
    if plan is None:
        raise GraphInvalid(errors)
    return plan
