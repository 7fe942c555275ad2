"""Migrations keep an existing installation's history: step records moved from their own table
into their executions' rows (0005) survive the move, value for value, and the way back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from flows.migrations._execution_columns import (
    key_collation,
    steps_column_type,
    steps_compression,
)

BEFORE = [("flows", "0004_execution_trace_id")]
AFTER = [("flows", "0005_execution_steps_inline")]
STARTED = datetime(2026, 11, 28, 12, 30, 15, 250000, tzinfo=UTC)


def migrate(target: list[tuple[str, str]]) -> Any:
    """The project's models as of `target`, once the database is there."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)
    return executor.loader.project_state(target).apps


@pytest.fixture
def back_to_latest() -> Iterator[None]:
    """Whatever happens, the database ends with every migration applied, as other tests
    expect."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("back_to_latest")
def test_step_records_move_into_their_executions_and_back() -> None:
    old = migrate(BEFORE)
    workspace = old.get_model("flows", "Workspace").objects.create(name="W")
    flow = old.get_model("flows", "Flow").objects.create(workspace=workspace, name="F")
    version = old.get_model("flows", "FlowVersion").objects.create(flow=flow, number=1, graph={})
    Execution = old.get_model("flows", "Execution")
    StepRecord = old.get_model("flows", "StepRecord")
    failed, quiet = (
        Execution.objects.create(flow=flow, version=version, key=key, started_at=STARTED)
        for key in ("a", "b")
    )
    # Written out of order: positions decide.
    StepRecord.objects.create(
        execution=failed,
        position=1,
        node_id="transform",
        component="code",
        status="failed",
        started_at=STARTED,
        input={"text": 'it\'s "quoted" ünïcødé'},
        logs=["line"],
        error="boom",
        error_details={"line": 3},
    )
    StepRecord.objects.create(
        execution=failed,
        position=0,
        node_id="in",
        component="kafka",
        status="succeeded",
        started_at=STARTED,
        duration_ms=0.5,
        output=[1, 2],
    )

    new = migrate(AFTER)
    moved = new.get_model("flows", "Execution").objects.get(id=failed.id)
    assert moved.steps == [
        {
            "position": 0,
            "node_id": "in",
            "component": "kafka",
            "status": "succeeded",
            "started_at": "2026-11-28T12:30:15.250000Z",
            "duration_ms": 0.5,
            "input": None,
            "output": [1, 2],
            "logs": [],
            "error": "",
            "error_details": None,
        },
        {
            "position": 1,
            "node_id": "transform",
            "component": "code",
            "status": "failed",
            "started_at": "2026-11-28T12:30:15.250000Z",
            "duration_ms": None,
            "input": {"text": 'it\'s "quoted" ünïcødé'},
            "output": None,
            "logs": ["line"],
            "error": "boom",
            "error_details": {"line": 3},
        },
    ]
    assert new.get_model("flows", "Execution").objects.get(id=quiet.id).steps == []
    # Written since: a step whose input is the trigger's output points there.
    message = {"id": "t:0:1", "body": {"n": 1}, "headers": {}, "meta": {}}
    later = moved.steps[0] | {"output": message}
    pointing = moved.steps[1] | {"status": "succeeded", "input": None, "input_from": [0]}
    new.get_model("flows", "Execution").objects.filter(id=quiet.id).update(steps=[later, pointing])

    back = migrate(BEFORE)
    rows = back.get_model("flows", "StepRecord").objects.order_by("execution_id", "position")
    assert [(r.execution_id, r.node_id, r.output, r.error_details) for r in rows] == [
        (failed.id, "in", [1, 2], None),
        (failed.id, "transform", None, {"line": 3}),
        (quiet.id, "in", message, None),
        (quiet.id, "transform", None, {"line": 3}),
    ]
    assert rows[3].input == message
    assert rows[1].started_at == STARTED and rows[1].input == {"text": 'it\'s "quoted" ünïcødé'}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("back_to_latest")
def test_step_records_become_a_text_column_on_postgresql_value_for_value() -> None:
    """An installation migrated before 0006 holds its records as jsonb; after 0006 they are
    json, which the server checks but does not convert, after 0007 text, which it does not
    parse, and they read back the same all the way, and back."""
    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL column type")
    old = migrate(AFTER)
    with connection.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE flows_execution ALTER COLUMN steps TYPE jsonb USING steps::jsonb"
        )
    workspace = old.get_model("flows", "Workspace").objects.create(name="W")
    flow = old.get_model("flows", "Flow").objects.create(workspace=workspace, name="F")
    version = old.get_model("flows", "FlowVersion").objects.create(flow=flow, number=1, graph={})
    steps = [{"position": 0, "output": {"text": 'it\'s "quoted" ünïcødé', "n": [1, 2.5, None]}}]
    execution = old.get_model("flows", "Execution").objects.create(
        flow=flow, version=version, key="a", started_at=STARTED, steps=steps
    )
    assert steps_column_type(connection) == "jsonb"

    new = migrate([("flows", "0006_execution_steps_json")])

    assert steps_column_type(connection) == "json"
    assert new.get_model("flows", "Execution").objects.get(id=execution.id).steps == steps

    newest = migrate([("flows", "0007_execution_records_unchecked")])

    assert steps_column_type(connection) == "text"
    assert newest.get_model("flows", "Execution").objects.get(id=execution.id).steps == steps
    migrate([("flows", "0006_execution_steps_json")])
    assert steps_column_type(connection) == "json"
    migrate(AFTER)
    assert steps_column_type(connection) == "jsonb"  # and back


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("back_to_latest")
def test_execution_keys_compare_byte_by_byte_on_postgresql_and_stay_unique() -> None:
    """0008 gives the key column the "C" collation whatever the database's own, keeps every
    key and the (flow, key) constraint, and goes back to the database's default."""
    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL column collation")
    before = migrate([("flows", "0007_execution_records_unchecked")])
    assert key_collation(connection) is None
    workspace = before.get_model("flows", "Workspace").objects.create(name="W")
    flow = before.get_model("flows", "Flow").objects.create(workspace=workspace, name="F")
    version = before.get_model("flows", "FlowVersion").objects.create(flow=flow, number=1, graph={})
    keys = ["b:0:10", "B:0:9", "ä:1:0", "a:0:2"]
    for key in keys:
        before.get_model("flows", "Execution").objects.create(
            flow=flow, version=version, key=key, started_at=STARTED
        )

    after = migrate([("flows", "0008_execution_key_byte_order")])

    assert key_collation(connection) == "C"
    executions = after.get_model("flows", "Execution").objects.filter(flow_id=flow.id)
    assert list(executions.order_by("key").values_list("key", flat=True)) == sorted(
        keys, key=lambda key: key.encode()
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        executions.create(flow_id=flow.id, version_id=version.id, key="B:0:9", started_at=STARTED)
    migrate([("flows", "0007_execution_records_unchecked")])
    assert key_collation(connection) is None  # and back


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("back_to_latest")
def test_execution_records_are_compressed_with_lz4_on_postgresql_from_0009() -> None:
    """0009 compresses new records with lz4; those stored before keep their compression and
    read back the same, and the way back restores the server's default."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's compression")
    before = migrate([("flows", "0008_execution_key_byte_order")])
    assert steps_compression(connection) == "default"
    workspace = before.get_model("flows", "Workspace").objects.create(name="W")
    flow = before.get_model("flows", "Flow").objects.create(workspace=workspace, name="F")
    version = before.get_model("flows", "FlowVersion").objects.create(flow=flow, number=1, graph={})
    # Large enough to be compressed: 60 records of about 100 bytes.
    steps = [{"position": i, "output": {"text": f"event {i} " * 10}} for i in range(60)]

    def write(key: str, models: Any) -> Any:
        execution = models.get_model("flows", "Execution").objects.create(
            flow_id=flow.id, version_id=version.id, key=key, started_at=STARTED, steps=steps
        )
        return execution.id

    def compression(execution_id: int) -> str:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_column_compression(steps) FROM flows_execution WHERE id = %s",
                [execution_id],
            )
            return str(cursor.fetchone()[0])

    with connection.cursor() as cursor:
        cursor.execute("SHOW default_toast_compression")
        server_default = cursor.fetchone()[0]
    old = write("old", before)
    assert compression(old) == server_default

    after = migrate([("flows", "0009_execution_steps_lz4")])

    assert steps_compression(connection) == "lz4"
    new = write("new", after)
    assert compression(new) == "lz4" and compression(old) == server_default
    executions = after.get_model("flows", "Execution").objects
    assert executions.get(id=old).steps == steps == executions.get(id=new).steps
    migrate([("flows", "0008_execution_key_byte_order")])
    assert steps_compression(connection) == "default"  # and back
