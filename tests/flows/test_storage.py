"""Storage used by execution records: the sizes the service reports, the API's permissions,
pruning one flow, the Django admin page, and the record size cap that bounds it all.

Runs on SQLite and on PostgreSQL (DATABASE_URL): the payloads are JSON strings and one-item
lists, whose text is the same on both, so the expected sizes are exact.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest
from django.contrib.auth.models import Permission, User
from django.template.defaultfilters import filesizeformat
from django.test import Client, override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from components.kafka.records import build_record
from flows.choices import ExecutionStatus, Role
from flows.engine.clipping import MASK, clip_json
from flows.engine.jobs import job_from_records
from flows.engine.steps import run_job_step
from flows.graph import plan_for
from flows.models import Execution, Flow, FlowVersion, Workspace
from flows.services.flows import create_flow, publish_flow
from flows.services.storage import flow_storage, storage_report
from flows.services.workspaces import add_member, create_workspace
from tests.factories import chain, code_node, kafka_node, step_record

pytestmark = pytest.mark.django_db

GRAPH = chain(kafka_node(), code_node("def run(msg):\n    return msg.body\n"))


def json_chars(value: Any) -> int:
    """What a JSON value counts for: the length of its compact text."""
    return len(orjson.dumps(value).decode())


def make_flow(workspace: Workspace, name: str, **fields: Any) -> tuple[Flow, FlowVersion]:
    flow = create_flow(workspace, name, GRAPH, None, **fields)
    return flow, publish_flow(flow, None)


def record(
    flow: Flow,
    version: FlowVersion,
    key: str,
    *,
    age: timedelta = timedelta(0),
    steps: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> Execution:
    started = timezone.now() - age
    return Execution.objects.create(
        flow=flow,
        version=version,
        key=key,
        status=ExecutionStatus.SUCCEEDED,
        started_at=started,
        steps=[step_record(position, **step) for position, step in enumerate(steps or [])],
        **fields,
    )


@pytest.fixture
def busy_flow(workspace: Workspace) -> Flow:
    """Two executions of known size: 1,000 and 500 characters of input, and so on."""
    flow, version = make_flow(workspace, "Busy")
    record(
        flow,
        version,
        "a",
        age=timedelta(days=3),
        steps=[
            {"input": "x" * 1000, "output": "y" * 500, "logs": ["hello"]},
            {"input": "y" * 500, "output": None, "logs": [], "error": "boom"},
        ],
        error="failed at n1",
        retry_input="r" * 100,
    )
    record(flow, version, "b", steps=[{"input": "z" * 10, "output": ["z" * 10], "logs": []}])
    return flow


def busy_bytes() -> dict[str, int]:
    return {
        "inputs": json_chars("x" * 1000)
        + json_chars("y" * 500)
        + json_chars("z" * 10)
        # The full input a failed execution keeps for its retry counts as an input too.
        + json_chars("r" * 100),
        "outputs": json_chars("y" * 500) + json_chars(["z" * 10]),
        "logs": json_chars(["hello"]) + json_chars([]) * 2,
        "errors": len("boom") + len("failed at n1"),
    }


# --- The service ----------------------------------------------------------------------------


def test_sizes_sum_the_stored_inputs_outputs_logs_and_errors(busy_flow: Flow) -> None:
    [row] = flow_storage(Flow.objects.filter(id=busy_flow.id))
    assert row.executions == 2
    assert row.step_records == 3
    assert row.bytes == busy_bytes()
    assert row.total_bytes == sum(busy_bytes().values())
    assert row.oldest_execution is not None and row.newest_execution is not None
    assert row.newest_execution - row.oldest_execution > timedelta(days=2, hours=23)


@override_settings(TRIBUTARY_EXECUTION_RETENTION_DAYS=9, TRIBUTARY_EXECUTION_RETENTION_COUNT=50)
def test_every_flow_is_listed_biggest_first_with_its_retention_and_the_totals(
    busy_flow: Flow, workspace: Workspace
) -> None:
    quiet, _ = make_flow(workspace, "Quiet", retention_days=3)
    report = storage_report(Flow.objects.filter(workspace=workspace))
    busy, idle = report["flows"]
    assert (busy["id"], idle["id"]) == (busy_flow.id, quiet.id)
    assert busy["retention"] == {"days": 9, "default_days": True, "max_executions": 50}
    assert idle["retention"] == {"days": 3, "default_days": False, "max_executions": 50}
    assert idle["executions"] == idle["step_records"] == idle["bytes"]["total"] == 0
    assert idle["oldest_execution"] is None
    expected = busy_bytes()
    assert report["totals"] == {
        "flows": 2,
        "executions": 2,
        "step_records": 3,
        "bytes": {**expected, "total": sum(expected.values())},
    }
    assert report["defaults"] == {"retention_days": 9, "max_executions": 50}


def test_the_report_takes_three_queries_however_many_records(
    busy_flow: Flow, workspace: Workspace, django_assert_num_queries: Any
) -> None:
    flow, version = make_flow(workspace, "More")
    for n in range(30):
        record(flow, version, f"k{n}", steps=[{"input": n, "output": n, "logs": []}])
    with django_assert_num_queries(3):
        rows = flow_storage(Flow.objects.all())
    assert {row.name: row.executions for row in rows} == {"Busy": 2, "More": 30}


def clip(value: Any, secrets: list[str] | None = None) -> Any:
    """What a record keeps of `value`, decoded."""
    text = clip_json(value, secrets or [])
    return None if text is None else orjson.loads(text)


def test_the_record_cap_bounds_what_each_step_stores() -> None:
    with override_settings(TRIBUTARY_RECORD_MAX_BYTES=100):
        clipped = clip({"text": "x" * 1000})
        assert clipped["truncated"] is True
        assert clipped["size"] == json_chars({"text": "x" * 1000})
        assert len(clipped["preview"]) == 100
        assert clip({"text": "short"}) == {"text": "short"}


def test_a_secret_spanning_the_json_structure_is_masked_and_the_record_stays_json() -> None:
    secret = 'x","b'  # as it appears in {"a": "x", "b": "y"} once encoded
    text = clip_json({"a": "x", "b": "y"}, [secret])
    assert text is not None and secret not in text
    assert orjson.loads(text) == '{"a":"' + MASK + '":"y"}'  # the masked text, as a string
    assert clip({"a": "s3cret"}, ["s3cret"]) == {"a": MASK}


def test_the_engine_stores_step_records_cut_to_the_cap(workspace: Workspace) -> None:
    flow, version = make_flow(workspace, "Big messages")
    body = orjson.dumps({"blob": "b" * 5000})
    records = [build_record("events", 0, n, b"k", body, [], 1, "json") for n in range(3)]
    with override_settings(TRIBUTARY_RECORD_MAX_BYTES=1000):
        job: Any = job_from_records(flow.id, version.id, plan_for(flow.graph), records)
        while job is not None:
            job = run_job_step(job)
    steps = [step for steps in flow.executions.values_list("steps", flat=True) for step in steps]
    assert len(steps) == 6  # the trigger and the code step of three messages
    for step in steps:
        stored = step["output"] if step["node_id"] == "in" else step["input"]
        assert isinstance(stored, dict)
        assert stored["truncated"] is True and len(stored["preview"]) == 1000
    [row] = flow_storage(Flow.objects.filter(id=flow.id))
    # Nine values are stored (the trigger's output, the code step's input and output, for
    # three messages): each about the cap, not the 5,000 characters sent.
    assert 9 * 1000 < row.bytes["inputs"] + row.bytes["outputs"] < 9 * 1200


# --- The API --------------------------------------------------------------------------------


def client_for(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def member(workspace: Workspace, name: str, role: Role) -> APIClient:
    user = User.objects.create_user(name, password="a storage password 123")
    add_member(workspace, user, role)
    return client_for(user)


def test_an_owner_gets_the_workspace_report(api: APIClient, busy_flow: Flow) -> None:
    other = create_workspace("Elsewhere", User.objects.create_user("eve"))
    make_flow(other, "Not mine")
    response = api.get(f"/api/v1/storage/?workspace={busy_flow.workspace_id}")
    assert response.status_code == 200, response.content
    data = response.json()
    [row] = data["flows"]
    assert row["id"] == busy_flow.id and row["name"] == "Busy"
    assert row["workspace_name"] == "Alice's team"
    assert row["executions"] == 2 and row["step_records"] == 3
    assert row["bytes"]["total"] == sum(busy_bytes().values())
    assert row["oldest_execution"].endswith("Z") or "+" in row["oldest_execution"]
    assert data["totals"]["flows"] == 1
    # Without ?workspace=: every workspace the caller owns.
    assert api.get("/api/v1/storage/").json() == data


def test_editors_and_viewers_are_refused(workspace: Workspace, viewer_api: APIClient) -> None:
    editor_api = member(workspace, "edna", Role.EDITOR)
    for client in (editor_api, viewer_api):
        response = client.get(f"/api/v1/storage/?workspace={workspace.id}")
        assert response.status_code == 403
        assert "owners" in response.json()["error"]
        # Owning no workspace at all, they have no report to see either.
        assert client.get("/api/v1/storage/").status_code == 403


def test_another_workspace_is_not_found_like_everywhere_else(
    api: APIClient, other_api: APIClient, workspace: Workspace
) -> None:
    storage = other_api.get(f"/api/v1/storage/?workspace={workspace.id}")
    export = other_api.get(f"/api/v1/flows/export/?workspace={workspace.id}")
    assert storage.status_code == export.status_code == 404
    assert (
        storage.json()
        == export.json()
        == {
            "error": "no such workspace",
            "details": {"workspace": "not found"},
        }
    )
    assert api.get("/api/v1/storage/?workspace=999999").json() == storage.json()
    assert api.get("/api/v1/storage/?workspace=abc").status_code == 400


def test_staff_see_every_workspace(busy_flow: Flow, other_api: APIClient) -> None:
    staff = User.objects.create_user("sam", is_staff=True)
    mallory_workspace = Workspace.objects.get(name="Mallory's team")
    make_flow(mallory_workspace, "Mallory's flow")
    everything = client_for(staff).get("/api/v1/storage/")
    assert {row["name"] for row in everything.json()["flows"]} == {"Busy", "Mallory's flow"}
    one = client_for(staff).get(f"/api/v1/storage/?workspace={mallory_workspace.id}")
    assert [row["name"] for row in one.json()["flows"]] == ["Mallory's flow"]


def test_an_owner_prunes_old_executions_then_all_of_them(api: APIClient, busy_flow: Flow) -> None:
    url = f"/api/v1/flows/{busy_flow.id}/prune/"
    older = api.post(url, {"older_than_days": 2}, format="json")
    assert older.status_code == 200, older.content
    assert older.json() == {"deleted": 1}
    assert list(Execution.objects.filter(flow=busy_flow).values_list("key", flat=True)) == ["b"]
    assert [len(steps) for steps in busy_flow.executions.values_list("steps", flat=True)] == [1]
    assert api.post(url, {"all": True}, format="json").json() == {"deleted": 1}
    assert not Execution.objects.filter(flow=busy_flow).exists()


def test_pruning_needs_an_explicit_choice_and_the_owner_role(
    api: APIClient, other_api: APIClient, viewer_api: APIClient, busy_flow: Flow
) -> None:
    url = f"/api/v1/flows/{busy_flow.id}/prune/"
    for body in ({}, {"all": False}, {"all": True, "older_than_days": 3}, {"older_than_days": "3"}):
        assert api.post(url, body, format="json").status_code == 400, body
    editor_api = member(busy_flow.workspace, "edna", Role.EDITOR)
    assert editor_api.post(url, {"all": True}, format="json").status_code == 403
    assert viewer_api.post(url, {"all": True}, format="json").status_code == 403
    assert other_api.post(url, {"all": True}, format="json").status_code == 404
    assert api.post("/api/v1/flows/999999/prune/", {"all": True}, format="json").status_code == 404
    assert Execution.objects.filter(flow=busy_flow).count() == 2


# --- The Django admin -----------------------------------------------------------------------


def test_the_admin_page_shows_every_flow_for_a_superuser(busy_flow: Flow) -> None:
    admin = User.objects.create_superuser("root", password="admin password 123")
    client = Client()
    client.force_login(admin)
    page = client.get("/admin/flows/flow/storage/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Storage per flow" in html
    assert "Busy" in html and "Alice&#x27;s team" in html
    assert filesizeformat(sum(busy_bytes().values())) in html
    assert client.get("/admin/flows/flow/storage/?o=name").status_code == 200
    assert client.get("/admin/flows/flow/storage/?o=nonsense").status_code == 200
    # Linked from the flow list.
    assert "/admin/flows/flow/storage/" in client.get("/admin/flows/flow/").content.decode()


def test_the_admin_page_needs_the_flow_view_permission(busy_flow: Flow) -> None:
    staff = User.objects.create_user("sam", password="staff password 123", is_staff=True)
    client = Client()
    client.force_login(staff)
    assert client.get("/admin/flows/flow/storage/").status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_flow"))
    assert client.get("/admin/flows/flow/storage/").status_code == 200
    anonymous = Client().get("/admin/flows/flow/storage/")
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
