"""Thin API views: parse, authorise (workspace scoping + role), call a service."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.utils.text import slugify
from drf_spectacular.utils import (
    OpenApiParameter,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.authtoken.models import Token
from rest_framework.decorators import action
from rest_framework.exceptions import NotAuthenticated, NotFound
from rest_framework.parsers import BaseParser, JSONParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from components.registry import all_descriptors
from flows.api import examples
from flows.api import serializers as s
from flows.api.permissions import CanWriteSomewhere, WorkspaceRole
from flows.api.throttling import LoginThrottle
from flows.diff import diff_graphs
from flows.errors import ServiceError
from flows.models import Credential, Execution, Flow, Workspace
from flows.selectors import consuming_flow_ids, filter_executions, with_activity
from flows.services import credentials as credential_services
from flows.services import executions as execution_services
from flows.services import flows as flow_services
from flows.services import portability
from flows.services import replay as replay_services
from flows.services.code import check_user_code, run_user_code
from flows.services.flows import UNCHANGED
from flows.services.samples import fetch_trigger_samples
from flows.services.workspaces import NoSuchWorkspace, workspaces_of, writable_workspace

THROTTLED = {429: s.ErrorSerializer}


class TokenView(APIView):
    """Exchange a username and password for an API token."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginThrottle]

    @extend_schema(
        request=s.TokenRequestSerializer,
        responses={200: s.TokenSerializer, **THROTTLED},
        examples=[examples.LOGIN],
    )
    def post(self, request: Request) -> Response:
        user = authenticated_user(request)
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


def authenticated_user(request: Request) -> Any:
    """The active user the request's username and password name, or a 400."""
    data = s.TokenRequestSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    user = authenticate(
        request,
        username=data.validated_data["username"],
        password=data.validated_data["password"],
    )
    if user is None or not user.is_active:
        raise ServiceError("wrong username or password")
    return user


class SessionView(APIView):
    """Browser login: who am I (GET), log in (POST), log out (DELETE)."""

    permission_classes = [AllowAny]
    throttle_classes = [LoginThrottle]

    def get_throttles(self) -> list[Any]:
        return super().get_throttles() if self.request.method == "POST" else []

    @extend_schema(responses={200: s.SessionSerializer})
    def get(self, request: Request) -> Response:
        if not request.user.is_authenticated:
            raise NotAuthenticated("not logged in")
        return Response(session_view(request))

    @extend_schema(
        request=s.TokenRequestSerializer,
        responses={200: s.SessionSerializer, **THROTTLED},
        examples=[examples.LOGIN],
    )
    def post(self, request: Request) -> Response:
        user = authenticated_user(request)
        login(request._request, user)
        request.user = user
        return Response(session_view(request))

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request) -> Response:
        logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


def session_view(request: Request) -> dict[str, Any]:
    user = request.user
    workspaces = s.WorkspaceSerializer(
        workspaces_of(user), many=True, context={"request": request}
    ).data
    return {
        "user": {"id": user.pk, "username": user.get_username(), "is_staff": user.is_staff},
        "workspaces": workspaces,
    }


class WorkspaceViewSet(viewsets.ReadOnlyModelViewSet[Workspace]):
    serializer_class = s.WorkspaceSerializer

    def get_queryset(self) -> QuerySet[Workspace]:
        return workspaces_of(self.request.user)


