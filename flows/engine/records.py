"""Execution records: clipped, masked and written in bulk once per batch."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any

from django.db import connection, transaction

from flows.choices import ExecutionStatus
from flows.engine.jobs import Item, StepRecordData, json_text
from flows.models import Execution, StepRecord


def final_status(item: Item) -> str:
    if item["error"]:
        return ExecutionStatus.FAILED
    return ExecutionStatus.SUCCEEDED if item["reached_end"] else ExecutionStatus.FILTERED


# Written with plain SQL: the ORM's bulk_create spends most of a batch's time compiling
# per-field SQL for thousands of rows. Both SQLite and PostgreSQL take this upsert.
EXECUTION_COLUMNS = (
    "flow_id",
    "version_id",
    "key",
    "status",
    "topic",
    "partition",
    "offset",
    "message_key",
    "message_timestamp",
    "started_at",
    "finished_at",
    "duration_ms",
    "error",
    "failed_node",
    "retry_input",
    "summary",
    "attempts",
    "trace_id",
)
# What a re-run batch replaces (the message's own coordinates never change).
EXECUTION_UPDATED = (
    "version_id",
    "status",
    "started_at",
    "finished_at",
    "duration_ms",
    "error",
    "failed_node",
    "retry_input",
    "summary",
    "attempts",
    "trace_id",
)
STEP_COLUMNS = (
    "execution_id",
    "position",
    "node_id",
    "component",
    "status",
    "started_at",
    "duration_ms",
    "input",
    "output",
    "logs",
    "error",
    "error_details",
)


# Rows per upsert statement: well under SQLite's 32,766 parameters (18 columns a row), and
# large enough that PostgreSQL parses one statement per chunk, not per row.
UPSERT_CHUNK = 500


def write_batch(
    flow_id: int, version_id: int, items: list[Item], trace_id: str | None = None
) -> None:
    """Upsert one execution per item (keyed by trigger message) and replace its step records.
    `trace_id`: the batch's OpenTelemetry trace, if traced.

    Idempotent: a batch written twice (after a retried task) leaves the same rows. Executions
    go in as multi-row upserts that return their ids; step records by COPY on PostgreSQL
    (a row-by-row executemany there costs a server round of parsing per row: 4x slower) and
    by executemany on SQLite, which runs in-process.
    """
    if not items:
        return
    # One row per message, the last word kept: PostgreSQL refuses an upsert that touches a
    # row twice, and a batch is not meant to hold a message twice, but must not break if so.
    items = list({item["key"]: item for item in items}.values())
    finished = datetime.now(tz=UTC).timestamp()
    rows = [_execution_row(flow_id, version_id, item, finished, trace_id) for item in items]
    keys = [item["key"] for item in items]
    # Built before the transaction: on SQLite it holds the database's one write lock, which
    # every worker's batch needs, so the time inside is the pipeline's serial part.
    step_rows = [
        (item["key"], _step_row(position, step))
        for item in items
        for position, step in enumerate(item["steps"])
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        # Only a batch written before (a re-run) has step records to replace. Asked through
        # the unique (flow, key) index: a DELETE by execution id on a table growing fast can
        # be planned as a full scan of the step records while its statistics lag. Unordered:
        # the model's default order (newest first) made SQLite walk every execution of the
        # flow by time instead, a batch's cost growing with the table (0.11 ms an event at
        # 100,000 executions, 0.42 at 700,000; 0.07 either way without it). In plain SQL: the
        # ORM's preparation of 500 parameters for `key__in` cost more than the query.
        rerun = _existing_ids(cursor, flow_id, keys)
        if rerun:
            StepRecord.objects.filter(execution_id__in=rerun).delete()
        ids: dict[str, int] = {}
        if connection.vendor == "postgresql":
            # One array per column: a short statement, whatever the batch's size.
            columns = [list(column) for column in zip(*rows, strict=True)]
            cursor.execute(_upsert_arrays_sql(), columns)
            ids.update(cursor.fetchall())
        else:
            for start in range(0, len(rows), UPSERT_CHUNK):
                chunk = rows[start : start + UPSERT_CHUNK]
                cursor.execute(_upsert_sql(len(chunk)), [value for row in chunk for value in row])
                ids.update(cursor.fetchall())
        steps = ((ids[key], *row) for key, row in step_rows)
        if connection.vendor == "postgresql":
            _copy(cursor, StepRecord._meta.db_table, STEP_COLUMNS, steps)
        else:
            cursor.executemany(_insert_sql(StepRecord._meta.db_table, STEP_COLUMNS), list(steps))


def _existing_ids(cursor: Any, flow_id: int, keys: list[str]) -> list[int]:
    """Ids of the flow's executions with these keys, in no particular order."""
    found: list[int] = []
    table, flow, key = _q(Execution._meta.db_table), _q("flow_id"), _q("key")
    for start in range(0, len(keys), UPSERT_CHUNK):
        chunk = keys[start : start + UPSERT_CHUNK]
        marks = ", ".join(["%s"] * len(chunk))
        cursor.execute(
            f"SELECT {_q('id')} FROM {table} WHERE {flow} = %s AND {key} IN ({marks})",  # noqa: S608
            [flow_id, *chunk],
        )
        found.extend(row[0] for row in cursor.fetchall())
    return found


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _insert_sql(table: str, columns: tuple[str, ...], rows: int = 1) -> str:
    """Built from our own constant table and column names only; values are parameters."""
    names = ", ".join(_q(c) for c in columns)
    row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    return f"INSERT INTO {_q(table)} ({names}) VALUES {', '.join([row] * rows)}"  # noqa: S608


