"""Built component instances, cached per process by (flow version, node).

Building a component may be costly (compiling code, opening connection pools), so a worker
keeps the instances of recently used flow versions and closes the least recently used.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from django.conf import settings

from components.base import Action, Runtime, Trigger
from components.registry import component_class
from components.validation import with_defaults
from flows.engine.ratelimit import redis_limiter
from flows.graph import Node
from flows.models import Credential
from flows.services.credentials import credential_fields

MAX_INSTANCES = 64
_lock = threading.Lock()
_instances: OrderedDict[tuple[int, str], Action] = OrderedDict()


def runtime_settings() -> dict[str, Any]:
    return {
        "kafka_bootstrap_servers": settings.KAFKA_BOOTSTRAP_SERVERS,
        "sandbox_cpu_seconds": settings.TRIBUTARY_SANDBOX_CPU_SECONDS,
        "sandbox_memory_mb": settings.TRIBUTARY_SANDBOX_MEMORY_MB,
        "sandbox_wall_seconds": settings.TRIBUTARY_SANDBOX_WALL_SECONDS,
    }


def load_credential(node: Node, workspace_id: int) -> dict[str, Any] | None:
    """The node's decrypted credential, only if it belongs to the flow's own workspace."""
    if node.credential is None:
        return None
    credential = Credential.objects.filter(id=node.credential, workspace_id=workspace_id).first()
    if credential is None:
        return None
    return credential_fields(credential)


def build(node: Node, flow_id: int, workspace_id: int) -> Action | Trigger:
    cls = component_class(node.component)
    config = with_defaults(node.descriptor.config_schema, node.config)
    runtime = Runtime(
        flow_id=flow_id,
        node_id=node.id,
        settings=runtime_settings(),
        workspace_id=workspace_id,
        limiter=redis_limiter(),
    )
    return cls(config, load_credential(node, workspace_id), runtime)


def action_for(version_id: int, node: Node, flow_id: int, workspace_id: int) -> Action:
    key = (version_id, node.id)
    with _lock:
        instance = _instances.get(key)
        if instance is not None:
            _instances.move_to_end(key)
            return instance
    built = build(node, flow_id, workspace_id)
    assert isinstance(built, Action), f"{node.component} is not an action"
    with _lock:
        _instances[key] = built
        while len(_instances) > MAX_INSTANCES:
            _, old = _instances.popitem(last=False)
            old.close()
    return built