class ComponentListView(APIView):
    """The component catalog, each with its config JSON Schema and credential schema."""

    @extend_schema(responses={200: s.ComponentSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response([d.as_dict() for d in all_descriptors()])


def scoped(queryset: QuerySet[Any], request: Request, path: str = "workspace") -> QuerySet[Any]:
    """Limit to the caller's workspaces, so other workspaces' objects are 404, never shown.

    `?workspace=<id>` narrows a list to one of them (the UI's workspace switcher).
    """
    queryset = queryset.filter(**{f"{path}__in": workspaces_of(request.user)})
    if "workspace" in request.query_params:
        params = s.ListQuerySerializer(data=request.query_params.dict())
        if not params.is_valid():
            raise ServiceError("workspace must be a workspace id", {"workspace": "invalid"})
        queryset = queryset.filter(**{f"{path}_id": params.validated_data["workspace"]})
    return queryset


def query(serializer: type[s.serializers.Serializer[Any]], request: Request) -> dict[str, Any]:
    """The validated query parameters (a 400 naming the parameter when one is malformed).

    Read as a plain dict: as form data, DRF would quietly drop `?status=` or `?window=`
    instead of saying they are not valid values.
    """
    params = serializer(data=request.query_params.dict())
    params.is_valid(raise_exception=True)
    return dict(params.validated_data)


def body(serializer: type[s.serializers.Serializer[Any]], request: Request) -> dict[str, Any]:
    """The validated request body (a 400 naming the field when one is malformed)."""
    data = serializer(data=request.data)
    data.is_valid(raise_exception=True)
    return dict(data.validated_data)


# The error answers every operation shares are documented by flows.api.schema; these are
# particular to a few operations.
CONFLICT = {409: s.ErrorSerializer}
# Creating in a workspace the caller is not a member of.
NO_SUCH_WORKSPACE = {404: s.ErrorSerializer}


@extend_schema_view(
    list=extend_schema(parameters=[s.ListQuerySerializer]),
    create=extend_schema(
        responses={201: s.CredentialSerializer, **NO_SUCH_WORKSPACE},
        examples=[examples.CREDENTIAL],
    ),
)
class CredentialViewSet(viewsets.ModelViewSet[Credential]):
    serializer_class = s.CredentialSerializer
    permission_classes = [IsAuthenticated, WorkspaceRole]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Credential]:
        return scoped(Credential.objects.order_by("name", "id"), self.request)

    def perform_create(self, serializer: BaseSerializer[Credential]) -> None:
        data = serializer.validated_data
        workspace = writable_workspace(self.request.user, data.get("workspace_id"))
        serializer.instance = credential_services.create_credential(
            workspace, data["name"], data["type"], data.get("fields", {})
        )

    def perform_destroy(self, instance: Credential) -> None:
        credential_services.delete_credential(instance)

    @extend_schema(responses={204: None, **CONFLICT})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().destroy(request, *args, **kwargs)

    @extend_schema(request=s.CredentialUpdateSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        credential = self.get_object()
        data = s.CredentialUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        credential_services.update_credential(
            credential,
            name=data.validated_data.get("name"),
            fields=data.validated_data.get("fields"),
        )
        return Response(self.get_serializer(credential).data)


@extend_schema_view(
    list=extend_schema(parameters=[s.FlowListQuerySerializer]),
    create=extend_schema(
        responses={201: s.FlowSerializer, **NO_SUCH_WORKSPACE}, examples=[examples.FLOW]
    ),
)
class FlowViewSet(viewsets.ModelViewSet[Flow]):
    serializer_class = s.FlowSerializer
    permission_classes = [IsAuthenticated, WorkspaceRole]
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Flow]:
        queryset = scoped(Flow.objects.select_related("active_version"), self.request)
        if self.action == "list":
            if search := query(s.FlowListQuerySerializer, self.request).get("search"):
                queryset = queryset.filter(name__icontains=search)
            queryset = with_activity(queryset)
        return queryset

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        context["consuming"] = consuming_flow_ids()
        return context

    def perform_create(self, serializer: BaseSerializer[Flow]) -> None:
        data = serializer.validated_data
        workspace = writable_workspace(self.request.user, data.get("workspace_id"))
        user = self.request.user
        serializer.instance = flow_services.create_flow(
            workspace,
            data["name"],
            data.get("graph"),
            user if user.is_authenticated else None,
            retention_days=data.get("retention_days"),
        )

    def perform_update(self, serializer: BaseSerializer[Flow]) -> None:
        data = serializer.validated_data
        flow = serializer.instance
        assert flow is not None
        if data.get("workspace_id", flow.workspace_id) != flow.workspace_id:
            # Moving would carry credential references into a workspace they do not belong to.
            raise ServiceError(
                "a flow cannot move to another workspace; duplicate it there instead",
                {"workspace": "read-only"},
            )
        flow_services.update_flow(
            flow,
            name=data.get("name"),
            graph=data.get("graph"),
            retention_days=data.get("retention_days", UNCHANGED),
        )

    @extend_schema(request=None, responses={201: s.FlowVersionSerializer})
    @action(detail=True, methods=["post"])
    def publish(self, request: Request, pk: str) -> Response:
        version = flow_services.publish_flow(self.get_object(), request.user)  # type: ignore[arg-type]
        return Response(s.FlowVersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=s.FlowVersionSerializer(many=True))
    @action(detail=True, methods=["get"])
    def versions(self, request: Request, pk: str) -> Response:
        versions = self.get_object().versions.all()
        page = self.paginate_queryset(versions)  # type: ignore[arg-type]
        return self.get_paginated_response(s.FlowVersionSerializer(page, many=True).data)

    @extend_schema(
        request=None,
        responses=s.FlowSerializer,
        parameters=[OpenApiParameter("number", int, OpenApiParameter.PATH)],
    )
    @action(detail=True, methods=["post"], url_path=r"versions/(?P<number>\d+)/restore")
    def restore(self, request: Request, pk: str, number: str) -> Response:
        flow = self.get_object()
        version = flow.versions.filter(number=int(number)).first()
        if version is None:
            raise ServiceError(f"flow has no version {number}", {"version": "not found"})
        return Response(self.get_serializer(flow_services.restore_version(flow, version)).data)

    @extend_schema(request=None, responses=s.FlowSerializer)
    @action(detail=True, methods=["post"])
    def start(self, request: Request, pk: str) -> Response:
        return Response(self.get_serializer(flow_services.start_flow(self.get_object())).data)

    @extend_schema(request=None, responses=s.FlowSerializer)
    @action(detail=True, methods=["post"])
    def stop(self, request: Request, pk: str) -> Response:
        return Response(self.get_serializer(flow_services.stop_flow(self.get_object())).data)

    @extend_schema(
        parameters=[s.ExecutionFilterSerializer], responses=s.ExecutionSerializer(many=True)
    )
    @action(detail=True, methods=["get"])
    def executions(self, request: Request, pk: str) -> Response:
        flow = self.get_object()
        filters = query(s.ExecutionFilterSerializer, request)
        queryset = filter_executions(
            flow.executions.select_related("version").defer("steps", "retry_input"), filters
        )
        page = self.paginate_queryset(queryset.order_by("-started_at", "-id"))  # type: ignore[arg-type]
        return self.get_paginated_response(s.ExecutionSerializer(page, many=True).data)

    @extend_schema(request=s.BulkRetrySerializer, responses={202: s.BulkRetryResultSerializer})
    @action(detail=True, methods=["post"], url_path="executions/retry")
    def retry_executions(self, request: Request, pk: str) -> Response:
        """Retry the flow's failed executions matching the filters, from their failed steps."""
        flow = self.get_object()
        filters = body(s.BulkRetrySerializer, request)
        result = execution_services.retry_failed(filter_executions(flow.executions.all(), filters))
        return Response(result, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=s.ReplaySerializer, responses=s.ReplayResultSerializer)
    @action(detail=True, methods=["post"])
    def replay(self, request: Request, pk: str) -> Response:
        """Move a stopped flow's consumer position; start it to process from there again."""
        flow = self.get_object()  # authorised before the body is looked at
        data = body(s.ReplaySerializer, request)
        result = replay_services.replay_flow(
            flow,
            data["position"],
            timestamp=data.get("timestamp"),
            offsets=data.get("offsets"),
        )
        return Response(result)

    @extend_schema(request=None, responses={201: s.FlowSerializer})
    @action(detail=True, methods=["post"])
    def duplicate(self, request: Request, pk: str) -> Response:
        user = request.user if request.user.is_authenticated else None
        copy = flow_services.duplicate_flow(self.get_object(), user)
        return Response(self.get_serializer(copy).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.SamplesRequestSerializer, responses={200: s.SamplesSerializer})
    @action(detail=True, methods=["post"])
    def samples(self, request: Request, pk: str) -> Response:
        # Authorised first: reading the topic uses the workspace's credential, an editor's act.
        flow = self.get_object()
        data = s.SamplesRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        messages = fetch_trigger_samples(flow, data.validated_data["count"])
        return Response({"messages": messages})

    @extend_schema(parameters=[s.ThroughputQuerySerializer], responses=s.ThroughputSerializer)
    @action(detail=True, methods=["get"])
    def throughput(self, request: Request, pk: str) -> Response:
        flow = self.get_object()
        params = query(s.ThroughputQuerySerializer, request)
        return Response(execution_services.throughput(flow, params["window"], params["bucket"]))

    @extend_schema(parameters=[s.StatsQuerySerializer], responses=s.StatsSerializer)
    @action(detail=True, methods=["get"])
    def stats(self, request: Request, pk: str) -> Response:
        flow = self.get_object()
        params = query(s.StatsQuerySerializer, request)
        return Response(execution_services.flow_stats(flow, params["window"]))


class ExecutionViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet[Execution]):
    serializer_class = s.ExecutionDetailSerializer
    permission_classes = [IsAuthenticated, WorkspaceRole]

    def get_queryset(self) -> QuerySet[Execution]:
        queryset = Execution.objects.select_related("version", "flow")
        return scoped(queryset, self.request, "flow__workspace")

    @extend_schema(request=None, responses={202: s.ExecutionSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str) -> Response:
        execution = execution_services.retry_execution(self.get_object())
        return Response(s.ExecutionSerializer(execution).data, status=status.HTTP_202_ACCEPTED)


class CodeCheckView(APIView):
    """Compile transform code without running it: problems with their lines."""

    @extend_schema(
        request=s.CodeCheckSerializer,
        responses={200: s.CodeCheckResultSerializer},
        examples=[examples.CODE_CHECK],
    )
    def post(self, request: Request) -> Response:
        data = s.CodeCheckSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response({"problems": check_user_code(data.validated_data["code"])})


class CodeRunView(APIView):
    """Run transform code against one sample message in the sandbox.

    Only for users who may edit a flow somewhere: running code costs a sandbox process, and a
    read-only viewer has no code to test.
    """

    permission_classes = [IsAuthenticated, CanWriteSomewhere]

    @extend_schema(
        request=s.CodeRunSerializer,
        responses={200: s.CodeRunResultSerializer},
        examples=[examples.CODE_RUN],
    )
    def post(self, request: Request) -> Response:
        data = s.CodeRunSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = run_user_code(data.validated_data["code"], data.validated_data["message"])
        if result.error is not None:
            raise ServiceError(result.error, {"line": result.line, "logs": result.logs})
        return Response({"output": result.outputs, "logs": result.logs})


# --- Flows as code (docs/flow-format.md) ----------------------------------------------------


class FlowJSONFileRenderer(BaseRenderer):
    media_type = "application/json"
    format = "json"
    text_format: portability.TextFormat = "json"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        return b"" if data is None else portability.render_document(data, self.text_format).encode()


class FlowYAMLFileRenderer(FlowJSONFileRenderer):
    media_type = "application/yaml"
    format = "yaml"
    text_format: portability.TextFormat = "yaml"


class YAMLParser(BaseParser):
    """A flow file sent as YAML (`Content-Type: application/yaml`), read safely."""

    media_type = "application/yaml"

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        return portability.parse_document(stream.read(), "yaml")


class FlowFileView(APIView):
    """Answers a flow file as JSON or YAML: `?format=json|yaml`, else YAML when the Accept
    header asks for it. Errors stay JSON, like every other error of the API."""

    renderer_classes = [FlowJSONFileRenderer, FlowYAMLFileRenderer]

    def perform_content_negotiation(
        self, request: Request, force: bool = False
    ) -> tuple[BaseRenderer, str]:
        # DRF would answer an unknown ?format= with a bare 404; this says what is wrong.
        wanted = request.query_params.get("format")
        if wanted is None:
            wanted = "yaml" if "yaml" in request.headers.get("Accept", "") else "json"
        renderer: BaseRenderer
        for renderer in (FlowJSONFileRenderer(), FlowYAMLFileRenderer()):
            if renderer.format == wanted:
                return renderer, renderer.media_type
        if force:
            renderer = FlowJSONFileRenderer()
            return renderer, renderer.media_type
        raise ServiceError("format must be json or yaml", {"format": "unknown"})

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        if response.status_code >= 400:
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)

    def download(self, document: dict[str, Any], stem: str) -> Response:
        extension = self.request.accepted_renderer.format
        response = Response(document)
        response["Content-Disposition"] = f'attachment; filename="{stem}.{extension}"'
        return response


