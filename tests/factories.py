"""Builders for graphs and objects used across tests."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from flows.demo import TRANSFORM


def kafka_node(topic: str = "events", node_id: str = "in", **config: Any) -> dict[str, Any]:
    return {
        "id": node_id,
        "component": "kafka",
        "config": {"topic": topic, **config},
        "credential": None,
        "position": {"x": 0, "y": 0},
    }


def code_node(code: str | None = None, node_id: str = "transform") -> dict[str, Any]:
    return {
        "id": node_id,
        "component": "code",
        "config": {"code": code or TRANSFORM.read_text()},
        "credential": None,
        "position": {"x": 300, "y": 0},
    }


def bloomreach_node(
    base_url: str, credential: int | None, node_id: str = "bloomreach", **config: Any
) -> dict[str, Any]:
    return {
        "id": node_id,
        "component": "bloomreach",
        "config": {"base_url": base_url, "project_token": "demo-project", **config},
        "credential": credential,
        "position": {"x": 600, "y": 0},
    }


def chain(*nodes: dict[str, Any]) -> dict[str, Any]:
    edges = [{"source": a["id"], "target": b["id"]} for a, b in pairwise(nodes)]
    return {"nodes": list(nodes), "edges": edges}


def bloomreach_credential_fields() -> dict[str, Any]:
    return {"auth": "private", "api_key_id": "demo-key", "api_secret": "demo-secret"}


def step_record(position: int = 0, **fields: Any) -> dict[str, Any]:
    """A step record as `Execution.steps` holds it (flows.engine.records.STEP_FIELDS)."""
    return {
        "position": position,
        "node_id": f"n{position}",
        "component": "code",
        "status": "succeeded",
        "started_at": "2026-11-28T12:00:00Z",
        "duration_ms": None,
        "input": None,
        "output": None,
        "logs": [],
        "error": "",
        "error_details": None,
        **fields,
    }
