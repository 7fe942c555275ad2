"""Retyping `Execution.steps` on PostgreSQL, shared by migrations 0006 and 0007 (a module
whose name starts with an underscore is not a migration)."""

from __future__ import annotations

from typing import Any


def steps_column_type(connection: Any) -> str | None:
    """The column's type as information_schema names it ("text", "json", "jsonb"), or None
    without the table."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s AND column_name = %s",
            ["flows_execution", "steps"],
        )
        row = cursor.fetchone()
    return None if row is None else str(row[0])


def retype_steps(schema_editor: Any, kind: str) -> None:
    """Turn the column into `kind` unless it is that already; nothing on SQLite."""
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    if steps_column_type(connection) in (None, kind):
        return
    with connection.cursor() as cursor:
        table = schema_editor.quote_name("flows_execution")
        column = schema_editor.quote_name("steps")
        # Rewrites the table (see the upgrade notes in docs/operator-guide.md).
        cursor.execute(
            f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {kind} USING {column}::{kind}"
        )