def visible_flow(request: Request, flow_id: int) -> Flow:
    """A flow of the caller's workspaces; any other is a 404, as if it did not exist."""
    flow = None
    if flow_id <= s.MAX_ID:
        flow = Flow.objects.filter(id=flow_id, workspace__in=workspaces_of(request.user)).first()
    if flow is None:
        raise NotFound("no such flow")
    return flow


class FlowExportView(FlowFileView):
    """Download a flow's draft as a flow file: credentials by name, never secrets or ids."""

    @extend_schema(parameters=[s.ExportQuerySerializer], responses={200: s.FlowDocumentSerializer})
    def get(self, request: Request, id: int) -> Response:
        flow = visible_flow(request, id)
        stem = slugify(flow.name) or f"flow-{flow.id}"
        return self.download(portability.export_flow(flow), f"{stem}.flow")


class FlowBundleExportView(FlowFileView):
    """Download every flow of a workspace as one bundle (viewers may: it holds no secret)."""

    @extend_schema(
        operation_id="v1_flows_bundle_export",
        parameters=[s.BundleExportQuerySerializer],
        responses={200: s.FlowBundleSerializer, **NO_SUCH_WORKSPACE},
    )
    def get(self, request: Request) -> Response:
        chosen = query(s.BundleExportQuerySerializer, request).get("workspace")
        workspaces = workspaces_of(request.user)
        if chosen is not None:
            workspaces = workspaces.filter(id=chosen)
        workspace = workspaces.first()
        if workspace is None:
            raise NoSuchWorkspace("no such workspace", {"workspace": "not found"})
        stem = slugify(workspace.name) or f"workspace-{workspace.id}"
        return self.download(portability.export_workspace(workspace), f"{stem}.flows")


