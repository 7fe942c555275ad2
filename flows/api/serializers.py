from __future__ import annotations

from typing import Any

from rest_framework import serializers

from flows.choices import ExecutionStatus
from flows.models import Credential, Execution, Flow, FlowVersion, StepRecord, Workspace
from flows.services.credentials import public_view
from flows.services.workspaces import role_in


class WorkspaceSerializer(serializers.ModelSerializer[Workspace]):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Workspace
        fields = ["id", "name", "role", "created_at"]

    def get_role(self, obj: Workspace) -> str | None:
        return role_in(self.context["request"].user, obj.id)


class CredentialSerializer(serializers.ModelSerializer[Credential]):
    """Write-only secrets: `fields` in, only non-secret values and `secrets_set` out."""

    fields = serializers.JSONField(write_only=True, required=False)  # type: ignore[assignment]
    workspace = serializers.IntegerField(source="workspace_id", required=False)
    public = serializers.SerializerMethodField()

    class Meta:
        model = Credential
        fields = ["id", "workspace", "name", "type", "fields", "public", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]

    def get_public(self, obj: Credential) -> dict[str, Any]:
        return public_view(obj)


class CredentialUpdateSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=200, required=False)
    fields = serializers.JSONField(required=False)  # type: ignore[assignment]


class FlowSerializer(serializers.ModelSerializer[Flow]):
    workspace = serializers.IntegerField(source="workspace_id", required=False)
    graph = serializers.JSONField(required=False)
    active_version = serializers.SerializerMethodField()
    last_hour = serializers.SerializerMethodField()
    last_activity = serializers.SerializerMethodField()
    consuming = serializers.SerializerMethodField()

    class Meta:
        model = Flow
        fields = [
            "id",
            "workspace",
            "name",
            "graph",
            "status",
            "status_reason",
            "active_version",
            "last_hour",
            "last_activity",
            "consuming",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["status", "status_reason", "created_at", "updated_at"]

    def get_active_version(self, obj: Flow) -> int | None:
        return obj.active_version.number if obj.active_version else None

    def get_last_hour(self, obj: Flow) -> dict[str, int] | None:
        """Counts of the last hour; lists carry them (annotated in the one list query)."""
        if not hasattr(obj, "in_last_hour"):
            return None
        return {key: getattr(obj, f"{key}_last_hour") for key in ("in", "out", "failed")}

    def get_last_activity(self, obj: Flow) -> str | None:
        value = getattr(obj, "last_activity", None)
        return value.isoformat() if value else None

    def get_consuming(self, obj: Flow) -> bool:
        return obj.id in self.context.get("consuming", set())


class FlowVersionSerializer(serializers.ModelSerializer[FlowVersion]):
    class Meta:
        model = FlowVersion
        fields = ["id", "number", "graph", "created_at"]


class StepRecordSerializer(serializers.ModelSerializer[StepRecord]):
    class Meta:
        model = StepRecord
        fields = [
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
        ]


class ExecutionSerializer(serializers.ModelSerializer[Execution]):
    version = serializers.IntegerField(source="version.number", read_only=True)

    class Meta:
        model = Execution
        fields = [
            "id",
            "flow",
            "version",
            "status",
            "topic",
            "partition",
            "offset",
            "message_key",
            "message_timestamp",
            "started_at",
            "finished_at",
            "duration_ms",
            "error",
            "failed_node",
            "summary",
            "attempts",
        ]


class ExecutionDetailSerializer(ExecutionSerializer):
    steps = StepRecordSerializer(many=True, read_only=True)

    class Meta(ExecutionSerializer.Meta):
        fields = [*ExecutionSerializer.Meta.fields, "steps"]


class ExecutionFilterSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=ExecutionStatus.choices, required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    search = serializers.CharField(required=False, max_length=200)


class CodeRunSerializer(serializers.Serializer[Any]):
    code = serializers.CharField(trim_whitespace=False, max_length=200_000)
    message = serializers.JSONField()

    def validate_message(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict) or "body" not in value:
            raise serializers.ValidationError(
                'must be an object with a "body" (and optional "headers" and "meta")'
            )
        for key in ("headers", "meta"):
            if key in value and not isinstance(value[key], dict):
                raise serializers.ValidationError(f'"{key}" must be an object')
        return value


class CodeCheckSerializer(serializers.Serializer[Any]):
    code = serializers.CharField(trim_whitespace=False, max_length=200_000, allow_blank=True)


class SamplesRequestSerializer(serializers.Serializer[Any]):
    count = serializers.IntegerField(min_value=1, max_value=100, default=10)


class TokenRequestSerializer(serializers.Serializer[Any]):
    username = serializers.CharField()
    password = serializers.CharField(trim_whitespace=False)
