"""Execution retention: delete execution records past their flow's age or count limit."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from flows.models import Execution, Flow

logger = logging.getLogger(__name__)

# Executions deleted per statement (and transaction): a big backlog is worked off in short
# transactions that never hold locks for long, rather than in one that blocks the workers'
# writes for minutes.
CHUNK_SIZE = 5_000


def prune_executions(now: datetime | None = None, chunk_size: int = CHUNK_SIZE) -> dict[int, int]:
    """Delete every flow's executions (and their step records) that started before the
    flow's retention (`Flow.retention_days`, else TRIBUTARY_EXECUTION_RETENTION_DAYS) or lie
    beyond its newest TRIBUTARY_EXECUTION_RETENTION_COUNT; returns {flow id: executions
    deleted} for the flows that lost any.

    Idempotent, and safe to interrupt or to run twice at once: each chunk commits on its own
    and a row deleted by another run is simply not counted twice.
    """
    now = now or timezone.now()
    default_days = settings.TRIBUTARY_EXECUTION_RETENTION_DAYS
    keep = settings.TRIBUTARY_EXECUTION_RETENTION_COUNT
    deleted: dict[int, int] = {}
    for flow_id, retention_days in Flow.objects.values_list("id", "retention_days").order_by("id"):
        expired = Q(started_at__lt=now - timedelta(days=retention_days or default_days))
        # The newest execution beyond the count limit; it and everything older goes.
        # Ordered like the (flow, -started_at) index, so this is an index walk, not a sort.
        newest = Execution.objects.filter(flow_id=flow_id).order_by("-started_at", "-id")
        boundary = list(newest.values_list("started_at", "id")[keep : keep + 1])
        if boundary:
            started_at, execution_id = boundary[0]
            expired |= Q(started_at__lt=started_at) | Q(started_at=started_at, id__lte=execution_id)
        count = _delete_in_chunks(Execution.objects.filter(expired, flow_id=flow_id), chunk_size)
        if count:
            deleted[flow_id] = count
            logger.info(
                "pruned %d executions of flow %s", count, flow_id, extra={"flow_id": flow_id}
            )
    return deleted


def _delete_in_chunks(executions: QuerySet[Execution], chunk_size: int) -> int:
    total = 0
    while True:
        ids = list(executions.order_by().values_list("id", flat=True)[:chunk_size])
        if not ids:
            return total
        # Only the ids are loaded; the step records are in the same rows.
        _, per_model = Execution.objects.filter(id__in=ids).only("id").delete()
        total += per_model.get(Execution._meta.label, 0)


def prune_flow(
    flow: Flow,
    older_than: timedelta | None,
    now: datetime | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> int:
    """Delete one flow's executions (and their step records) that started more than
    `older_than` ago, or all of them when it is None, now; returns how many went.

    In chunks, like `prune_executions`, and as safe to interrupt or repeat. Executions a
    running flow records meanwhile are kept unless they match too.
    """
    executions = Execution.objects.filter(flow_id=flow.id)
    if older_than is not None:
        executions = executions.filter(started_at__lt=(now or timezone.now()) - older_than)
    count = _delete_in_chunks(executions, chunk_size)
    logger.info(
        "pruned %d executions of flow %s on request", count, flow.id, extra={"flow_id": flow.id}
    )
    return count
