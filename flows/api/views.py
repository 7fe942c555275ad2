"""Thin API views: parse, authorise (workspace scoping + role), call a service."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate, login, logout
from django.db.models import Q, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.authtoken.models import Token
from rest_framework.decorators import action
from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from components.registry import all_descriptors
from flows.api import serializers as s
from flows.api.permissions import WorkspaceRole
from flows.errors import ServiceError
from flows.models import Credential, Execution, Flow, Workspace
from flows.selectors import consuming_flow_ids, with_activity
from flows.services import credentials as credential_services
from flows.services import executions as execution_services
from flows.services import flows as flow_services
from flows.services.code import check_user_code, run_user_code
from flows.services.samples import fetch_trigger_samples
from flows.services.workspaces import workspaces_of, writable_workspace


class LoginThrottle(AnonRateThrottle):
    rate = "20/min"


class TokenView(APIView):
    """Exchange a username and password for an API token."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginThrottle]

    @extend_schema(request=s.TokenRequestSerializer, responses={200: dict})
    def post(self, request: Request) -> Response:
        data = s.TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(
            request,
            username=data.validated_data["username"],
            password=data.validated_data["password"],
        )
        if user is None or not user.is_active:
            raise ServiceError("wrong username or password")
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


class SessionView(APIView):
    """Browser login: who am I (GET), log in (POST), log out (DELETE)."""

    permission_classes = [AllowAny]
    throttle_classes = [LoginThrottle]

    def get_throttles(self) -> list[Any]:
        return super().get_throttles() if self.request.method == "POST" else []

    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> Response:
        if not request.user.is_authenticated:
            raise NotAuthenticated("not logged in")
        return Response(session_view(request))

    @extend_schema(request=s.TokenRequestSerializer, responses={200: dict})
    def post(self, request: Request) -> Response:
        data = s.TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(
            request,
            username=data.validated_data["username"],
            password=data.validated_data["password"],
        )
        if user is None or not user.is_active:
            raise ServiceError("wrong username or password")
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

    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> Response:
        return Response([d.as_dict() for d in all_descriptors()])


def scoped(queryset: QuerySet[Any], request: Request, path: str = "workspace") -> QuerySet[Any]:
    """Limit to the caller's workspaces, so other workspaces' objects are 404, never shown.

    `?workspace=<id>` narrows a list to one of them (the UI's workspace switcher).
    """
    queryset = queryset.filter(**{f"{path}__in": workspaces_of(request.user)})
    workspace = request.query_params.get("workspace")
    if workspace:
        if not workspace.isdigit():
            raise ServiceError("workspace must be a workspace id", {"workspace": "invalid"})
        queryset = queryset.filter(**{f"{path}_id": int(workspace)})
    return queryset


class CredentialViewSet(viewsets.ModelViewSet[Credential]):
    serializer_class = s.CredentialSerializer
    permission_classes = [IsAuthenticated, WorkspaceRole]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Credential]:
        return scoped(Credential.objects.order_by("name"), self.request)

    def perform_create(self, serializer: BaseSerializer[Credential]) -> None:
        data = serializer.validated_data
        workspace = writable_workspace(self.request.user, data.get("workspace_id"))
        serializer.instance = credential_services.create_credential(
            workspace, data["name"], data["type"], data.get("fields", {})
        )

    def perform_destroy(self, instance: Credential) -> None:
        credential_services.delete_credential(instance)

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


class FlowViewSet(viewsets.ModelViewSet[Flow]):
    serializer_class = s.FlowSerializer
    permission_classes = [IsAuthenticated, WorkspaceRole]
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Flow]:
        queryset = scoped(Flow.objects.select_related("active_version"), self.request)
        if self.action == "list":
            search = self.request.query_params.get("search")
            if search:
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
            workspace, data["name"], data.get("graph"), user if user.is_authenticated else None
        )

    def perform_update(self, serializer: BaseSerializer[Flow]) -> None:
        data = serializer.validated_data
        assert serializer.instance is not None
        flow_services.update_flow(
            serializer.instance, name=data.get("name"), graph=data.get("graph")
        )

    @extend_schema(request=None, responses=s.FlowVersionSerializer)
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

    @extend_schema(request=None, responses=s.FlowSerializer)
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
        filters = s.ExecutionFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        queryset = flow.executions.select_related("version")
        if status_filter := filters.validated_data.get("status"):
            queryset = queryset.filter(status=status_filter)
        if since := filters.validated_data.get("since"):
            queryset = queryset.filter(started_at__gte=since)
        if until := filters.validated_data.get("until"):
            queryset = queryset.filter(started_at__lt=until)
        if search := filters.validated_data.get("search"):
            queryset = queryset.filter(Q(summary__icontains=search) | Q(error__icontains=search))
        page = self.paginate_queryset(queryset.order_by("-started_at", "-id"))  # type: ignore[arg-type]
        return self.get_paginated_response(s.ExecutionSerializer(page, many=True).data)

    @extend_schema(request=None, responses=s.FlowSerializer)
    @action(detail=True, methods=["post"])
    def duplicate(self, request: Request, pk: str) -> Response:
        user = request.user if request.user.is_authenticated else None
        copy = flow_services.duplicate_flow(self.get_object(), user)
        return Response(self.get_serializer(copy).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.SamplesRequestSerializer, responses={200: dict})
    @action(detail=True, methods=["post"])
    def samples(self, request: Request, pk: str) -> Response:
        data = s.SamplesRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        messages = fetch_trigger_samples(self.get_object(), data.validated_data["count"])
        return Response({"messages": messages})

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"])
    def throughput(self, request: Request, pk: str) -> Response:
        window = _int_param(request, "window", 3600, 60, 7 * 24 * 3600)
        bucket = _int_param(request, "bucket", 60, 1, 24 * 3600)
        return Response(execution_services.throughput(self.get_object(), window, bucket))

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"])
    def stats(self, request: Request, pk: str) -> Response:
        window = _int_param(request, "window", 3600, 60, 7 * 24 * 3600)
        return Response(execution_services.flow_stats(self.get_object(), window))


class ExecutionViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet[Execution]):
    serializer_class = s.ExecutionDetailSerializer
    permission_classes = [IsAuthenticated, WorkspaceRole]

    def get_queryset(self) -> QuerySet[Execution]:
        queryset = Execution.objects.select_related("version", "flow").prefetch_related("steps")
        return scoped(queryset, self.request, "flow__workspace")

    @extend_schema(request=None, responses=s.ExecutionSerializer)
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str) -> Response:
        execution = execution_services.retry_execution(self.get_object())
        return Response(s.ExecutionSerializer(execution).data, status=status.HTTP_202_ACCEPTED)


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit():
        raise ServiceError(f"{name} must be a whole number", {name: "invalid"})
    return max(low, min(int(raw), high))


class CodeCheckView(APIView):
    """Compile transform code without running it: problems with their lines."""

    @extend_schema(request=s.CodeCheckSerializer, responses={200: dict})
    def post(self, request: Request) -> Response:
        data = s.CodeCheckSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response({"problems": check_user_code(data.validated_data["code"])})


class CodeRunView(APIView):
    """Run transform code against one sample message in the sandbox."""

    @extend_schema(request=s.CodeRunSerializer, responses={200: dict})
    def post(self, request: Request) -> Response:
        data = s.CodeRunSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = run_user_code(data.validated_data["code"], data.validated_data["message"])
        if result.error is not None:
            raise ServiceError(result.error, {"line": result.line, "logs": result.logs})
        return Response({"output": result.outputs, "logs": result.logs})
