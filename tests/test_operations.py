"""Operating Tributary: readiness, JSON logs, the extra metrics and execution retention."""

from __future__ import annotations

import io
import itertools
import json
import logging
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from config.logging import JsonFormatter
from flows.choices import ExecutionStatus, FlowStatus
from flows.models import Execution, Flow, FlowVersion, Workspace
from flows.services.retention import prune_executions
from flows.tasks import prune_executions as prune_task
from tests.factories import step_record

ROOT = Path(__file__).resolve().parent.parent

# --- /readyz -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_readyz_is_ready_when_database_redis_and_broker_answer() -> None:
    response = APIClient().get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "redis": "ok", "broker": "ok"},
    }


@pytest.mark.django_db
def test_readyz_answers_503_naming_redis_when_redis_does_not_answer() -> None:
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        response = APIClient().get("/readyz")
    assert response.status_code == 503
    payload = response.json()
    assert payload["status"] == "unavailable"
    assert payload["checks"]["redis"].startswith("failed:")
    assert payload["checks"]["database"] == "ok"
    assert payload["details"] == {"failed": ["redis"]}
    assert "redis" in payload["error"]


@pytest.mark.django_db
def test_readyz_is_exempt_from_the_https_redirect() -> None:
    with override_settings(SECURE_SSL_REDIRECT=True):
        assert APIClient().get("/readyz").status_code == 200
        assert APIClient().get("/api/v1/flows/").status_code == 301


# --- JSON logs -----------------------------------------------------------------------------


def _log_json(emit: Any) -> dict[str, Any]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tributary.test.json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        emit(logger)
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1, f"one line per record, got {lines!r}"
    parsed: dict[str, Any] = json.loads(lines[0])
    return parsed


def test_json_formatter_writes_one_object_with_the_standard_fields() -> None:
    entry = _log_json(lambda log: log.warning("batch %s of %d", "b-1", 3))
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "tributary.test.json"
    assert entry["message"] == "batch b-1 of 3"
    assert isinstance(entry["process"], int)
    assert entry["time"].endswith("+00:00") and "T" in entry["time"]
    assert "exception" not in entry
    assert "args" not in entry and "msg" not in entry


def test_json_formatter_adds_extra_fields_and_strings_what_json_cannot_encode() -> None:
    marker = object()
    entry = _log_json(
        lambda log: log.info("done", extra={"flow_id": 7, "batch_id": "b-9", "odd": marker})
    )
    assert entry["flow_id"] == 7
    assert entry["batch_id"] == "b-9"
    assert entry["odd"] == str(marker)


def test_json_formatter_writes_the_exception_as_a_string_on_the_same_line() -> None:
    def emit(log: logging.Logger) -> None:
        try:
            raise ValueError("bad\nvalue")
        except ValueError:
            log.exception("step failed")

    entry = _log_json(emit)
    assert entry["level"] == "ERROR"
    assert isinstance(entry["exception"], str)
    assert "Traceback" in entry["exception"] and "ValueError: bad" in entry["exception"]


def _run_logging_with(log_format: str) -> subprocess.CompletedProcess[str]:
    code = (
        "import django, logging; django.setup(); "
        "logging.getLogger('tributary.probe').info('hello', extra={'flow_id': 3})"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    env["TRIBUTARY_LOG_FORMAT"] = log_format
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_log_format_json_switches_the_root_logger_to_json_lines() -> None:
    done = _run_logging_with("json")
    assert done.returncode == 0, done.stderr
    entry = json.loads(done.stderr.strip().splitlines()[-1])
    assert entry["message"] == "hello" and entry["flow_id"] == 3
    assert entry["logger"] == "tributary.probe"


def test_an_unknown_log_format_is_refused_at_start() -> None:
    done = _run_logging_with("xml")
    assert done.returncode != 0
    assert "TRIBUTARY_LOG_FORMAT must be text or json" in done.stderr


# --- Helpers for execution records -----------------------------------------------------------


OFFSETS = itertools.count()


def make_flow(workspace: Workspace, name: str = "Orders", **fields: Any) -> Flow:
    flow = Flow.objects.create(workspace=workspace, name=name, **fields)
    FlowVersion.objects.create(flow=flow, number=1, graph={})
    return flow


def add_executions(
    flow: Flow,
    started: list[datetime],
    steps: tuple[tuple[str, float | None], ...] = (("transform", 10.0), ("bloomreach", 100.0)),
) -> list[Execution]:
    """Executions of `flow` started at the given times, each with one record per step."""
    version = flow.versions.get()
    return Execution.objects.bulk_create(
        Execution(
            flow=flow,
            version=version,
            key=f"v1:events:0:{next(OFFSETS)}",
            status=ExecutionStatus.SUCCEEDED,
            started_at=at,
            steps=[
                step_record(position, node_id=node_id, duration_ms=duration_ms)
                for position, (node_id, duration_ms) in enumerate(steps)
            ],
        )
        for at in started
    )


# --- /metrics ------------------------------------------------------------------------------

SAMPLE_LINE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$"
)
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape() -> list[tuple[str, dict[str, str], float]]:
    """GET /metrics, every line checked against the text format; the samples."""
    response = APIClient().get("/metrics")
    assert response.status_code == 200
    samples = []
    for line in response.content.decode().splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        match = SAMPLE_LINE.match(line)
        assert match, f"not a Prometheus sample line: {line!r}"
        labels = dict(LABEL.findall(match["labels"] or ""))
        samples.append((match["name"], labels, float(match["value"])))
    return samples


