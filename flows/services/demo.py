"""Sets up the demo: admin user, workspace, Bloomreach credential and the running demo flow."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from flows.choices import FlowStatus
from flows.demo import (
    DEMO_API_KEY_ID,
    DEMO_API_SECRET,
    DEMO_FLOW_NAME,
    DEMO_PROJECT_TOKEN,
    DEMO_TOPIC,
    TRANSFORM,
)
from flows.models import Credential, Flow
from flows.services.credentials import create_credential
from flows.services.flows import create_flow, publish_flow, start_flow
from flows.services.workspaces import default_workspace


def ensure_admin(username: str, password: str) -> User:
    """Create the admin user once; an existing user keeps the password it has."""
    user = User.objects.filter(username=username).first()
    if user is None:
        user = User.objects.create_superuser(username=username, password=password, email="")
    return user


def demo_graph(credential_id: int, bloomreach_url: str) -> dict[str, Any]:
    return {
        "nodes": [
            {
                "id": "kafka",
                "component": "kafka",
                "config": {"topic": DEMO_TOPIC, "start_from": "earliest"},
                "credential": None,
                "position": {"x": 0, "y": 0},
            },
            {
                "id": "transform",
                "component": "code",
                "config": {"code": TRANSFORM.read_text()},
                "credential": None,
                "position": {"x": 320, "y": 0},
            },
            {
                "id": "bloomreach",
                "component": "bloomreach",
                "config": {"base_url": bloomreach_url, "project_token": DEMO_PROJECT_TOKEN},
                "credential": credential_id,
                "position": {"x": 640, "y": 0},
            },
        ],
        "edges": [
            {"source": "kafka", "target": "transform"},
            {"source": "transform", "target": "bloomreach"},
        ],
    }


@transaction.atomic
def setup_demo(username: str, password: str, bloomreach_url: str) -> Flow:
    """Idempotent: a second run finds the demo flow and only makes sure it is running."""
    user = ensure_admin(username, password)
    workspace = default_workspace(user)
    flow = Flow.objects.filter(workspace=workspace, name=DEMO_FLOW_NAME).first()
    if flow is None:
        credential = Credential.objects.filter(workspace=workspace, name="Demo Bloomreach").first()
        if credential is None:
            credential = create_credential(
                workspace,
                "Demo Bloomreach",
                "bloomreach",
                {"auth": "private", "api_key_id": DEMO_API_KEY_ID, "api_secret": DEMO_API_SECRET},
            )
        flow = create_flow(
            workspace, DEMO_FLOW_NAME, demo_graph(credential.id, bloomreach_url), user
        )
        publish_flow(flow, user)
        flow.refresh_from_db()
    if flow.status != FlowStatus.RUNNING and flow.active_version_id:
        start_flow(flow)
    return flow
