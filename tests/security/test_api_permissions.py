"""Workspaces are walls: every endpoint by every kind of caller, as one declarative matrix.

Callers: the workspace's owner, an editor, a viewer, a member of another workspace (an
owner there) and an anonymous client. All but the anonymous one authenticate with a real
API token, as programs do.

The rules the matrix encodes (and the reasons):
- Reading a workspace's objects needs membership; outsiders get 404, as if nothing existed
  (never 403, which would confirm the id). Lists answer 200 and show outsiders nothing.
- Every change needs the owner or editor role; a viewer gets 403 with a JSON error. "Change"
  is by effect, not by HTTP method: publish, restore, start, stop, duplicate, retry and
  samples are refused to viewers (samples only reads the topic, but with the workspace's
  Kafka credential, and reads live messages a viewer would otherwise only see once processed).
- Creating in a workspace one is not a member of is a 404 "no such workspace", like any other
  look at it; a viewer creating in the workspace gets 403.
- POST /code/check/ only compiles: any signed-in user. POST /code/run/ runs code in the
  sandbox: only users who can edit some workspace (owner/editor anywhere), so not a viewer.
- The component catalog, the OpenAPI schema and docs are the same for everyone signed in;
  the schema and docs are public (the API of an open-source product is no secret).
- Login endpoints are public and rate limited (see test_api_hardening.py); logging out is
  harmless for anyone. /metrics is open unless TRIBUTARY_METRICS_TOKEN is set (then a bearer
  token is needed, tested below). /healthz and the single-page app are public; /admin/
  redirects everyone who is not staff to its login page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import override_settings
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from config.services import create_topic
from flows.choices import Role
from flows.engine.redis import get_redis, key
from flows.models import Credential, Execution, Flow, Workspace
from flows.services.credentials import create_credential
from flows.services.flows import publish_flow
from flows.services.workspaces import add_member, create_workspace
from tests.factories import chain, code_node, kafka_node, step_record
from tests.fixtures.kafka import KafkaBroker, produce_records

OWNER, EDITOR, VIEWER, OUTSIDER, ANONYMOUS = "owner", "editor", "viewer", "outsider", "anonymous"
ROLES = (OWNER, EDITOR, VIEWER, OUTSIDER, ANONYMOUS)
PASSWORD = "a matrix password 123"


def expect(owner: int, editor: int, viewer: int, outsider: int, anonymous: int) -> dict[str, int]:
    return dict(zip(ROLES, (owner, editor, viewer, outsider, anonymous), strict=True))


# The usual shapes of a row.
LIST = expect(200, 200, 200, 200, 401)
READ = expect(200, 200, 200, 404, 401)
CHANGE = expect(200, 200, 403, 404, 401)
CREATE_IN = expect(201, 201, 403, 404, 401)
EVERYONE = expect(200, 200, 200, 200, 200)


@dataclass
class World:
    """One workspace with its members and one of each object, plus an outsider's workspace."""

    users: dict[str, User]
    workspace: Workspace
    other_workspace: Workspace
    flow: Flow
    credential: Credential
    execution: Execution
    samples_flow: Flow | None = None
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, role: str) -> APIClient:
        client = APIClient()
        if role != ANONYMOUS:
            client.credentials(HTTP_AUTHORIZATION=f"Token {self.tokens[role]}")
        return client

    def ids(self) -> dict[str, Any]:
        return {
            "workspace": self.workspace.id,
            "flow": self.flow.id,
            "credential": self.credential.id,
            "execution": self.execution.id,
            "samples_flow": self.samples_flow.id if self.samples_flow else None,
            "owner": self.users[OWNER].username,
        }


def build_world() -> World:
    """The objects every row works on. Passwords are hashed with MD5 by the callers'
    `fast_passwords` fixture: this runs once per row."""
    users = {
        role: User.objects.create_user(f"{role}-user", password=PASSWORD)
        for role in (OWNER, EDITOR, VIEWER, OUTSIDER)
    }
    workspace = create_workspace("Walled garden", users[OWNER])
    add_member(workspace, users[EDITOR], Role.EDITOR)
    add_member(workspace, users[VIEWER], Role.VIEWER)
    other_workspace = create_workspace("Next door", users[OUTSIDER])
    credential = create_credential(workspace, "HTTP", "http_auth", {"auth_type": "none"})
    flow = Flow.objects.create(
        workspace=workspace, name="Orders", graph=chain(kafka_node(), code_node())
    )
    version = publish_flow(flow, users[OWNER])
    flow.refresh_from_db()
    execution = Execution.objects.create(
        flow=flow,
        version=version,
        key="v1:events:0:0",
        status="failed",
        started_at=timezone.now(),
        failed_node="transform",
        retry_input={"id": "events:0:0", "body": {"n": 1}, "headers": {}, "meta": {}},
        summary='{"n": 1}',
        error="boom",
        steps=[step_record(node_id="in", component="kafka")],
    )
    world = World(users, workspace, other_workspace, flow, credential, execution)
    world.tokens = {role: Token.objects.create(user=user).key for role, user in users.items()}
    return world


