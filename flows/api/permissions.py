from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from flows.choices import Role
from flows.services.workspaces import role_in


class WorkspaceRole(BasePermission):
    """Members read; only owners and editors change. Objects outside the caller's workspaces
    are never found (404) because every queryset is scoped first."""

    message = "viewers have read-only access to this workspace"

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        if request.method in SAFE_METHODS:
            return True
        workspace_id = getattr(obj, "workspace_id", None)
        if workspace_id is None and hasattr(obj, "flow"):
            workspace_id = obj.flow.workspace_id
        if workspace_id is None:
            return False
        return role_in(request.user, int(workspace_id)) in (Role.OWNER, Role.EDITOR)
