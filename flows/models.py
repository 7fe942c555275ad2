"""Workspaces, credentials, flows with their versions, and execution records."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from flows.choices import ExecutionStatus, FlowStatus, Role


class Workspace(models.Model):
    name = models.CharField(max_length=200)
    members: models.ManyToManyField[Any, Any] = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="workspaces"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.EDITOR)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="unique_membership")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"


class Credential(models.Model):
    """Secrets for a component. `encrypted` holds the Fernet token of all fields as JSON."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="credentials")
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=64)
    encrypted = models.TextField(editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="unique_credential_name")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.type})"


class Flow(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="flows")
    name = models.CharField(max_length=200)
    graph = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=FlowStatus.choices, default=FlowStatus.DRAFT)
    # Why the flow is failed (or anything else the runner wants the user to see).
    status_reason = models.TextField(blank=True, default="")
    active_version = models.ForeignKey(
        "FlowVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # Days this flow's execution records are kept; null: TRIBUTARY_EXECUTION_RETENTION_DAYS.
    # At most 100 years, which keeps `now - retention` a representable datetime.
    retention_days = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(36_500)]
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        return self.name


class FlowVersion(models.Model):
    """An immutable snapshot of a flow's graph, as published."""

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    graph = models.JSONField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["flow", "number"], name="unique_version_number")
        ]

    def __str__(self) -> str:
        return f"{self.flow} v{self.number}"


class RecordField(models.JSONField):
    """JSON that only the engine writes, valid by construction (flows.engine.records), kept
    as text that the database does not parse.

    No CHECK (JSON_VALID(...)) on SQLite: it parsed every record again on insert, about a
    fifth of the time a batch's write took there. On PostgreSQL a `text` column: `jsonb`
    converted every record into its binary form (53 to 83 ms of the server's CPU for a batch
    of 1,000 executions, measured here), and `json` still parsed each to check it (another
    15 to 20 ms of about 90). Only the step durations of /metrics and the storage report read
    inside the records (flows.step_records, casting to `json`), and not by index: no lookups
    on this field.
    """

    def db_check(self, connection: Any) -> None:
        return None

    def db_type(self, connection: Any) -> str | None:
        if connection.vendor == "postgresql":
            return "text"
        return super().db_type(connection)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        # A `json` or `jsonb` column of an older schema comes decoded by psycopg already.
        if value is not None and not isinstance(value, str):
            return value
        return super().from_db_value(value, expression, connection)


class Execution(models.Model):
    """One trigger message's journey through a flow version, with its step records."""

    # Not indexed alone: the (flow, key) constraint and both indexes below start with it, and
    # every index is paid for on each of the many rows the engine writes.
    flow = models.ForeignKey(
        Flow, on_delete=models.CASCADE, related_name="executions", db_index=False
    )
    # Neither a database constraint nor an index: a version is only ever deleted with its
    # flow, which deletes its executions (and keeps its constraint), and nothing looks
    # executions up by version. Both were paid for on every row written: the constraint's
    # check at commit and the index took about a tenth of PostgreSQL's CPU for a batch.
    version = models.ForeignKey(
        FlowVersion,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    # Identifies the trigger message within the flow ("v3:topic:0:42"), so a batch that runs
    # twice (after a crash) updates its records instead of duplicating them. On PostgreSQL it
    # compares byte by byte (COLLATE "C", set by migration 0008, not here: SQLite has no such
    # collation); a migration altering this field must keep that.
    key = models.CharField(max_length=400)
    status = models.CharField(
        max_length=16, choices=ExecutionStatus.choices, default=ExecutionStatus.RUNNING
    )
    topic = models.CharField(max_length=255, blank=True, default="")
    partition = models.IntegerField(null=True, blank=True)
    offset = models.BigIntegerField(null=True, blank=True)
    message_key = models.TextField(null=True, blank=True)  # noqa: DJ001 (a null Kafka key differs from an empty one)
    message_timestamp = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    failed_node = models.CharField(max_length=100, blank=True, default="")
    # The full (untruncated) input of the failed step, so a retry loses nothing.
    retry_input = models.JSONField(null=True, blank=True)
    # A short text of the trigger message, for free-text search.
    summary = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=1)
    # The OpenTelemetry trace of the message's batch (32 hex digits); null while tracing is off.
    trace_id = models.CharField(max_length=32, null=True, blank=True)  # noqa: DJ001 (nullable: added to big tables cheaply)
    # The step records, in order: one JSON object per step the message reached (see
    # flows.engine.records.STEP_FIELDS). In the execution's row rather than a row each: a
    # batch's write is then one row per message, not four.
    steps = RecordField(default=list, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["flow", "key"], name="unique_execution_key")]
        indexes = [
            models.Index(fields=["flow", "-started_at"], name="execution_flow_recent"),
            models.Index(fields=["flow", "status", "-started_at"], name="execution_flow_status"),
        ]

    def __str__(self) -> str:
        return f"{self.flow_id}/{self.key} {self.status}"
