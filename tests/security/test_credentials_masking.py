"""Secrets that a remote service echoes back never reach the execution records.

A REST step sends its credential to a loopback server that answers 401 with every request
header in its body, the way many APIs and proxies do on an auth failure. The step runs in the
real engine (flows.engine.steps, in this process), its records are written as a worker writes
them, and then read back through the API: the secret must be masked everywhere, in whatever
form it travelled (as is, or base64-encoded inside a Basic Authorization header).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from components.base import Message, TriggerRecord
from flows.engine import instances, steps
from flows.engine.clipping import MASK
from flows.engine.jobs import job_from_records
from flows.graph import plan_for
from flows.models import Execution, Workspace
from flows.services.credentials import create_credential
from flows.services.flows import create_flow, publish_flow
from tests.factories import kafka_node


class EchoServer(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), EchoHandler)
        self.received: list[dict[str, str]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/events"

    def padded_url(self, padding: int) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/padded/{padding}"


class EchoHandler(BaseHTTPRequestHandler):
    """Answers every POST with 401 and the request's credential headers as JSON (a careless
    API). On /padded/<n> they come after n characters of padding."""

    server: EchoServer

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = dict(self.headers.items())
        self.server.received.append(headers)
        seen = {k: v for k, v in headers.items() if k.lower() in ("authorization", "x-api-key")}
        padding = (
            "x" * int(self.path.rsplit("/", 1)[-1]) if self.path.startswith("/padded/") else ""
        )
        body = json.dumps({"pad": padding, "you_sent": seen, "error": "unauthorized"}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def echo_server() -> Iterator[EchoServer]:
    server = EchoServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _fresh_engine_caches() -> Iterator[None]:
    """The engine caches version contexts and built steps by id for a while; ids repeat
    after each test's rollback, so a later test could run an earlier test's step."""
    steps._contexts.clear()
    yield
    steps._contexts.clear()
    with instances._lock:
        for instance in instances._instances.values():
            instance.close()
        instances._instances.clear()


@dataclass(frozen=True)
class Case:
    name: str
    fields: dict[str, str]
    # What must never be stored: the secret and the forms it was sent in.
    forbidden: tuple[str, ...]
    on_client_error: str = "fail"


BEARER = "bearer-s3cret-0123456789"
PASSWORD = "basic-pa55word-abcdef"
API_KEY = "api-key-9876543210-zyx"
BASIC = base64.b64encode(f"svc-user:{PASSWORD}".encode()).decode()

CASES = [
    Case("bearer", {"auth_type": "bearer", "token": BEARER}, (BEARER,)),
    Case(
        "basic",
        {"auth_type": "basic", "username": "svc-user", "password": PASSWORD},
        (PASSWORD, BASIC),
    ),
    Case(
        "api-key",
        {"auth_type": "api_key", "header_name": "X-Api-Key", "api_key": API_KEY},
        (API_KEY,),
    ),
    # The 4xx answer passed on as the step's output instead of failing it.
    Case(
        "basic-passed-on",
        {"auth_type": "basic", "username": "svc-user", "password": PASSWORD},
        (PASSWORD, BASIC),
        on_client_error="pass",
    ),
]


def run_one_message(workspace: Workspace, user: User, url: str, case: Case) -> Execution:
    """Publish kafka -> rest with the case's credential and run one message through the engine,
    as a worker would: step by step, then the records written in bulk."""
    credential = create_credential(workspace, f"cred {case.name}", "http_auth", case.fields)
    rest = {
        "id": "send",
        "component": "rest",
        "config": {
            "method": "POST",
            "url": url,
            "retries": 0,
            "on_client_error": case.on_client_error,
        },
        "credential": credential.id,
        "position": {"x": 300, "y": 0},
    }
    graph = {"nodes": [kafka_node(), rest], "edges": [{"source": "in", "target": "send"}]}
    flow = create_flow(workspace, f"echo {case.name}", graph, user)
    version = publish_flow(flow, user)
    message = Message(
        id="events:0:7",
        body={"user": 42},
        headers={},
        meta={"topic": "events", "partition": 0, "offset": 7, "key": None, "timestamp": None},
    )
    job: Any = job_from_records(
        flow.id, version.id, plan_for(version.graph), [TriggerRecord(message)]
    )
    while job is not None:
        job = steps.run_job_step(job)
    return Execution.objects.get(flow=flow)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_an_echoed_secret_is_masked_in_every_record(
    case: Case, echo_server: EchoServer, user: User, workspace: Workspace
) -> None:
    execution = run_one_message(workspace, user, echo_server.url, case)

    # Not vacuous: the server did get the secret, and did send it back.
    sent = json.dumps(echo_server.received)
    assert any(secret in sent for secret in case.forbidden), sent

    [step] = [step for step in execution.steps if step["node_id"] == "send"]
    stored = json.dumps(
        {
            "execution_error": execution.error,
            "summary": execution.summary,
            "retry_input": execution.retry_input,
            "step": step,
        },
        ensure_ascii=False,
    )
    for secret in case.forbidden:
        assert secret not in stored, f"{case.name}: {secret!r} stored in {stored}"
    assert MASK in stored
    if case.on_client_error == "fail":
        assert execution.status == "failed"
        assert "HTTP 401" in execution.error
        assert MASK in execution.error
    else:
        assert execution.status == "succeeded"
        assert step["output"][0]["status"] == 401

    client = APIClient()
    client.force_authenticate(user)
    detail = client.get(f"/api/v1/executions/{execution.id}/")
    listed = client.get(f"/api/v1/flows/{execution.flow_id}/executions/")
    for response in (detail, listed):
        assert response.status_code == 200
        text = response.content.decode()
        for secret in case.forbidden:
            assert secret not in text, f"{case.name}: {secret!r} in {response.request['PATH_INFO']}"
    # Nothing to find by searching for the secret either.
    for secret in case.forbidden:
        found = client.get(
            f"/api/v1/flows/{execution.flow_id}/executions/", {"search": secret}
        ).json()
        assert found["count"] == 0


def test_a_secret_cut_by_the_error_snippet_is_not_left_half_visible(
    echo_server: EchoServer, user: User, workspace: Workspace
) -> None:
    # {"pad": "xxx...", "you_sent": {"Authorization": "Bearer <token>"}: the token's first
    # dozen characters fall before the 300th character of the body, the rest after it.
    prefix = len('{"pad": "", "you_sent": {"Authorization": "Bearer ')
    case = Case("bearer-cut", {"auth_type": "bearer", "token": BEARER}, (BEARER,))
    execution = run_one_message(workspace, user, echo_server.padded_url(288 - prefix), case)
    [step] = [step for step in execution.steps if step["node_id"] == "send"]
    stored = json.dumps([execution.error, step["error"], step["error_details"]], ensure_ascii=False)
    assert BEARER[:12] in json.dumps(echo_server.received)
    assert BEARER[:8] not in stored, stored
