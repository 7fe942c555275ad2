from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from flows.choices import Role
from flows.models import Workspace
from flows.services.workspaces import add_member, create_workspace

pytest_plugins = [
    "tests.fixtures.redis",
    "tests.fixtures.kafka",
    "tests.fixtures.standin",
    "tests.fixtures.stack",
]


@pytest.fixture
def user(db: Any) -> User:
    return User.objects.create_user("alice", password="correct horse battery")


@pytest.fixture
def workspace(user: User) -> Workspace:
    return create_workspace("Alice's team", user)


@pytest.fixture
def api(user: User, workspace: Workspace) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def other_api(db: Any) -> APIClient:
    """A user of another workspace."""
    mallory = User.objects.create_user("mallory", password="another password 123")
    create_workspace("Mallory's team", mallory)
    client = APIClient()
    client.force_authenticate(mallory)
    return client


@pytest.fixture
def viewer_api(workspace: Workspace) -> APIClient:
    """A read-only member of Alice's workspace."""
    victor = User.objects.create_user("victor", password="viewer password 123")
    add_member(workspace, victor, Role.VIEWER)
    client = APIClient()
    client.force_authenticate(victor)
    return client


@pytest.fixture
def eager_tasks() -> Iterator[None]:
    """Celery tasks run where they are sent (in this thread) rather than in a worker."""
    from config.celery import app

    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = False
