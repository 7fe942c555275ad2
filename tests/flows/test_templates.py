"""The template gallery: the shipped files, their transforms in the real sandbox, the service
and the API (docs/templates.md)."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from components.base import Message, Runtime
from components.bloomreach.component import OPERATIONS, BloomreachAction, to_command
from components.bloomreach.standin import BloomreachStandIn
from components.code.component import CodeAction
from components.code.sandbox import shutdown_pools
from components.kafka.records import resolve_key
from components.rest.component import RestAction
from flows.demo import SAMPLE_EVENTS
from flows.errors import ServiceError
from flows.models import Flow, Workspace
from flows.services.credentials import create_credential
from flows.services.flows import publish_flow
from flows.services.templates import (
    TEMPLATES_DIR,
    NoSuchTemplate,
    Template,
    TemplateFileError,
    create_flow_from_template,
    get_template,
    list_templates,
    load_template,
    template_slugs,
)
from tests.factories import bloomreach_credential_fields
from tests.fixtures.standin import ScriptedServer

TEMPLATES = list_templates()
SLUGS = [t.slug for t in TEMPLATES]
RUNTIME = Runtime(flow_id=1, node_id="transform", settings={"http_backoff_seconds": 0.001})


@pytest.fixture(scope="module", autouse=True)
def _stop_sandboxes() -> Iterator[None]:
    yield
    shutdown_pools()


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def by_slug(slug: str) -> Template:
    return get_template(slug)


def node(template: Template, component: str) -> dict[str, Any]:
    return next(n for n in template.graph["nodes"] if n["component"] == component)


def transform_outputs(template: Template) -> list[list[Any]]:
    """Each sample through the template's code step, as the engine runs it: one batch, one
    round trip to a real sandbox process."""
    code = node(template, "code")["config"]["code"]
    action = CodeAction({"code": code}, None, RUNTIME)
    messages: list[Message] = [
        {
            "id": f"sample-{index}",
            "body": sample.message["body"],
            "headers": sample.message.get("headers") or {},
            "meta": sample.message.get("meta") or {},
        }
        for index, sample in enumerate(template.samples)
    ]
    outcomes = action.process_batch(messages)
    for outcome in outcomes:
        assert outcome.error is None, outcome.error.as_dict()
    return [outcome.outputs for outcome in outcomes]


def delivered_messages(template: Template) -> list[Message]:
    """The expected outputs as the step after the transform receives them."""
    return [
        {"id": f"out-{index}-{n}", "body": body, "headers": {}, "meta": sample.message["meta"]}
        for index, sample in enumerate(template.samples)
        for n, body in enumerate(sample.expected_output)
    ]


# --- The shipped files ----------------------------------------------------------------------


def test_the_gallery_starts_with_the_four_templates_of_issue_7_in_order() -> None:
    assert [t.title for t in TEMPLATES] == [
        "Kafka → Bloomreach: track events",
        "Kafka → Bloomreach: update customer properties",
        "Kafka → REST webhook",
        "Kafka → Kafka (filter and reshape)",
    ]
    assert sorted(SLUGS) == template_slugs()


@pytest.mark.parametrize("slug", SLUGS)
def test_each_template_is_a_complete_chain_with_samples_kept_and_dropped(slug: str) -> None:
    template = by_slug(slug)
    assert template.description and template.tags
    assert [c["name"] for c in template.components][:2] == ["kafka", "code"]
    assert template.transform_node == "transform"
    assert all(n["credential"] is None for n in template.graph["nodes"])
    # A few realistic samples: some become output, some are dropped.
    assert len(template.samples) >= 3
    assert any(s.expected_output for s in template.samples)
    assert any(not s.expected_output for s in template.samples)


@pytest.mark.parametrize("slug", SLUGS)
def test_sample_bodies_are_events_of_the_shop_topic_as_the_sample_file_has_them(slug: str) -> None:
    """Samples are records of flows/demo/events-1k.jsonl, with their real Kafka coordinates."""
    records = [json.loads(line) for line in SAMPLE_EVENTS.read_text().splitlines()]
    for sample in by_slug(slug).samples:
        meta = sample.message["meta"]
        record = records[meta["offset"]]
        assert json.loads(record["value"]) == sample.message["body"]
        assert meta["key"] == record["key"]
        assert meta["topic"] == "shop-events"


def test_the_track_events_template_starts_with_the_designers_default_test_sample() -> None:
    """The code test panel opens with the first event of the sample file (frontend
    src/lib/samples.ts), so "Run test" on a new flow shows this template's first output."""
    first = json.loads(json.loads(SAMPLE_EVENTS.read_text().splitlines()[0])["value"])
    assert by_slug("kafka-bloomreach-track-events").samples[0].message["body"] == first


