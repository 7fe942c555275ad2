"""Flows as code: the file format, export/import services, API, `manage.py flows`, diffs."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from flows.diff import diff_graphs
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
    # The same document (PostgreSQL's jsonb keeps keys in its own order, so not the same text).
    again = render_document(export_flow(imported), text_format)
    assert parse_document(again, text_format) == parse_document(text, text_format)


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


# --- API ------------------------------------------------------------------------------------


def test_the_api_downloads_a_flow_file_as_json_or_yaml(
    api: APIClient, workspace: Workspace
) -> None:
    flow = shop_flow(workspace)
    as_json = api.get(f"/api/v1/flows/{flow.id}/export/")
    assert as_json.status_code == 200, as_json.content
    assert as_json["Content-Type"].startswith("application/json")
    assert as_json["Content-Disposition"] == 'attachment; filename="shop-events.flow.json"'
    assert json.loads(as_json.content) == export_flow(flow)
    as_yaml = api.get(f"/api/v1/flows/{flow.id}/export/?format=yaml")
    assert as_yaml["Content-Type"].startswith("application/yaml")
    assert as_yaml["Content-Disposition"] == 'attachment; filename="shop-events.flow.yaml"'
    assert yaml.safe_load(as_yaml.content) == export_flow(flow)
    by_accept = api.get(f"/api/v1/flows/{flow.id}/export/", HTTP_ACCEPT="application/yaml")
    assert by_accept["Content-Type"].startswith("application/yaml")
    for response in (as_json, as_yaml, by_accept):
        assert SECRET.encode() not in response.content
    unknown = api.get(f"/api/v1/flows/{flow.id}/export/?format=xml")
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "format must be json or yaml"


def test_the_api_downloads_a_workspace_bundle(api: APIClient, workspace: Workspace) -> None:
    shop_flow(workspace)
    response = api.get(f"/api/v1/flows/export/?workspace={workspace.id}&format=yaml")
    assert response.status_code == 200, response.content
    assert yaml.safe_load(response.content) == export_workspace(workspace)
    assert "alices-team.flows.yaml" in response["Content-Disposition"]
    assert api.get("/api/v1/flows/export/").json() == export_workspace(workspace)


def test_the_api_imports_json_and_yaml_documents(
    api: APIClient, workspace: Workspace, staging: Workspace
) -> None:
    document = export_flow(shop_flow(workspace))
    url = f"/api/v1/flows/import/?workspace={staging.id}"
    created = api.post(url, document, format="json")
    assert created.status_code == 200, created.content
    [row] = created.json()["flows"]
    assert row == {"id": row["id"], "name": "Shop events", "created": True, "version": None}
    published = api.post(
        url + "&publish=true",
        render_document(document, "yaml"),
        content_type="application/yaml",
    )
    assert published.status_code == 200, published.content
    assert published.json()["flows"] == [{**row, "created": False, "version": 1}]
    assert Flow.objects.get(id=row["id"]).workspace == staging


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        ('{"format": "tributary.flow/v9"}', "application/json", "unknown format"),
        ("format: [", "application/yaml", "not valid YAML"),
        ("{", "application/json", "JSON parse error"),
        ("format: x", "text/plain", "Unsupported media type"),
        (
            '{"format": "tributary.flow/v1", "name": "x", "graph": {"n": 99999999999999999999}}',
            "application/json",
            "cannot represent",
        ),
    ],
)
def test_the_api_refuses_a_bad_document_with_a_clear_error(
    api: APIClient, body: str, content_type: str, expected: str
) -> None:
    response = api.post("/api/v1/flows/import/", body, content_type=content_type)
    assert response.status_code in (400, 415), response.content
    assert expected in response.json()["error"]
    assert not Flow.objects.exists()


def test_a_failed_api_import_names_node_and_field(api: APIClient, staging: Workspace) -> None:
    graph = chain(kafka_node(), code_node())
    graph["nodes"][1]["retry"] = {"attempts": 99}
    document = {"format": FLOW_FORMAT, "name": "Bad", "graph": graph}
    response = api.post(f"/api/v1/flows/import/?workspace={staging.id}", document, format="json")
    assert response.status_code == 400
    details = response.json()["details"]
    assert details["flow"] == "Bad"
    assert details["graph"][0]["node"] == "transform"
    assert details["graph"][0]["field"] == "retry.attempts"


def test_a_viewer_may_export_but_not_import_and_an_outsider_sees_nothing(
    workspace: Workspace, viewer_api: APIClient, other_api: APIClient
) -> None:
    flow = shop_flow(workspace)
    document = export_flow(flow)
    assert viewer_api.get(f"/api/v1/flows/{flow.id}/export/").status_code == 200
    assert viewer_api.get(f"/api/v1/flows/export/?workspace={workspace.id}").status_code == 200
    refused = viewer_api.post(
        f"/api/v1/flows/import/?workspace={workspace.id}", document, format="json"
    )
    assert refused.status_code == 403
    assert viewer_api.post("/api/v1/flows/import/", document, format="json").status_code == 403

    for path in (
        f"/api/v1/flows/{flow.id}/export/",
        f"/api/v1/flows/{flow.id}/export/?format=yaml",
        f"/api/v1/flows/export/?workspace={workspace.id}",
        f"/api/v1/flows/{flow.id}/versions/1/diff/draft/",
    ):
        response = other_api.get(path)
        assert response.status_code == 404, path
        assert response["Content-Type"].startswith("application/json")
    outsider = other_api.post(
        f"/api/v1/flows/import/?workspace={workspace.id}", document, format="json"
    )
    assert outsider.status_code == 404
    assert Flow.objects.filter(workspace=workspace).count() == 1


def test_the_api_diffs_two_versions_or_a_version_and_the_draft(
    api: APIClient, workspace: Workspace
) -> None:
    flow = shop_flow(workspace)
    publish_flow(flow)
    flow.graph["nodes"][1]["config"]["code"] = "def run(msg):\n    return msg.body\n"
    flow.save()
    publish_flow(flow)
    flow.graph["settings"]["on_outage"] = "pause"
    flow.save()
    between = api.get(f"/api/v1/flows/{flow.id}/versions/1/diff/2/")
    assert between.status_code == 200, between.content
    assert between.json() == {
        "nodes": {
            "added": [],
            "removed": [],
            "changed": [{"id": "transform", "fields": ["config.code"]}],
        },
        "edges": {"added": [], "removed": []},
        "settings_changed": [],
    }
    to_draft = api.get(f"/api/v1/flows/{flow.id}/versions/2/diff/draft/").json()
    assert to_draft["settings_changed"] == ["on_outage"]
    assert to_draft["nodes"]["changed"] == []
    missing = api.get(f"/api/v1/flows/{flow.id}/versions/1/diff/7/")
    assert missing.status_code == 404
    assert missing.json()["error"] == "flow has no version 7"
    huge = api.get(f"/api/v1/flows/{flow.id}/versions/{2**70}/diff/draft/")
    assert huge.status_code == 404


# --- Diff (pure) ----------------------------------------------------------------------------


def diff_base() -> dict[str, Any]:
    graph = chain(
        kafka_node(), code_node("def run(msg):\n    return msg.body\n"), bloomreach_node("x", 1)
    )
    graph["nodes"][2]["retry"] = {"attempts": 3}
    graph["settings"] = {"dead_letter_topic": "dlq", "on_outage": "pause"}
    return graph


def test_the_diff_of_a_graph_with_itself_is_empty() -> None:
    assert diff_graphs(diff_base(), diff_base()) == {
        "nodes": {"added": [], "removed": [], "changed": []},
        "edges": {"added": [], "removed": []},
        "settings_changed": [],
    }


def test_the_diff_lists_added_and_removed_nodes_and_edges() -> None:
    old, new = diff_base(), diff_base()
    new["nodes"][2] = {**new["nodes"][2], "id": "rest-out", "component": "rest"}
    new["edges"][1] = {"source": "transform", "target": "rest-out"}
    new["nodes"].append(code_node(node_id="audit"))
    new["edges"].append({"source": "in", "target": "audit"})
    result = diff_graphs(old, new)
    assert result["nodes"]["added"] == ["rest-out", "audit"]
    assert result["nodes"]["removed"] == ["bloomreach"]
    assert result["nodes"]["changed"] == []
    assert result["edges"] == {
        "added": [
            {"source": "transform", "target": "rest-out"},
            {"source": "in", "target": "audit"},
        ],
        "removed": [{"source": "transform", "target": "bloomreach"}],
    }


def test_the_diff_names_each_changed_field_of_a_node() -> None:
    old, new = diff_base(), diff_base()
    new["nodes"][0]["config"]["topic"] = "orders"
    new["nodes"][0]["config"]["group_id"] = "g"
    new["nodes"][1]["position"] = {"x": 999, "y": 5}
    new["nodes"][2]["credential"] = 2
    new["nodes"][2]["retry"] = {"attempts": 7, "backoff_seconds": 1}
    del new["nodes"][2]["config"]["project_token"]
    assert diff_graphs(old, new)["nodes"]["changed"] == [
        {"id": "in", "fields": ["config.topic", "config.group_id"]},
        {"id": "transform", "fields": ["position"]},
        {
            "id": "bloomreach",
            "fields": [
                "config.project_token",
                "credential",
                "retry.attempts",
                "retry.backoff_seconds",
            ],
        },
    ]


def test_an_absent_value_and_null_are_no_change_and_a_new_retry_is_per_field() -> None:
    old, new = diff_base(), diff_base()
    del old["nodes"][1]["credential"]
    new["nodes"][1]["config"] = dict(new["nodes"][1]["config"])
    new["nodes"][1]["retry"] = {"attempts": 2}
    del new["nodes"][2]["retry"]
    assert diff_graphs(old, new)["nodes"]["changed"] == [
        {"id": "transform", "fields": ["retry.attempts"]},
        {"id": "bloomreach", "fields": ["retry.attempts"]},
    ]


def test_the_diff_lists_changed_settings() -> None:
    old, new = diff_base(), diff_base()
    new["settings"] = {"dead_letter_topic": "other-dlq", "on_outage": "pause"}
    assert diff_graphs(old, new)["settings_changed"] == ["dead_letter_topic"]
    del new["settings"]
    assert diff_graphs(old, new)["settings_changed"] == ["dead_letter_topic", "on_outage"]
    assert diff_graphs({}, {"settings": {"on_outage": "fail"}})["settings_changed"] == ["on_outage"]


def test_the_diff_tolerates_malformed_graphs() -> None:
    assert diff_graphs({"nodes": "x", "edges": [1]}, {"nodes": [{"id": 3}, "y"]}) == {
        "nodes": {"added": [], "removed": [], "changed": []},
        "edges": {"added": [], "removed": []},
        "settings_changed": [],
    }


# --- manage.py flows ------------------------------------------------------------------------


def flows_command(*args: str) -> str:
    out = io.StringIO()
    call_command("flows", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_the_command_lists_flows(workspace: Workspace, staging: Workspace) -> None:
    flow = shop_flow(workspace)
    create_flow(staging, "Audit", chain(kafka_node("audit"), code_node()))
    listed = flows_command("list").splitlines()
    assert f"{flow.id}\tAlice's team\tShop events\tdraft\t-" in listed
    assert len(listed) == 2
    assert (
        flows_command("list", "--workspace", "Staging")
        .splitlines()[0]
        .endswith("\tStaging\tAudit\tdraft\t-")
    )


def test_the_command_exports_a_flow_or_a_workspace(
    workspace: Workspace, staging: Workspace, tmp_path: Path
) -> None:
    flow = shop_flow(workspace)
    as_json = flows_command("export", "--flow", "Shop events")
    assert json.loads(as_json) == export_flow(flow)
    assert SECRET not in as_json
    assert yaml.safe_load(flows_command("export", "--flow", str(flow.id), "--format", "yaml")) == (
        export_flow(flow)
    )
    target = tmp_path / "team.flows.yaml"
    flows_command("export", "--workspace", "Alice's team", "-o", str(target))
    assert yaml.safe_load(target.read_text()) == export_workspace(workspace)


def test_the_command_imports_a_file_and_can_publish_it(
    workspace: Workspace, staging: Workspace, user: User, tmp_path: Path
) -> None:
    output = flows_command(
        "import", str(EXAMPLE), "--workspace", "Staging", "--publish", "--user", "alice"
    )
    flow = Flow.objects.get(workspace=staging)
    assert output == f"created flow #{flow.id} 'Shop events to Bloomreach', published v1\n"
    assert flow.created_by == user
    source = tmp_path / "shop.json"
    source.write_text(render_document(export_flow(flow), "json"))
    again = flows_command("import", str(source), "--workspace", str(staging.id))
    assert again == f"updated flow #{flow.id} 'Shop events to Bloomreach'\n"


def test_the_command_publishes_starts_and_stops_a_flow(workspace: Workspace) -> None:
    flow = shop_flow(workspace)
    assert (
        flows_command("publish", "Shop events") == f"flow #{flow.id} 'Shop events': published v1\n"
    )
    assert flows_command("start", str(flow.id)) == f"flow #{flow.id} 'Shop events': running\n"
    assert flows_command("stop", "Shop events", "--workspace", "Alice's team") == (
        f"flow #{flow.id} 'Shop events': stopped\n"
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["start", "Nope"], "no flow 'Nope'"),
        (["start", "Shop events"], "publish the flow before starting it"),
        (["export", "--workspace", "Nowhere"], "no workspace is named 'Nowhere'"),
        (["export"], "several workspaces; choose one with --workspace"),
        (["import", "/no/such/file.yaml", "--workspace", "Staging"], "No such file"),
        (["import", str(EXAMPLE), "--workspace", "Staging", "--user", "bob"], "no user 'bob'"),
        (
            ["import", str(EXAMPLE), "--workspace", "Alice's team"],
            "node 'bloomreach': no credential named 'Bloomreach'",
        ),
    ],
)
def test_command_errors_are_one_line_and_exit_code_1(
    workspace: Workspace, staging: Workspace, args: list[str], expected: str
) -> None:
    create_flow(workspace, "Shop events", chain(kafka_node(), code_node()))
    with pytest.raises(CommandError) as error:
        flows_command(*args)
    assert expected in str(error.value)
    assert "\n" not in str(error.value)
    assert error.value.returncode == 1
