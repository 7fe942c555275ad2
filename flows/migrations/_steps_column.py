"""Retyping `Execution.steps` on PostgreSQL, shared by migrations 0006 and 0007 (a module
whose name starts with an underscore is not a migration)."""

from __future__ import annotations

from typing import Any


def retype_steps(schema_editor: Any, kind: str) -> None:
    """Turn the column into `kind` unless it is that already; nothing on SQLite."""
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s AND column_name = %s",
            ["flows_execution", "steps"],
        )
        row = cursor.fetchone()
        if row is None or row[0] == kind:
            return
        table = schema_editor.quote_name("flows_execution")
        column = schema_editor.quote_name("steps")
        # Rewrites the table (see the upgrade notes in docs/operator-guide.md).
        cursor.execute(
            f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {kind} USING {column}::{kind}"
        )
