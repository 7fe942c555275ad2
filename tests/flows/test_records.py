"""Execution records written in bulk (flows.engine.records), on SQLite and on PostgreSQL: the
same rows whichever way they go in (multi-row upserts, or one array per column)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest

from flows.engine.jobs import Item, StepRecordData, json_text, step_record
from flows.engine.records import STEP_FIELDS, UPSERT_CHUNK, statement_sizes, write_batch
from flows.migrations._execution_columns import steps_column_type
from flows.models import Execution, Flow, FlowVersion, Workspace
from tests.factories import chain, code_node, kafka_node

# Characters that need escaping somewhere: SQL quotes, JSON's backslash, tab and newline,
# PostgreSQL array literals' braces, commas and double quotes, and text beyond ASCII.
AWKWARD = 'it\'s "quoted", {braced}, back\\slash\ttab\nnew line, ünïcødé 🚀'


@pytest.fixture
def version(workspace: Workspace) -> FlowVersion:
    graph = chain(kafka_node(), code_node())
    flow = Flow.objects.create(workspace=workspace, name="Records", graph=graph)
    return FlowVersion.objects.create(flow=flow, number=1, graph=graph)


# The two steps of the flow, at their positions in an execution.
POSITIONS = {"in": 0, "transform": 1}


def step(
    node_id: str, output: Any, *, error: str = "", logs: list[str] | None = None
) -> StepRecordData:
    return step_record(
        POSITIONS[node_id],
        node_id,
        "code",
        "failed" if error else "succeeded",
        time.time(),
        duration_ms=0.25,
        input=json_text({"text": AWKWARD}),
        output=json_text(output),
        logs=logs,
        error=error,
        error_details=json_text({"line": 3}) if error else None,
    )


def item(offset: int, steps: list[StepRecordData], *, error: str = "") -> Item:
    return {
        "key": f"v1:events:0:{offset}",
        "meta": {
            "topic": "events",
            "partition": 0,
            "offset": offset,
            "key": AWKWARD if offset % 2 else None,
            "timestamp": 1764000000001 + offset,
        },
        "summary": AWKWARD,
        "started_at": time.time(),
        "pending": {},
        "steps": steps,
        "error": error,
        "failed_node": "transform" if error else "",
        "retry_input": {"body": {"text": AWKWARD}} if error else None,
        "reached_end": not error,
        "attempts": 1,
    }


@pytest.mark.django_db
def test_a_batch_is_written_with_every_value_intact(version: FlowVersion) -> None:
    items = [
        item(0, [step("in", {"body": 1}), step("transform", [{"n": 1}], logs=[AWKWARD])]),
        item(1, [step("in", None), step("transform", None, error=AWKWARD)], error=AWKWARD),
    ]
    write_batch(version.flow_id, version.id, items, trace_id="ab" * 16)

    ok, failed = Execution.objects.filter(flow=version.flow).order_by("offset")
    assert (ok.status, failed.status) == ("succeeded", "failed")
    assert ok.message_key is None and failed.message_key == AWKWARD
    assert ok.summary == AWKWARD and failed.error == AWKWARD
    assert failed.retry_input == {"body": {"text": AWKWARD}} and ok.retry_input is None
    assert ok.message_timestamp is not None and ok.message_timestamp.timestamp() == 1764000000.001
    assert ok.trace_id == "ab" * 16
    steps = ok.steps
    assert [set(s) for s in steps] == [set(STEP_FIELDS)] * 2
    assert [(s["position"], s["node_id"]) for s in steps] == [(0, "in"), (1, "transform")]
    assert steps[1]["input"] == {"text": AWKWARD} and steps[1]["logs"] == [AWKWARD]
    assert steps[1]["output"] == [{"n": 1}] and steps[1]["duration_ms"] == 0.25
    assert abs(datetime.fromisoformat(steps[1]["started_at"]).timestamp() - time.time()) < 60
    broken = failed.steps[1]
    assert broken["error"] == AWKWARD and broken["error_details"] == {"line": 3}
    assert broken["output"] is None and broken["status"] == "failed"


@pytest.mark.django_db
def test_a_batch_written_again_replaces_its_records(version: FlowVersion) -> None:
    first = [
        item(n, [step("in", n), step("transform", None, error="boom")], error="boom")
        for n in range(3)
    ]
    write_batch(version.flow_id, version.id, first)
    ids = dict(Execution.objects.values_list("key", "id"))

    again = [item(n, [step("in", n), step("transform", [n])]) for n in range(4)]
    write_batch(version.flow_id, version.id, again)

    executions = Execution.objects.filter(flow=version.flow)
    assert executions.count() == 4
    assert set(executions.values_list("status", flat=True)) == {"succeeded"}
    assert {k: v for k, v in executions.values_list("key", "id") if k in ids} == ids  # same rows
    steps = [step for execution in executions for step in execution.steps]
    assert len(steps) == 8
    assert not [step for step in steps if step["error"]]


@pytest.mark.django_db
def test_a_batch_larger_than_one_statement(version: FlowVersion) -> None:
    count = UPSERT_CHUNK * 2 + 7
    write_batch(version.flow_id, version.id, [item(n, [step("in", n)]) for n in range(count)])

    assert Execution.objects.filter(flow=version.flow).count() == count
    outputs = [steps[0]["output"] for steps in Execution.objects.values_list("steps", flat=True)]
    assert sorted(outputs) == list(range(count))


def test_batches_of_every_size_take_few_statement_sizes() -> None:
    """Each size is a statement SQLite compiles and keeps: one per batch size grew workers."""
    seen: set[int] = set()
    for rows in range(1, 3 * UPSERT_CHUNK):
        sizes = statement_sizes(rows)
        assert sum(sizes) == rows and max(sizes) <= UPSERT_CHUNK
        assert len(sizes) <= rows // UPSERT_CHUNK + 9
        seen.update(sizes)
    assert len(seen) <= 10
    assert statement_sizes(UPSERT_CHUNK * 2) == [UPSERT_CHUNK, UPSERT_CHUNK]
    assert statement_sizes(0) == []


@pytest.mark.django_db
def test_a_batch_is_written_without_reading_the_table(version: FlowVersion) -> None:
    """A few statements (statement_sizes; one on PostgreSQL), and no lookups: an earlier
    design read a batch's keys back, and an ORDER BY there (the model's default) made each
    batch's cost grow with the table."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    count = UPSERT_CHUNK + 1
    with CaptureQueriesContext(connection) as queries:
        write_batch(version.flow_id, version.id, [item(n, [step("in", n)]) for n in range(count)])

    statements = [q["sql"].lstrip().upper() for q in queries]
    writes = [sql for sql in statements if sql.startswith("INSERT")]
    assert len(writes) == (1 if connection.vendor == "postgresql" else 2)
    assert not [sql for sql in statements if sql.startswith("SELECT")]


