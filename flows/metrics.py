"""`/metrics` in the Prometheus text format, computed from the execution records."""

from __future__ import annotations

from django.db.models import Count
from django.http import HttpRequest, HttpResponse

from flows.choices import FlowStatus
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
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4")
