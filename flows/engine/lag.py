"""Consumer lag per partition, published by the trigger runners for /metrics and /stats/.

Every TRIBUTARY_LAG_SECONDS each flow consumer writes the lag of the partitions it is
assigned to one Redis hash, field "<flow id>|<topic>|<partition>" -> {"lag", "until"}. An
entry counts until `until`, three intervals on: a runner that dies stops refreshing its
entries and they disappear, unless the partitions' new owner publishes them first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import orjson
from django.conf import settings

from components.base import PartitionLag
from flows.engine.redis import get_redis, key


def lag_key() -> str:
    return key("metrics", "lag")


@dataclass(frozen=True)
class FlowLag:
    flow_id: int
    topic: str
    partition: int
    lag: int


def _field(flow_id: int, topic: str, partition: int) -> str:
    return f"{flow_id}|{topic}|{partition}"


def publish(flow_id: int, lags: list[PartitionLag]) -> None:
    """Write the lag of these partitions, valid for three intervals (one Redis command)."""
    if not lags:
        return
    until = time.time() + 3 * settings.TRIBUTARY_LAG_SECONDS + 1
    get_redis().hset(
        lag_key(),
        mapping={
            _field(flow_id, lag.topic, lag.partition): orjson.dumps(
                {"lag": lag.lag, "until": until}
            )
            for lag in lags
        },
    )


def forget(flow_id: int, lags: list[PartitionLag]) -> None:
    """Drop entries this consumer published (it stopped, or lost the partitions)."""
    if lags:
        get_redis().hdel(lag_key(), *[_field(flow_id, lag.topic, lag.partition) for lag in lags])


def read(flow_id: int | None = None) -> list[FlowLag]:
    """The current entries (of one flow, or all), by flow, topic and partition; deletes
    those past their time."""
    now = time.time()
    found, stale = [], []
    for raw, value in get_redis().hgetall(lag_key()).items():
        name = raw.decode() if isinstance(raw, bytes) else str(raw)
        flow, _, rest = name.partition("|")
        topic, _, partition = rest.rpartition("|")
        entry = orjson.loads(value)
        if entry.get("until", 0) < now:
            stale.append(name)
        elif flow.isdigit() and partition.isdigit() and flow_id in (None, int(flow)):
            found.append(FlowLag(int(flow), topic, int(partition), int(entry["lag"])))
    if stale:
        get_redis().hdel(lag_key(), *stale)
    return sorted(found, key=lambda lag: (lag.flow_id, lag.topic, lag.partition))