@cache
def _upsert_sql(rows: int) -> str:
    return _insert_sql(Execution._meta.db_table, EXECUTION_COLUMNS, rows) + _upsert_clause()


def _upsert_clause() -> str:
    """A re-run batch updates its executions (keyed by flow and message) and learns their ids."""
    updates = ", ".join(f"{_q(c)} = excluded.{_q(c)}" for c in EXECUTION_UPDATED)
    return (
        f" ON CONFLICT ({_q('flow_id')}, {_q('key')}) DO UPDATE SET {updates}"
        f" RETURNING {_q('key')}, {_q('id')}"
    )


# PostgreSQL types of EXECUTION_COLUMNS, for the arrays the upsert unnests.
EXECUTION_PG_TYPES = (
    "bigint",
    "bigint",
    "varchar",
    "varchar",
    "varchar",
    "integer",
    "bigint",
    "text",
    "timestamptz",
    "timestamptz",
    "timestamptz",
    "double precision",
    "text",
    "varchar",
    "jsonb",
    "text",
    "integer",
    "varchar",
)


@cache
def _upsert_arrays_sql() -> str:
    names = ", ".join(_q(c) for c in EXECUTION_COLUMNS)
    arrays = ", ".join(f"%s::{kind}[]" for kind in EXECUTION_PG_TYPES)
    return (
        f"INSERT INTO {_q(Execution._meta.db_table)} ({names}) SELECT * FROM unnest({arrays})"  # noqa: S608
        + _upsert_clause()
    )


def _copy(
    cursor: Any, table: str, columns: tuple[str, ...], rows: Iterable[tuple[Any, ...]]
) -> None:
    """PostgreSQL's COPY FROM STDIN through psycopg (its text format escapes each value)."""
    names = ", ".join(_q(c) for c in columns)
    with cursor.cursor.copy(f"COPY {_q(table)} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


# The step records of a batch's step share their start, and an execution's start is its trigger
# step's: most timestamps of a batch come round more than once.
@lru_cache(maxsize=4096)
def _time(seconds: float | None) -> Any:
    """A timestamp as the database column takes it (what the ORM would send, faster)."""
    if seconds is None:
        return None
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    # SQLite: naive UTC text, as Django stores it there. Checked once per process.
    return str(moment.replace(tzinfo=None)) if _naive_text() else moment


@cache
def _naive_text() -> bool:
    return bool(connection.vendor == "sqlite")


def _execution_row(
    flow_id: int, version_id: int, item: Item, finished: float, trace_id: str | None
) -> tuple[Any, ...]:
    meta = item["meta"] or {}
    timestamp = meta.get("timestamp")
    key = meta.get("key")
    return (
        flow_id,
        version_id,
        item["key"],
        final_status(item),
        meta.get("topic") or "",
        meta.get("partition"),
        meta.get("offset"),
        key if key is None else str(key)[:1000],
        _time(timestamp / 1000) if isinstance(timestamp, int | float) else None,
        _time(item["started_at"]),
        _time(finished),
        round((finished - item["started_at"]) * 1000, 3),
        item["error"][:5000],
        item["failed_node"],
        json_text(item["retry_input"]) if item["error"] else None,
        item["summary"],
        item["attempts"],
        trace_id,
    )


def _step_row(position: int, step: StepRecordData) -> tuple[Any, ...]:
    """A step record's row but for its execution's id (known once the executions are in)."""
    return (
        position,
        step["node_id"],
        step["component"],
        step["status"],
        _time(step["started_at"]),
        step["duration_ms"],
        step["input"],
        step["output"],
        json_text(step["logs"]) or "[]",
        step["error"][:5000],
        step["error_details"],
    )