@pytest.mark.django_db
def test_a_message_twice_in_one_batch_keeps_its_last_record(version: FlowVersion) -> None:
    first = item(7, [step("in", "first")], error="boom")
    last = item(7, [step("in", "last"), step("transform", ["done"])])
    write_batch(version.flow_id, version.id, [first, item(8, [step("in", 8)]), last])

    execution = Execution.objects.get(flow=version.flow, key=last["key"])
    assert execution.status == "succeeded"
    assert [step["output"] for step in execution.steps] == ["last", ["done"]]
    assert Execution.objects.filter(flow=version.flow).count() == 2


@pytest.mark.django_db
def test_rows_are_the_same_whether_or_not_queries_are_logged(version: FlowVersion) -> None:
    """On SQLite, an unlogged batch goes in with SQLite's own placeholders (records.py)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def written(offsets: range) -> list[tuple[Any, ...]]:
        rows = Execution.objects.filter(flow=version.flow, offset__in=offsets)
        return list(rows.order_by("offset").values_list("status", "message_key", "steps"))

    from flows.engine.records import _upsert_sql_qmark

    def qmark_uses() -> int:
        info = _upsert_sql_qmark.cache_info()
        return info.hits + info.misses

    before = qmark_uses()
    # Four rows: one statement (records.statement_sizes).
    write_batch(version.flow_id, version.id, [item(n, [step("in", AWKWARD)]) for n in range(4)])
    assert qmark_uses() == before + (connection.vendor == "sqlite")
    with CaptureQueriesContext(connection) as logged:
        write_batch(
            version.flow_id, version.id, [item(n, [step("in", AWKWARD)]) for n in range(4, 8)]
        )

    assert [sql for sql in logged if sql["sql"].lstrip().upper().startswith("INSERT")]
    assert qmark_uses() == before + (connection.vendor == "sqlite")
    # Offsets of the same parity in both: an odd one has a message key.
    unlogged, seen = written(range(4)), written(range(4, 8))
    assert len(unlogged) == 4
    assert [(s, k, [step["output"] for step in steps]) for s, k, steps in unlogged] == [
        (s, k, [step["output"] for step in steps]) for s, k, steps in seen
    ]


@pytest.mark.django_db
def test_a_row_the_database_refuses_is_a_django_error(version: FlowVersion) -> None:
    from django.db import IntegrityError

    broken = item(0, [step("in", 0)])
    broken["key"] = None  # type: ignore[typeddict-item]

    with pytest.raises(IntegrityError):
        write_batch(version.flow_id, version.id, [broken])


def test_the_sqlite_statement_has_only_its_own_placeholders() -> None:
    from flows.engine.records import EXECUTION_COLUMNS, _upsert_sql_qmark

    sql = _upsert_sql_qmark(3)
    assert "%" not in sql
    assert sql.count("?") == 3 * len(EXECUTION_COLUMNS)


@pytest.mark.parametrize(
    "seconds",
    [
        0.0,
        1764000000.0,
        1764000000.000001,
        1764000000.0000005,  # half a microsecond: rounds to even, as datetime does
        1764000000.9999996,  # rounds up into the next second
        1764000059.9999996,  # ... and the next minute
        1764003599.9999999,  # ... and the next hour
        1767225599.9999999,  # ... and the next year
        1764000000.123,
        1700000000.5,
    ],
)
def test_sqlite_times_are_the_text_django_would_store(seconds: float) -> None:
    from datetime import UTC

    from flows.engine.records import naive_utc_text

    expected = str(datetime.fromtimestamp(seconds, tz=UTC).replace(tzinfo=None))
    assert naive_utc_text(seconds) == expected


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"duration_ms": 0.25, "input": '{"a":1}', "output": "[1,2]"},
        {"duration_ms": 7, "logs": [AWKWARD, "two"], "error": AWKWARD, "error_details": "{}"},
        {"duration_ms": float("nan"), "input_from": [1, 0]},
        {"duration_ms": 1e-7, "error": "x" * 6000},
    ],
)
def test_a_step_record_is_the_json_of_its_fields(fields: dict[str, Any]) -> None:
    import math

    import orjson

    record = step_record(2, AWKWARD, "code", "succeeded", 1764000000.5, **fields)

    stored = orjson.loads(record["stored"])
    assert list(stored) == [*STEP_FIELDS, *(["input_from"] if "input_from" in fields else [])]
    duration = fields.get("duration_ms")
    assert stored["duration_ms"] == (None if duration is None or math.isnan(duration) else duration)
    assert stored["node_id"] == AWKWARD and stored["started_at"] == "2025-11-24T16:00:00.500000Z"
    for name in ("input", "output", "error_details"):
        text = fields.get(name)
        assert stored[name] == (None if text is None else orjson.loads(text))
    assert stored["logs"] == fields.get("logs", [])
    assert stored["error"] == fields.get("error", "")[:5000]
    assert stored.get("input_from") == fields.get("input_from")


@pytest.mark.django_db
@pytest.mark.parametrize("timestamp", [2**62, -(2**62), 9_000_000_000_000_000])
def test_a_kafka_timestamp_no_date_can_hold_is_recorded_as_none(
    version: FlowVersion, timestamp: int
) -> None:
    # A poison record's timestamp must not stop its batch from being written (it would be
    # dispatched again and again).
    odd = item(0, [step("in", 0)])
    odd["meta"]["timestamp"] = timestamp
    write_batch(version.flow_id, version.id, [odd, item(1, [step("in", 1)])])

    rows = dict(Execution.objects.values_list("offset", "message_timestamp"))
    assert rows[0] is None and rows[1] is not None


@pytest.mark.django_db
def test_the_records_column_is_not_parsed_again_by_the_database() -> None:
    """The engine writes valid JSON by construction: no CHECK (JSON_VALID) on SQLite, which
    parsed every batch's records again (7% of a worker's instructions), and `text` on
    PostgreSQL, where `jsonb` converted them and `json` parsed them (models.RecordField)."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT sql FROM sqlite_master WHERE name = 'flows_execution'")
            table = cursor.fetchone()[0]
            assert '"steps" text NOT NULL' in table
            assert 'JSON_VALID("steps")' not in table
            assert 'JSON_VALID("retry_input")' in table  # other JSON keeps its check
        else:
            assert steps_column_type(connection) == "text"


