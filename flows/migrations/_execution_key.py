"""The collation of `Execution.key` on PostgreSQL, for migration 0008 and its tests (a module
whose name starts with an underscore is not a migration)."""

from __future__ import annotations

from typing import Any


def key_collation(connection: Any) -> str | None:
    """The column's own collation ("C"), or None when it has the database's default (or there
    is no such column)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT collation_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s AND column_name = %s",
            ["flows_execution", "key"],
        )
        row = cursor.fetchone()
    return None if row is None or row[0] is None else str(row[0])


def collate_key(schema_editor: Any, collation: str) -> None:
    """Give the column `collation` ("C", or "default": the database's); nothing on SQLite.
    The column keeps its type and its values: PostgreSQL rebuilds the unique index on
    (flow, key) only (see the upgrade notes in docs/operator-guide.md)."""
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name("flows_execution")
    column = schema_editor.quote_name("key")
    with connection.cursor() as cursor:
        cursor.execute(
            f'ALTER TABLE {table} ALTER COLUMN {column} TYPE varchar(400) COLLATE "{collation}"'
        )
