"""Execution records: retries and statistics."""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from django.db import connection
from django.db.models import Count, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from flows.choices import ExecutionStatus
from flows.engine import dead_letters, lag, ledger
from flows.engine.jobs import Item, Job, StepRecordData, new_item
from flows.errors import ServiceError
from flows.graph import plan_for
from flows.models import Execution, Flow
from flows.step_records import resolve_inputs


def retry_execution(execution: Execution) -> Execution:
    """Run a failed execution again from its failed step, with that step's full input.

    The steps before it are not repeated; its records are replaced when the retry finishes.
    """
    if execution.status != ExecutionStatus.FAILED:
        raise ServiceError(
            f"only failed executions can be retried; this one is {execution.status}",
            {"status": execution.status},
        )
    step = _retry_step(execution, [node.id for node in plan_for(execution.version.graph).actions])
    if step is None:
        raise ServiceError(
            "this message failed at the trigger (it could not be read); "
            "retrying would read the same bytes again",
            {"failed_node": execution.failed_node},
        )
    _dispatch_retries(execution, step, [execution])
    execution.refresh_from_db()
    return execution


def _retry_step(execution: Execution, order: list[str]) -> int | None:
    """Where in the version's actions a retry starts: the failed step; None when the message
    failed at the trigger (there is no step input to run again)."""
    if execution.failed_node not in order or execution.retry_input is None:
        return None
    return order.index(execution.failed_node)


BULK_RETRY_LIMIT = 10_000
RETRY_BATCH = 200


def retry_failed(executions: QuerySet[Execution]) -> dict[str, int]:
    """Retry every failed execution among `executions` (oldest first, at most
    BULK_RETRY_LIMIT a call), in batches per version and failed step. Those that failed at
    the trigger cannot be retried and are counted as skipped."""
    failed = list(
        executions.filter(status=ExecutionStatus.FAILED)
        .select_related("version")
        .order_by("started_at", "id")[:BULK_RETRY_LIMIT]
    )
    orders: dict[int, list[str]] = {}
    groups: dict[tuple[int, int], list[Execution]] = defaultdict(list)
    skipped = 0
    for execution in failed:
        if execution.version_id not in orders:
            orders[execution.version_id] = [n.id for n in plan_for(execution.version.graph).actions]
        step = _retry_step(execution, orders[execution.version_id])
        if step is None:
            skipped += 1
        else:
            groups[(execution.version_id, step)].append(execution)
    for (_, step), members in groups.items():
        for start in range(0, len(members), RETRY_BATCH):
            _dispatch_retries(members[0], step, members[start : start + RETRY_BATCH])
    return {"retried": len(failed) - skipped, "skipped": skipped}


def _dispatch_retries(first: Execution, step: int, executions: list[Execution]) -> None:
    """One job for executions of the same version that failed at the same step."""
    job = Job(
        batch_id=uuid.uuid4().hex,
        flow_id=first.flow_id,
        version_id=first.version_id,
        step=step,
        items=[_item_for_retry(execution) for execution in executions],
        notify=None,
        attempt=1,
    )
    Execution.objects.filter(id__in=[e.id for e in executions]).update(
        status=ExecutionStatus.RUNNING
    )
    from flows.tasks import send

    send(job)


def _item_for_retry(execution: Execution) -> Item:
    item = new_item(execution.key, _meta(execution), execution.summary)
    item["attempts"] = execution.attempts + 1
    for step in resolve_inputs(execution.steps):
        if step["node_id"] == execution.failed_node and step["status"] == "failed":
            break
        # Stored again as it was, and not `whole`: no later record points into it.
        item["steps"].append(StepRecordData(stored=orjson.dumps(step).decode(), whole=False))
    assert execution.retry_input is not None  # checked by retry_execution
    item["pending"] = {execution.failed_node: [execution.retry_input]}
    return item


def _meta(execution: Execution) -> dict[str, Any]:
    timestamp = execution.message_timestamp
    return {
        "topic": execution.topic,
        "partition": execution.partition,
        "offset": execution.offset,
        "key": execution.message_key,
        "timestamp": int(timestamp.timestamp() * 1000) if timestamp else None,
    }


def _percentile(sorted_values: list[float], fraction: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, math.ceil(fraction * len(sorted_values)) - 1))
    return round(sorted_values[index], 3)


SAMPLE_LIMIT = 20_000


