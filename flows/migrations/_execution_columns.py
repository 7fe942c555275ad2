"""Changes to the executions table's columns that only PostgreSQL needs, shared by migrations
0006 to 0009 and their tests (a module whose name starts with an underscore is not a
migration)."""

from __future__ import annotations

import logging
from typing import Any

from django.db import DatabaseError, transaction

logger = logging.getLogger(__name__)

TABLE = "flows_execution"


def _column_attribute(connection: Any, column: str, attribute: str) -> str | None:
    """One of information_schema's attributes of an executions column (`attribute` is one of
    our own constant names), or None when it is null or there is no such column."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {attribute} FROM information_schema.columns "  # noqa: S608
            "WHERE table_schema = current_schema() AND table_name = %s AND column_name = %s",
            [TABLE, column],
        )
        row = cursor.fetchone()
    return None if row is None or row[0] is None else str(row[0])


def _alter_column(schema_editor: Any, column: str, change: str) -> None:
    """`ALTER TABLE flows_execution ALTER COLUMN <column> <change>`, `change` being our own
    constant text, in which `{column}` stands for the quoted column."""
    quoted = schema_editor.quote_name(column)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"ALTER TABLE {schema_editor.quote_name(TABLE)} ALTER COLUMN {quoted} "
            + change.format(column=quoted)
        )


def steps_column_type(connection: Any) -> str | None:
    """`Execution.steps`'s type as information_schema names it ("text", "json", "jsonb"), or
    None without the table."""
    return _column_attribute(connection, "steps", "data_type")


def retype_steps(schema_editor: Any, kind: str) -> None:
    """Turn `Execution.steps` into `kind` unless it is that already; nothing on SQLite."""
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    if steps_column_type(connection) in (None, kind):
        return
    # Rewrites the table (see the upgrade notes in docs/operator-guide.md).
    _alter_column(schema_editor, "steps", f"TYPE {kind} USING {{column}}::{kind}")


def key_collation(connection: Any) -> str | None:
    """`Execution.key`'s own collation ("C"), or None when it has the database's default (or
    there is no such column)."""
    return _column_attribute(connection, "key", "collation_name")


def collate_key(schema_editor: Any, collation: str) -> None:
    """Give `Execution.key` `collation` ("C", or "default": the database's); nothing on
    SQLite. The column keeps its type and its values: PostgreSQL rebuilds the unique index on
    (flow, key), not the table (see the upgrade notes in docs/operator-guide.md)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    _alter_column(schema_editor, "key", f'TYPE varchar(400) COLLATE "{collation}"')


# pg_attribute.attcompression: how new values of a column are compressed ("" for the server's
# default_toast_compression, pglz unless configured otherwise).
COMPRESSION_CODES = {"l": "lz4", "p": "pglz", "": "default"}


def steps_compression(connection: Any) -> str | None:
    """How new values of `Execution.steps` are compressed: "lz4", "pglz" or "default"; None
    without the table."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attcompression FROM pg_attribute "
            "WHERE attrelid = to_regclass(%s) AND attname = %s",
            [TABLE, "steps"],
        )
        row = cursor.fetchone()
    return None if row is None else COMPRESSION_CODES.get(row[0] or "", row[0])


def compress_steps(schema_editor: Any, method: str) -> None:
    """Compress new values of `Execution.steps` with `method` ("lz4", or "default": the
    server's); nothing on SQLite. Values already stored stay as they are: nothing is
    rewritten. A server built without lz4 keeps its default, with a warning."""
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=connection.alias):
            _alter_column(schema_editor, "steps", f"SET COMPRESSION {method}")
    except DatabaseError as error:
        logger.warning("execution records keep the server's compression: %s", error)
