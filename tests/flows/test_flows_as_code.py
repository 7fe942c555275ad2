"""Flows as code: the file format, export/import services, API, `manage.py flows`, diffs."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.contrib.auth.models import User

from flows.errors import ServiceError
from flows.models import Flow, Workspace
from flows.services.credentials import create_credential
from flows.services.flows import create_flow, publish_flow
from flows.services.portability import (
    BUNDLE_FORMAT,
    FLOW_FORMAT,
    export_flow,
    export_workspace,
    import_flows,
    parse_document,
    render_document,
)
from flows.services.workspaces import create_workspace
from tests.factories import (
    bloomreach_credential_fields,
    bloomreach_node,
    chain,
    code_node,
    kafka_node,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "shop-events.flow.yaml"
SECRET = "s3cret-do-not-export"
BLOOMREACH_URL = "http://127.0.0.1:9"


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    # The users' passwords play no part here; hashing them properly takes most of a second.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def bloomreach_fields() -> dict[str, Any]:
    return {**bloomreach_credential_fields(), "api_secret": SECRET}


def shop_flow(workspace: Workspace, name: str = "Shop events") -> Flow:
    credential = create_credential(workspace, "Bloomreach", "bloomreach", bloomreach_fields())
    graph = chain(kafka_node(), code_node(), bloomreach_node(BLOOMREACH_URL, credential.id))
    graph["nodes"][2]["retry"] = {"attempts": 5, "backoff_seconds": 1, "max_delay_seconds": 30}
    graph["settings"] = {"dead_letter_topic": "shop-dlq", "on_outage": "fail"}
    return create_flow(workspace, name, graph)


@pytest.fixture
def staging(user: User) -> Workspace:
    """A second workspace of Alice's, with a credential of the same name but its own id."""
    staging = create_workspace("Staging", user)
    create_credential(staging, "Other", "http_auth", {"auth_type": "none"})
    create_credential(staging, "Bloomreach", "bloomreach", bloomreach_credential_fields())
    return staging


def without_credentials(graph: dict[str, Any]) -> dict[str, Any]:
    graph = copy.deepcopy(graph)
    for node in graph["nodes"]:
        node["credential"] = None
    return graph


# --- Format and services --------------------------------------------------------------------


def test_an_export_names_credentials_instead_of_ids(workspace: Workspace) -> None:
    flow = shop_flow(workspace)
    document = export_flow(flow)
    assert document["format"] == FLOW_FORMAT
    assert document["name"] == "Shop events"
    assert document["graph"] == without_credentials(flow.graph)
    assert document["credentials"] == {"bloomreach": {"name": "Bloomreach", "type": "bloomreach"}}
    # The stored draft is untouched.
    flow.refresh_from_db()
    assert isinstance(flow.graph["nodes"][2]["credential"], int)


@pytest.mark.parametrize("text_format", ["json", "yaml"])
def test_an_export_never_contains_a_secret(workspace: Workspace, text_format: Any) -> None:
    shop_flow(workspace)
    for document in (export_flow(Flow.objects.get()), export_workspace(workspace)):
        text = render_document(document, text_format)
        assert SECRET not in text
        assert "demo-key" not in text  # nor any other credential field


@pytest.mark.parametrize("text_format", ["json", "yaml"])
def test_a_round_trip_into_another_workspace_keeps_the_graph(
    workspace: Workspace, staging: Workspace, user: User, text_format: Any
) -> None:
    flow = shop_flow(workspace)
    text = render_document(export_flow(flow), text_format)
    [result] = import_flows(staging, parse_document(text, text_format), user)
    assert result.created and result.version is None
    imported = Flow.objects.get(id=result.flow.id)
    assert imported.workspace == staging
    assert imported.name == "Shop events"
    assert imported.created_by == user
    assert without_credentials(imported.graph) == without_credentials(flow.graph)
    # The credential reference now points at the target workspace's credential of that name.
    assert imported.graph["nodes"][2]["credential"] == staging.credentials.get(name="Bloomreach").id
    assert render_document(export_flow(imported), text_format) == text