def clear_login_throttle() -> None:
    """Forget this session's login attempts, so tests do not use up each other's allowance."""
    client = get_redis()
    stale = list(client.scan_iter(match=key("throttle", "*"), count=1000))
    if stale:
        client.delete(*stale)


@pytest.fixture
def fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_login_throttle() -> Iterator[None]:
    clear_login_throttle()
    yield
    clear_login_throttle()


@pytest.fixture
def world(db: Any, fast_passwords: None) -> World:
    return build_world()


@pytest.fixture(scope="module")
def samples_topic(kafka_broker: KafkaBroker) -> str:
    topic = "permissions-samples"
    create_topic(kafka_broker.bootstrap, topic, partitions=1)
    produce_records(kafka_broker.bootstrap, topic, [(b"k", b'{"n": 1}')])
    return topic


@dataclass(frozen=True)
class Row:
    url: str  # the URL pattern's name: every named pattern needs a row
    method: str
    path: str
    expected: dict[str, int]
    body: dict[str, Any] | None = None
    # Lists: members see the workspace's object of this kind, outsiders never do.
    lists: str | None = None
    # Answers that are not JSON (HTML pages, redirects, Prometheus text).
    json: bool = True
    kafka: bool = False

    @property
    def name(self) -> str:
        query = "-filtered" if "?" in self.path else ""
        return f"{self.method.upper()}-{self.url}{query}"


FLOW = "/api/v1/flows/{flow}"
GRAPH = chain(kafka_node(), code_node())
CODE = "def run(msg):\n    return msg.body\n"
LOGIN = {"username": "{owner}", "password": PASSWORD}

