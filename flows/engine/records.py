"""Execution records: clipped, masked and written in bulk once per batch."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import transaction

from flows.choices import ExecutionStatus
from flows.engine.jobs import Item
from flows.models import Execution, StepRecord


def _dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def final_status(item: Item) -> str:
    if item["error"]:
        return ExecutionStatus.FAILED
    return ExecutionStatus.SUCCEEDED if item["reached_end"] else ExecutionStatus.FILTERED


def _execution(flow_id: int, version_id: int, item: Item, finished: float) -> Execution:
    meta = item["meta"] or {}
    timestamp = meta.get("timestamp")
    key = meta.get("key")
    return Execution(
        flow_id=flow_id,
        version_id=version_id,
        key=item["key"],
        status=final_status(item),
        topic=meta.get("topic") or "",
        partition=meta.get("partition"),
        offset=meta.get("offset"),
        message_key=key if key is None else str(key)[:1000],
        message_timestamp=_dt(timestamp / 1000) if isinstance(timestamp, int | float) else None,
        started_at=_dt(item["started_at"]),
        finished_at=_dt(finished),
        duration_ms=round((finished - item["started_at"]) * 1000, 3),
        error=item["error"][:5000],
        failed_node=item["failed_node"],
        retry_input=item["retry_input"] if item["error"] else None,
        summary=item["summary"],
        attempts=item["attempts"],
    )


_UPDATED = [
    "version",
    "status",
    "started_at",
    "finished_at",
    "duration_ms",
    "error",
    "failed_node",
    "retry_input",
    "summary",
    "attempts",
]


def write_batch(flow_id: int, version_id: int, items: list[Item]) -> None:
    """Upsert one execution per item (keyed by trigger message) and replace its step records.

    Idempotent: a batch written twice (after a retried task) leaves the same rows.
    """
    if not items:
        return
    finished = datetime.now(tz=UTC).timestamp()
    executions = [_execution(flow_id, version_id, item, finished) for item in items]
    with transaction.atomic():
        Execution.objects.bulk_create(
            executions,
            update_conflicts=True,
            unique_fields=["flow", "key"],
            update_fields=_UPDATED,
        )
        ids = dict(
            Execution.objects.filter(
                flow_id=flow_id, key__in=[i["key"] for i in items]
            ).values_list("key", "id")
        )
        StepRecord.objects.filter(execution_id__in=ids.values()).delete()
        StepRecord.objects.bulk_create(
            [
                StepRecord(
                    execution_id=ids[item["key"]],
                    position=position,
                    node_id=step["node_id"],
                    component=step["component"],
                    status=step["status"],
                    started_at=_dt(step["started_at"]),
                    duration_ms=step["duration_ms"],
                    input=step["input"],
                    output=step["output"],
                    logs=step["logs"],
                    error=step["error"][:5000],
                    error_details=step["error_details"],
                )
                for item in items
                for position, step in enumerate(item["steps"])
            ],
            batch_size=500,
        )
