"""Replaying a flow from a point of its topic: a new consumer position, and a clean ledger.

Messages from the new position on are processed again by the published version and sent
again: the version's delivery ledger is cleared, or it would skip them as already delivered.
Their executions are updated in place (an execution is keyed by its message).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from components.base import StepError
from components.kafka.component import KafkaTrigger
from components.kafka.positions import POSITIONS, Position
from flows.choices import CONSUMING_STATUSES
from flows.engine import instances, ledger
from flows.errors import Conflict, ServiceError
from flows.graph import plan_for
from flows.models import Flow
from flows.selectors import consuming_flow_ids


def replay_flow(
    flow: Flow,
    position: str,
    *,
    timestamp: datetime | None = None,
    offsets: dict[int, int] | None = None,
) -> dict[str, Any]:
    if position not in POSITIONS:
        raise ServiceError(
            f"position must be one of {', '.join(POSITIONS)}", {"position": position}
        )
    if flow.status in CONSUMING_STATUSES:
        raise Conflict(
            f"stop the flow before replaying: it is {flow.status}",
            {"status": flow.status},
        )
    if flow.id in consuming_flow_ids():
        raise Conflict("the flow is still stopping; try again in a few seconds")
    version = flow.active_version
    if version is None:
        raise ServiceError("publish the flow before replaying it")
    plan = plan_for(version.graph)
    trigger = instances.build(plan.trigger, flow.id, flow.workspace_id)
    if not isinstance(trigger, KafkaTrigger):
        raise ServiceError(f"the {plan.trigger.component} trigger cannot be replayed")
    chosen: Position = position  # type: ignore[assignment]  # checked against POSITIONS
    timestamp_ms = int(timestamp.timestamp() * 1000) if timestamp else None
    if chosen == "timestamp" and timestamp_ms is None:
        raise ServiceError("give the timestamp to replay from", {"timestamp": None})
    try:
        moved = trigger.reposition(chosen, timestamp_ms=timestamp_ms, offsets=offsets)
    except StepError as error:
        raise ServiceError(error.message) from None
    dropped = ledger.forget_version(version.id)
    return {
        "topic": trigger.topic,
        "group_id": trigger.group_id,
        "partitions": [{"partition": p, "offset": o} for p, o in moved],
        "ledger_entries_cleared": dropped,
    }
