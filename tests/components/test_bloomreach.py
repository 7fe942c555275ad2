"""The bloomreach component against the stand-in (and a scripted server for odd answers)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from components.base import ConfigError, Message, Outcome, Runtime
from components.bloomreach.component import BloomreachAction
from components.bloomreach.standin import BloomreachStandIn
from tests.fixtures.standin import ScriptedServer

pytest_plugins = ["tests.fixtures.standin"]

RUNTIME = Runtime(flow_id=1, node_id="n3", settings={"http_backoff_seconds": 0.001})
PRIVATE = {"auth": "private", "api_key_id": "demo-key", "api_secret": "demo-secret"}


def event(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "customer_ids": {"registered": f"u-{n}"},
        "event_type": "view_item",
        "timestamp": 1_764_000_000 + n,
        "properties": {"n": n},
        **extra,
    }


def messages(bodies: list[Any]) -> list[Message]:
    return [{"id": str(i), "body": b, "headers": {}, "meta": {}} for i, b in enumerate(bodies)]


@pytest.fixture
def build(bloomreach_standin: BloomreachStandIn) -> Iterator[Any]:
    built: list[BloomreachAction] = []

    def make(
        credential: dict[str, Any] | None = None, base_url: str | None = None, **config: Any
    ) -> BloomreachAction:
        config = {"base_url": base_url or bloomreach_standin.url, **config}
        config.setdefault("project_token", "demo-project")
        action = BloomreachAction(config, credential or PRIVATE, RUNTIME)
        built.append(action)
        return action

    yield make
    for action in built:
        action.close()


def assert_delivered(outcomes: list[Outcome]) -> None:
    assert [o.error for o in outcomes] == [None] * len(outcomes)


def test_120_messages_go_out_in_three_batch_requests(
    bloomreach_standin: BloomreachStandIn, build: Any
) -> None:
    bodies = [event(n) for n in range(120)]

    outcomes = build().process_batch(messages(bodies))

    assert_delivered(outcomes)
    stats = bloomreach_standin.stats()
    assert stats["requests"] == 3
    assert stats["commands"] == 120
    assert stats["events"] == bodies  # in order, nothing lost or duplicated
    assert outcomes[7].outputs == [
        {"command": {"name": "customers/events", "data": bodies[7]}, "result": {"success": True}}
    ]


def test_batch_size_sets_the_commands_per_request(
    bloomreach_standin: BloomreachStandIn, build: Any
) -> None:
    build(batch_size=7).process_batch(messages([event(n) for n in range(15)]))

    assert bloomreach_standin.stats()["requests"] == 3


def test_full_commands_and_bare_bodies_mix_in_one_batch(
    bloomreach_standin: BloomreachStandIn, build: Any
) -> None:
    customer = {"customer_ids": {"registered": "u-1"}, "properties": {"email": "a@b.c"}}
    bodies = [
        {"name": "customers/events", "data": event(1)},
        {"name": "customers", "data": customer, "command_id": "c-1"},
        customer,  # bare body: the configured operation
    ]

    outcomes = build(operation="update_customer").process_batch(messages(bodies))

    assert_delivered(outcomes)
    assert [o.outputs[0]["command"]["name"] for o in outcomes] == [
        "customers/events",
        "customers",
        "customers",
    ]
    assert bloomreach_standin.stats()["by_name"] == {"customers/events": 1, "customers": 2}


def test_an_invalid_message_fails_alone_before_sending(
    bloomreach_standin: BloomreachStandIn, build: Any
) -> None:
    bodies = [
        event(0),
        {"customer_ids": {"registered": "u-1"}},  # no event_type
        event(2),
        ["not", "an", "object"],
        {"name": "customers/purchases", "data": event(4)},
        event(5, timestamp="yesterday"),
        event(6),
    ]

    outcomes = build().process_batch(messages(bodies))

    failed = {i: o.error for i, o in enumerate(outcomes) if o.error is not None}
    assert sorted(failed) == [1, 3, 4, 5]
    assert "event_type" in failed[1].message
    assert "JSON object" in failed[3].message and "an array" in failed[3].message
    assert "customers/purchases" in failed[4].message
    assert "timestamp" in failed[5].message
    assert not any(error.retryable for error in failed.values())
    stats = bloomreach_standin.stats()
    assert stats["requests"] == 1 and stats["commands"] == 3


def test_a_command_rejected_behind_a_200_fails_only_its_own_message(
    scripted_server: ScriptedServer, build: Any
) -> None:
    results = [{"success": True}, {"success": False, "errors": ["bad id"]}, {"success": True}]
    scripted_server.script([(200, {}, {"success": True, "results": results})])

    outcomes = build(base_url=scripted_server.url).process_batch(
        messages([event(n) for n in range(3)])
    )

    assert outcomes[0].error is None and outcomes[2].error is None
    assert outcomes[1].error is not None
    assert outcomes[1].error.retryable is False
    assert "bad id" in outcomes[1].error.message
    sent = scripted_server.requests[0]
    assert sent.path == "/track/v2/projects/demo-project/batch"
    assert len(sent.json()["commands"]) == 3


def test_an_answer_without_one_result_per_command_fails_without_retry(
    scripted_server: ScriptedServer, build: Any
) -> None:
    scripted_server.script([(200, {}, {"success": True, "results": [{"success": True}]})])

    outcomes = build(base_url=scripted_server.url).process_batch(messages([event(1), event(2)]))

    assert all(o.error is not None and not o.error.retryable for o in outcomes)
    assert len(scripted_server.requests) == 1


@pytest.mark.parametrize(
    ("credential", "token", "status", "hint"),
    [
        ({**PRIVATE, "api_key_id": "nobody"}, "demo-project", "401", "API key"),
        ({**PRIVATE, "api_secret": "wrong-secret-xyz"}, "demo-project", "403", "secret"),
        ({"auth": "public", "public_token": "stolen-token-xyz"}, "demo-project", "401", "token"),
        (PRIVATE, "other-project", "404", "project token"),
    ],
)
def test_auth_and_address_errors_are_permanent_and_stop_the_batch(
    bloomreach_standin: BloomreachStandIn,
    build: Any,
    credential: dict[str, Any],
    token: str,
    status: str,
    hint: str,
) -> None:
    outcomes = build(credential, project_token=token).process_batch(
        messages([event(n) for n in range(120)])
    )

    errors = [o.error for o in outcomes]
    assert all(e is not None and not e.retryable for e in errors)
    message = errors[0].message  # type: ignore[union-attr]
    assert f"HTTP {status}" in message and hint in message
    assert "wrong-secret-xyz" not in message and "stolen-token-xyz" not in message
    # The first request told us everything: the other 70 commands were not sent.
    assert bloomreach_standin.stats()["requests"] == 1
    assert bloomreach_standin.stats()["commands"] == 0


def test_public_token_auth_is_accepted(bloomreach_standin: BloomreachStandIn, build: Any) -> None:
    action = build({"auth": "public", "public_token": "demo-public-token"})

    assert_delivered(action.process_batch(messages([event(1)])))
    assert bloomreach_standin.stats()["commands"] == 1


def test_a_429_with_retry_after_is_retried_after_that_delay(
    bloomreach_standin: BloomreachStandIn, build: Any
) -> None:
    bloomreach_standin.configure(fail_next=1, fail_status=429, retry_after=0.3)
    action = build()

    started = time.monotonic()
    outcomes = action.process_batch(messages([event(n) for n in range(10)]))
    elapsed = time.monotonic() - started

    assert_delivered(outcomes)
    stats = bloomreach_standin.stats()
    assert stats["requests"] == 2 and stats["throttled"] == 1 and stats["commands"] == 10
    assert elapsed >= 0.3  # the backoff alone is ~1 ms: the wait came from Retry-After
    assert any("HTTP 429" in line for line in outcomes[0].logs)


def test_persistent_5xx_fails_every_message_as_retryable(
    bloomreach_standin: BloomreachStandIn, build: Any
) -> None:
    bloomreach_standin.configure(rate_500=1.0)

    outcomes = build(retries=2).process_batch(messages([event(n) for n in range(60)]))

    assert all(o.error is not None and o.error.retryable for o in outcomes)
    assert "HTTP 500" in outcomes[59].error.message  # type: ignore[union-attr]
    # Three attempts for the first request; the second chunk is not hammered.
    assert bloomreach_standin.stats()["requests"] == 3


def test_a_server_that_is_down_gives_retryable_errors(
    bloomreach_standin: BloomreachStandIn, build: Any
) -> None:
    bloomreach_standin.configure(down=True)

    (outcome,) = build(retries=1).process_batch(messages([event(1)]))

    assert outcome.error is not None and outcome.error.retryable is True


def test_a_millisecond_timestamp_is_sent_with_a_warning(
    bloomreach_standin: BloomreachStandIn, build: Any
) -> None:
    (outcome,) = build().process_batch(messages([event(1, timestamp=1_764_000_000_001)]))

    assert outcome.error is None
    assert any("looks like milliseconds" in line for line in outcome.logs)
    assert bloomreach_standin.stats()["events"][0]["timestamp"] == 1_764_000_000_001


def test_process_handles_a_single_message(
    bloomreach_standin: BloomreachStandIn, build: Any
) -> None:
    outcome = build().process(messages([event(1)])[0])

    assert outcome.outputs[0]["result"] == {"success": True}


@pytest.mark.parametrize(
    ("config", "credential", "field"),
    [
        ({"project_token": "p", "batch_size": 51}, PRIVATE, "batch_size"),
        ({}, PRIVATE, "project_token"),
        ({"project_token": "p", "operation": "delete"}, PRIVATE, "operation"),
        ({"project_token": "p", "base_url": "api.exponea.com"}, PRIVATE, "base_url"),
        ({"project_token": "p"}, None, "credential"),
        ({"project_token": "p"}, {"auth": "private", "api_key_id": "k"}, "credential.api_secret"),
        ({"project_token": "p"}, {"auth": "public"}, "credential.public_token"),
    ],
)
def test_bad_configuration_is_a_config_error_naming_the_field(
    config: dict[str, Any], credential: dict[str, Any] | None, field: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        BloomreachAction(config, credential, RUNTIME)
    assert caught.value.field == field