def test_yaml_keeps_transform_code_readable(workspace: Workspace) -> None:
    text = render_document(export_flow(shop_flow(workspace)), "yaml")
    assert "code: |" in text
    assert "\n        def run(msg):\n" in text


def test_a_missing_credential_name_is_an_error_naming_node_and_credential(
    workspace: Workspace, user: User
) -> None:
    document = export_flow(shop_flow(workspace))
    bare = create_workspace("Bare", user)
    with pytest.raises(ServiceError) as error:
        import_flows(bare, document, user)
    assert "node 'bloomreach'" in error.value.message
    assert "no credential named 'Bloomreach'" in error.value.message
    assert error.value.details["node"] == "bloomreach"
    assert not Flow.objects.filter(workspace=bare).exists()


def test_a_credential_of_another_type_is_refused(workspace: Workspace, user: User) -> None:
    document = export_flow(shop_flow(workspace))
    other = create_workspace("Other", user)
    create_credential(other, "Bloomreach", "http_auth", {"auth_type": "none"})
    with pytest.raises(ServiceError) as error:
        import_flows(other, document, user)
    assert "is of type 'http_auth', the file expects 'bloomreach'" in error.value.message
    assert not Flow.objects.filter(workspace=other).exists()


def test_a_credential_id_in_the_graph_is_refused(workspace: Workspace, staging: Workspace) -> None:
    document = export_flow(shop_flow(workspace))
    document["graph"]["nodes"][2]["credential"] = staging.credentials.get(name="Other").id
    with pytest.raises(ServiceError, match="referenced by name"):
        import_flows(staging, document)


def test_an_invalid_graph_is_rejected_with_node_and_field_and_nothing_is_written(
    workspace: Workspace, staging: Workspace
) -> None:
    good = export_flow(shop_flow(workspace))
    bad = copy.deepcopy(good)
    bad["name"] = "Broken"
    bad["graph"]["nodes"][0]["config"] = {"topic": 42}
    bad["graph"]["nodes"][2]["retry"] = {"attempts": 0}
    with pytest.raises(ServiceError) as error:
        import_flows(staging, {"format": BUNDLE_FORMAT, "flows": [good, bad]})
    assert error.value.message.startswith("flow 'Broken': invalid graph")
    problems = {(p["node"], p["field"]) for p in error.value.details["graph"]}
    assert {("in", "config.topic"), ("bloomreach", "retry.attempts")} <= problems
    # The first, valid flow of the bundle was rolled back with the rest.
    assert not Flow.objects.filter(workspace=staging).exists()


def test_importing_a_flow_of_an_existing_name_updates_its_draft(
    workspace: Workspace, staging: Workspace, user: User
) -> None:
    flow = shop_flow(workspace)
    publish_flow(flow)
    document = export_flow(flow)
    document["graph"]["nodes"][0]["config"]["topic"] = "orders"
    [result] = import_flows(workspace, document, user)
    assert not result.created
    assert result.flow.id == flow.id
    assert Flow.objects.filter(workspace=workspace).count() == 1
    flow.refresh_from_db()
    assert flow.graph["nodes"][0]["config"]["topic"] == "orders"
    # Only the draft: the published version runs on as it was.
    assert flow.active_version is not None
    assert flow.active_version.graph["nodes"][0]["config"]["topic"] == "events"


def test_the_publish_flag_publishes_each_imported_flow(
    workspace: Workspace, staging: Workspace, user: User
) -> None:
    document = export_flow(shop_flow(workspace))
    [first] = import_flows(staging, document, user, publish=True)
    assert first.version is not None and first.version.number == 1
    assert first.as_dict() == {
        "id": first.flow.id,
        "name": "Shop events",
        "created": True,
        "version": 1,
    }
    [again] = import_flows(staging, document, user, publish=True)
    assert again.version is not None and again.version.number == 2
    assert Flow.objects.get(id=first.flow.id).active_version == again.version


