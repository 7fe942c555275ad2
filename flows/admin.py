from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from flows.models import Credential, Execution, Flow, FlowVersion, Membership, Workspace
from flows.services.storage import storage_report


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

    def get_urls(self) -> list[URLPattern]:
        storage = path(
            "storage/",
            self.admin_site.admin_view(self.storage_view),
            name="flows_flow_storage",
        )
        return [storage, *super().get_urls()]

    def storage_view(self, request: HttpRequest) -> TemplateResponse:
        """Read-only: what every flow's execution records take (linked from the flow list)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        report = storage_report(Flow.objects.all())
        chosen = request.GET.get("o", "-size")
        if chosen.removeprefix("-") not in STORAGE_COLUMNS:
            chosen = "-size"
        column = chosen.removeprefix("-")
        report["flows"].sort(key=STORAGE_COLUMNS[column], reverse=chosen.startswith("-"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Storage per flow",
            "opts": self.model._meta,
            "report": report,
            "columns": [
                (label, _next_order(key, chosen), key == column, chosen.startswith("-"))
                for key, label in STORAGE_LABELS.items()
            ],
        }
        return TemplateResponse(request, "admin/flows/flow/storage.html", context)


def _next_order(key: str, chosen: str) -> str:
    """A header's link: the other direction when sorted by it, else names A-Z and numbers
    biggest first."""
    if chosen in (key, f"-{key}"):
        return key if chosen.startswith("-") else f"-{key}"
    return key if key in ("name", "workspace") else f"-{key}"


def _sort_time(row: dict[str, Any], name: str) -> float:
    # Flows without executions sort as the oldest.
    return row[name].timestamp() if row[name] else float("-inf")


STORAGE_COLUMNS: dict[str, Any] = {
    "name": lambda row: row["name"].lower(),
    "workspace": lambda row: row["workspace_name"].lower(),
    "executions": lambda row: row["executions"],
    "records": lambda row: row["step_records"],
    "size": lambda row: row["bytes"]["total"],
    "oldest": lambda row: _sort_time(row, "oldest_execution"),
    "newest": lambda row: _sort_time(row, "newest_execution"),
    "retention": lambda row: row["retention"]["days"],
}
STORAGE_LABELS = {
    "name": "Flow",
    "workspace": "Workspace",
    "executions": "Executions",
    "records": "Step records",
    "size": "Size (approx.)",
    "oldest": "Oldest execution",
    "newest": "Newest execution",
    "retention": "Retention",
}


@admin.register(Execution)
class ExecutionAdmin(admin.ModelAdmin[Execution]):
    list_display = ["id", "flow", "status", "topic", "partition", "offset", "started_at"]
    list_filter = ["status", "flow"]
    search_fields = ["summary", "error"]
    readonly_fields = [f.name for f in Execution._meta.fields]
