"""On PostgreSQL, `Execution.steps` becomes `json` (see models.RecordField): the server no
longer converts each batch's records into `jsonb`. SQLite keeps its text column as it is.
0007 then makes it `text`; a new database goes through both with an empty table."""

from __future__ import annotations

from typing import Any

from django.db import migrations

from flows.migrations._execution_columns import retype_steps


def to_json(apps: Any, schema_editor: Any) -> None:
    retype_steps(schema_editor, "json")


def to_jsonb(apps: Any, schema_editor: Any) -> None:
    retype_steps(schema_editor, "jsonb")


class Migration(migrations.Migration):
    dependencies = [("flows", "0005_execution_steps_inline")]

    operations = [migrations.RunPython(to_json, to_jsonb, elidable=False)]
