"""On PostgreSQL, `Execution.steps` becomes `json` (see models.RecordField): the server no
longer converts each batch's records into `jsonb`. A database made by 0005 since then has it
already; SQLite keeps its text column as it is."""

from __future__ import annotations

from typing import Any

from django.db import migrations


def _retype(schema_editor: Any, kind: str) -> None:
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


def to_json(apps: Any, schema_editor: Any) -> None:
    _retype(schema_editor, "json")


def to_jsonb(apps: Any, schema_editor: Any) -> None:
    _retype(schema_editor, "jsonb")


class Migration(migrations.Migration):
    dependencies = [("flows", "0005_execution_steps_inline")]

    operations = [migrations.RunPython(to_json, to_jsonb, elidable=False)]
