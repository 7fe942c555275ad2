"""Reads that need care: annotated lists and runner state."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from flows.choices import ExecutionStatus
from flows.engine.redis import get_redis
from flows.engine.runner import consumers_key
from flows.models import Execution, Flow


def with_activity(flows: QuerySet[Flow]) -> QuerySet[Flow]:
    """Annotate last-hour counts and the time of the newest execution, in one query."""
    since = timezone.now() - timedelta(hours=1)
    recent = Q(executions__started_at__gte=since)
    return flows.annotate(
        in_last_hour=Count("executions", filter=recent),
        out_last_hour=Count(
            "executions", filter=recent & Q(executions__status=ExecutionStatus.SUCCEEDED)
        ),
        failed_last_hour=Count(
            "executions", filter=recent & Q(executions__status=ExecutionStatus.FAILED)
        ),
        last_activity=Max("executions__started_at"),
    ).order_by("-updated_at", "-id")


def consuming_flow_ids() -> set[int]:
    """Flows a trigger runner is consuming right now; empty when Redis is unreachable."""
    try:
        return {int(flow_id) for flow_id in get_redis().hkeys(consumers_key())}
    except Exception:  # the list must still render when Redis is down
        return set()


def filter_executions(
    executions: QuerySet[Execution], filters: dict[str, Any]
) -> QuerySet[Execution]:
    """The execution list's filters: status, since, until and a search in summary and error."""
    if status := filters.get("status"):
        executions = executions.filter(status=status)
    if since := filters.get("since"):
        executions = executions.filter(started_at__gte=since)
    if until := filters.get("until"):
        executions = executions.filter(started_at__lt=until)
    if search := filters.get("search"):
        executions = executions.filter(Q(summary__icontains=search) | Q(error__icontains=search))
    return executions
