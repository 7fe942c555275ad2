"""Step records move into their execution's row (`Execution.steps`, a JSON array).

Writing a batch was one execution row and three step record rows per message; it is one row
now. Existing step records are copied into their executions, a chunk of executions at a time,
before their table goes.
"""

from typing import Any

import django.db.models.deletion
from django.db import migrations, models

import flows.models

CHUNK = 1_000
# A step record's fields, in the order the API shows them (flows.engine.records.STEP_FIELDS,
# copied: a migration must not change when the app does).
FIELDS = (
    "position",
    "node_id",
    "component",
    "status",
    "started_at",
    "duration_ms",
    "input",
    "output",
    "logs",
    "error",
    "error_details",
)


def _iso(moment: Any) -> str:
    """As the API (and flows.engine.records._iso_time) writes times."""
    return moment.isoformat().replace("+00:00", "Z")


def steps_into_executions(apps: Any, schema_editor: Any) -> None:
    Execution = apps.get_model("flows", "Execution")
    StepRecord = apps.get_model("flows", "StepRecord")
    with_steps = StepRecord.objects.order_by("execution_id").values_list(
        "execution_id", flat=True
    )
    last = 0
    while True:
        ids = list(with_steps.filter(execution_id__gt=last).distinct()[:CHUNK])
        if not ids:
            return
        steps: dict[int, list[dict[str, Any]]] = {execution_id: [] for execution_id in ids}
        for record in StepRecord.objects.filter(execution_id__in=ids).order_by(
            "execution_id", "position", "id"
        ):
            step = {name: getattr(record, name) for name in FIELDS}
            step["started_at"] = _iso(record.started_at)
            steps[record.execution_id].append(step)
        executions = list(Execution.objects.filter(id__in=ids).only("id"))
        for execution in executions:
            execution.steps = steps[execution.id]
        Execution.objects.bulk_update(executions, ["steps"], batch_size=200)
        last = ids[-1]


def steps_into_their_table(apps: Any, schema_editor: Any) -> None:
    # Records written since may point to an earlier record for their input (`input_from`):
    # the app's own reader gives them their input back, as the old table held it.
    from flows.step_records import resolve_inputs

    Execution = apps.get_model("flows", "Execution")
    StepRecord = apps.get_model("flows", "StepRecord")
    # Every execution, not `exclude(steps=[])`: on PostgreSQL the column may be `json` (see
    # 0006), which has no equality; one without records adds nothing below.
    for execution in Execution.objects.only("id", "steps").iterator(CHUNK):
        StepRecord.objects.bulk_create(
            # The ISO start goes in as text: the DateTimeField parses it.
            StepRecord(execution_id=execution.id, **step)
            for step in resolve_inputs(execution.steps)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("flows", "0004_execution_trace_id"),
    ]

    operations = [
        # Frees the name `steps` on Execution (no change in the database).
        migrations.AlterField(
            model_name="steprecord",
            name="execution",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="flows.execution",
            ),
        ),
        migrations.AddField(
            model_name="execution",
            name="steps",
            field=flows.models.RecordField(blank=True, default=list),
        ),
        migrations.RunPython(steps_into_executions, steps_into_their_table, elidable=False),
        migrations.DeleteModel(name="StepRecord"),
        migrations.AlterField(
            model_name="execution",
            name="flow",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="executions",
                to="flows.flow",
            ),
        ),
    ]