def sample(
    samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str
) -> float | None:
    found = [v for n, ls, v in samples if n == name and labels.items() <= ls.items()]
    assert len(found) <= 1, f"{name} {labels}: {len(found)} samples"
    return found[0] if found else None


# The step duration summary over the newest records (the histogram is in test_observability).
RECENT = "tributary_step_recent_duration_seconds"


def test_metrics_keep_their_names_and_add_flow_status_and_step_durations(
    workspace: Workspace,
) -> None:
    flow = make_flow(workspace, name='Orders "EU"', status=FlowStatus.RUNNING)
    stopped = make_flow(workspace, name="Idle", status=FlowStatus.STOPPED)
    now = timezone.now()
    # 99 fast transforms and one slow one: p50 is fast, p99 is the 99th of 100.
    add_executions(flow, [now - timedelta(seconds=i) for i in range(99)])
    add_executions(flow, [now + timedelta(seconds=1)], steps=(("transform", 5000.0),))
    # Filtered out: a step record without a duration.
    add_executions(flow, [now + timedelta(seconds=2)], steps=(("transform", None),))

    samples = scrape()
    assert sample(samples, "tributary_flows", status="running") == 1
    assert sample(
        samples, "tributary_executions_total", flow_id=str(flow.id), status="succeeded"
    ) == (101)
    assert sample(samples, "tributary_flow_status", flow_id=str(flow.id)) == 1
    labels = next(
        ls for n, ls, _ in samples if n == "tributary_flow_status" and ls["flow_id"] == str(flow.id)
    )
    assert labels == {"flow_id": str(flow.id), "flow": 'Orders \\"EU\\"', "status": "running"}
    assert sample(samples, "tributary_flow_status", flow_id=str(stopped.id), status="stopped") == 1

    node = {"flow_id": str(flow.id), "step": "transform"}
    assert sample(samples, f"{RECENT}_count", **node) == 100
    assert sample(samples, f"{RECENT}_sum", **node) == pytest.approx(99 * 0.010 + 5.0)
    assert sample(samples, RECENT, quantile="0.5", **node) == 0.01
    assert sample(samples, RECENT, quantile="0.99", **node) == 0.01
    bloomreach = {"flow_id": str(flow.id), "step": "bloomreach"}
    assert sample(samples, f"{RECENT}_count", **bloomreach) == 99
    assert sample(samples, RECENT, quantile="0.5", **bloomreach) == 0.1
    # A flow without records has no duration samples.
    assert sample(samples, f"{RECENT}_count", flow_id=str(stopped.id)) is None


def test_step_durations_cover_only_the_last_thousand_step_records(workspace: Workspace) -> None:
    flow = make_flow(workspace)
    now = timezone.now()
    add_executions(
        flow,
        [now - timedelta(hours=1, seconds=i) for i in range(300)],
        steps=(("transform", 9000.0),),
    )
    add_executions(
        flow, [now - timedelta(seconds=i) for i in range(1000)], steps=(("transform", 1.0),)
    )
    samples = scrape()
    node = {"flow_id": str(flow.id), "step": "transform"}
    assert sample(samples, f"{RECENT}_count", **node) == 1000
    assert sample(samples, RECENT, quantile="0.99", **node) == 0.001


def test_metrics_cost_a_bounded_number_of_queries_for_ten_busy_flows(
    workspace: Workspace, django_assert_max_num_queries: Any
) -> None:
    """Speed belongs to the benchmark; here, the work must not grow with the records: one
    query per flow for the step summaries plus a fixed few."""
    now = timezone.now()
    for n in range(10):
        flow = make_flow(workspace, name=f"flow {n}", status=FlowStatus.RUNNING)
        add_executions(flow, [now - timedelta(seconds=i) for i in range(600)])
    with django_assert_max_num_queries(10 + 6):
        samples = scrape()
    assert len([s for s in samples if s[0] == f"{RECENT}_count"]) == 20


# --- Retention -----------------------------------------------------------------------------

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def remaining(flow: Flow) -> list[datetime]:
    return sorted(flow.executions.values_list("started_at", flat=True))


def step_count(flow: Flow) -> int:
    return sum(len(steps) for steps in flow.executions.values_list("steps", flat=True))


@override_settings(TRIBUTARY_EXECUTION_RETENTION_DAYS=14)
def test_prune_deletes_executions_and_their_steps_older_than_the_retention(
    workspace: Workspace,
) -> None:
    flow = make_flow(workspace)
    old = add_executions(flow, [NOW - timedelta(days=14, seconds=1), NOW - timedelta(days=30)])
    kept = [NOW - timedelta(days=13, hours=23), NOW]
    add_executions(flow, kept)

    assert prune_executions(now=NOW) == {flow.id: 2}

    assert remaining(flow) == kept
    assert not Execution.objects.filter(id__in=[e.id for e in old]).exists()
    assert step_count(flow) == 4
    # Nothing left to do: a second run (a duplicated beat task) deletes nothing.
    assert prune_executions(now=NOW) == {}


