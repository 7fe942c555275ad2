"""What the database did for each execution written and nobody needed (models.Execution and
models.RecordField): the version's foreign key constraint and index go, and on PostgreSQL
`Execution.steps` becomes `text`, which the server stores without parsing. SQLite keeps its
text column as it is."""

from __future__ import annotations

from typing import Any

import django.db.models.deletion
from django.db import migrations, models

from flows.migrations._execution_columns import retype_steps


def to_text(apps: Any, schema_editor: Any) -> None:
    retype_steps(schema_editor, "text")


def to_json(apps: Any, schema_editor: Any) -> None:
    retype_steps(schema_editor, "json")


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