def test_the_docs_show_each_templates_first_sample_as_the_file_has_it() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "templates.md").read_text()
    blocks = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", doc, re.DOTALL)]
    for template in TEMPLATES:
        first = template.samples[0]
        assert first.message["body"] in blocks, template.slug
        assert first.expected_output in blocks, template.slug


# --- The transforms in the real sandbox -----------------------------------------------------


@pytest.mark.parametrize("slug", SLUGS)
def test_each_transform_gives_exactly_its_expected_outputs_in_the_sandbox(slug: str) -> None:
    template = by_slug(slug)
    assert transform_outputs(template) == [s.expected_output for s in template.samples]


@pytest.mark.parametrize(
    "slug", ["kafka-bloomreach-track-events", "kafka-bloomreach-update-customers"]
)
def test_bloomreach_outputs_are_valid_commands_for_the_configured_operation(slug: str) -> None:
    template = by_slug(slug)
    operation = OPERATIONS[node(template, "bloomreach")["config"]["operation"]]
    for message in delivered_messages(template):
        logs: list[str] = []
        command = to_command(message["body"], operation, logs)
        assert command["name"] == operation
        assert logs == []  # no "looks like milliseconds" warning: timestamps are seconds


@pytest.mark.parametrize(
    "slug", ["kafka-bloomreach-track-events", "kafka-bloomreach-update-customers"]
)
def test_bloomreach_outputs_are_accepted_by_the_stand_in(
    slug: str, bloomreach_standin: BloomreachStandIn
) -> None:
    template = by_slug(slug)
    config = {**node(template, "bloomreach")["config"], "base_url": bloomreach_standin.url}
    config["project_token"] = bloomreach_standin.project_token
    action = BloomreachAction(config, bloomreach_credential_fields(), RUNTIME)
    messages = delivered_messages(template)
    try:
        outcomes = action.process_batch(messages)
    finally:
        action.close()
    assert [o.error for o in outcomes] == [None] * len(messages)
    stats = bloomreach_standin.stats()
    assert stats["commands"] == len(messages)
    assert stats["rejected_commands"] == 0


def test_the_webhook_receives_each_order_with_its_idempotency_key(
    scripted_server: ScriptedServer,
) -> None:
    template = by_slug("kafka-rest-webhook")
    config = {**node(template, "rest")["config"], "url": scripted_server.url + "/orders"}
    action = RestAction(config, None, RUNTIME)
    messages = delivered_messages(template)
    try:
        outcomes = action.process_batch(messages)
    finally:
        action.close()
    assert [o.error for o in outcomes] == [None] * len(messages)
    seen = scripted_server.requests
    assert [r.json() for r in seen] == [m["body"] for m in messages]
    assert [r.headers["idempotency-key"] for r in seen] == [m["body"]["id"] for m in messages]
    assert all(r.method == "POST" and r.path == "/orders" for r in seen)


def test_the_reshaped_records_carry_the_key_the_producer_step_uses() -> None:
    template = by_slug("kafka-kafka-filter-reshape")
    key = node(template, "kafka_produce")["config"]["key"]
    for message in delivered_messages(template):
        assert resolve_key(message, key) == message["body"]["user_id"].encode()


# --- Loading --------------------------------------------------------------------------------


def test_a_malformed_template_file_names_the_file_and_the_problem(tmp_path: Path) -> None:
    source = (TEMPLATES_DIR / "kafka-rest-webhook.flow.yaml").read_text()
    renamed = tmp_path / "other-slug.flow.yaml"
    renamed.write_text(source)
    with pytest.raises(
        TemplateFileError, match=r"other-slug\.flow\.yaml: slug 'kafka-rest-webhook'"
    ):
        load_template(renamed)
    broken = tmp_path / "kafka-rest-webhook.flow.yaml"
    broken.write_text(source.replace("target: webhook", "target: nowhere"))
    with pytest.raises(TemplateFileError, match="names a node that is absent"):
        load_template(broken)


def test_an_unknown_slug_is_a_404_naming_the_templates_there_are() -> None:
    with pytest.raises(NoSuchTemplate) as raised:
        get_template("kafka-to-nowhere")
    assert raised.value.status_code == 404
    assert raised.value.details["available"] == SLUGS