@pytest.mark.django_db
def test_executions_carry_no_version_constraint_or_index() -> None:
    """Nothing looks executions up by version, and a version goes only with its flow: the
    flow's constraint stays, the version's check and index (paid on every row) are gone."""
    from django.db import connection

    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "flows_execution")
    on_version = [c for c in constraints.values() if c["columns"] == ["version_id"]]
    assert on_version == []
    on_flow = [c for c in constraints.values() if c["columns"] == ["flow_id"] and c["foreign_key"]]
    assert [c["foreign_key"] for c in on_flow] == [("flows_flow", "id")]


@pytest.mark.django_db
def test_deleting_a_flow_deletes_its_versions_and_executions_only(
    version: FlowVersion, workspace: Workspace
) -> None:
    other = Flow.objects.create(workspace=workspace, name="Other", graph=version.graph)
    kept = FlowVersion.objects.create(flow=other, number=1, graph=version.graph)
    write_batch(version.flow_id, version.id, [item(0, [step("in", 0)]), item(1, [])])
    write_batch(other.id, kept.id, [item(0, [step("in", 0)])])

    version.flow.delete()

    assert not FlowVersion.objects.filter(id=version.id).exists()
    assert list(Execution.objects.values_list("flow_id", "version_id")) == [(other.id, kept.id)]
