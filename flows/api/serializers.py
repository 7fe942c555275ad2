from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from django.db import models
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from flows.choices import ExecutionStatus, StepStatus
from flows.models import Credential, Execution, Flow, FlowVersion, Workspace
from flows.services.credentials import credential_schemas, public_view
from flows.services.workspaces import role_in
from flows.step_records import resolve_inputs

# Ids are 64-bit: a larger number in a lookup overflows the database driver (a 500 on SQLite).
MAX_ID = 2**63 - 1


class StrictCharField(serializers.CharField):
    """A JSON string and nothing else: DRF's CharField would take 42 or 1.5 as "42" / "1.5"."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def graph_schema() -> dict[str, Any]:
    """The shape of a flow graph, for the API schema. flows.graph checks the rest (one
    trigger, no cycles, each node's config against its component's schema, positions of two
    numbers) and answers 400 naming the node and field; this says no more than it enforces,
    so that anything this schema rejects, the API rejects too."""
    from components.registry import COMPONENTS

    node = {
        "type": "object",
        "required": ["id", "component"],
        "properties": {
            "id": {"type": "string", "minLength": 1, "maxLength": 100},
            "component": {"type": "string", "enum": sorted(COMPONENTS)},
            "config": {
                "type": "object",
                "nullable": True,
                "description": "As the component's config_schema (null: {}).",
            },
            "credential": {"type": "integer", "nullable": True},
            "position": {
                "type": "object",
                "nullable": True,
                "description": 'Where the editor draws the node: {"x": number, "y": number}.',
            },
        },
    }
    edge = {
        "type": "object",
        "required": ["source", "target"],
        "properties": {"source": {"type": "string"}, "target": {"type": "string"}},
    }
    return {
        "type": "object",
        "properties": {
            "nodes": {"type": "array", "items": node, "maxItems": 200},
            "edges": {"type": "array", "items": edge},
            "viewport": {"description": "The editor's pan and zoom, kept as it is sent."},
        },
        "additionalProperties": False,
    }


@extend_schema_field(graph_schema())
class GraphField(serializers.JSONField):
    def to_internal_value(self, data: Any) -> Any:
        value = super().to_internal_value(data)
        edges = value.get("edges") if isinstance(value, dict) else None
        for index, edge in enumerate(edges if isinstance(edges, list) else []):
            # Checked here because flows.graph looks ids up in a set: a JSON object as an
            # id would raise there instead of being reported.
            if isinstance(edge, dict) and not all(
                isinstance(edge.get(end), str) for end in ("source", "target")
            ):
                raise serializers.ValidationError(
                    f"edge {index}: source and target must be node ids (strings)"
                )
        return value


@extend_schema_field({"type": "object", "description": "As the type's credential schema."})
class CredentialFieldsField(serializers.JSONField):
    def to_internal_value(self, data: Any) -> Any:
        value = super().to_internal_value(data)
        if not isinstance(value, dict):
            raise serializers.ValidationError("must be a JSON object")
        return value


class StrictIntegerField(serializers.IntegerField):
    """A JSON number that is whole, for request bodies: DRF's IntegerField would also take
    "5" and 5.0. (Query parameters are text; they use the plain field.)"""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return int(super().to_internal_value(data))


class ModelSerializer(serializers.ModelSerializer[Any]):
    """Model serializers whose text fields take strings only."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
    }


