from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.db.models import QuerySet

from flows.choices import Role
from flows.errors import Forbidden, ServiceError
from flows.models import Membership, Workspace

AnyUser = User | AnonymousUser


class NoSuchWorkspace(ServiceError):
    """A workspace the caller is not a member of: as if it did not exist."""

    status_code = 404


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


WRITE_ROLES = (Role.OWNER, Role.EDITOR)


def can_write_somewhere(user: AnyUser) -> bool:
    """Whether the user may create flows: an owner or editor of some workspace, or a user
    without any workspace yet (their first flow creates a personal one)."""
    if not user.is_authenticated:
        return False
    roles = set(Membership.objects.filter(user=user).values_list("role", flat=True))
    return not roles or bool(roles & set(WRITE_ROLES))


def writable_workspace(user: AnyUser, workspace_id: int | None) -> Workspace:
    """The workspace a new object goes into, checked for write access.

    Without an explicit workspace: the user's first workspace they may write to (a user
    without any workspace gets a personal one); 403 for a user who is only a viewer.
    """
    if workspace_id is None:
        assert isinstance(user, User)
        writable = Workspace.objects.filter(
            membership__user=user, membership__role__in=WRITE_ROLES
        ).order_by("id")
        workspace = writable.first() or default_workspace(user)
    else:
        found = workspaces_of(user).filter(id=workspace_id).first()
        if found is None:
            raise NoSuchWorkspace("no such workspace", {"workspace": "not found"})
        workspace = found
    if role_in(user, workspace.id) == Role.VIEWER:
        raise Forbidden("viewers cannot change this workspace", {"workspace": "read-only"})
    return workspace
