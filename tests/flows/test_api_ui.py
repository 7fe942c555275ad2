"""Endpoints the web UI relies on: session login, workspace filter, list activity, duplicate,
code check, throughput and Kafka samples."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from config.services import create_topic
from flows.models import Execution, Flow, Workspace
from flows.services.flows import publish_flow
from flows.services.workspaces import create_workspace
from tests.factories import chain, code_node, kafka_node
from tests.fixtures.kafka import produce_records


def flow_with_executions(workspace: Workspace, runs: list[tuple[str, timedelta]]) -> Flow:
    """A published flow with one execution per (status, age), started that long ago."""
    flow = Flow.objects.create(
        workspace=workspace, name="busy", graph=chain(kafka_node(), code_node())
    )
    version = publish_flow(flow)
    now = timezone.now()
    for index, (status, age) in enumerate(runs):
        Execution.objects.create(
            flow=flow, version=version, key=f"k{index}", status=status, started_at=now - age
        )
    return flow


def test_session_login_me_and_logout(user: User, workspace: Workspace) -> None:
    client = APIClient(enforce_csrf_checks=True)
    assert client.get("/api/v1/auth/session/").status_code in (401, 403)
    wrong = client.post(
        "/api/v1/auth/session/", {"username": "alice", "password": "x"}, format="json"
    )
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "wrong username or password"
    ok = client.post(
        "/api/v1/auth/session/",
        {"username": "alice", "password": "correct horse battery"},
        format="json",
    )
    assert ok.status_code == 200
    assert ok.json()["user"]["username"] == "alice"
    assert ok.json()["workspaces"] == [
        {
            "id": workspace.id,
            "name": workspace.name,
            "role": "owner",
            "created_at": ok.json()["workspaces"][0]["created_at"],
        }
    ]
    assert client.get("/api/v1/auth/session/").json()["user"]["username"] == "alice"
    # A session-authenticated write without the CSRF token is refused.
    refused = client.post("/api/v1/flows/", {"name": "x"}, format="json")
    assert refused.status_code == 403
    token = client.get("/").cookies["csrftoken"].value
    created = client.post("/api/v1/flows/", {"name": "x"}, format="json", HTTP_X_CSRFTOKEN=token)
    assert created.status_code == 201
    assert client.delete("/api/v1/auth/session/", HTTP_X_CSRFTOKEN=token).status_code == 204
    assert client.get("/api/v1/auth/session/").status_code in (401, 403)


def test_lists_filter_by_workspace(api: APIClient, user: User, workspace: Workspace) -> None:
    second = create_workspace("Second team", user)
    api.post("/api/v1/flows/", {"name": "one"}, format="json")
    api.post("/api/v1/flows/", {"name": "two", "workspace": second.id}, format="json")

    def names(workspace_id: int | str) -> list[str]:
        listed = api.get("/api/v1/flows/", {"workspace": workspace_id}).json()["results"]
        return [f["name"] for f in listed]

    assert names(workspace.id) == ["one"]
    assert names(second.id) == ["two"]
    assert api.get("/api/v1/flows/", {"workspace": "x"}).status_code == 400


def test_flow_list_carries_last_hour_activity(api: APIClient, workspace: Workspace) -> None:
    flow = flow_with_executions(
        workspace,
        [
            ("succeeded", timedelta(minutes=1)),
            ("succeeded", timedelta(minutes=2)),
            ("failed", timedelta(minutes=3)),
            ("filtered", timedelta(minutes=4)),
            ("succeeded", timedelta(minutes=120)),
        ],
    )
    row = api.get("/api/v1/flows/").json()["results"][0]
    assert row["last_hour"] == {"in": 4, "out": 2, "failed": 1}
    assert row["last_activity"] is not None
    assert row["consuming"] is False
    points = api.get(f"/api/v1/flows/{flow.id}/throughput/", {"window": 3600, "bucket": 60}).json()
    assert points["bucket_seconds"] == 60
    assert sum(p["in"] for p in points["points"]) == 4
    assert sum(p["failed"] for p in points["points"]) == 1
    an_hour_ago = timezone.now() - timedelta(minutes=60)
    until = api.get(
        f"/api/v1/flows/{flow.id}/executions/", {"until": an_hour_ago.isoformat()}
    ).json()
    assert until["count"] == 1


def test_duplicate_makes_a_draft_copy(api: APIClient, workspace: Workspace) -> None:
    flow = Flow.objects.create(
        workspace=workspace, name="orig", graph=chain(kafka_node(), code_node())
    )
    publish_flow(flow)
    copy = api.post(f"/api/v1/flows/{flow.id}/duplicate/").json()
    assert copy["name"] == "orig (copy)"
    assert copy["status"] == "draft"
    assert copy["active_version"] is None
    assert copy["graph"] == flow.graph


def test_code_check_reports_lines_without_running(api: APIClient) -> None:
    ok = api.post(
        "/api/v1/code/check/", {"code": "def run(msg):\n    return msg.body\n"}, format="json"
    )
    assert ok.json() == {"problems": []}
    bad = api.post("/api/v1/code/check/", {"code": "def run(msg):\n    return (\n"}, format="json")
    problems = bad.json()["problems"]
    assert problems and problems[0]["line"] is not None
    dunder = api.post(
        "/api/v1/code/check/", {"code": "def run(msg):\n    return msg.__class__\n"}, format="json"
    )
    assert dunder.json()["problems"][0]["line"] == 2


def test_samples_are_read_from_the_topic_without_committing(
    api: APIClient, workspace: Workspace, kafka_broker: Any
) -> None:
    topic = "samples-topic"
    create_topic(kafka_broker.bootstrap, topic, partitions=1)
    produce_records(
        kafka_broker.bootstrap, topic, [(b"k", f'{{"n": {i}}}'.encode()) for i in range(5)]
    )
    graph = chain(kafka_node(topic, bootstrap_servers=kafka_broker.bootstrap), code_node())
    flow = Flow.objects.create(workspace=workspace, name="s", graph=graph)
    response = api.post(f"/api/v1/flows/{flow.id}/samples/", {"count": 3}, format="json")
    assert response.status_code == 200, response.content
    bodies = [m["body"] for m in response.json()["messages"]]
    assert bodies == [{"n": 2}, {"n": 3}, {"n": 4}]
    empty = Flow.objects.create(workspace=workspace, name="e", graph={"nodes": [], "edges": []})
    refused = api.post(f"/api/v1/flows/{empty.id}/samples/", {}, format="json")
    assert refused.status_code == 400
    assert "trigger" in refused.json()["error"]


def test_the_app_is_served_for_any_non_api_path(api: APIClient) -> None:
    page = APIClient().get("/flows/3/designer")
    assert page.status_code == 200
    assert b"<html" in page.content.lower()
    assert "csrftoken" in page.cookies
    missing = APIClient().get("/api/v1/nothing-here/")
    assert missing.status_code == 404
    assert "error" in missing.json()


def test_throughput_counts_each_execution_in_its_bucket(
    api: APIClient, workspace: Workspace
) -> None:
    # Ages in seconds, each well inside a 60-second bucket of the 600-second window.
    flow = flow_with_executions(
        workspace,
        [
            ("succeeded", timedelta(seconds=30)),
            ("filtered", timedelta(seconds=31.5)),
            ("succeeded", timedelta(seconds=150)),
            ("failed", timedelta(seconds=151)),
            ("failed", timedelta(seconds=590)),
            ("succeeded", timedelta(seconds=900)),  # outside the window
        ],
    )
    answer = api.get(f"/api/v1/flows/{flow.id}/throughput/", {"window": 600, "bucket": 60})
    points = answer.json()["points"]
    assert len(points) == 11
    busy = {i: (p["in"], p["out"], p["failed"]) for i, p in enumerate(points) if p["in"]}
    # start = now - 600: 30 s ago is bucket 9, 150 s ago bucket 7, 590 s ago bucket 0.
    assert busy == {0: (1, 0, 1), 7: (2, 1, 1), 9: (2, 1, 0)}