# --- Creating flows (service) ---------------------------------------------------------------


@pytest.mark.parametrize("slug", SLUGS)
def test_each_template_imports_into_a_workspace_without_any_credential(
    slug: str, workspace: Workspace, user: User
) -> None:
    template = by_slug(slug)
    flow = create_flow_from_template(workspace, slug, user)
    assert flow.workspace == workspace
    assert flow.name == template.flow_name
    assert flow.created_by == user
    assert flow.graph == template.graph
    assert flow.active_version is None  # a draft: nothing runs until published


def test_names_are_made_unique_in_the_workspace_and_a_taken_name_is_refused(
    workspace: Workspace,
) -> None:
    slug = "kafka-rest-webhook"
    first = create_flow_from_template(workspace, slug)
    second = create_flow_from_template(workspace, slug)
    third = create_flow_from_template(workspace, slug)
    assert [first.name, second.name, third.name] == [
        "Shop orders → webhook",
        "Shop orders → webhook (2)",
        "Shop orders → webhook (3)",
    ]
    original = copy.deepcopy(first.graph)
    Flow.objects.filter(id=first.id).update(graph={"nodes": [], "edges": []})
    with pytest.raises(ServiceError, match="already exists") as raised:
        create_flow_from_template(workspace, slug, name="Shop orders → webhook")
    assert raised.value.details == {"name": "taken"}
    # The existing flow's draft was not replaced by the template's graph.
    first.refresh_from_db()
    assert first.graph == {"nodes": [], "edges": []} != original
    assert Flow.objects.filter(workspace=workspace).count() == 3


def test_a_credential_of_the_named_kind_is_used_and_publishing_then_works(
    workspace: Workspace,
) -> None:
    # A credential of the right name but the wrong type is not taken.
    create_credential(workspace, "Webhook", "bloomreach", bloomreach_credential_fields())
    webhook = create_flow_from_template(workspace, "kafka-rest-webhook")
    assert node_of(webhook, "webhook")["credential"] is None

    credential = create_credential(
        workspace, "Bloomreach", "bloomreach", bloomreach_credential_fields()
    )
    flow = create_flow_from_template(workspace, "kafka-bloomreach-track-events")
    assert node_of(flow, "bloomreach")["credential"] == credential.id
    assert publish_flow(flow).number == 1


def node_of(flow: Flow, node_id: str) -> dict[str, Any]:
    return next(n for n in flow.graph["nodes"] if n["id"] == node_id)


# --- API ------------------------------------------------------------------------------------


def test_the_list_shows_each_template_with_its_component_chain(api: APIClient) -> None:
    response = api.get("/api/v1/templates/")
    assert response.status_code == 200
    listed = response.json()
    assert [t["slug"] for t in listed] == SLUGS
    track = listed[0]
    assert set(track) == {"slug", "title", "description", "tags", "components", "flow_name"}
    assert track["components"] == [
        {"name": "kafka", "title": "Kafka consumer"},
        {"name": "code", "title": "Code"},
        {"name": "bloomreach", "title": "Bloomreach Engagement"},
    ]
    assert [c["name"] for c in listed[3]["components"]] == ["kafka", "code", "kafka_produce"]


def test_a_template_comes_with_graph_samples_and_expected_outputs(api: APIClient) -> None:
    response = api.get("/api/v1/templates/kafka-bloomreach-update-customers/")
    assert response.status_code == 200
    detail = response.json()
    template = by_slug("kafka-bloomreach-update-customers")
    assert detail["graph"] == template.graph
    assert detail["credentials"] == {"bloomreach": {"name": "Bloomreach", "type": "bloomreach"}}
    assert detail["transform_node"] == "transform"
    assert detail["samples"][0]["message"]["body"]["type"] == "profile_update"
    assert detail["samples"][0]["expected_output"] == [
        {
            "customer_ids": {"registered": "u-04882"},
            "properties": {
                "first_name": "Zoë",
                "newsletter": False,
                "email": "u.04882@example.com",
            },
            "update_timestamp": 1764000000.613,
        }
    ]


@pytest.mark.parametrize("path", ["/api/v1/templates/nope/", "/api/v1/templates/nope/use/"])
def test_an_unknown_template_is_a_404_in_the_error_format(api: APIClient, path: str) -> None:
    response = api.get(path) if not path.endswith("use/") else api.post(path, {}, format="json")
    assert response.status_code == 404
    body = response.json()
    assert body["error"].startswith("no template 'nope'; the gallery has: kafka-bloomreach")
    assert body["details"]["template"] == "not found"


