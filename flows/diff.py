"""What changed between two graphs of a flow (two versions, or a version and the draft).

Pure: graphs in, a JSON-ready summary out; nothing here touches the database. Nodes are
matched by id. A node's changed fields are dotted paths to the values that differ
("config.url", "retry.attempts", "credential"); a position counts as one field, since moving
a node by a pixel changes both coordinates and neither matters to how the flow runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Nodes are matched on their id, so it never differs.
IGNORED_NODE_KEYS = frozenset({"id"})
# Compared as one value (see the module docstring).
WHOLE_FIELDS = frozenset({"position"})


def diff_graphs(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """`{"nodes": {"added", "removed", "changed": [{"id", "fields"}]}, "edges": {"added",
    "removed"}, "settings_changed": [...]}`. Ids keep the order of the graph they come from;
    a missing value and null count as the same (an absent retry is the default retry)."""
    old_nodes, new_nodes = _nodes(old), _nodes(new)
    changed = []
    for node_id, node in new_nodes.items():
        if node_id in old_nodes:
            fields = _changed_fields(old_nodes[node_id], node, "")
            if fields:
                changed.append({"id": node_id, "fields": fields})
    old_edges, new_edges = _edges(old), _edges(new)
    return {
        "nodes": {
            "added": [node_id for node_id in new_nodes if node_id not in old_nodes],
            "removed": [node_id for node_id in old_nodes if node_id not in new_nodes],
            "changed": changed,
        },
        "edges": {
            "added": [_edge(e) for e in new_edges if e not in old_edges],
            "removed": [_edge(e) for e in old_edges if e not in new_edges],
        },
        "settings_changed": _changed_fields(
            _mapping(old.get("settings")), _mapping(new.get("settings")), ""
        ),
    }


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _nodes(graph: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    nodes = graph.get("nodes")
    return {
        node["id"]: node
        for node in (nodes if isinstance(nodes, list) else [])
        if isinstance(node, Mapping) and isinstance(node.get("id"), str)
    }


def _edges(graph: Mapping[str, Any]) -> list[tuple[str, str]]:
    edges = graph.get("edges")
    found: list[tuple[str, str]] = []
    for edge in edges if isinstance(edges, list) else []:
        if isinstance(edge, Mapping):
            pair = (str(edge.get("source")), str(edge.get("target")))
            if pair not in found:
                found.append(pair)
    return found


def _edge(pair: tuple[str, str]) -> dict[str, str]:
    return {"source": pair[0], "target": pair[1]}


def _changed_fields(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str) -> list[str]:
    fields = []
    for key in [*old, *(k for k in new if k not in old)]:
        if not prefix and key in IGNORED_NODE_KEYS:
            continue
        path = f"{prefix}{key}"
        a, b = old.get(key), new.get(key)
        nested = (isinstance(a, Mapping) or a is None) and (isinstance(b, Mapping) or b is None)
        if nested and (a is not None or b is not None) and path not in WHOLE_FIELDS:
            fields.extend(_changed_fields(a or {}, b or {}, f"{path}."))
        elif a != b:
            fields.append(path)
    return fields