def test_a_flow_that_cannot_be_published_is_not_imported_at_all(staging: Workspace) -> None:
    document = {
        "format": FLOW_FORMAT,
        "name": "Only a trigger",
        "graph": chain(kafka_node()),
        "credentials": {},
    }
    with pytest.raises(ServiceError, match="add at least one action"):
        import_flows(staging, document, publish=True)
    assert not Flow.objects.filter(workspace=staging).exists()


def test_a_bundle_exports_and_imports_every_flow(
    workspace: Workspace, staging: Workspace, user: User
) -> None:
    shop_flow(workspace)
    create_flow(workspace, "Audit", chain(kafka_node("audit"), code_node()))
    bundle = export_workspace(workspace)
    assert bundle["format"] == BUNDLE_FORMAT
    assert [f["name"] for f in bundle["flows"]] == ["Audit", "Shop events"]
    results = import_flows(staging, parse_document(render_document(bundle, "yaml"), "yaml"), user)
    assert [(r.flow.name, r.created) for r in results] == [("Audit", True), ("Shop events", True)]
    assert export_workspace(staging) == bundle


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"format": "tributary.flow/v2", "name": "x", "graph": {}}, "unknown format"),
        ({"name": "x", "graph": {}}, "unknown format None"),
        ([1, 2], "a flow file is a JSON/YAML object"),
        ({"format": FLOW_FORMAT, "name": "", "graph": {}}, '"name" must be'),
        ({"format": FLOW_FORMAT, "name": "x", "graph": []}, '"graph" must be an object'),
        ({"format": FLOW_FORMAT, "name": "x", "graph": {}, "extra": 1}, "unknown keys extra"),
        (
            {"format": FLOW_FORMAT, "name": "x", "graph": {}, "credentials": {"n": "Bloomreach"}},
            '"credentials" maps node ids',
        ),
        (
            {
                "format": FLOW_FORMAT,
                "name": "x",
                "graph": {"nodes": [], "edges": []},
                "credentials": {"ghost": {"name": "Bloomreach", "type": "bloomreach"}},
            },
            "node 'ghost': named in \"credentials\" but not in the graph",
        ),
        ({"format": BUNDLE_FORMAT, "flows": {}}, '"flows" is a list'),
        (
            {
                "format": BUNDLE_FORMAT,
                "flows": [{"name": "a", "graph": {}}, {"name": "a", "graph": {}}],
            },
            "several flows named 'a'",
        ),
    ],
)
def test_malformed_documents_are_refused_clearly(
    staging: Workspace, document: Any, expected: str
) -> None:
    with pytest.raises(ServiceError) as error:
        import_flows(staging, document)
    assert expected in error.value.message
    assert not Flow.objects.filter(workspace=staging).exists()


def test_yaml_is_read_safely() -> None:
    bomb = "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n"
    with pytest.raises(ServiceError, match="aliases"):
        parse_document(bomb, "yaml")
    with pytest.raises(ServiceError, match="not valid YAML"):
        parse_document("name: [unclosed", "yaml")
    with pytest.raises(ServiceError, match="not valid JSON"):
        parse_document('{"name": ', "json")
    with pytest.raises(ServiceError, match="cannot represent"):
        parse_document("1: x\n", "yaml")
    with pytest.raises(ServiceError):
        parse_document("!!python/object:os.system {}\n", "yaml")
    # Dates stay the text they were written as, as JSON would have them.
    assert parse_document("since: 2024-05-01\n", "yaml") == {"since": "2024-05-01"}


def test_the_documented_example_imports_and_publishes(staging: Workspace, user: User) -> None:
    document = parse_document(EXAMPLE.read_text(), "yaml")
    [result] = import_flows(staging, document, user, publish=True)
    assert result.version is not None
    graph = result.flow.graph
    assert [n["component"] for n in graph["nodes"]] == ["kafka", "code", "bloomreach"]
    assert graph["nodes"][2]["credential"] == staging.credentials.get(name="Bloomreach").id
    # ...and exporting it again gives back the same document.
    exported = json.loads(render_document(export_flow(result.flow), "json"))
    assert exported == yaml.safe_load(EXAMPLE.read_text())
