"""Storage taken by execution records, per flow, and who may see it.

Sizes are the characters of the stored JSON and error texts, summed by the database in two
grouped queries whatever the number of records, so nothing is loaded row by row. They
approximate the bytes the records hold; the database's own overhead (row headers, indexes,
PostgreSQL's compression of large values) is not counted, and PostgreSQL renders JSON with a
space after each `:` and `,`, so the same record counts a little larger there than on SQLite.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Count, F, Max, Min, QuerySet, Sum, TextField
from django.db.models.functions import Cast, Coalesce, Length

from flows.choices import Role
from flows.errors import Forbidden
from flows.models import Execution, Flow, Workspace
from flows.services.workspaces import AnyUser, NoSuchWorkspace, role_in, workspaces_of
from flows.step_records import sizes_by_flow

# What the stored bytes are made of: step inputs (and the full input a failed execution keeps
# for its retry), step outputs, the lines user code logged, and error texts with their details.
BYTE_KINDS = ("inputs", "outputs", "logs", "errors")


@dataclass(frozen=True)
class Retention:
    """How long a flow's executions are kept: `days` (the flow's own or the default) and at
    most `max_executions` of them, the newest."""

    days: int
    default_days: bool
    max_executions: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "days": self.days,
            "default_days": self.default_days,
            "max_executions": self.max_executions,
        }


@dataclass(frozen=True)
class FlowStorage:
    flow_id: int
    name: str
    workspace_id: int
    workspace_name: str
    retention: Retention
    executions: int = 0
    step_records: int = 0
    bytes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BYTE_KINDS, 0))
    oldest_execution: datetime | None = None
    newest_execution: datetime | None = None

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.flow_id,
            "name": self.name,
            "workspace": self.workspace_id,
            "workspace_name": self.workspace_name,
            "executions": self.executions,
            "step_records": self.step_records,
            "bytes": {**self.bytes, "total": self.total_bytes},
            "oldest_execution": self.oldest_execution,
            "newest_execution": self.newest_execution,
            "retention": self.retention.as_dict(),
        }


def _chars(name: str) -> Coalesce:
    """The summed length of a column's stored text (JSON as text); 0 when all are null."""
    return Coalesce(Sum(Length(Cast(F(name), TextField()))), 0)


def flow_storage(flows: QuerySet[Flow]) -> list[FlowStorage]:
    """Every flow of `flows` with the executions, step records and approximate bytes its
    records hold, its oldest and newest execution and its effective retention; biggest first.

    Three queries (the flows, then executions and step records grouped by flow), bounded by
    the number of flows, not of records.
    """
    default_days = settings.TRIBUTARY_EXECUTION_RETENTION_DAYS
    keep = settings.TRIBUTARY_EXECUTION_RETENTION_COUNT
    chosen = flows.values("id")
    executions = {
        row["flow_id"]: row
        for row in Execution.objects.filter(flow_id__in=chosen)
        .order_by()
        .values("flow_id")
        .annotate(
            count=Count("id"),
            oldest=Min("started_at"),
            newest=Max("started_at"),
            retry_input=_chars("retry_input"),
            error=_chars("error"),
        )
    }
    steps = sizes_by_flow(flows)
    found = []
    for flow in flows.select_related("workspace").order_by("id"):
        retention = Retention(
            days=flow.retention_days or default_days,
            default_days=flow.retention_days is None,
            max_executions=keep,
        )
        execution = executions.get(flow.id, {})
        step = steps.get(flow.id, {})
        found.append(
            FlowStorage(
                flow_id=flow.id,
                name=flow.name,
                workspace_id=flow.workspace_id,
                workspace_name=flow.workspace.name,
                retention=retention,
                executions=execution.get("count", 0),
                step_records=step.get("count", 0),
                bytes={
                    "inputs": step.get("input", 0) + execution.get("retry_input", 0),
                    "outputs": step.get("output", 0),
                    "logs": step.get("logs", 0),
                    "errors": step.get("error", 0)
                    + step.get("error_details", 0)
                    + execution.get("error", 0),
                },
                oldest_execution=execution.get("oldest"),
                newest_execution=execution.get("newest"),
            )
        )
    found.sort(key=lambda row: (-row.total_bytes, row.name.lower(), row.flow_id))
    return found


def storage_report(flows: QuerySet[Flow]) -> dict[str, Any]:
    """`flow_storage` as JSON-ready rows with their totals and the retention defaults."""
    rows = flow_storage(flows)
    totals = {kind: sum(row.bytes[kind] for row in rows) for kind in BYTE_KINDS}
    return {
        "flows": [row.as_dict() for row in rows],
        "totals": {
            "flows": len(rows),
            "executions": sum(row.executions for row in rows),
            "step_records": sum(row.step_records for row in rows),
            "bytes": {**totals, "total": sum(totals.values())},
        },
        "defaults": {
            "retention_days": settings.TRIBUTARY_EXECUTION_RETENTION_DAYS,
            "max_executions": settings.TRIBUTARY_EXECUTION_RETENTION_COUNT,
        },
    }


def may_manage_storage(user: AnyUser, workspace_id: int) -> bool:
    """Storage is an administrator's concern: the workspace's owners, and staff (operators,
    who see every workspace in the Django admin anyway)."""
    return bool(user.is_staff) or role_in(user, workspace_id) == Role.OWNER


def storage_flows(user: AnyUser, workspace_id: int | None) -> QuerySet[Flow]:
    """The flows whose storage `user` may see: one workspace's, or without one every
    workspace the user owns (every flow for staff).

    A workspace the user is not a member of is a NoSuchWorkspace (404), as everywhere in the
    API (staff excepted); a member who is not an owner is Forbidden (403).
    """
    if workspace_id is None:
        if user.is_staff:
            return Flow.objects.all()
        owned = Workspace.objects.none()
        if isinstance(user, User):
            # One filter() call, so both conditions hold for the same membership.
            owned = Workspace.objects.filter(membership__user=user, membership__role=Role.OWNER)
        if not owned.exists():
            raise Forbidden("only workspace owners see the storage used by executions")
        return Flow.objects.filter(workspace__in=owned)
    visible = Workspace.objects.all() if user.is_staff else workspaces_of(user)
    if not visible.filter(id=workspace_id).exists():
        raise NoSuchWorkspace("no such workspace", {"workspace": "not found"})
    if not may_manage_storage(user, workspace_id):
        raise Forbidden(
            "only the workspace's owners see the storage used by executions",
            {"workspace": "owner role needed"},
        )
    return Flow.objects.filter(workspace_id=workspace_id)