class WorkspaceSerializer(ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Workspace
        fields = ["id", "name", "role", "created_at"]

    def get_role(self, obj: Workspace) -> str | None:
        return role_in(self.context["request"].user, obj.id)


class PublicCredentialSerializer(serializers.Serializer[Any]):
    fields = serializers.DictField(help_text="The non-secret fields with their values.")  # type: ignore[assignment]
    secrets_set = serializers.ListField(
        child=serializers.CharField(), help_text="The secret fields that have a value."
    )


class CredentialSerializer(ModelSerializer):
    """Write-only secrets: `fields` in, only non-secret values and `secrets_set` out."""

    fields = CredentialFieldsField(write_only=True, required=False)  # type: ignore[assignment]
    workspace = StrictIntegerField(
        source="workspace_id", required=False, min_value=1, max_value=MAX_ID
    )
    type = serializers.ChoiceField(choices=sorted(credential_schemas()))
    public = serializers.SerializerMethodField()

    class Meta:
        model = Credential
        fields = ["id", "workspace", "name", "type", "fields", "public", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]

    @extend_schema_field(PublicCredentialSerializer)
    def get_public(self, obj: Credential) -> dict[str, Any]:
        return public_view(obj)


class CredentialUpdateSerializer(serializers.Serializer[Any]):
    name = StrictCharField(max_length=200, required=False)
    fields = CredentialFieldsField(required=False)  # type: ignore[assignment]


class FlowSerializer(ModelSerializer):
    workspace = StrictIntegerField(
        source="workspace_id", required=False, min_value=1, max_value=MAX_ID
    )
    graph = GraphField(required=False)
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
            "retention_days",
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

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_last_activity(self, obj: Flow) -> str | None:
        value = getattr(obj, "last_activity", None)
        return value.isoformat() if value else None

    def get_consuming(self, obj: Flow) -> bool:
        return obj.id in self.context.get("consuming", set())


class FlowVersionSerializer(ModelSerializer):
    class Meta:
        model = FlowVersion
        fields = ["id", "number", "graph", "created_at"]


class StepRecordListSerializer(serializers.ListSerializer):
    """An execution's step records, each input in place (flows.step_records.resolve_inputs)."""

    def to_representation(self, data: Any) -> list[Any]:
        return resolve_inputs(list(data))


class StepRecordSerializer(serializers.Serializer):
    """A step record as stored in `Execution.steps` (flows.engine.records.STEP_FIELDS)."""

    class Meta:
        list_serializer_class = StepRecordListSerializer

    position = serializers.IntegerField()
    node_id = serializers.CharField()
    component = serializers.CharField()
    status = serializers.ChoiceField(choices=StepStatus.choices)
    started_at = serializers.DateTimeField()
    duration_ms = serializers.FloatField(allow_null=True)
    input = serializers.JSONField(allow_null=True)
    output = serializers.JSONField(allow_null=True)
    logs = serializers.ListField(child=serializers.CharField())
    error = serializers.CharField(allow_blank=True)
    error_details = serializers.JSONField(allow_null=True)

    def to_representation(self, instance: Any) -> Any:
        return instance  # stored in the API's own shape


class ExecutionSerializer(ModelSerializer):
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
            "trace_id",
        ]


class ExecutionDetailSerializer(ExecutionSerializer):
    steps = StepRecordSerializer(many=True, read_only=True)

    class Meta(ExecutionSerializer.Meta):
        fields = [*ExecutionSerializer.Meta.fields, "steps"]


def search_field() -> serializers.CharField:
    """Free text to look for. NUL characters are refused (PostgreSQL cannot compare them);
    the pattern says so in the schema."""
    return serializers.CharField(
        required=False,
        max_length=200,
        # Searched as given: trimming would turn " " into an empty, refused search.
        trim_whitespace=False,
        validators=[RegexValidator(r"^[^\x00]*$", "must not contain NUL characters")],
    )


class ExecutionFilterSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=ExecutionStatus.choices, required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    search = search_field()


class BulkRetrySerializer(serializers.Serializer[Any]):
    """Which failed executions to retry: the execution list's filters, status aside."""

    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    search = search_field()


class BulkRetryResultSerializer(serializers.Serializer[Any]):
    retried = serializers.IntegerField()
    skipped = serializers.IntegerField(help_text="Failed at the trigger: cannot be retried.")


class ReplaySerializer(serializers.Serializer[Any]):
    position = serializers.ChoiceField(
        choices=["earliest", "latest", "timestamp", "offsets"],
        help_text="Where the flow starts reading again when it is next started.",
    )
    timestamp = serializers.DateTimeField(
        required=False, help_text='For "timestamp": the first message at or after this time.'
    )
    offsets = serializers.DictField(
        child=serializers.IntegerField(min_value=0),
        required=False,
        help_text='For "offsets": {"<partition>": <offset>}; other partitions keep theirs.',
    )

    def validate_offsets(self, value: dict[str, int]) -> dict[int, int]:
        try:
            offsets = {int(partition): offset for partition, offset in value.items()}
        except ValueError:
            raise serializers.ValidationError("partitions are numbers") from None
        if any(partition < 0 for partition in offsets):
            raise serializers.ValidationError("partitions are numbers from 0")
        return offsets

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["position"] == "timestamp" and "timestamp" not in attrs:
            raise serializers.ValidationError({"timestamp": "required to replay from a time"})
        if attrs["position"] == "offsets" and not attrs.get("offsets"):
            raise serializers.ValidationError({"offsets": "give at least one partition"})
        return attrs


