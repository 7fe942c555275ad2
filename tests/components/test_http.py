"""components.http: retries against real loopback servers."""

from __future__ import annotations

import base64
import hashlib
import socket
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate

import orjson
import pytest
import requests
import requests.auth

from components.base import StepError
from components.http import RetryPolicy, new_session, parse_retry_after, safe_url, send
from tests.fixtures.standin import Recorded, Reply, ScriptedServer

pytest_plugins = ["tests.fixtures.standin"]

FAST = RetryPolicy(attempts=3, backoff_seconds=0.01, max_delay_seconds=2.0)


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with new_session() as session:
        yield session


def test_429_with_retry_after_is_delivered_once_after_the_given_delay(
    scripted_server: ScriptedServer, session: requests.Session
) -> None:
    scripted_server.script([(429, {"Retry-After": "1"}, "slow down"), (200, {}, {"ok": True})])

    response = send(session, "POST", f"{scripted_server.url}/in", json_body={"n": 1}, policy=FAST)

    assert response.status_code == 200
    assert response.json() == {"ok": True}
    first, second = scripted_server.requests  # exactly two requests
    assert second.arrived - first.arrived >= 0.95  # the backoff alone would be ~0.01 s
    assert first.body == second.body == b'{"n":1}'
    assert first.headers["content-type"] == "application/json"


def test_500_then_200_is_delivered_after_one_retry(
    scripted_server: ScriptedServer, session: requests.Session
) -> None:
    scripted_server.script([(500, {}, "oops"), (200, {}, "fine")])
    retries: list[tuple[int, float, str]] = []

    response = send(
        session,
        "PUT",
        scripted_server.url,
        data=b"raw",
        policy=FAST,
        on_retry=lambda *args: retries.append(args),
    )

    assert response.text == "fine"
    assert [r.body for r in scripted_server.requests] == [b"raw", b"raw"]
    assert len(retries) == 1
    assert retries[0][0] == 1 and retries[0][2] == "HTTP 500"


@pytest.mark.parametrize("status", [408, 502, 503, 504])
def test_other_transient_statuses_are_retried(
    scripted_server: ScriptedServer, session: requests.Session, status: int
) -> None:
    scripted_server.script([(status, {}, ""), (201, {}, {})])

    assert send(session, "POST", scripted_server.url, json_body={}, policy=FAST).status_code == 201
    assert len(scripted_server.requests) == 2


def test_exhausted_retries_raise_a_retryable_error_that_names_url_status_and_answer(
    scripted_server: ScriptedServer, session: requests.Session
) -> None:
    scripted_server.default = (503, {}, "upstream is down")
    url = scripted_server.url.replace("http://", "http://alice:hunter2@") + "/hook"

    with pytest.raises(StepError) as caught:
        send(
            session,
            "POST",
            url,
            headers={"Authorization": "Bearer top-secret-token"},
            json_body={"a": 1},
            policy=FAST,
        )

    error = caught.value
    assert error.retryable is True
    assert "HTTP 503" in error.message and "upstream is down" in error.message
    assert f"{scripted_server.url}/hook" in error.message
    assert "3 attempt" in error.message
    for secret in ("hunter2", "alice", "top-secret-token"):
        assert secret not in error.message
        assert secret not in str(error.details)
    assert len(scripted_server.requests) == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_client_errors_are_returned_without_retry(
    scripted_server: ScriptedServer, session: requests.Session, status: int
) -> None:
    scripted_server.script([(status, {}, {"error": "nope"})])

    response = send(session, "POST", scripted_server.url, json_body={}, policy=FAST)

    assert response.status_code == status
    assert len(scripted_server.requests) == 1


def test_connection_refused_exhausts_into_a_retryable_error(session: requests.Session) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    retries: list[int] = []

    with pytest.raises(StepError) as caught:
        send(
            session,
            "GET",
            f"http://127.0.0.1:{port}/x",
            policy=FAST,
            on_retry=lambda attempt, *_: retries.append(attempt),
        )

    assert caught.value.retryable is True
    assert f"127.0.0.1:{port}/x" in caught.value.message
    assert retries == [1, 2]


def test_a_read_timeout_is_retried(
    scripted_server: ScriptedServer, session: requests.Session
) -> None:
    release = threading.Event()

    def stall(request: Recorded) -> Reply:
        release.wait(5)  # longer than the client's timeout; released at the end of the test
        return 200, {}, "too late"

    scripted_server.script([stall, (200, {}, "on time")])
    try:
        response = send(session, "GET", scripted_server.url, timeout=0.2, policy=FAST)
    finally:
        release.set()

    assert response.text == "on time"
    assert len(scripted_server.requests) == 2


def test_an_invalid_url_is_a_permanent_error(session: requests.Session) -> None:
    with pytest.raises(StepError) as caught:
        send(session, "GET", "not a url", policy=FAST)
    assert caught.value.retryable is False


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    now = time.time()
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.25") == 0.25
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    in_ten = parse_retry_after(formatdate(now + 10, usegmt=True), now=now)
    assert in_ten is not None and 9 <= in_ten <= 10
    assert parse_retry_after(formatdate(now - 10, usegmt=True), now=now) == 0.0


