"""The life of a flow: edit the draft, publish versions, start and stop."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Max

from components.registry import descriptor
from flows.choices import CONSUMING_STATUSES, FlowStatus
from flows.errors import ServiceError
from flows.graph import GraphError, validate_graph
from flows.models import Credential, Flow, FlowVersion, Workspace

EMPTY_GRAPH: dict[str, Any] = {"nodes": [], "edges": []}


def _graph_errors(workspace: Workspace, graph: Any, *, require_complete: bool) -> list[GraphError]:
    _, errors = validate_graph(graph, require_complete=require_complete)
    if errors:
        return errors
    for raw in graph.get("nodes", []):
        node_id, component = raw["id"], descriptor(raw["component"])
        credential_id = raw.get("credential")
        if credential_id is None:
            if require_complete and _credential_required(component.name):
                errors.append(
                    GraphError("this component needs a credential", node_id, "credential")
                )
            continue
        credential = Credential.objects.filter(id=credential_id, workspace=workspace).first()
        if credential is None:
            errors.append(GraphError("no such credential in this workspace", node_id, "credential"))
        elif credential.type != component.credential_type:
            wanted = component.credential_type
            message = f"needs a {wanted!r} credential, got {credential.type!r}"
            errors.append(GraphError(message, node_id, "credential"))
    return errors


def _credential_required(component: str) -> bool:
    # Bloomreach always authenticates; Kafka and REST may run without credentials.
    return component == "bloomreach"


def _raise_if_invalid(errors: list[GraphError]) -> None:
    if errors:
        first = errors[0]
        raise ServiceError(
            f"invalid graph: {first}"
            + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""),
            {"graph": [e.as_dict() for e in errors]},
        )


# "Leave as it is" for optional fields where None is a value (no per-flow override).
UNCHANGED: Any = object()


def create_flow(
    workspace: Workspace,
    name: str,
    graph: Any = None,
    user: User | None = None,
    *,
    retention_days: int | None = None,
) -> Flow:
    graph = EMPTY_GRAPH if graph is None else graph
    _raise_if_invalid(_graph_errors(workspace, graph, require_complete=False))
    return Flow.objects.create(
        workspace=workspace,
        name=name,
        graph=graph,
        created_by=user,
        retention_days=retention_days,
    )


def update_flow(
    flow: Flow,
    *,
    name: str | None = None,
    graph: Any = None,
    retention_days: Any = UNCHANGED,
) -> Flow:
    fields = ["updated_at"]
    if name is not None:
        flow.name = name
        fields.append("name")
    if retention_days is not UNCHANGED:
        flow.retention_days = retention_days
        fields.append("retention_days")
    if graph is not None:
        _raise_if_invalid(_graph_errors(flow.workspace, graph, require_complete=False))
        flow.graph = graph
        fields.append("graph")
    flow.save(update_fields=fields)
    return flow


@transaction.atomic
def publish_flow(flow: Flow, user: User | None = None) -> FlowVersion:
    """Freeze the draft into the next numbered version.

    A running flow switches to the new version: the trigger runner notices within its sync
    interval, finishes the batch in hand and continues from the committed offsets.
    """
    flow = Flow.objects.select_for_update().get(id=flow.id)
    _raise_if_invalid(_graph_errors(flow.workspace, flow.graph, require_complete=True))
    last = flow.versions.aggregate(last=Max("number"))["last"] or 0
    version = FlowVersion.objects.create(
        flow=flow, number=last + 1, graph=flow.graph, created_by=user
    )
    flow.active_version = version
    flow.save(update_fields=["active_version", "updated_at"])
    return version


def restore_version(flow: Flow, version: FlowVersion) -> Flow:
    """Copy an older version's graph into the draft (publishing it is a separate step)."""
    flow.graph = version.graph
    flow.save(update_fields=["graph", "updated_at"])
    return flow


def start_flow(flow: Flow) -> Flow:
    if flow.active_version_id is None:
        raise ServiceError("publish the flow before starting it", {"status": flow.status})
    Flow.objects.filter(id=flow.id).update(status=FlowStatus.RUNNING, status_reason="")
    flow.refresh_from_db(fields=["status", "status_reason"])
    return flow


def stop_flow(flow: Flow) -> Flow:
    if flow.status == FlowStatus.DRAFT:
        return flow
    Flow.objects.filter(id=flow.id).update(status=FlowStatus.STOPPED, status_reason="")
    flow.refresh_from_db(fields=["status", "status_reason"])
    return flow


def fail_flow(flow_id: int, reason: str) -> None:
    """Called by the trigger runner when a flow cannot run (e.g. unreachable broker)."""
    Flow.objects.filter(id=flow_id, status__in=CONSUMING_STATUSES).update(
        status=FlowStatus.FAILED, status_reason=reason[:2000]
    )


def mark_retrying(flow_id: int, reason: str) -> None:
    """A destination keeps failing: the flow holds its batch and consumption, and says why."""
    Flow.objects.filter(id=flow_id, status__in=CONSUMING_STATUSES).update(
        status=FlowStatus.RETRYING, status_reason=reason[:2000]
    )


def resume_flow(flow_id: int) -> None:
    """The held batch went through: the flow is running normally again."""
    Flow.objects.filter(id=flow_id, status=FlowStatus.RETRYING).update(
        status=FlowStatus.RUNNING, status_reason=""
    )


def duplicate_flow(flow: Flow, user: User | None = None) -> Flow:
    """A new draft with the same graph; versions and executions stay with the original."""
    return Flow.objects.create(
        workspace=flow.workspace, name=f"{flow.name} (copy)", graph=flow.graph, created_by=user
    )
