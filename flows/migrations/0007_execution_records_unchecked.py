"""What the database did for each execution written and nobody needed (models.Execution and
models.RecordField): the version's foreign key constraint and index go, and on PostgreSQL
`Execution.steps` becomes `text`, which the server stores without parsing. SQLite keeps its
text column as it is."""

from __future__ import annotations

from typing import Any

import django.db.models.deletion
from django.db import migrations, models


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


def to_text(apps: Any, schema_editor: Any) -> None:
    _retype(schema_editor, "text")


def to_json(apps: Any, schema_editor: Any) -> None:
    _retype(schema_editor, "json")


class Migration(migrations.Migration):
    dependencies = [("flows", "0006_execution_steps_json")]

    operations = [
        migrations.AlterField(
            model_name="execution",
            name="version",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="flows.flowversion",
            ),
        ),
        migrations.RunPython(to_text, to_json, elidable=False),
    ]
