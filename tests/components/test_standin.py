"""The Bloomreach stand-in speaks the API's shapes, checks auth and data, and fails on demand."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from components.bloomreach.standin import BloomreachStandIn

pytest_plugins = ["tests.fixtures.standin"]

AUTH = ("demo-key", "demo-secret")
EVENT = {"customer_ids": {"registered": "u-1"}, "event_type": "purchase", "timestamp": 1.5e9}


@pytest.fixture
def api(bloomreach_standin: BloomreachStandIn) -> Iterator[Any]:
    """A keep-alive client: api("POST", "batch", json=...) for the demo project."""
    with requests.Session() as session:

        def call(method: str, endpoint: str, **kwargs: Any) -> requests.Response:
            kwargs.setdefault("auth", AUTH)
            project = kwargs.pop("project", "demo-project")
            url = f"{bloomreach_standin.url}/track/v2/projects/{project}/{endpoint}"
            if endpoint.startswith("/"):
                url = bloomreach_standin.url + endpoint
            return session.request(method, url, timeout=5, **kwargs)

        yield call


def batch(*data: Any, name: str = "customers/events") -> dict[str, Any]:
    return {"commands": [{"name": name, "data": d} for d in data]}


def test_track_event_accepts_a_valid_event(api: Any, bloomreach_standin: BloomreachStandIn) -> None:
    response = api("POST", "customers/events", json=EVENT)

    assert response.status_code == 200
    assert response.json() == {"success": True, "errors": []}
    assert bloomreach_standin.stats()["events"] == [EVENT]


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        ({**EVENT, "customer_ids": {}}, "customer_ids"),
        ({"event_type": "x"}, "customer_ids"),
        ({**EVENT, "event_type": 5}, "event_type"),
        ({**EVENT, "timestamp": True}, "timestamp"),
        ({**EVENT, "timestamp": "last tuesday"}, "timestamp"),
        ({**EVENT, "properties": [1]}, "properties"),
        ({**EVENT, "properties": {"big": "x" * 17_000}}, "16 KB"),
    ],
)
def test_track_event_rejects_invalid_data_with_400(
    api: Any, data: dict[str, Any], complaint: str
) -> None:
    response = api("POST", "customers/events", json=data)

    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False and complaint in " ".join(body["errors"])


def test_timestamps_may_be_iso_strings(api: Any) -> None:
    assert api("POST", "customers/events", json={**EVENT, "timestamp": "2026-01-02T03:04:05Z"}).ok


def test_update_customer_needs_at_least_one_property(api: Any) -> None:
    ids = {"customer_ids": {"registered": "u-1"}}

    assert api("POST", "customers", json={**ids, "properties": {"tier": "gold"}}).ok
    assert api("POST", "customers", json={**ids, "properties": {}}).status_code == 400


def test_invalid_json_is_a_400(api: Any) -> None:
    response = api("POST", "batch", data=b"{not json", headers={"Content-Type": "application/json"})

    assert response.status_code == 400 and "invalid JSON" in response.json()["errors"][0]


def test_batch_answers_one_result_per_command_in_order(
    api: Any, bloomreach_standin: BloomreachStandIn
) -> None:
    body = batch(EVENT, {"customer_ids": {}}, EVENT)
    body["commands"].append({"name": "customers/unknown", "data": EVENT})

    response = api("POST", "batch", json=body)

    assert response.status_code == 200
    answer = response.json()
    assert answer["success"] is True and answer["start_time"] <= answer["end_time"]
    results = answer["results"]
    assert [r["success"] for r in results] == [True, False, True, False]
    assert "customer_ids" in results[1]["errors"][0]
    assert "unknown command name" in results[3]["errors"][0]
    stats = bloomreach_standin.stats()
    assert stats["commands"] == 2 and stats["rejected"] == 2


def test_a_batch_of_more_than_50_commands_is_refused(api: Any) -> None:
    assert api("POST", "batch", json=batch(*[EVENT] * 50)).status_code == 200
    response = api("POST", "batch", json=batch(*[EVENT] * 51))

    assert response.status_code == 400 and "at most 50" in response.json()["errors"][0]


def test_system_time_answers_the_server_time(api: Any) -> None:
    answer = api("GET", "system/time").json()

    assert answer["success"] is True and abs(answer["time"] - time.time()) < 5


@pytest.mark.parametrize(
    ("auth", "headers", "project", "status"),
    [
        (None, {}, "demo-project", 401),  # no credentials
        (("someone", "demo-secret"), {}, "demo-project", 401),  # unknown key
        (("demo-key", "guess"), {}, "demo-project", 403),  # bad secret
        (None, {"Authorization": "Token demo-public-token"}, "demo-project", 200),
        (None, {"Authorization": "Token guess"}, "demo-project", 401),
        (None, {"Authorization": "Bearer demo-public-token"}, "demo-project", 401),
        (AUTH, {}, "another-project", 404),  # unknown project token
    ],
)
def test_auth_and_project_token_are_checked(
    bloomreach_standin: BloomreachStandIn,
    auth: tuple[str, str] | None,
    headers: dict[str, str],
    project: str,
    status: int,
) -> None:
    url = f"{bloomreach_standin.url}/track/v2/projects/{project}/customers/events"

    response = requests.post(url, json=EVENT, auth=auth, headers=headers, timeout=5)

    assert response.status_code == status
    assert response.json()["success"] is (status == 200)


def test_unknown_paths_and_wrong_methods(api: Any) -> None:
    assert api("POST", "/track/v1/whatever", json={}).status_code == 404
    assert api("GET", "batch").status_code == 405


def test_stats_count_requests_and_keep_the_last_1000_events(
    api: Any, bloomreach_standin: BloomreachStandIn
) -> None:
    for start in range(0, 1050, 50):
        data = [{**EVENT, "properties": {"n": n}} for n in range(start, start + 50)]
        assert api("POST", "batch", json=batch(*data)).ok
    api("POST", "customers/events", json={})  # rejected

    stats = api("GET", "/_stats").json()

    assert stats["commands"] == 1050
    assert stats["requests"] == 22
    assert stats["rejected"] == 1
    assert len(stats["events"]) == len(stats["received_at"]) == 1000
    assert stats["events"][0]["properties"]["n"] == 50
    assert stats["events"][-1]["properties"]["n"] == 1049
    assert stats == bloomreach_standin.stats()


def test_reset_clears_the_stats(api: Any, bloomreach_standin: BloomreachStandIn) -> None:
    api("POST", "customers/events", json=EVENT)

    assert api("POST", "/_reset").ok
    stats = bloomreach_standin.stats()
    assert (stats["commands"], stats["requests"], stats["events"]) == (0, 0, [])


def test_config_endpoint_switches_failure_injection_at_run_time(
    api: Any, bloomreach_standin: BloomreachStandIn
) -> None:
    assert api("POST", "/_config", json={"rate_429": 1.0, "retry_after": 2}).ok
    assert api("GET", "/_config").json()["rate_429"] == 1.0

    throttled = api("POST", "batch", json=batch(EVENT))
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "2"

    assert api("POST", "/_config", json={"rate_500": 1.0}).ok  # replaces the whole state
    assert api("POST", "batch", json=batch(EVENT)).status_code == 500

    assert api("POST", "/_config", json={}).ok
    assert api("POST", "batch", json=batch(EVENT)).ok
    stats = bloomreach_standin.stats()
    assert (stats["throttled"], stats["failed"], stats["commands"]) == (1, 1, 1)


def test_bad_config_is_refused(api: Any) -> None:
    assert api("POST", "/_config", json={"rate_429": 2}).status_code == 400
    assert api("POST", "/_config", json={"colour": "red"}).status_code == 400


def test_fail_next_answers_exactly_that_many_requests_with_the_status(
    api: Any, bloomreach_standin: BloomreachStandIn
) -> None:
    bloomreach_standin.configure(fail_next=2, fail_status=503)

    statuses = [api("POST", "batch", json=batch(EVENT)).status_code for _ in range(3)]

    assert statuses == [503, 503, 200]


def test_latency_is_added_to_tracking_requests(
    api: Any, bloomreach_standin: BloomreachStandIn
) -> None:
    bloomreach_standin.configure(latency_ms=150)

    started = time.monotonic()
    api("POST", "batch", json=batch(EVENT))

    assert time.monotonic() - started >= 0.15


def test_down_refuses_connections_and_comes_back_on_the_same_port(
    api: Any, bloomreach_standin: BloomreachStandIn
) -> None:
    assert api("GET", "/_stats").ok  # a keep-alive connection is open
    port = bloomreach_standin.port

    bloomreach_standin.configure(down=True)
    with pytest.raises(requests.ConnectionError):
        api("GET", "/_stats")

    bloomreach_standin.configure(down=False)
    assert bloomreach_standin.port == port
    assert api("POST", "batch", json=batch(EVENT)).ok


def test_down_can_be_switched_on_through_the_config_endpoint(
    api: Any, bloomreach_standin: BloomreachStandIn
) -> None:
    assert api("POST", "/_config", json={"down": True}).json()["down"] is True

    with pytest.raises(requests.ConnectionError):
        requests.get(bloomreach_standin.url + "/_stats", timeout=5)
    bloomreach_standin.configure()
    assert requests.get(bloomreach_standin.url + "/_stats", timeout=5).ok


def test_keep_alive_and_chunked_bodies_on_one_raw_connection(
    bloomreach_standin: BloomreachStandIn,
) -> None:
    auth = "ZGVtby1rZXk6ZGVtby1zZWNyZXQ="  # demo-key:demo-secret
    body = b'{"customer_ids": {"registered": "u"}, "event_type": "e"}'
    chunked = hex(len(body))[2:].encode() + b"\r\n" + body + b"\r\n0\r\n\r\n"
    path = "/track/v2/projects/demo-project/customers/events"
    with socket.create_connection(("127.0.0.1", bloomreach_standin.port), timeout=5) as conn:
        conn.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
            + f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n".encode()
            + chunked
        )
        received = b""
        while chunk := conn.recv(65536):
            received += chunk

    assert received.count(b"HTTP/1.1 200 OK") == 2
    assert bloomreach_standin.stats()["commands"] == 2


def test_start_fails_loudly_when_the_port_is_taken(bloomreach_standin: BloomreachStandIn) -> None:
    with pytest.raises(OSError):
        BloomreachStandIn(port=bloomreach_standin.port).start()
