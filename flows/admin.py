from __future__ import annotations

from django.contrib import admin

from flows.models import Credential, Execution, Flow, FlowVersion, Membership, StepRecord, Workspace


class MembershipInline(admin.TabularInline[Membership, Workspace]):
    model = Membership
    extra = 0


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin[Workspace]):
    list_display = ["name", "created_at"]
    inlines = [MembershipInline]


@admin.register(Credential)
class CredentialAdmin(admin.ModelAdmin[Credential]):
    # The encrypted blob is never shown; secrets are managed through the API.
    list_display = ["name", "type", "workspace", "updated_at"]
    exclude = ["encrypted"]
    readonly_fields = ["workspace", "type"]


class FlowVersionInline(admin.TabularInline[FlowVersion, Flow]):
    model = FlowVersion
    extra = 0
    readonly_fields = ["number", "graph", "created_by", "created_at"]
    can_delete = False


@admin.register(Flow)
class FlowAdmin(admin.ModelAdmin[Flow]):
    list_display = ["name", "workspace", "status", "active_version", "updated_at"]
    list_filter = ["status"]
    search_fields = ["name"]
    inlines = [FlowVersionInline]


class StepRecordInline(admin.TabularInline[StepRecord, Execution]):
    model = StepRecord
    extra = 0
    can_delete = False
    readonly_fields = [
        "position",
        "node_id",
        "component",
        "status",
        "duration_ms",
        "input",
        "output",
        "logs",
        "error",
    ]
    exclude = ["started_at", "error_details"]


@admin.register(Execution)
class ExecutionAdmin(admin.ModelAdmin[Execution]):
    list_display = ["id", "flow", "status", "topic", "partition", "offset", "started_at"]
    list_filter = ["status", "flow"]
    search_fields = ["summary", "error"]
    inlines = [StepRecordInline]
    readonly_fields = [f.name for f in Execution._meta.fields]