class ReplayPartitionSerializer(serializers.Serializer[Any]):
    partition = serializers.IntegerField()
    offset = serializers.IntegerField()


class ReplayResultSerializer(serializers.Serializer[Any]):
    topic = serializers.CharField()
    group_id = serializers.CharField()
    partitions = ReplayPartitionSerializer(many=True)
    ledger_entries_cleared = serializers.IntegerField()


class TestMessageSerializer(serializers.Serializer[Any]):
    """What a step receives; only `body` is required."""

    body = serializers.JSONField(allow_null=True, help_text="Any JSON value.")
    headers = serializers.DictField(required=False, help_text="Kafka headers.")
    meta = serializers.DictField(
        required=False, help_text='Kafka coordinates: {"topic", "partition", "offset", ...}.'
    )

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict) or "body" not in data:
            raise serializers.ValidationError(
                'must be an object with a "body" (and optional "headers" and "meta")'
            )
        return dict(super().to_internal_value(data))


class CodeRunSerializer(serializers.Serializer[Any]):
    code = StrictCharField(trim_whitespace=False, max_length=200_000)
    message = TestMessageSerializer()


class CodeCheckSerializer(serializers.Serializer[Any]):
    code = StrictCharField(trim_whitespace=False, max_length=200_000, allow_blank=True)


class SamplesRequestSerializer(serializers.Serializer[Any]):
    count = StrictIntegerField(min_value=1, max_value=100, default=10)


class TokenRequestSerializer(serializers.Serializer[Any]):
    username = StrictCharField(max_length=150)
    password = StrictCharField(trim_whitespace=False, max_length=4096)


# --- Query parameters ----------------------------------------------------------------------


class ListQuerySerializer(serializers.Serializer[Any]):
    """`?workspace=` narrows a list to one of the caller's workspaces (the UI's switcher)."""

    workspace = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)


class FlowListQuerySerializer(ListQuerySerializer):
    search = search_field()


class StatsQuerySerializer(serializers.Serializer[Any]):
    window = serializers.IntegerField(
        required=False, default=3600, min_value=60, max_value=7 * 24 * 3600
    )


class ThroughputQuerySerializer(StatsQuerySerializer):
    bucket = serializers.IntegerField(required=False, default=60, min_value=1, max_value=24 * 3600)


# --- Response shapes (documented so that clients and the schema tests can rely on them) ---


class ErrorSerializer(serializers.Serializer[Any]):
    """Every 4xx answer of the API."""

    error = serializers.CharField()
    details = serializers.DictField(help_text="What was wrong, field by field, where it applies.")


class TokenSerializer(serializers.Serializer[Any]):
    token = serializers.CharField()


class SessionUserSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    username = serializers.CharField()
    is_staff = serializers.BooleanField()


class SessionSerializer(serializers.Serializer[Any]):
    user = SessionUserSerializer()
    workspaces = WorkspaceSerializer(many=True)


class ComponentSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=["trigger", "action"])
    title = serializers.CharField()
    description = serializers.CharField()
    config_schema = serializers.DictField(help_text="JSON Schema of the node's config.")
    credential_type = serializers.CharField(allow_null=True)
    credential_schema = serializers.DictField(
        allow_null=True, help_text="JSON Schema of the credential's fields."
    )
    sample_config = serializers.DictField(allow_null=True)
    delivers = serializers.BooleanField()


class SamplesSerializer(serializers.Serializer[Any]):
    messages = serializers.ListField(
        child=serializers.DictField(), help_text='Messages: {"id", "body", "headers", "meta"}.'
    )


class CountsSerializer(serializers.Serializer[Any]):
    # `in` is a Python keyword: declared through the field mapping below.
    out = serializers.IntegerField()
    failed = serializers.IntegerField()

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        return {"in": serializers.IntegerField(), **super().get_fields()}


class ThroughputPointSerializer(CountsSerializer):
    t = serializers.DateTimeField()


class ThroughputSerializer(serializers.Serializer[Any]):
    bucket_seconds = serializers.IntegerField()
    points = ThroughputPointSerializer(many=True)


class RatesSerializer(serializers.Serializer[Any]):
    out = serializers.FloatField()
    failed = serializers.FloatField()

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        return {"in": serializers.FloatField(), **super().get_fields()}


class PercentilesSerializer(serializers.Serializer[Any]):
    p50 = serializers.FloatField(allow_null=True)
    p99 = serializers.FloatField(allow_null=True)