@pytest.mark.parametrize("slug", SLUGS)
def test_a_flow_made_through_the_api_publishes_once_its_credentials_are_set(
    slug: str, api: APIClient, workspace: Workspace, user: User
) -> None:
    response = api.post(
        f"/api/v1/templates/{slug}/use/", {"workspace": workspace.id}, format="json"
    )
    assert response.status_code == 201, response.json()
    created = response.json()
    # The flows API's own shape.
    assert created == api.get(f"/api/v1/flows/{created['id']}/").json()
    assert created["workspace"] == workspace.id
    assert created["status"] == "draft" and created["active_version"] is None
    flow = Flow.objects.get(id=created["id"])
    assert flow.created_by == user

    published = api.post(f"/api/v1/flows/{flow.id}/publish/")
    needs_credential = [n for n in flow.graph["nodes"] if n["component"] == "bloomreach"]
    if not needs_credential:
        assert published.status_code == 201, published.json()
        return
    # Unset credentials: publishing names the step and the field.
    assert published.status_code == 400
    assert published.json()["details"]["graph"] == [
        {
            "node": "bloomreach",
            "field": "credential",
            "message": "this component needs a credential",
        }
    ]
    credential = create_credential(workspace, "BR", "bloomreach", bloomreach_credential_fields())
    graph = copy.deepcopy(flow.graph)
    node_of_graph = next(n for n in graph["nodes"] if n["id"] == "bloomreach")
    node_of_graph["credential"] = credential.id
    assert (
        api.patch(f"/api/v1/flows/{flow.id}/", {"graph": graph}, format="json").status_code == 200
    )
    published = api.post(f"/api/v1/flows/{flow.id}/publish/")
    assert published.status_code == 201, published.json()


def test_using_a_template_without_a_workspace_goes_to_the_first_editable_one(
    api: APIClient, workspace: Workspace
) -> None:
    response = api.post(
        "/api/v1/templates/kafka-kafka-filter-reshape/use/", {"name": "  Commerce  "}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["workspace"] == workspace.id
    assert response.json()["name"] == "Commerce"


@pytest.mark.parametrize(
    ("body", "field"),
    [({"name": ""}, "name"), ({"name": 7}, "name"), ({"workspace": "1"}, "workspace")],
)
def test_a_malformed_body_is_a_400_naming_the_field(
    api: APIClient, body: dict[str, Any], field: str
) -> None:
    response = api.post("/api/v1/templates/kafka-rest-webhook/use/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["details"]
    assert not Flow.objects.exists()


def test_viewers_may_browse_the_gallery_but_not_create_flows(
    viewer_api: APIClient, workspace: Workspace
) -> None:
    assert viewer_api.get("/api/v1/templates/").status_code == 200
    assert viewer_api.get("/api/v1/templates/kafka-rest-webhook/").status_code == 200
    response = viewer_api.post(
        "/api/v1/templates/kafka-rest-webhook/use/", {"workspace": workspace.id}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["error"] == "viewers cannot change this workspace"
    assert not Flow.objects.exists()


def test_another_workspace_is_a_404_as_if_it_did_not_exist(
    other_api: APIClient, workspace: Workspace
) -> None:
    response = other_api.post(
        "/api/v1/templates/kafka-rest-webhook/use/", {"workspace": workspace.id}, format="json"
    )
    assert response.status_code == 404
    assert response.json() == {"error": "no such workspace", "details": {"workspace": "not found"}}
    assert not Flow.objects.filter(workspace=workspace).exists()


def test_anonymous_callers_are_refused(db: Any) -> None:
    client = APIClient()
    assert client.get("/api/v1/templates/").status_code == 401
    assert client.post("/api/v1/templates/kafka-rest-webhook/use/", {}).status_code == 401


def test_the_openapi_schema_documents_the_gallery(api: APIClient) -> None:
    schema = api.get("/api/schema/?format=json").json()
    paths = schema["paths"]
    assert set(paths["/api/v1/templates/"]) == {"get"}
    use = paths["/api/v1/templates/{slug}/use/"]["post"]
    [slug] = [p for p in use["parameters"] if p["name"] == "slug"]
    assert slug["schema"]["enum"] == sorted(SLUGS)
    assert {"201", "400", "403", "404"} <= set(use["responses"])
    detail = paths["/api/v1/templates/{slug}/"]["get"]["responses"]["200"]
    assert detail["content"]["application/json"]["schema"]["$ref"].endswith("TemplateDetail")
