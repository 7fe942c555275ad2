"""`/metrics` in the Prometheus text format, computed from the execution records."""

from __future__ import annotations

import redis
from django.db.models import Count
from django.http import HttpRequest, HttpResponse

from flows.choices import FlowStatus
from flows.engine import dead_letters, ledger
from flows.engine.redis import get_redis
from flows.models import Execution, Flow


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def metrics_view(request: HttpRequest) -> HttpResponse:
    lines = [
        "# HELP tributary_executions_total Executions recorded, by flow and final status.",
        "# TYPE tributary_executions_total counter",
    ]
    names = dict(Flow.objects.values_list("id", "name"))
    counts = Execution.objects.values("flow_id", "status").annotate(n=Count("id")).order_by()
    for row in counts:
        flow = _label(names.get(row["flow_id"], ""))
        lines.append(
            f'tributary_executions_total{{flow_id="{row["flow_id"]}",flow="{flow}",'
            f'status="{row["status"]}"}} {row["n"]}'
        )
    lines += [
        "# HELP tributary_flows Flows by status.",
        "# TYPE tributary_flows gauge",
    ]
    by_status = dict(Flow.objects.values_list("status").annotate(n=Count("id")))
    for status in FlowStatus.values:
        lines.append(f'tributary_flows{{status="{status}"}} {by_status.get(status, 0)}')
    lines += _redis_counters(names)
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4")


REDIS_COUNTERS = (
    (
        "tributary_possible_duplicates_total",
        "Messages sent again after an attempt with an unknown outcome, by flow.",
        ledger.duplicates_key,
    ),
    (
        "tributary_dead_letters_total",
        "Messages produced to the flow's dead-letter topic, by flow.",
        dead_letters.dead_lettered_key,
    ),
)


def _redis_counters(names: dict[int, str]) -> list[str]:
    """Counters the engine keeps in Redis; left out (not zero) when Redis does not answer."""
    lines: list[str] = []
    for metric, help_text, hash_key in REDIS_COUNTERS:
        try:
            values = get_redis().hgetall(hash_key())
        except redis.RedisError:
            continue
        lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} counter"]
        for flow_id, count in sorted(values.items()):
            flow = _label(names.get(int(flow_id), ""))
            lines.append(f'{metric}{{flow_id="{int(flow_id)}",flow="{flow}"}} {int(count)}')
    return lines
