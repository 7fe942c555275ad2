"""The HTTP API contract: shapes, validation errors, workspace walls, write-only secrets."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from flows.models import Credential, Execution, Flow, FlowVersion
from tests.factories import (
    bloomreach_credential_fields,
    bloomreach_node,
    chain,
    code_node,
    kafka_node,
    step_record,
)

SECRET = "demo-secret"


def create_credential(api: APIClient) -> int:
    response = api.post(
        "/api/v1/credentials/",
        {"name": "Bloomreach", "type": "bloomreach", "fields": bloomreach_credential_fields()},
        format="json",
    )
    assert response.status_code == 201, response.content
    return int(response.json()["id"])


def create_flow(api: APIClient, credential: int | None = None) -> dict[str, Any]:
    if credential is None:
        credential = create_credential(api)
    graph = chain(kafka_node(), code_node(), bloomreach_node("http://127.0.0.1:9", credential))
    response = api.post("/api/v1/flows/", {"name": "Shop events", "graph": graph}, format="json")
    assert response.status_code == 201, response.content
    return dict(response.json())


def test_token_auth_round_trip(user: User) -> None:
    client = APIClient()
    bad = client.post(
        "/api/v1/auth/token/", {"username": "alice", "password": "nope"}, format="json"
    )
    assert bad.status_code == 400
    assert "wrong username or password" in bad.json()["error"]
    response = client.post(
        "/api/v1/auth/token/",
        {"username": "alice", "password": "correct horse battery"},
        format="json",
    )
    token = response.json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/flows/").status_code == 200


def test_anonymous_callers_are_refused_with_json() -> None:
    response = APIClient().get("/api/v1/flows/")
    assert response.status_code in (401, 403)
    assert "error" in response.json()


def test_component_catalog_lists_schemas(api: APIClient) -> None:
    catalog = {c["name"]: c for c in api.get("/api/v1/components/").json()}
    assert {"kafka", "code", "rest", "bloomreach", "kafka_produce"} <= set(catalog)
    assert catalog["kafka"]["kind"] == "trigger"
    assert "topic" in catalog["kafka"]["config_schema"]["properties"]
    assert catalog["bloomreach"]["credential_type"] == "bloomreach"


def test_flow_lifecycle_publish_versions_start_stop(api: APIClient) -> None:
    flow = create_flow(api)
    assert flow["status"] == "draft"
    assert flow["active_version"] is None
    not_yet = api.post(f"/api/v1/flows/{flow['id']}/start/")
    assert not_yet.status_code == 400
    assert "publish" in not_yet.json()["error"]

    version = api.post(f"/api/v1/flows/{flow['id']}/publish/").json()
    assert version["number"] == 1
    again = api.post(f"/api/v1/flows/{flow['id']}/publish/").json()
    assert again["number"] == 2
    versions = api.get(f"/api/v1/flows/{flow['id']}/versions/").json()["results"]
    assert [v["number"] for v in versions] == [2, 1]

    started = api.post(f"/api/v1/flows/{flow['id']}/start/").json()
    assert started["status"] == "running"
    assert started["active_version"] == 2
    stopped = api.post(f"/api/v1/flows/{flow['id']}/stop/").json()
    assert stopped["status"] == "stopped"


def test_published_versions_are_immutable_and_restorable(api: APIClient) -> None:
    flow = create_flow(api)
    api.post(f"/api/v1/flows/{flow['id']}/publish/")
    graph = flow["graph"]
    graph["nodes"][0]["config"]["topic"] = "changed"
    api.patch(f"/api/v1/flows/{flow['id']}/", {"graph": graph}, format="json")
    v1 = FlowVersion.objects.get(flow_id=flow["id"], number=1)
    assert v1.graph["nodes"][0]["config"]["topic"] == "events"
    restored = api.post(f"/api/v1/flows/{flow['id']}/versions/1/restore/").json()
    assert restored["graph"]["nodes"][0]["config"]["topic"] == "events"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"name": "x", "graph": ', "JSON parse error"),
        (
            '{"name": "x", "graph": {"nodes": [{"id": "a", "component": "ftp"}], "edges": []}}',
            "unknown component 'ftp'",
        ),
        (
            '{"name": "x", "graph": {"nodes": [{"id": "a", "component": "kafka", "config": {}}],'
            ' "edges": []}}',
            "config.topic",
        ),
        (
            '{"name": "x", "graph": {"nodes": [{"id": "a", "component": "kafka", "config": '
            '{"topic": "t"}}, {"id": "b", "component": "kafka", "config": {"topic": "t"}}],'
            ' "edges": []}}',
            "exactly one trigger",
        ),
        ('{"name": "x", "graph": "not a graph"}', "graph must be a JSON object"),
        ('{"graph": {"nodes": [], "edges": []}}', "name"),
        ("[1, 2]", "Invalid data"),
    ],
)
def test_bad_flow_input_is_a_400_naming_the_problem(
    api: APIClient, body: str, expected: str
) -> None:
    response = api.post("/api/v1/flows/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    payload = response.json()
    assert expected in payload["error"] + json.dumps(payload["details"]), payload


def test_a_cycle_is_rejected(api: APIClient) -> None:
    graph = {
        "nodes": [kafka_node(), code_node(node_id="x"), code_node(node_id="y")],
        "edges": [{"source": "x", "target": "y"}, {"source": "y", "target": "x"}],
    }
    response = api.post("/api/v1/flows/", {"name": "loop", "graph": graph}, format="json")
    assert response.status_code == 400
    assert "cycle" in response.json()["error"]


def test_credentials_are_write_only(api: APIClient) -> None:
    credential_id = create_credential(api)
    listed = api.get("/api/v1/credentials/")
    shown = api.get(f"/api/v1/credentials/{credential_id}/")
    for response in (listed, shown):
        assert SECRET not in response.content.decode()
    assert shown.json()["public"]["secrets_set"] == ["api_secret"]
    assert shown.json()["public"]["fields"]["api_key_id"] == "demo-key"
    stored = Credential.objects.get(id=credential_id).encrypted
    assert SECRET not in stored
    patched = api.patch(
        f"/api/v1/credentials/{credential_id}/",
        {"fields": {"api_secret": "rotated"}},
        format="json",
    )
    assert patched.status_code == 200
    assert "rotated" not in patched.content.decode()


def test_a_credential_in_use_cannot_be_deleted(api: APIClient) -> None:
    flow = create_flow(api)
    credential = flow["graph"]["nodes"][2]["credential"]
    refused = api.delete(f"/api/v1/credentials/{credential}/")
    assert refused.status_code == 409
    assert "Shop events" in refused.json()["error"]
    api.delete(f"/api/v1/flows/{flow['id']}/")
    assert api.delete(f"/api/v1/credentials/{credential}/").status_code == 204


def test_a_credential_of_another_workspace_cannot_be_used(
    api: APIClient, other_api: APIClient
) -> None:
    foreign = create_credential(other_api)
    graph = chain(kafka_node(), code_node(), bloomreach_node("http://127.0.0.1:9", foreign))
    response = api.post("/api/v1/flows/", {"name": "steal", "graph": graph}, format="json")
    assert response.status_code == 400
    assert "no such credential" in response.json()["error"]


def test_other_workspaces_get_404_on_every_endpoint(api: APIClient, other_api: APIClient) -> None:
    flow = create_flow(api)
    credential = Credential.objects.get(workspace__flows__id=flow["id"])
    execution = _execution_for(flow["id"])
    base = f"/api/v1/flows/{flow['id']}"
    for method, path in [
        ("get", f"{base}/"),
        ("patch", f"{base}/"),
        ("delete", f"{base}/"),
        ("post", f"{base}/publish/"),
        ("get", f"{base}/versions/"),
        ("post", f"{base}/start/"),
        ("post", f"{base}/stop/"),
        ("get", f"{base}/executions/"),
        ("get", f"{base}/stats/"),
        ("get", f"/api/v1/executions/{execution.id}/"),
        ("post", f"/api/v1/executions/{execution.id}/retry/"),
        ("get", f"/api/v1/credentials/{credential.id}/"),
        ("patch", f"/api/v1/credentials/{credential.id}/"),
        ("delete", f"/api/v1/credentials/{credential.id}/"),
    ]:
        response = getattr(other_api, method)(path, {}, format="json")
        assert response.status_code == 404, (method, path, response.status_code)
    assert other_api.get("/api/v1/flows/").json()["count"] == 0
    assert other_api.get("/api/v1/credentials/").json()["count"] == 0
    assert Flow.objects.filter(id=flow["id"]).exists()


def test_viewers_read_but_cannot_change(api: APIClient, viewer_api: APIClient) -> None:
    flow = create_flow(api)
    assert viewer_api.get(f"/api/v1/flows/{flow['id']}/").status_code == 200
    assert viewer_api.post(f"/api/v1/flows/{flow['id']}/publish/").status_code == 403
    assert viewer_api.delete(f"/api/v1/flows/{flow['id']}/").status_code == 403
    response = viewer_api.post("/api/v1/flows/", {"name": "x"}, format="json")
    assert response.status_code == 403
    assert "viewers" in response.json()["error"]


def _execution_for(flow_id: int) -> Execution:
    from django.utils import timezone

    flow = Flow.objects.get(id=flow_id)
    from flows.services.flows import publish_flow

    version = publish_flow(flow)
    execution = Execution.objects.create(
        flow=flow,
        version=version,
        key="v1:events:0:0",
        status="failed",
        started_at=timezone.now(),
        failed_node="transform",
        retry_input={"id": "events:0:0", "body": {}, "headers": {}, "meta": {}},
        summary="{}",
        error="boom",
        steps=[step_record(node_id="in", component="kafka")],
    )
    return execution


def test_executions_filters_are_validated(api: APIClient) -> None:
    flow = create_flow(api)
    execution = _execution_for(flow["id"])
    base = f"/api/v1/flows/{flow['id']}/executions/"
    assert api.get(base, {"status": "exploded"}).status_code == 400
    assert api.get(base, {"since": "yesterday-ish"}).status_code == 400
    assert api.get(base, {"status": "failed"}).json()["count"] == 1
    assert api.get(base, {"status": "succeeded"}).json()["count"] == 0
    assert api.get(base, {"search": "boom"}).json()["count"] == 1
    detail = api.get(f"/api/v1/executions/{execution.id}/").json()
    assert detail["steps"][0]["node_id"] == "in"


def test_code_run_endpoint(api: APIClient) -> None:
    code = "def run(msg):\n    print('hi', msg.body.n)\n    return {'double': msg.body.n * 2}\n"
    ok = api.post(
        "/api/v1/code/run/", {"code": code, "message": {"body": {"n": 21}}}, format="json"
    )
    assert ok.status_code == 200, ok.content
    assert ok.json() == {"output": [{"double": 42}], "logs": ["hi 21"]}

    broken = api.post(
        "/api/v1/code/run/",
        {"code": "def run(msg):\n    return (\n", "message": {"body": {}}},
        format="json",
    )
    assert broken.status_code == 400
    assert "line" in broken.json()["error"]

    failing = api.post(
        "/api/v1/code/run/",
        {"code": "def run(msg):\n    return 1 / 0\n", "message": {"body": {}}},
        format="json",
    )
    assert failing.status_code == 400
    assert "ZeroDivisionError" in failing.json()["error"]

    shapeless = api.post("/api/v1/code/run/", {"code": "x", "message": [1]}, format="json")
    assert shapeless.status_code == 400


def test_openapi_schema_and_metrics_are_served(api: APIClient) -> None:
    schema = api.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/flows/" in schema.content
    metrics = APIClient().get("/metrics")
    assert metrics.status_code == 200
    assert b"tributary_flows" in metrics.content