def flow_stats(flow: Flow, window_seconds: int = 3600) -> dict[str, Any]:
    """Counts, rates and latency percentiles over the last `window_seconds`.

    Latency is the time from the Kafka message's timestamp to the end of its execution;
    processing time is from when the trigger read it. Percentiles use the newest
    SAMPLE_LIMIT executions of the window.
    """
    since: datetime = timezone.now() - timedelta(seconds=window_seconds)
    recent = Execution.objects.filter(flow=flow, started_at__gte=since)
    counts = dict(recent.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    total = sum(counts.values())
    rows = list(
        recent.order_by("-started_at").values_list(
            "duration_ms", "finished_at", "message_timestamp"
        )[:SAMPLE_LIMIT]
    )
    processing = sorted(d for d, _, _ in rows if d is not None)
    latency = sorted(
        (finished - sent).total_seconds() * 1000
        for _, finished, sent in rows
        if finished is not None and sent is not None
    )
    succeeded = counts.get(ExecutionStatus.SUCCEEDED, 0)
    failed = counts.get(ExecutionStatus.FAILED, 0)
    return {
        "window_seconds": window_seconds,
        "in": total,
        "out": succeeded,
        "filtered": counts.get(ExecutionStatus.FILTERED, 0),
        "failed": failed,
        "running": counts.get(ExecutionStatus.RUNNING, 0),
        # Since the flow's creation, not over the window: rare events worth seeing.
        "duplicates": ledger.duplicates(flow.id),
        "dead_lettered": dead_letters.dead_lettered(flow.id),
        # Now, as the trigger runners last reported it (empty while the flow is not consuming).
        "consumer_lag": [
            {"topic": entry.topic, "partition": entry.partition, "lag": entry.lag}
            for entry in lag.read(flow.id)
        ],
        "rates_per_second": {
            "in": round(total / window_seconds, 3),
            "out": round(succeeded / window_seconds, 3),
            "failed": round(failed / window_seconds, 3),
        },
        "latency_ms": {"p50": _percentile(latency, 0.5), "p99": _percentile(latency, 0.99)},
        "processing_ms": {
            "p50": _percentile(processing, 0.5),
            "p99": _percentile(processing, 0.99),
        },
    }


def throughput(flow: Flow, window_seconds: int, bucket_seconds: int) -> dict[str, Any]:
    """Executions per time bucket over the window, oldest first, empty buckets included.

    Counted in the database, per bucket and status: an hour of a busy flow is millions of
    executions, which must not travel to Python to be counted.
    """
    bucket_seconds = max(bucket_seconds, window_seconds // 1000 or 1)
    now = timezone.now().timestamp()
    start = now - window_seconds
    buckets = window_seconds // bucket_seconds + 1
    counts = [{"in": 0, "out": 0, "failed": 0} for _ in range(buckets)]
    since = datetime.fromtimestamp(start, tz=UTC)
    rows = (
        Execution.objects.filter(flow=flow, started_at__gte=since)
        .annotate(bucket=_bucket_of_start(start, bucket_seconds))
        .values("bucket", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        index = min(buckets - 1, max(0, int(row["bucket"])))
        counts[index]["in"] += row["n"]
        if row["status"] == ExecutionStatus.SUCCEEDED:
            counts[index]["out"] += row["n"]
        elif row["status"] == ExecutionStatus.FAILED:
            counts[index]["failed"] += row["n"]
    points = [
        {"t": datetime.fromtimestamp(start + i * bucket_seconds, tz=UTC).isoformat(), **c}
        for i, c in enumerate(counts)
    ]
    return {"bucket_seconds": bucket_seconds, "points": points}


def _bucket_of_start(start: float, bucket_seconds: int) -> RawSQL:
    """floor((started_at - start) / bucket_seconds) in SQL, on PostgreSQL and SQLite (which
    stores the time as text: julianday reads it with its fraction of a second)."""
    quote = connection.ops.quote_name
    column = f"{quote(Execution._meta.db_table)}.{quote('started_at')}"
    if connection.vendor == "postgresql":
        epoch = f"EXTRACT(EPOCH FROM {column})"
        return RawSQL(f"FLOOR(({epoch} - %s) / %s)", (start, bucket_seconds))  # noqa: S611 (our own column name; values are parameters)
    epoch = f"(julianday({column}) - 2440587.5) * 86400.0"
    return RawSQL(f"CAST(({epoch} - %s) / %s AS INTEGER)", (start, bucket_seconds))  # noqa: S611 (as above)