def test_delays_grow_exponentially_and_are_capped() -> None:
    policy = RetryPolicy(attempts=10, backoff_seconds=1.0, max_delay_seconds=5.0)
    assert 0.5 <= policy.delay(1) <= 1.0
    assert 2.0 <= policy.delay(3) <= 4.0
    assert 2.5 <= policy.delay(9) <= 5.0
    assert policy.delay(1, retry_after=120) == 5.0  # Retry-After is capped too
    assert policy.delay(4, retry_after=0.5) == 0.5


def test_safe_url_drops_user_and_password() -> None:
    assert safe_url("https://u:p@example.com:8443/a?b=1") == "https://example.com:8443/a?b=1"
    assert safe_url("https://example.com/a") == "https://example.com/a"


def test_proxy_settings_from_the_environment_are_honoured_per_destination(
    scripted_server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session reads the environment once per destination (not per request), and still
    as requests would: through the proxy it names, except for hosts in no_proxy."""
    monkeypatch.setenv("HTTP_PROXY", scripted_server.url)
    monkeypatch.setenv("NO_PROXY", "direct.invalid")
    with new_session() as session:
        for _ in range(2):
            response = send(session, "GET", "http://elsewhere.invalid/via-proxy", policy=FAST)
            assert response.status_code == 200
        # A proxy sees the absolute URL: the request went through it, both times.
        assert [r.path for r in scripted_server.requests] == [
            "http://elsewhere.invalid/via-proxy"
        ] * 2
        with pytest.raises(StepError, match=r"direct\.invalid"):
            send(session, "GET", "http://direct.invalid/", policy=FAST, timeout=2)
    assert len(scripted_server.requests) == 2  # no_proxy's host was not sent to the proxy


class _BodyDigestAuth(requests.auth.AuthBase):
    """Signs each request's body, as HMAC-style APIs want: it must see the body it signs."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body if isinstance(request.body, bytes) else b""
        request.headers["X-Body-Digest"] = hashlib.sha256(body).hexdigest()
        return request


def test_requests_to_one_destination_each_carry_their_own_body_length_and_credentials(
    scripted_server: ScriptedServer, session: requests.Session
) -> None:
    """Requests with the same URL and headers are prepared from a copy (see `_Session.
    prepared`); each must still go out exactly as requests would prepare it."""
    url = f"{scripted_server.url}/batch"
    basic = requests.auth.HTTPBasicAuth("key-id", "s3cret")
    bodies = [{"n": 1}, {"n": 22, "text": "é" * 40}, {}]
    for body in bodies:
        send(session, "POST", url, json_body=body, headers={"X-Tenant": "a"}, auth=basic)
    send(session, "POST", url, data=b"raw", headers={"X-Tenant": "b"}, auth=basic)
    send(session, "GET", url, headers={"X-Tenant": "a"}, auth=basic)
    send(session, "POST", url, json_body={"n": 3}, headers={"X-Tenant": "a"})
    signer = _BodyDigestAuth()
    for text in (b"first", b"second"):
        send(session, "PUT", url, data=text, auth=signer)

    seen = scripted_server.requests
    expected_bodies = [orjson.dumps(b) for b in bodies] + [b"raw", b"", orjson.dumps({"n": 3})]
    assert [r.body for r in seen[:6]] == expected_bodies
    for request in seen[:6]:
        assert int(request.headers.get("content-length", "0")) == len(request.body)
    assert [r.method for r in seen[:6]] == ["POST"] * 4 + ["GET", "POST"]
    assert [r.headers["x-tenant"] for r in seen[:6]] == ["a", "a", "a", "b", "a", "a"]
    basic_header = "Basic " + base64.b64encode(b"key-id:s3cret").decode()
    assert [r.headers.get("authorization") for r in seen[:6]] == [basic_header] * 5 + [None]
    assert [r.headers["content-type"] for r in seen[:3]] == ["application/json"] * 3
    assert "content-type" not in seen[3].headers  # raw data: requests sets none
    assert [r.headers["x-body-digest"] for r in seen[6:]] == [
        hashlib.sha256(b"first").hexdigest(),
        hashlib.sha256(b"second").hexdigest(),
    ]


def test_cookies_and_redirects_are_handled_as_requests_does(
    scripted_server: ScriptedServer, session: requests.Session
) -> None:
    url = scripted_server.url
    scripted_server.script(
        [
            (200, {"Set-Cookie": "visit=42; Path=/"}, {}),
            (307, {"Location": f"{url}/moved"}, ""),
            (200, {}, {"ok": True}),
        ]
    )

    # One destination: the second request is not to be prepared as the first was.
    send(session, "POST", f"{url}/in", json_body={"n": 1})
    response = send(session, "POST", f"{url}/in", json_body={"n": 2})

    assert response.json() == {"ok": True}
    first, second, moved = scripted_server.requests
    assert "cookie" not in first.headers
    assert second.headers["cookie"] == moved.headers["cookie"] == "visit=42"
    assert moved.path == "/moved" and moved.method == "POST"  # a 307 keeps method and body
    assert moved.body == second.body == b'{"n":2}'