@override_settings(TRIBUTARY_EXECUTION_RETENTION_COUNT=3)
def test_prune_keeps_only_the_newest_executions_beyond_the_count(workspace: Workspace) -> None:
    flow = make_flow(workspace)
    other = make_flow(workspace, name="Small")
    times = [NOW - timedelta(minutes=m) for m in range(5)]
    # Two executions at the same instant straddle the limit: the id breaks the tie.
    times.append(times[2])
    add_executions(flow, times)
    add_executions(other, times[:3])

    assert prune_executions(now=NOW) == {flow.id: 3}

    assert len(remaining(flow)) == 3
    newest = sorted(flow.executions.values_list("started_at", "id"), reverse=True)
    assert [at for at, _ in newest] == [NOW, times[1], times[2]]
    assert len(remaining(other)) == 3


@override_settings(TRIBUTARY_EXECUTION_RETENTION_DAYS=14)
def test_a_flows_retention_days_overrides_the_default(workspace: Workspace) -> None:
    short = make_flow(workspace, name="Short", retention_days=1)
    long = make_flow(workspace, name="Long", retention_days=60)
    default = make_flow(workspace, name="Default")
    ages = [timedelta(hours=12), timedelta(days=2), timedelta(days=20), timedelta(days=90)]
    for flow in (short, long, default):
        add_executions(flow, [NOW - age for age in ages])

    assert prune_executions(now=NOW) == {short.id: 3, long.id: 1, default.id: 2}

    assert remaining(short) == [NOW - timedelta(hours=12)]
    assert len(remaining(long)) == 3
    assert len(remaining(default)) == 2


def test_prune_deletes_a_large_backlog_in_chunks_that_stand_on_their_own(
    workspace: Workspace,
) -> None:
    flow = make_flow(workspace)
    add_executions(flow, [NOW - timedelta(days=30, seconds=i) for i in range(2_500)])
    add_executions(flow, [NOW])
    chunks = 0

    def stop_at_the_second_chunk(
        execute: Any, sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        nonlocal chunks
        if sql.startswith('SELECT "flows_execution"."id" AS') and "LIMIT 1000" in sql:
            chunks += 1
            if chunks == 2:
                raise RuntimeError("interrupted")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(stop_at_the_second_chunk), pytest.raises(RuntimeError):
        prune_executions(now=NOW, chunk_size=1_000)
    # The first chunk of 1,000 is gone with its step records, the rest waits.
    assert flow.executions.count() == 1_501
    assert step_count(flow) == 2 * 1_501

    assert prune_executions(now=NOW, chunk_size=1_000) == {flow.id: 1_500}
    assert remaining(flow) == [NOW]
    assert step_count(flow) == 2


def test_the_prune_task_and_command_delete_what_is_past_retention(workspace: Workspace) -> None:
    flow = make_flow(workspace, retention_days=1)
    add_executions(flow, [timezone.now() - timedelta(days=2)] * 2)
    out = io.StringIO()
    call_command("prune_executions", stdout=out)
    assert f"flow {flow.id}: 2 executions deleted" in out.getvalue()
    assert not flow.executions.exists()

    add_executions(flow, [timezone.now() - timedelta(days=3)])
    assert prune_task.apply().get() == {str(flow.id): 1}
    assert not flow.executions.exists()


def test_beat_sends_the_prune_task_every_ten_minutes() -> None:
    from config.celery import app

    entry = app.conf.beat_schedule["prune-executions"]
    assert entry["task"] == "flows.prune_executions" == prune_task.name
    assert entry["schedule"] == 600


def test_retention_days_is_in_the_flow_api_and_validated(
    api: APIClient, workspace: Workspace
) -> None:
    flow = make_flow(workspace, retention_days=7)
    detail = api.get(f"/api/v1/flows/{flow.id}/")
    assert detail.status_code == 200
    assert detail.json()["retention_days"] == 7
    for bad in (0, -1, 36_501, "soon"):
        response = api.patch(f"/api/v1/flows/{flow.id}/", {"retention_days": bad}, format="json")
        assert response.status_code == 400, (bad, response.content)
        assert "retention_days" in response.json()["details"]
    changed = api.patch(f"/api/v1/flows/{flow.id}/", {"retention_days": 30}, format="json")
    assert changed.status_code == 200 and changed.json()["retention_days"] == 30
    renamed = api.patch(f"/api/v1/flows/{flow.id}/", {"name": "Renamed"}, format="json")
    assert renamed.json()["retention_days"] == 30  # untouched when not given
    cleared = api.patch(f"/api/v1/flows/{flow.id}/", {"retention_days": None}, format="json")
    assert cleared.json()["retention_days"] is None
    created = api.post(
        "/api/v1/flows/", {"name": "Short-lived", "retention_days": 2}, format="json"
    )
    assert created.status_code == 201 and created.json()["retention_days"] == 2
