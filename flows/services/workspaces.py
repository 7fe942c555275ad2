from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.db.models import QuerySet

from flows.choices import Role
from flows.errors import Forbidden, ServiceError
from flows.models import Membership, Workspace

AnyUser = User | AnonymousUser


def workspaces_of(user: AnyUser) -> QuerySet[Workspace]:
    if not user.is_authenticated:
        return Workspace.objects.none()
    return Workspace.objects.filter(membership__user=user).order_by("id")


def role_in(user: AnyUser, workspace_id: int) -> str | None:
    if not user.is_authenticated:
        return None
    membership = Membership.objects.filter(user=user, workspace_id=workspace_id).first()
    return membership.role if membership else None


@transaction.atomic
def create_workspace(name: str, owner: User) -> Workspace:
    workspace = Workspace.objects.create(name=name)
    Membership.objects.create(workspace=workspace, user=owner, role=Role.OWNER)
    return workspace


def add_member(workspace: Workspace, user: User, role: Role = Role.EDITOR) -> None:
    Membership.objects.update_or_create(workspace=workspace, user=user, defaults={"role": role})


def default_workspace(user: User) -> Workspace:
    """The user's first workspace; a user without one gets a personal workspace."""
    workspace = workspaces_of(user).first()
    if workspace is None:
        workspace = create_workspace(f"{user.get_username()}'s workspace", user)
    return workspace


def writable_workspace(user: AnyUser, workspace_id: int | None) -> Workspace:
    """The workspace a new object goes into, checked for write access."""
    if workspace_id is None:
        assert isinstance(user, User)
        workspace = default_workspace(user)
    else:
        found = workspaces_of(user).filter(id=workspace_id).first()
        if found is None:
            raise ServiceError("no such workspace", {"workspace": "not found"})
        workspace = found
    if role_in(user, workspace.id) == Role.VIEWER:
        raise Forbidden("viewers cannot change this workspace", {"workspace": "read-only"})
    return workspace
