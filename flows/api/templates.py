"""The template gallery API: list the templates, read one, create a flow from one."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from flows.api.serializers import (
    MAX_ID,
    ErrorSerializer,
    FlowSerializer,
    StrictCharField,
    StrictIntegerField,
)
from flows.services import templates as template_services
from flows.services.workspaces import writable_workspace

# The path parameter lists the shipped slugs, so the schema says which ones exist.
SLUG = OpenApiParameter(
    "slug",
    str,
    OpenApiParameter.PATH,
    enum=template_services.template_slugs(),
    description="A template's slug, as GET /api/v1/templates/ lists them.",
)


class TemplateComponentSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(help_text="The component, e.g. kafka or bloomreach.")
    title = serializers.CharField()


class TemplateSerializer(serializers.Serializer[Any]):
    slug = serializers.SlugField()
    title = serializers.CharField()
    description = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField())
    components = TemplateComponentSerializer(
        many=True, help_text="Each step's component, trigger first, in the order they run."
    )
    flow_name = serializers.CharField(help_text="The name a flow made from it gets by default.")


class TemplateSampleSerializer(serializers.Serializer[Any]):
    description = serializers.CharField()
    message = serializers.DictField(
        help_text='What the transform step receives: {"body", "meta"} (as POST /code/run/).'
    )
    expected_output = serializers.ListField(
        child=serializers.JSONField(),
        help_text="The bodies the transform sends on for it; empty: the message is dropped.",
    )


class TemplateDetailSerializer(TemplateSerializer):
    graph = serializers.DictField(help_text="The flow graph; every credential is null.")
    credentials = serializers.DictField(
        help_text='Node id -> {"name", "type"}: the credential the step uses when the '
        "workspace has one of that name and type."
    )
    transform_node = serializers.CharField(
        allow_null=True, help_text="The id of the code step the samples are for."
    )
    samples = TemplateSampleSerializer(many=True)


class UseTemplateSerializer(serializers.Serializer[Any]):
    workspace = StrictIntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        help_text="Where the flow goes (default: your first workspace you may edit).",
    )
    name = StrictCharField(
        required=False,
        max_length=200,
        help_text="The flow's name (default: the template's, made unique in the workspace).",
    )


class TemplateListView(APIView):
    """The template gallery: ready-made flows to start from."""

    @extend_schema(responses={200: TemplateSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response([t.summary() for t in template_services.list_templates()])


class TemplateDetailView(APIView):
    """One template with its graph, sample messages and the transform's output for each."""

    @extend_schema(parameters=[SLUG], responses={200: TemplateDetailSerializer})
    def get(self, request: Request, slug: str) -> Response:
        return Response(template_services.get_template(slug).detail())


class TemplateUseView(APIView):
    """Create a draft flow from a template (editors and owners of the workspace)."""

    @extend_schema(
        parameters=[SLUG],
        request=UseTemplateSerializer,
        responses={201: FlowSerializer, 404: ErrorSerializer, 409: ErrorSerializer},
        examples=[
            OpenApiExample(
                "Into workspace 1", value={"workspace": 1, "name": "Shop events"}, request_only=True
            )
        ],
    )
    def post(self, request: Request, slug: str) -> Response:
        data = UseTemplateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # The role is checked before the template is looked up, as for any other creation.
        workspace = writable_workspace(request.user, data.validated_data.get("workspace"))
        user = request.user if isinstance(request.user, User) else None
        flow = template_services.create_flow_from_template(
            workspace, slug, user, data.validated_data.get("name")
        )
        body = FlowSerializer(flow, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)
