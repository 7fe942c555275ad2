"""Execution records: clipped, masked and written in bulk once per batch.

One row per message: its execution with its step records as a JSON array in the same row
(`Execution.steps`, each step an object of STEP_FIELDS). The step records arrive as the JSON
text of those objects (jobs.step_record) and go into the array as they are, never decoded.
"""

from __future__ import annotations

import math
import sqlite3
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any

import psycopg
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper

from flows.choices import ExecutionStatus
from flows.engine.jobs import Item, json_text
from flows.models import Execution


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
    "steps",
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
    "steps",
)
# A step record in `Execution.steps`, as the API shows it. Stored with an `input_from`
# instead of its `input` when that is in an earlier record (flows.step_records.resolve_inputs).
STEP_FIELDS = (
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


# Rows per upsert statement: well under SQLite's 32,766 parameters (19 columns a row), and
# large enough that PostgreSQL parses one statement per chunk, not per row.
UPSERT_CHUNK = 500


def write_batch(
    flow_id: int, version_id: int, items: list[Item], trace_id: str | None = None
) -> None:
    """Upsert one execution per item (keyed by trigger message), its step records included.
    `trace_id`: the batch's OpenTelemetry trace, if traced.

    Idempotent: a batch written twice (after a retried task) leaves the same rows. Multi-row
    upserts that return nothing: on PostgreSQL one statement of one array per column, on
    SQLite a few statements (`statement_sizes`).
    """
    if not items:
        return
    # One row per message, the last word kept: PostgreSQL refuses an upsert that touches a
    # row twice, and a batch is not meant to hold a message twice, but must not break if so.
    items = list({item["key"]: item for item in items}.values())
    finished = datetime.now(tz=UTC).timestamp()
    # Built before the transaction: on SQLite it holds the database's one write lock, which
    # every worker's batch needs, so the time inside is the pipeline's serial part.
    rows = _execution_rows(flow_id, version_id, items, finished, trace_id)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            _execute_postgresql(cursor, [list(column) for column in zip(*rows, strict=True)])
        else:
            start = 0
            for size in statement_sizes(len(rows)):
                chunk = rows[start : start + size]
                start += size
                _execute_sqlite(cursor, size, [value for row in chunk for value in row])


def statement_sizes(rows: int) -> list[int]:
    """How many rows each SQLite upsert of a batch of `rows` takes: UPSERT_CHUNK while that
    many are left, then powers of two.

    Each size is its own statement, compiled and kept by SQLite's statement cache (128 of
    them) and by `_upsert_sql`. With one size per batch size, batches of varying sizes grew a
    worker's memory for as long as new sizes came (400 batches of random sizes: +106 MB, the
    soak: +10 MB per worker in 6 minutes). These are 10 sizes at most, for a few more
    statements per batch.
    """
    sizes = [UPSERT_CHUNK] * (rows // UPSERT_CHUNK)
    left = rows % UPSERT_CHUNK
    while left:
        size = 1 << (left.bit_length() - 1)
        sizes.append(size)
        left -= size
    return sizes


def _watched() -> bool:
    """Queries are logged (DEBUG, CaptureQueriesContext) or wrapped (connection.execute_wrapper):
    they must then go through Django's own cursor, which does both."""
    return bool(connection.queries_logged or connection.execute_wrappers)


def _null(value: None) -> None:
    return value


# The sqlite3 module binds an exact int, float or str as it is but looks any other value up
# among its adapters first, None included: a tuple built, a registry missed and two attribute
# lookups for each NULL, two or three a row. Found there, None goes straight through.
sqlite3.register_adapter(type(None), _null)


def _execute_sqlite(cursor: CursorWrapper, rows: int, params: list[Any]) -> None:
    """The upsert of `rows` rows, in SQLite's own `?` placeholders when nobody watches.

    Django rewrites `%s` into `?` with a regular expression at every execute: for a statement
    of 500 rows, 9,500 placeholders, that cost as much as SQLite's own work. Django's way is
    kept when `_watched`, and errors become Django's exceptions either way.
    """
    if _watched():
        cursor.execute(_upsert_sql(rows), params)
        return
    with connection.wrap_database_errors:
        # The class's own execute, past Django's override that does the rewriting.
        sqlite3.Cursor.execute(cursor.cursor, _upsert_sql_qmark(rows), params)


def _execute_postgresql(cursor: CursorWrapper, columns: list[list[Any]]) -> None:
    """The upsert of a batch as one array per column, bound by the server, in binary.

    Django's psycopg cursors bind on the client: they quote every value into the statement's
    text, in Python, escaping each JSON text of an array element by element. That was 74% of a
    worker's time on PostgreSQL (py-spy). Django's way is kept when `_watched`.
    """
    if _watched():
        cursor.execute(_upsert_arrays_sql(), columns)
        return
    with connection.wrap_database_errors, psycopg.Cursor(cursor.cursor.connection) as raw:
        raw.execute(_upsert_arrays_sql(binary=True), columns)


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


@cache
def _upsert_sql_qmark(rows: int) -> str:
    """_upsert_sql with `?` placeholders (it holds no other `%`)."""
    return _upsert_sql(rows).replace("%s", "?")


def _upsert_clause() -> str:
    """A re-run batch updates its executions (keyed by flow and message)."""
    updates = ", ".join(f"{_q(c)} = excluded.{_q(c)}" for c in EXECUTION_UPDATED)
    return f" ON CONFLICT ({_q('flow_id')}, {_q('key')}) DO UPDATE SET {updates}"


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
    "text",  # steps: models.RecordField
)


@cache
def _upsert_arrays_sql(binary: bool = False) -> str:
    """`binary`: psycopg's `%b` placeholders, sent in binary (no quoting, no escaping)."""
    names = ", ".join(_q(c) for c in EXECUTION_COLUMNS)
    placeholder = "%b" if binary else "%s"
    arrays = ", ".join(f"{placeholder}::{kind}[]" for kind in EXECUTION_PG_TYPES)
    return (
        f"INSERT INTO {_q(Execution._meta.db_table)} ({names}) SELECT * FROM unnest({arrays})"  # noqa: S608
        + _upsert_clause()
    )


def _database_time(seconds: float | None) -> Any:
    """A timestamp as the database column takes it (what the ORM would send, faster); None
    for one no date can hold (a Kafka record may carry any 64-bit timestamp: year 287168 must
    not stop its batch from being recorded)."""
    if seconds is None:
        return None
    try:
        if _naive_text():
            return naive_utc_text(seconds)
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None


# A batch's executions share their finish, and many messages of a batch their start: most
# timestamps of a batch come round more than once. Small, as the ledger's (ledger._block).
_time = lru_cache(maxsize=256)(_database_time)


def naive_utc_text(seconds: float) -> str:
    """`str()` of the naive UTC datetime at `seconds`, as Django stores times in SQLite, with
    the same rounding to microseconds; built from a cached minute, since the messages of a batch
    (their Kafka timestamps) rarely share a moment but nearly always a minute."""
    whole = math.floor(seconds)
    micro = round((seconds - whole) * 1_000_000)
    if micro >= 1_000_000:
        whole, micro = whole + 1, micro - 1_000_000
    second = whole % 60
    minute = _minute_text(whole - second)
    if micro:
        return f"{minute}{second:02d}.{micro:06d}"
    return f"{minute}{second:02d}"


@lru_cache(maxsize=16)
def _minute_text(seconds: int) -> str:
    """ "YYYY-MM-DD HH:MM:" of the minute starting at `seconds` (UTC)."""
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M:")


@cache
def _naive_text() -> bool:
    """SQLite: naive UTC text, as Django stores it there. Checked once per process."""
    return bool(connection.vendor == "sqlite")


def _execution_rows(
    flow_id: int, version_id: int, items: list[Item], finished: float, trace_id: str | None
) -> list[tuple[Any, ...]]:
    """One row per item, in EXECUTION_COLUMNS order. A loop over the batch rather than a call
    per item: what the rows share is worked out once (5.3 → 4.4 µs an item, measured)."""
    finished_at = _time(finished)
    rows = []
    for item in items:
        meta = item["meta"] or {}
        timestamp = meta.get("timestamp")
        key = meta.get("key")
        error = item["error"]
        started_at = item["started_at"]
        rows.append(
            (
                flow_id,
                version_id,
                item["key"],
                final_status(item),
                meta.get("topic") or "",
                meta.get("partition"),
                meta.get("offset"),
                key if key is None else str(key)[:1000],
                # All but unique in a batch: uncached (they would only churn the cache).
                _database_time(timestamp / 1000) if isinstance(timestamp, int | float) else None,
                _time(started_at),
                finished_at,
                round((finished - started_at) * 1000, 3),
                error[:5000],
                item["failed_node"],
                json_text(item["retry_input"]) if error else None,
                item["summary"],
                item["attempts"],
                trace_id,
                # Execution.steps: the JSON array of the step records, each the text it is.
                "[" + ",".join([step["stored"] for step in item["steps"]]) + "]",
            )
        )
    return rows
