"""Who may do what. Reads need membership, writes need the owner or editor role.

Objects outside the caller's workspaces are never found (404, as if they did not exist)
because every queryset is scoped to the caller's workspaces before these checks run; a
viewer finds them and is refused changes with 403.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from flows.choices import Role
from flows.services.workspaces import can_write_somewhere, role_in

WRITE_ROLES = (Role.OWNER, Role.EDITOR)


class WorkspaceRole(BasePermission):
    """Members read; only owners and editors change, run or copy anything, whatever the
    HTTP method of the action (POST /samples/ only reads, but with the workspace's
    credential, so it counts as a change)."""

    message = "viewers have read-only access to this workspace"

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        if request.method in SAFE_METHODS:
            return True
        workspace_id = getattr(obj, "workspace_id", None)
        if workspace_id is None and hasattr(obj, "flow"):
            workspace_id = obj.flow.workspace_id
        if workspace_id is None:
            return False
        return role_in(request.user, int(workspace_id)) in WRITE_ROLES


class CanWriteSomewhere(BasePermission):
    """For actions outside any workspace (running test code): the caller must be able to
    edit flows somewhere, so a read-only viewer cannot use the code sandbox."""

    message = "viewers cannot run code; ask a workspace owner for the editor role"

    def has_permission(self, request: Request, view: APIView) -> bool:
        return can_write_somewhere(request.user)