MATRIX = [
    Row("api-root", "get", "/api/v1/", LIST),
    # Workspaces and the catalog.
    Row("workspace-list", "get", "/api/v1/workspaces/", LIST, lists="workspace"),
    Row("workspace-detail", "get", "/api/v1/workspaces/{workspace}/", READ),
    Row("components", "get", "/api/v1/components/", LIST),
    # Credentials.
    Row("credential-list", "get", "/api/v1/credentials/", LIST, lists="credential"),
    Row(
        "credential-list",
        "get",
        "/api/v1/credentials/?workspace={workspace}",
        LIST,
        lists="credential",
    ),
    Row(
        "credential-list",
        "post",
        "/api/v1/credentials/",
        CREATE_IN,
        body={
            "workspace": "{workspace}",
            "name": "New",
            "type": "http_auth",
            "fields": {"auth_type": "bearer", "token": "new-token-value"},
        },
    ),
    Row("credential-detail", "get", "/api/v1/credentials/{credential}/", READ),
    Row(
        "credential-detail",
        "patch",
        "/api/v1/credentials/{credential}/",
        CHANGE,
        body={"name": "Renamed", "fields": {"auth_type": "none"}},
    ),
    Row(
        "credential-detail",
        "delete",
        "/api/v1/credentials/{credential}/",
        expect(204, 204, 403, 404, 401),
    ),
    # Flows.
    Row("flow-list", "get", "/api/v1/flows/", LIST, lists="flow"),
    Row("flow-list", "get", "/api/v1/flows/?workspace={workspace}", LIST, lists="flow"),
    Row(
        "flow-list",
        "post",
        "/api/v1/flows/",
        CREATE_IN,
        body={"workspace": "{workspace}", "name": "New flow", "graph": GRAPH},
    ),
    Row("flow-detail", "get", FLOW + "/", READ),
    Row("flow-detail", "put", FLOW + "/", CHANGE, body={"name": "Replaced", "graph": GRAPH}),
    Row("flow-detail", "patch", FLOW + "/", CHANGE, body={"name": "Renamed"}),
    Row("flow-detail", "delete", FLOW + "/", expect(204, 204, 403, 404, 401)),
    Row("flow-publish", "post", FLOW + "/publish/", expect(201, 201, 403, 404, 401)),
    Row("flow-versions", "get", FLOW + "/versions/", READ),
    Row("flow-restore", "post", FLOW + "/versions/1/restore/", CHANGE),
    Row("flow-start", "post", FLOW + "/start/", CHANGE),
    Row("flow-stop", "post", FLOW + "/stop/", CHANGE),
    Row("flow-duplicate", "post", FLOW + "/duplicate/", expect(201, 201, 403, 404, 401)),
    Row(
        "flow-samples",
        "post",
        "/api/v1/flows/{samples_flow}/samples/",
        CHANGE,
        body={"count": 1},
        kafka=True,
    ),
    Row("flow-throughput", "get", FLOW + "/throughput/", READ),
    Row("flow-stats", "get", FLOW + "/stats/", READ),
    Row("flow-executions", "get", FLOW + "/executions/", READ),
    Row(
        "flow-retry-executions",
        "post",
        FLOW + "/executions/retry/",
        expect(202, 202, 403, 404, 401),
        body={},
    ),
    # A replay to a time without the time is refused, but only after the role check (and
    # before any broker is asked: the matrix's flow names no reachable one).
    Row(
        "flow-replay",
        "post",
        FLOW + "/replay/",
        expect(400, 400, 403, 404, 401),
        body={"position": "timestamp"},
    ),
    # Flows as code: files hold no secret, so viewers may export; importing is a change.
    Row("flow-export", "get", FLOW + "/export/", READ),
    Row("flow-export", "get", FLOW + "/export/?format=yaml", READ, json=False),
    Row("flow-bundle-export", "get", "/api/v1/flows/export/?workspace={workspace}", READ),
    Row(
        "flow-import",
        "post",
        "/api/v1/flows/import/?workspace={workspace}",
        CHANGE,
        body={"format": "tributary.flow/v1", "name": "Imported", "graph": GRAPH},
    ),
    Row("flow-version-diff", "get", FLOW + "/versions/1/diff/draft/", READ),
    # Storage used by execution records: owners only (an outsider owns a workspace of their
    # own, so the bare report answers them, with their flows only).
    Row(
        "storage", "get", "/api/v1/storage/?workspace={workspace}", expect(200, 403, 403, 404, 401)
    ),
    Row("storage", "get", "/api/v1/storage/", expect(200, 403, 403, 200, 401)),
    Row(
        "flow-prune",
        "post",
        FLOW + "/prune/",
        expect(200, 403, 403, 404, 401),
        body={"older_than_days": 30},
    ),
    # The template gallery is the same for everyone signed in; using a template creates a
    # flow in the workspace.
    Row("template-list", "get", "/api/v1/templates/", LIST),
    Row("template-detail", "get", "/api/v1/templates/kafka-rest-webhook/", LIST),
    Row(
        "template-use",
        "post",
        "/api/v1/templates/kafka-rest-webhook/use/",
        CREATE_IN,
        body={"workspace": "{workspace}"},
    ),
    # Executions.
    Row("execution-detail", "get", "/api/v1/executions/{execution}/", READ),
    Row(
        "execution-retry",
        "post",
        "/api/v1/executions/{execution}/retry/",
        expect(202, 202, 403, 404, 401),
    ),
    # Code.
    Row("code-check", "post", "/api/v1/code/check/", LIST, body={"code": CODE}),
    Row(
        "code-run",
        "post",
        "/api/v1/code/run/",
        expect(200, 200, 403, 200, 401),
        body={"code": CODE, "message": {"body": {"n": 1}}},
    ),
    # Authentication: public; the body decides, not who asks.
    Row("auth-token", "post", "/api/v1/auth/token/", EVERYONE, body=LOGIN),
    Row("auth-session", "get", "/api/v1/auth/session/", LIST),
    Row("auth-session", "post", "/api/v1/auth/session/", EVERYONE, body=LOGIN),
    Row("auth-session", "delete", "/api/v1/auth/session/", expect(204, 204, 204, 204, 204)),
    # Outside the API.
    Row("schema", "get", "/api/schema/", EVERYONE, json=False),
    Row("docs", "get", "/api/docs/", EVERYONE, json=False),
    Row("metrics", "get", "/metrics", EVERYONE, json=False),
    Row("healthz", "get", "/healthz", EVERYONE),
    Row("readyz", "get", "/readyz", EVERYONE),
    Row("app", "get", "/flows/1/designer", EVERYONE, json=False),
    Row("admin:index", "get", "/admin/", expect(302, 302, 302, 302, 302), json=False),
    Row("api-not-found", "get", "/api/v1/nothing/", expect(404, 404, 404, 404, 404)),
]


PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def _fill(value: Any, ids: dict[str, Any]) -> Any:
    """Put the world's ids into a row's path or body ("{flow}" -> 12, as an int when whole)."""
    if isinstance(value, str):
        filled = PLACEHOLDER.sub(lambda m: str(ids.get(m[1], m[0])), value)
        return int(filled) if PLACEHOLDER.fullmatch(value) and filled.isdigit() else filled
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("row", MATRIX, ids=[row.name for row in MATRIX])
def test_permission_matrix(row: Row, role: str, world: World, request: Any) -> None:
    if row.kafka:
        broker: KafkaBroker = request.getfixturevalue("kafka_broker")
        topic = request.getfixturevalue("samples_topic")
        world.samples_flow = Flow.objects.create(
            workspace=world.workspace,
            name="Samples",
            graph=chain(kafka_node(topic, bootstrap_servers=broker.bootstrap), code_node()),
        )
    ids = world.ids()
    path = _fill(row.path, ids)
    body = _fill(row.body, ids) if row.body is not None else None
    client = world.client(role)
    response = getattr(client, row.method)(path, body, format="json")

    expected = row.expected[role]
    assert response.status_code == expected, (
        f"{row.method.upper()} {path} as {role}: {response.status_code}, expected {expected}: "
        f"{response.content[:300]!r}"
    )
    if row.json and response.status_code != 204:
        payload = response.json()
        if response.status_code >= 400:
            assert isinstance(payload.get("error"), str) and payload["error"], payload
            assert isinstance(payload.get("details"), dict), payload
    if row.lists and response.status_code == 200:
        listed = [item["id"] for item in response.json()["results"]]
        own = getattr(world, row.lists).id
        if role == OUTSIDER:
            assert own not in listed, f"an outsider sees {row.lists} {own} in {path}"
        else:
            assert own in listed, f"{role} does not see {row.lists} {own} in {path}"


def test_the_matrix_covers_every_route() -> None:
    """A new endpoint needs its row: every named URL pattern has one (the admin's own pages
    are represented by its index)."""
    from django.urls import get_resolver

    named = {name for name in get_resolver().reverse_dict if isinstance(name, str)}
    missing = named - {row.url for row in MATRIX}
    assert not missing, f"URL patterns without a row in MATRIX: {sorted(missing)}"


def test_metrics_need_the_token_when_one_is_set(world: World) -> None:
    with override_settings(TRIBUTARY_METRICS_TOKEN="scrape-me-please"):
        anonymous = APIClient().get("/metrics")
        assert anonymous.status_code == 401
        assert anonymous["WWW-Authenticate"].startswith("Bearer")
        assert "error" in anonymous.json()
        # An API token of a workspace owner is not the metrics token.
        assert world.client(OWNER).get("/metrics").status_code == 401
        wrong = APIClient().get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me-pleasE")
        assert wrong.status_code == 401
        right = APIClient().get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me-please")
        assert right.status_code == 200
        assert b"tributary_flows" in right.content


def test_a_viewer_here_and_editor_there_creates_where_they_may(world: World) -> None:
    """Without an explicit workspace, new objects go to the first workspace the caller may
    write to, not to the first one they belong to."""
    viewer = world.users[VIEWER]
    own = create_workspace("Victor's own", viewer)
    created = world.client(VIEWER).post("/api/v1/flows/", {"name": "mine"}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["workspace"] == own.id
    # ...and the viewer may now run code, being an owner somewhere.
    run = world.client(VIEWER).post(
        "/api/v1/code/run/", {"code": CODE, "message": {"body": {}}}, format="json"
    )
    assert run.status_code == 200


def test_a_flow_cannot_be_moved_to_another_workspace(world: World) -> None:
    """Moving a flow would carry its credential references into a workspace they do not
    belong to; the owner of both workspaces is refused too."""
    add_member(world.other_workspace, world.users[OWNER], Role.OWNER)
    response = world.client(OWNER).patch(
        f"/api/v1/flows/{world.flow.id}/", {"workspace": world.other_workspace.id}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["details"] == {"workspace": "read-only"}
    world.flow.refresh_from_db()
    assert world.flow.workspace_id == world.workspace.id


def test_an_outsider_cannot_use_the_workspaces_credential_in_a_flow(world: World) -> None:
    outsider = world.client(OUTSIDER)
    graph = chain(kafka_node(), {**code_node(), "component": "rest", "config": {"url": "x"}})
    graph["nodes"][1]["credential"] = world.credential.id
    response = outsider.post("/api/v1/flows/", {"name": "steal", "graph": graph}, format="json")
    assert response.status_code == 400
    assert "credential" in response.content.decode()
