"""The part of `/metrics` the engine counts in Redis: per step events, retries, duplicates
avoided and duration histograms (flows.engine.tally), consumer lag (flows.engine.lag) and
sandbox kills. Read with a few HGETALLs, whatever the traffic."""

from __future__ import annotations

from collections.abc import Callable

import redis

from flows.engine import lag, tally

Names = dict[int, str]
Steps = dict[tuple[int, str], dict[str, float]]


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _head(metric: str, kind: str, help_text: str) -> list[str]:
    return [f"# HELP {metric} {help_text}", f"# TYPE {metric} {kind}"]


def engine_metrics(names: Names) -> list[str]:
    """Samples of flows that exist; a family is left out (not zero) when Redis does not
    answer."""
    lines: list[str] = []
    sections: list[Callable[[Names], list[str]]] = [_steps, _lag, _kills]
    for section in sections:
        try:
            lines += section(names)
        except redis.RedisError:
            continue
    return lines


def _steps(names: Names) -> list[str]:
    steps = {where: v for where, v in sorted(tally.read_steps().items()) if where[0] in names}
    labels = {
        (flow_id, node_id): f'flow_id="{flow_id}",flow="{_label(names[flow_id])}",'
        f'step="{_label(node_id)}"'
        for flow_id, node_id in steps
    }
    events = "tributary_step_events_total"
    lines = _head(
        events,
        "counter",
        'Messages per flow and step: outcome="in" (received), "out" (messages emitted; a '
        'split emits several), "failed", "filtered" (dropped by the step).',
    )
    for where, fields in steps.items():
        for outcome in ("in", "out", "failed", "filtered"):
            value = _number(fields.get(outcome, 0))
            lines.append(f'{events}{{{labels[where]},outcome="{outcome}"}} {value}')
    retries = "tributary_step_retries_total"
    lines += _head(
        retries,
        "counter",
        'Retries per flow and step: kind="request" (an HTTP request sent again in place), '
        '"batch" (a message whose transient failure sent its batch back for another attempt).',
    )
    for where, fields in steps.items():
        for kind in ("request", "batch"):
            value = _number(fields.get(f"retries:{kind}", 0))
            lines.append(f'{retries}{{{labels[where]},kind="{kind}"}} {value}')
    avoided = "tributary_step_duplicates_avoided_total"
    lines += _head(
        avoided,
        "counter",
        "Messages a delivering step did not send again because the delivery ledger showed "
        "them delivered (a batch run again after a crash, a timeout or a retry).",
    )
    for where, fields in steps.items():
        lines.append(f"{avoided}{{{labels[where]}}} {_number(fields.get('skipped', 0))}")
    return lines + _histograms(steps, labels)


def _histograms(steps: Steps, labels: dict[tuple[int, str], str]) -> list[str]:
    metric = "tributary_step_duration_seconds"
    lines = _head(metric, "histogram", "Time a step took per message, per flow and step.")
    bounds = [*map(str, tally.BUCKETS), "+Inf"]
    for where, fields in steps.items():
        if not any(name.startswith("b") for name in fields):
            continue  # the trigger: its records have no duration
        running = 0.0
        for index, bound in enumerate(bounds):
            running += fields.get(f"b{index}", 0)
            lines.append(f'{metric}_bucket{{{labels[where]},le="{bound}"}} {_number(running)}')
        lines.append(f"{metric}_sum{{{labels[where]}}} {_number(fields.get('sum', 0.0))}")
        lines.append(f"{metric}_count{{{labels[where]}}} {_number(running)}")
    return lines


def _lag(names: Names) -> list[str]:
    metric = "tributary_consumer_lag"
    lines = _head(
        metric,
        "gauge",
        "Records of a partition after the flow's committed offset (read but unfinished "
        "ones included), as its trigger runner last reported it.",
    )
    for entry in lag.read():
        if entry.flow_id in names:
            lines.append(
                f'{metric}{{flow_id="{entry.flow_id}",flow="{_label(names[entry.flow_id])}",'
                f'topic="{_label(entry.topic)}",partition="{entry.partition}"}} {entry.lag}'
            )
    return lines


def _kills(names: Names) -> list[str]:
    metric = "tributary_sandbox_kills_total"
    lines = _head(
        metric,
        "counter",
        'Code sandbox processes killed or found dead, by reason: "wall_time" (no answer in '
        'time), "cpu_time" (the kernel CPU limit), "violation" (a forbidden system call), '
        '"output" (too large), "crash". Flow and step are empty for the editor\'s test runs.',
    )
    for (flow_id, node_id, reason), count in sorted(tally.read_kills().items()):
        flow = names.get(int(flow_id), "") if flow_id.isdigit() else ""
        lines.append(
            f'{metric}{{flow_id="{flow_id}",flow="{_label(flow)}",step="{_label(node_id)}",'
            f'reason="{_label(reason)}"}} {count}'
        )
    return lines
