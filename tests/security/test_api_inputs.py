"""Bad input is a 4xx JSON error: the cases the schema tests found answering 500 or HTML,
kept as plain tests so they stay fixed whatever Hypothesis generates next time."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from flows.models import Workspace
from tests.factories import chain, code_node, kafka_node

BEYOND_64_BITS = 133987233437898703372288


def assert_json_error(response: object, status: int) -> dict[str, object]:
    assert response.status_code == status, (response.status_code, response.content)  # type: ignore[attr-defined]
    assert response["Content-Type"] == "application/json"  # type: ignore[index]
    payload = response.json()  # type: ignore[attr-defined]
    assert isinstance(payload["error"], str) and payload["error"]
    assert isinstance(payload["details"], dict)
    return dict(payload)


@pytest.mark.parametrize("path", ["/api/v1/flows/", "/api/v1/credentials/"])
def test_a_workspace_id_beyond_64_bits_is_a_400(api: APIClient, path: str) -> None:
    # Was a 500: SQLite cannot bind the number.
    assert_json_error(api.get(path, {"workspace": BEYOND_64_BITS}), 400)
    body = {"name": "x", "workspace": BEYOND_64_BITS, "type": "http_auth", "fields": {}}
    assert_json_error(api.post(path, body, format="json"), 400)


def test_an_edge_naming_a_node_by_an_object_is_a_400(api: APIClient) -> None:
    # Was a 500: flows.graph looked the object up in a set of node ids.
    graph = chain(kafka_node(), code_node())
    graph["edges"] = [{"source": {}, "target": "transform"}]
    payload = assert_json_error(
        api.post("/api/v1/flows/", {"name": "x", "graph": graph}, format="json"), 400
    )
    assert "edge 0" in str(payload["error"])


def test_credential_fields_that_cannot_be_stored_are_a_400(
    api: APIClient, workspace: Workspace
) -> None:
    # Was a 500: the encryption's JSON encoder takes 64-bit numbers only.
    fields = {"auth_type": "none", "note": BEYOND_64_BITS}
    assert_json_error(
        api.post(
            "/api/v1/credentials/",
            {"name": "big", "type": "http_auth", "fields": fields},
            format="json",
        ),
        400,
    )
    created = api.post(
        "/api/v1/credentials/",
        {"name": "ok", "type": "http_auth", "fields": {"auth_type": "none"}},
        format="json",
    ).json()
    # Was a 500: the fields were merged into the stored ones before being checked.
    for fields_value in (True, [1], "x"):
        assert_json_error(
            api.patch(
                f"/api/v1/credentials/{created['id']}/", {"fields": fields_value}, format="json"
            ),
            400,
        )


def test_an_unknown_api_path_is_a_json_404_for_every_method(api: APIClient) -> None:
    # POST used to get Django's HTML CSRF failure page: the catch-all view was not exempt.
    client = APIClient(enforce_csrf_checks=True)
    for method in ("get", "post", "put", "patch", "delete"):
        assert_json_error(getattr(client, method)("/api/v1/flows/1.5/publish/"), 404)


@pytest.mark.parametrize(
    "query",
    [
        {"status": ""},
        {"status": "exploded"},
        {"since": ""},
        {"until": "soon"},
        {"search": ""},
        {"search": "nul\x00"},
        {"page": "0"},
        {"page": ""},
        {"page_size": "-1"},
    ],
)
def test_malformed_query_parameters_are_a_400(
    api: APIClient, workspace: Workspace, query: dict[str, str]
) -> None:
    """Query values are validated as given: `?status=` is not silently "no filter"."""
    flow = api.post("/api/v1/flows/", {"name": "f"}, format="json").json()
    assert_json_error(api.get(f"/api/v1/flows/{flow['id']}/executions/", query), 400)


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("throughput", {"window": "an hour"}),
        ("throughput", {"bucket": "0"}),
        ("throughput", {"window": "59"}),
        ("stats", {"window": ""}),
        ("stats", {"window": str(10**9)}),
    ],
)
def test_window_and_bucket_are_validated(
    api: APIClient, workspace: Workspace, path: str, query: dict[str, str]
) -> None:
    flow = api.post("/api/v1/flows/", {"name": "f"}, format="json").json()
    assert_json_error(api.get(f"/api/v1/flows/{flow['id']}/{path}/", query), 400)


@pytest.mark.parametrize(
    "body",
    [
        {"name": 5},
        {"name": ["x"]},
        {"name": ""},
        {"name": "x", "workspace": 0},
        {"name": "x", "workspace": "1"},
        {"name": "x", "graph": None},
    ],
)
def test_field_types_are_strict(api: APIClient, workspace: Workspace, body: object) -> None:
    """A name is a JSON string (DRF alone would store 5 as "5"), ids are whole numbers."""
    response = api.post("/api/v1/flows/", body, format="json")
    assert_json_error(response, 400)


def test_code_run_needs_a_message_with_a_body(api: APIClient) -> None:
    code = "def run(msg):\n    return msg.body\n"
    for message in ({}, {"headers": {}}, [1], {"body": 1, "headers": []}):
        response = api.post("/api/v1/code/run/", {"code": code, "message": message}, format="json")
        payload = assert_json_error(response, 400)
        assert "message" in payload["details"]
    ok = api.post("/api/v1/code/run/", {"code": code, "message": {"body": None}}, format="json")
    assert ok.status_code == 200
    assert ok.json()["output"] == []
