"""`/metrics` in the Prometheus text format: from the execution records, and from the
counters the engine keeps in Redis (flows.engine_metrics). The list: docs/observability.md."""

from __future__ import annotations

import math
from collections import defaultdict

import redis
from django.db.models import Count
from django.http import HttpRequest, HttpResponse

from flows.choices import FlowStatus
from flows.engine import dead_letters, ledger
from flows.engine.redis import get_redis
from flows.engine_metrics import engine_metrics
from flows.models import Execution, Flow
from flows.step_records import recent_durations


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def metrics_view(request: HttpRequest) -> HttpResponse:
    lines = [
        "# HELP tributary_executions_total Executions recorded, by flow and final status.",
        "# TYPE tributary_executions_total counter",
    ]
    flows = list(Flow.objects.values_list("id", "name", "status").order_by("id"))
    names = {flow_id: name for flow_id, name, _ in flows}
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
    lines += _flow_status(flows)
    lines += _step_durations(names)
    lines += _redis_counters(names)
    lines += engine_metrics(names)
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4")


# Step durations are summarised over the newest step records of each flow, not a time window:
# a bounded read per flow however busy it is, and still meaningful for a flow that is idle.
STEP_SAMPLE = 1_000
QUANTILES = (0.5, 0.99)


def _flow_status(flows: list[tuple[int, str, str]]) -> list[str]:
    lines = [
        "# HELP tributary_flow_status Each flow's current status (1 on the status it is in).",
        "# TYPE tributary_flow_status gauge",
    ]
    for flow_id, name, status in flows:
        lines.append(
            f'tributary_flow_status{{flow_id="{flow_id}",flow="{_label(name)}",'
            f'status="{status}"}} 1'
        )
    return lines


def _quantile(ordered: list[float], q: float) -> float:
    """Nearest-rank quantile of an ascending, non-empty list."""
    return ordered[max(1, math.ceil(len(ordered) * q)) - 1]


def _step_durations(names: dict[int, str]) -> list[str]:
    """A Prometheus summary per flow and step over the flow's last STEP_SAMPLE step records
    (the all-time histogram is tributary_step_duration_seconds).

    One query per flow (flows.step_records.recent_durations).
    `_count` and `_sum` cover that sample, so they can go down: use them for averages, not
    rate().
    """
    metric = "tributary_step_recent_duration_seconds"
    lines = [
        f"# HELP {metric} Step duration per flow and step, over the flow's last "
        f"{STEP_SAMPLE} step records.",
        f"# TYPE {metric} summary",
    ]
    for flow_id, flow_name in names.items():
        durations: dict[str, list[float]] = defaultdict(list)
        for node_id, duration_ms in recent_durations(flow_id, STEP_SAMPLE):
            durations[node_id].append(duration_ms / 1000)
        flow = _label(flow_name)
        for node_id, values in sorted(durations.items()):
            labels = f'flow_id="{flow_id}",flow="{flow}",step="{_label(node_id)}"'
            values.sort()
            for q in QUANTILES:
                lines.append(f'{metric}{{{labels},quantile="{q}"}} {_quantile(values, q)}')
            lines.append(f"{metric}_sum{{{labels}}} {sum(values)}")
            lines.append(f"{metric}_count{{{labels}}} {len(values)}")
    return lines


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
