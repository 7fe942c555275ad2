"""The rest component against a real loopback server."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from components.base import ConfigError, Message, Runtime
from components.rest.component import RestAction
from tests.fixtures.standin import ScriptedServer

pytest_plugins = ["tests.fixtures.standin"]

RUNTIME = Runtime(flow_id=1, node_id="n2", settings={"http_backoff_seconds": 0.001})


def message(body: Any, **meta: Any) -> Message:
    return {"id": "m1", "body": body, "headers": {"trace": "t-1"}, "meta": meta}


@pytest.fixture
def build() -> Iterator[Any]:
    built: list[RestAction] = []

    def make(config: dict[str, Any], credential: dict[str, Any] | None = None) -> RestAction:
        action = RestAction(config, credential, RUNTIME)
        built.append(action)
        return action

    yield make
    for action in built:
        action.close()


def test_url_headers_and_body_are_rendered_from_the_message(
    scripted_server: ScriptedServer, build: Any
) -> None:
    scripted_server.script([(201, {}, {"id": 7})])
    action = build(
        {
            "method": "PUT",
            "url": scripted_server.url + "/users/{{ body.user_id }}?src={{ meta.topic }}",
            "headers": {"X-Key": "{{ meta.key }}", "X-Trace": "{{ headers.trace }}", "X-S": "v"},
            "body": '{"type": body.action, "n": body.n + 1, "tags": body.tags}',
        }
    )

    outcome = action.process(
        message(
            {"user_id": "u 1/2", "action": "buy", "n": 41, "tags": ["a"]}, topic="shop", key="k9"
        )
    )

    assert outcome.error is None
    assert outcome.outputs == [{"id": 7}]
    (seen,) = scripted_server.requests
    assert seen.method == "PUT"
    assert seen.path == "/users/u%201%2F2?src=shop"  # values after the host are encoded
    assert seen.headers["x-key"] == "k9"
    assert seen.headers["x-trace"] == "t-1"
    assert seen.headers["x-s"] == "v"
    assert seen.json() == {"type": "buy", "n": 42, "tags": ["a"]}


def test_without_a_body_expression_post_sends_the_message_body_and_get_sends_none(
    scripted_server: ScriptedServer, build: Any
) -> None:
    post = build({"url": scripted_server.url})
    get = build({"method": "GET", "url": scripted_server.url + "/q/{{ body.id }}"})

    post.process(message({"id": 3, "x": [1, 2]}))
    get.process(message({"id": 3}))

    sent, fetched = scripted_server.requests
    assert sent.method == "POST" and sent.json() == {"id": 3, "x": [1, 2]}
    assert fetched.method == "GET" and fetched.path == "/q/3" and fetched.body == b""


def test_a_placeholder_in_the_host_part_is_inserted_as_is(
    scripted_server: ScriptedServer, build: Any
) -> None:
    action = build({"url": "{{ body.base }}/hook/{{ body.path }}"})

    action.process(message({"base": scripted_server.url, "path": "a/b"}))

    assert scripted_server.requests[0].path == "/hook/a%2Fb"


def test_a_placeholder_without_value_fails_the_message_without_sending(
    scripted_server: ScriptedServer, build: Any
) -> None:
    action = build({"url": scripted_server.url + "/users/{{ body.user_id }}"})

    (outcome,) = action.process_batch([message({"name": "no id"})])

    assert outcome.error is not None and outcome.error.retryable is False
    assert "url" in outcome.error.message and "body.user_id" in outcome.error.message
    assert scripted_server.requests == []


def test_a_text_answer_is_passed_on_as_text(scripted_server: ScriptedServer, build: Any) -> None:
    scripted_server.script([(200, {}, "accepted")])

    outcome = build({"url": scripted_server.url}).process(message({}))

    assert outcome.outputs == ["accepted"]


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"url": "http://x/{{ body.( }}"}, "url"),
        ({"url": "http://x/{{ body.a"}, "url"),
        ({"url": "http://x", "headers": {"A": "{{ ] }}"}}, "headers.A"),
        ({"url": "http://x", "body": "{ 'a': "}, "body"),
        ({"url": "http://x", "method": "TRACE"}, "method"),
        ({"url": "http://x", "on_client_error": "ignore"}, "on_client_error"),
        ({}, "url"),
    ],
)
def test_bad_configuration_is_a_config_error_naming_the_field(
    config: dict[str, Any], field: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        RestAction(config, None, RUNTIME)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("credential", "header", "expected"),
    [
        (
            {"auth_type": "basic", "username": "ann", "password": "s3cret-pw"},
            "authorization",
            "Basic " + base64.b64encode(b"ann:s3cret-pw").decode(),
        ),
        ({"auth_type": "bearer", "token": "s3cret-tok"}, "authorization", "Bearer s3cret-tok"),
        ({"auth_type": "api_key", "api_key": "s3cret-key"}, "x-api-key", "s3cret-key"),
        (
            {"auth_type": "api_key", "header_name": "X-Token", "api_key": "s3cret-key"},
            "x-token",
            "s3cret-key",
        ),
    ],
)
def test_credentials_reach_the_server_as_headers(
    scripted_server: ScriptedServer,
    build: Any,
    credential: dict[str, Any],
    header: str,
    expected: str,
) -> None:
    scripted_server.script([(200, {}, {"ok": True}), (401, {}, "who are you?")])
    action = build({"url": scripted_server.url}, credential)

    ok = action.process(message({"a": 1}))
    (refused,) = action.process_batch([message({"a": 2})])

    assert [r.headers[header] for r in scripted_server.requests] == [expected, expected]
    assert ok.outputs == [{"ok": True}]
    assert refused.error is not None and "401" in refused.error.message
    assert "s3cret" not in repr(refused.error.as_dict()) + repr(refused.logs)


def test_a_credential_missing_its_secret_is_a_config_error_naming_the_field() -> None:
    with pytest.raises(ConfigError) as caught:
        RestAction({"url": "http://x"}, {"auth_type": "bearer"}, RUNTIME)
    assert caught.value.field == "credential.token"


def test_a_client_error_fails_the_message_by_default(
    scripted_server: ScriptedServer, build: Any
) -> None:
    scripted_server.script([(422, {}, {"error": "bad email"})])

    (outcome,) = build({"url": scripted_server.url}).process_batch([message({})])

    assert outcome.error is not None
    assert outcome.error.retryable is False
    assert "HTTP 422" in outcome.error.message and "bad email" in outcome.error.message
    assert len(scripted_server.requests) == 1


def test_a_client_error_is_passed_on_when_configured(
    scripted_server: ScriptedServer, build: Any
) -> None:
    scripted_server.script([(404, {}, {"error": "no such user"})])

    outcome = build({"url": scripted_server.url, "on_client_error": "pass"}).process(message({}))

    assert outcome.error is None
    assert outcome.outputs == [{"status": 404, "body": {"error": "no such user"}}]


def test_transient_failures_are_retried_and_logged(
    scripted_server: ScriptedServer, build: Any
) -> None:
    scripted_server.script([(429, {"Retry-After": "0"}, ""), (503, {}, ""), (200, {}, {})])

    outcome = build({"url": scripted_server.url}).process(message({"a": 1}))

    assert outcome.error is None
    assert len(scripted_server.requests) == 3
    assert len(outcome.logs) == 2 and "HTTP 429" in outcome.logs[0]


def test_persistent_server_errors_fail_the_message_as_retryable(
    scripted_server: ScriptedServer, build: Any
) -> None:
    scripted_server.default = (500, {}, "boom")

    (outcome,) = build({"url": scripted_server.url, "retries": 1}).process_batch([message({})])

    assert outcome.error is not None and outcome.error.retryable is True
    assert len(scripted_server.requests) == 2


def test_a_message_whose_header_renders_a_line_break_fails(
    scripted_server: ScriptedServer, build: Any
) -> None:
    action = build({"url": scripted_server.url, "headers": {"X-A": "{{ body.v }}"}})

    (outcome,) = action.process_batch([message({"v": "a\r\nX-Injected: 1"})])

    assert outcome.error is not None and "line break" in outcome.error.message
    assert scripted_server.requests == []
