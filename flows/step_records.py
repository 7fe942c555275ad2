"""Step records, which live in their execution's row as a JSON array (`Execution.steps`).

Queries over them let the database unnest the arrays, on SQLite and PostgreSQL alike, so no
record is loaded into Python to be measured or sampled. `resolve_inputs` gives stored records
the shape the API shows.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import QuerySet

from flows.engine.jobs import routed_message
from flows.models import Execution, Flow


def resolve_inputs(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records with every `input` in place: a record stored with `input_from` (see
    flows.engine.jobs.SOURCE) gets its input rebuilt from the earlier record it points to.
    Returns new dicts; records without a reference are passed through as they are."""
    resolved: list[dict[str, Any]] = []
    for step in steps:
        source = step.get("input_from")
        if source is not None:
            step = {name: value for name, value in step.items() if name != "input_from"}
            step["input"] = _input_at(resolved, source)
        resolved.append(step)
    return resolved


def _input_at(earlier: list[dict[str, Any]], source: list[int]) -> Any:
    """The message a step got from the earlier record `source` names: that record's output
    itself ([position]), or its output number `index` routed from that record's input
    ([position, index], flows.engine.jobs.routed_message). None if the reference does not fit
    (never expected)."""
    position = source[0]
    if not 0 <= position < len(earlier):
        return None
    record = earlier[position]
    if len(source) == 1:
        return record.get("output")
    index, outputs, parent = source[1], record.get("output"), record.get("input")
    if not isinstance(outputs, list) or not 0 <= index < len(outputs):
        return None
    if not isinstance(parent, dict) or "id" not in parent:
        return None
    return routed_message(parent, index, outputs[index], len(outputs) > 1)


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
            "CROSS JOIN LATERAL json_array_elements(e.steps::json) WITH ORDINALITY AS s(value, n) "
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
        unnest = "CROSS JOIN LATERAL json_array_elements(e.steps::json) AS s(value)"
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
