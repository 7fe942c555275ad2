"""On PostgreSQL, execution records (`Execution.steps`) are compressed with lz4 instead of the
server's default, pglz. A row of the bench's Bloomreach flow is about 2 KB, over the size at
which PostgreSQL compresses a row, so nearly every record written was compressed with pglz:
an upsert of 1,000 such rows cost the server 35.5 ms of CPU (median of seven), with lz4 24.0
ms, the table the same size (docs/performance.md). Only new values: nothing is rewritten.
SQLite does not compress.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

from flows.migrations._execution_columns import compress_steps


def to_lz4(apps: Any, schema_editor: Any) -> None:
    compress_steps(schema_editor, "lz4")


def to_server_default(apps: Any, schema_editor: Any) -> None:
    compress_steps(schema_editor, "default")


class Migration(migrations.Migration):
    dependencies = [("flows", "0008_execution_key_byte_order")]

    operations = [migrations.RunPython(to_lz4, to_server_default, elidable=False)]