class PartitionLagSerializer(serializers.Serializer[Any]):
    topic = serializers.CharField()
    partition = serializers.IntegerField()
    lag = serializers.IntegerField(help_text="Records after the group's committed offset.")


class StatsSerializer(CountsSerializer):
    window_seconds = serializers.IntegerField()
    filtered = serializers.IntegerField()
    running = serializers.IntegerField()
    rates_per_second = RatesSerializer()
    latency_ms = PercentilesSerializer(help_text="From the Kafka message's timestamp to done.")
    processing_ms = PercentilesSerializer(help_text="From when the trigger read it to done.")
    duplicates = serializers.IntegerField(
        help_text="Messages sent again after an attempt whose outcome was unknown (a worker "
        "killed mid-request): possible duplicate deliveries, since the flow was created."
    )
    dead_lettered = serializers.IntegerField(
        help_text="Messages produced to the flow's dead-letter topic, since it was created."
    )
    consumer_lag = PartitionLagSerializer(
        many=True,
        help_text="Per partition the flow reads, as its trigger runner last reported it "
        "(every TRIBUTARY_LAG_SECONDS); empty while the flow is not consuming.",
    )


class CodeRunResultSerializer(serializers.Serializer[Any]):
    output = serializers.ListField(child=serializers.JSONField(), help_text="Message bodies.")
    logs = serializers.ListField(child=serializers.CharField())


class CodeProblemSerializer(serializers.Serializer[Any]):
    line = serializers.IntegerField(allow_null=True)
    message = serializers.CharField()


class CodeCheckResultSerializer(serializers.Serializer[Any]):
    problems = CodeProblemSerializer(many=True)


# --- Flows as code (docs/flow-format.md) ----------------------------------------------------


class ExportQuerySerializer(serializers.Serializer[Any]):
    format = serializers.ChoiceField(
        choices=["json", "yaml"],
        required=False,
        default="json",
        help_text="The file's text format (without it: YAML if the Accept header asks for it).",
    )


class BundleExportQuerySerializer(ListQuerySerializer, ExportQuerySerializer):
    """`?workspace=` picks the workspace to export (default: the caller's first)."""


class ImportQuerySerializer(ListQuerySerializer):
    """`?workspace=` picks the workspace to import into, as when creating a flow."""

    publish = serializers.BooleanField(
        required=False, default=False, help_text="Publish each imported flow."
    )


class FlowCredentialReferenceSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(help_text="The credential's name in the workspace.")
    type = serializers.CharField(help_text="Its credential type, e.g. bloomreach.")


class FlowDocumentSerializer(serializers.Serializer[Any]):
    """A flow file, `tributary.flow/v1`: the draft graph with credentials referenced by name."""

    format = serializers.ChoiceField(choices=["tributary.flow/v1"])
    name = serializers.CharField(max_length=200)
    graph = serializers.DictField(help_text="The graph as stored, every credential id null.")
    credentials = serializers.DictField(
        child=FlowCredentialReferenceSerializer(),
        required=False,
        help_text="Node id -> the credential it uses, by name.",
    )


class FlowBundleSerializer(serializers.Serializer[Any]):
    """Several flow files in one, `tributary.flows/v1`."""

    format = serializers.ChoiceField(choices=["tributary.flows/v1"])
    flows = FlowDocumentSerializer(many=True)


class ImportedFlowSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    created = serializers.BooleanField(help_text="False: an existing flow's draft was updated.")
    version = serializers.IntegerField(
        allow_null=True, help_text="The version published by ?publish=true, else null."
    )


class ImportResultSerializer(serializers.Serializer[Any]):
    flows = ImportedFlowSerializer(many=True)


class NodeChangeSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    fields = serializers.ListField(  # type: ignore[assignment]
        child=serializers.CharField(), help_text='Dotted paths: "config.url", "credential".'
    )


class NodesDiffSerializer(serializers.Serializer[Any]):
    added = serializers.ListField(child=serializers.CharField())
    removed = serializers.ListField(child=serializers.CharField())
    changed = NodeChangeSerializer(many=True)


class EdgeSerializer(serializers.Serializer[Any]):
    source = serializers.CharField()  # type: ignore[assignment]
    target = serializers.CharField()


class EdgesDiffSerializer(serializers.Serializer[Any]):
    added = EdgeSerializer(many=True)
    removed = EdgeSerializer(many=True)


class GraphDiffSerializer(serializers.Serializer[Any]):
    nodes = NodesDiffSerializer()
    edges = EdgesDiffSerializer()
    settings_changed = serializers.ListField(child=serializers.CharField())
