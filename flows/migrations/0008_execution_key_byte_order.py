"""On PostgreSQL, `Execution.key` compares byte by byte (`COLLATE "C"`), whatever the
database's own collation. Only the (flow, key) unique index sorts by it, and every execution
written descends that index: under a linguistic collation such as en_US.UTF-8 (the official
PostgreSQL image's default) each comparison is a strcoll(), which cost the server 56 to 60 ms
of CPU per 1,000 rows upserted, against 8 to 13 ms in byte order. A key is a message's
coordinates ("topic:partition:offset"): nothing sorts it for a reader.

Not a change of the model's field (SQLite has no collation of that name): the column's
collation is set here, and the model says so in a comment. SQLite compares bytes already.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

from flows.migrations._execution_columns import collate_key


def to_byte_order(apps: Any, schema_editor: Any) -> None:
    collate_key(schema_editor, "C")


def to_database_default(apps: Any, schema_editor: Any) -> None:
    collate_key(schema_editor, "default")


class Migration(migrations.Migration):
    dependencies = [("flows", "0007_execution_records_unchecked")]

    operations = [migrations.RunPython(to_byte_order, to_database_default, elidable=False)]
