"""Queries over step records, which live in their execution's row as a JSON array
(`Execution.steps`): the database unnests the arrays, on SQLite and PostgreSQL alike, so no
record is loaded into Python to be measured or sampled."""

from __future__ import annotations

from django.db import connection
from django.db.models import QuerySet

from flows.models import Execution, Flow


def _table() -> str:
    return connection.ops.quote_name(Execution._meta.db_table)


def recent_durations(flow_id: int, limit: int) -> list[tuple[str, float]]:
    """(node id, duration in ms) of the flow's newest `limit` step records that have a
    duration: newest execution first, its steps in order. Reads at most `limit` executions
    (each has at least one step), by the flow/started_at index."""
    newest = (
        f"SELECT id, started_at, steps FROM {_table()} WHERE flow_id = %s "  # noqa: S608
        "ORDER BY started_at DESC, id DESC LIMIT %s"
    )
    if connection.vendor == "postgresql":
        sql = (
            f"SELECT s.value->>'node_id', (s.value->>'duration_ms')::float8 FROM ({newest}) e "  # noqa: S608
            "CROSS JOIN LATERAL jsonb_array_elements(e.steps) WITH ORDINALITY AS s(value, n) "
            "WHERE s.value->>'duration_ms' IS NOT NULL "
            "ORDER BY e.started_at DESC, e.id DESC, s.n LIMIT %s"
        )
    else:
        sql = (
            "SELECT json_extract(s.value, '$.node_id'), json_extract(s.value, '$.duration_ms') "  # noqa: S608
            f"FROM ({newest}) e, json_each(e.steps) s "
            "WHERE json_extract(s.value, '$.duration_ms') IS NOT NULL "
            "ORDER BY e.started_at DESC, e.id DESC, s.key LIMIT %s"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, [flow_id, limit, limit])
        return [(str(node_id), float(duration)) for node_id, duration in cursor.fetchall()]


# Per flow: how many step records, and the characters of their stored inputs, outputs, logs,
# errors (plain text) and error details, as the JSON text each is.
SIZE_KINDS = ("count", "input", "output", "logs", "error", "error_details")


def sizes_by_flow(flows: QuerySet[Flow]) -> dict[int, dict[str, int]]:
    """One grouped query over the step records of `flows`' executions."""
    chosen, params = flows.values("id").query.sql_with_params()
    if connection.vendor == "postgresql":
        # ->'...'::text of a JSON null is 'null', not counted.
        json_chars = "SUM(LENGTH(NULLIF((s.value->'{}')::text, 'null')))"
        error = "SUM(LENGTH(s.value->>'error'))"
        unnest = "CROSS JOIN LATERAL jsonb_array_elements(e.steps) AS s(value)"
    else:
        # json_quote keeps a JSON value's text as it is and quotes a string, so strings count
        # their quotes as stored; a JSON null comes out as 'null' and is not counted.
        json_chars = "SUM(LENGTH(NULLIF(json_quote(json_extract(s.value, '$.{}')), 'null')))"
        error = "SUM(LENGTH(json_extract(s.value, '$.error')))"
        unnest = ", json_each(e.steps) s"
    sizes = [json_chars.format(name) for name in ("input", "output", "logs")]
    sql = (
        f"SELECT e.flow_id, COUNT(*), {', '.join(sizes)}, {error}, "  # noqa: S608
        f"{json_chars.format('error_details')} "
        f"FROM {_table()} e {unnest} WHERE e.flow_id IN ({chosen}) GROUP BY e.flow_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {
            row[0]: {kind: int(value or 0) for kind, value in zip(SIZE_KINDS, row[1:], strict=True)}
            for row in cursor.fetchall()
        }
