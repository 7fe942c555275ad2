"""Storage used by execution records: the per-flow report, and pruning one flow's records now.

Both are for the workspace's owners (and staff); editors and viewers get 403, and another
workspace is a 404 as everywhere in the API.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from flows.api.serializers import MAX_ID, ErrorSerializer, ListQuerySerializer, StrictIntegerField
from flows.api.views import query
from flows.errors import Forbidden
from flows.models import Flow
from flows.services.retention import prune_flow
from flows.services.storage import may_manage_storage, storage_flows, storage_report
from flows.services.workspaces import workspaces_of

# --- Shapes ---------------------------------------------------------------------------------


class StorageBytesSerializer(serializers.Serializer[Any]):
    """Approximate bytes: the characters of the stored JSON and error texts."""

    inputs = serializers.IntegerField(help_text="Step inputs and the inputs kept for retries.")
    outputs = serializers.IntegerField()
    logs = serializers.IntegerField(help_text="Lines the user's code printed.")
    # DRF takes declared fields off the class, so this does not hide Serializer.errors.
    errors = serializers.IntegerField(help_text="Error texts and their details.")  # type: ignore[assignment]
    total = serializers.IntegerField()


class RetentionSerializer(serializers.Serializer[Any]):
    days = serializers.IntegerField(help_text="Executions older than this are deleted.")
    default_days = serializers.BooleanField(
        help_text="True: TRIBUTARY_EXECUTION_RETENTION_DAYS; false: the flow's retention_days."
    )
    max_executions = serializers.IntegerField(help_text="Only the newest this many are kept.")


class FlowStorageSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    workspace = serializers.IntegerField()
    workspace_name = serializers.CharField()
    executions = serializers.IntegerField()
    step_records = serializers.IntegerField()
    bytes = StorageBytesSerializer()
    oldest_execution = serializers.DateTimeField(allow_null=True)
    newest_execution = serializers.DateTimeField(allow_null=True)
    retention = RetentionSerializer()


class StorageTotalsSerializer(serializers.Serializer[Any]):
    flows = serializers.IntegerField()
    executions = serializers.IntegerField()
    step_records = serializers.IntegerField()
    bytes = StorageBytesSerializer()


class StorageDefaultsSerializer(serializers.Serializer[Any]):
    retention_days = serializers.IntegerField()
    max_executions = serializers.IntegerField()


class StorageReportSerializer(serializers.Serializer[Any]):
    flows = FlowStorageSerializer(many=True, help_text="Biggest first.")
    totals = StorageTotalsSerializer()
    defaults = StorageDefaultsSerializer()


class PruneSerializer(serializers.Serializer[Any]):
    """Exactly one of the two, so that an empty body never deletes everything."""

    older_than_days = StrictIntegerField(required=False, min_value=0, max_value=36_500)
    all = serializers.BooleanField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        wants_all = attrs.get("all") is True
        if wants_all == ("older_than_days" in attrs):
            raise serializers.ValidationError(
                'send {"older_than_days": N} to delete older executions, or {"all": true}'
            )
        return attrs


class PruneResultSerializer(serializers.Serializer[Any]):
    deleted = serializers.IntegerField(help_text="Executions deleted with their step records.")


# Without a path parameter, the shared schema hook would not document the foreign workspace.
NO_SUCH_WORKSPACE = {404: ErrorSerializer}


# --- Views ----------------------------------------------------------------------------------


class StorageView(APIView):
    """Executions, step records and approximate bytes each flow's records take, with their
    age and retention. `?workspace=` for one workspace; without it every workspace the
    caller owns (staff: every flow)."""

    @extend_schema(
        parameters=[ListQuerySerializer],
        responses={200: StorageReportSerializer, **NO_SUCH_WORKSPACE},
    )
    def get(self, request: Request) -> Response:
        workspace = query(ListQuerySerializer, request).get("workspace")
        report = storage_report(storage_flows(request.user, workspace))
        return Response(StorageReportSerializer(report).data)


class FlowPruneView(APIView):
    """Delete one flow's executions now: those older than `older_than_days`, or all."""

    @extend_schema(request=PruneSerializer, responses={200: PruneResultSerializer})
    def post(self, request: Request, id: int) -> Response:
        flow = _manageable_flow(request, id)
        data = PruneSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        days = data.validated_data.get("older_than_days")
        deleted = prune_flow(flow, None if days is None else timedelta(days=days))
        return Response({"deleted": deleted})


def _manageable_flow(request: Request, flow_id: int) -> Flow:
    """The flow, if the caller sees it (404 otherwise) and may manage its storage (403)."""
    user = request.user
    flows = (
        Flow.objects.all()
        if user.is_staff
        else Flow.objects.filter(workspace__in=workspaces_of(user))
    )
    flow = flows.filter(id=flow_id).first() if flow_id <= MAX_ID else None
    if flow is None:
        raise NotFound("no such flow")
    if not may_manage_storage(user, flow.workspace_id):
        raise Forbidden("only the workspace's owners may delete its execution records")
    return flow