class FlowImportView(APIView):
    """Create or update (by name) flows from a flow file or bundle, all or nothing.

    The body is the document as JSON, or as YAML with `Content-Type: application/yaml`.
    """

    parser_classes = [JSONParser, YAMLParser]

    @extend_schema(
        parameters=[s.ImportQuerySerializer],
        request={
            media_type: PolymorphicProxySerializer(
                component_name="FlowFile",
                serializers=[s.FlowDocumentSerializer, s.FlowBundleSerializer],
                resource_type_field_name=None,
            )
            for media_type in ("application/json", "application/yaml")
        },
        responses={200: s.ImportResultSerializer, **NO_SUCH_WORKSPACE},
    )
    def post(self, request: Request) -> Response:
        params = query(s.ImportQuerySerializer, request)
        # The role is checked before the body is read: a viewer learns nothing from it.
        workspace = writable_workspace(request.user, params.get("workspace"))
        document = portability.to_json_values(request.data)
        user = request.user if isinstance(request.user, User) else None
        results = portability.import_flows(workspace, document, user, publish=params["publish"])
        return Response({"flows": [result.as_dict() for result in results]})


# Version numbers are PositiveIntegerFields: a larger number overflows the database driver.
MAX_VERSION = 2**31 - 1


def version_graph(flow: Flow, number: int) -> dict[str, Any]:
    version = flow.versions.filter(number=number).first() if number <= MAX_VERSION else None
    if version is None:
        raise NotFound(f"flow has no version {number}")
    return dict(version.graph)


class FlowVersionDiffView(APIView):
    """What changed from version `number` to version `other` (or to the draft)."""

    @extend_schema(
        parameters=[
            OpenApiParameter("number", int, OpenApiParameter.PATH),
            OpenApiParameter(
                "other",
                str,
                OpenApiParameter.PATH,
                pattern=r"^(\d+|draft)$",
                description='A version number or "draft".',
            ),
        ],
        responses={200: s.GraphDiffSerializer},
    )
    def get(self, request: Request, id: str, number: str, other: str) -> Response:
        # Digits only (the URL pattern says so), but as text: re_path converts nothing.
        flow = visible_flow(request, int(id))
        old = version_graph(flow, int(number))
        new = flow.graph if other == "draft" else version_graph(flow, int(other))
        return Response(diff_graphs(old, new))
