"""The `bloomreach` action: Bloomreach Engagement tracking through the batch endpoint.

Each message becomes one command of `POST {base_url}/track/v2/projects/{token}/batch`; up to
`batch_size` (at most 50, the API's limit) commands go in one request. The API answers a
batch with one result per command, and per-command failures hide behind an HTTP 200, so every
result is mapped back to its own message: one bad event fails only its own message.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

import orjson
import requests
from requests.auth import HTTPBasicAuth

from components.base import (
    Action,
    ConfigError,
    Descriptor,
    Message,
    Outcome,
    Runtime,
    StepError,
)
from components.http import (
    RetryPolicy,
    new_session,
    retries_property,
    send,
    snippet,
    timeout_property,
)
from components.ratelimit import rate_limit_burst_property, rate_limit_property, throttle_for
from components.validation import validate_config, with_defaults

EVENT = "customers/events"
CUSTOMER = "customers"
OPERATIONS = {"track_event": EVENT, "update_customer": CUSTOMER}
MAX_BATCH = 50  # the API refuses larger batches
MAX_DATA_BYTES = 800 * 1024
MAX_PROPERTY_BYTES = 16 * 1024
# A seconds timestamp above this is after the year 5000: the value is almost surely in ms.
MILLISECONDS_THRESHOLD = 1e11

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "base_url": {
            "title": "Base URL",
            "type": "string",
            "pattern": "^https?://[^/]+",
            "default": "https://api.exponea.com",
            "description": "Your instance's API host, e.g. https://api.exponea.com or "
            "https://api.eu1.exponea.com (no path).",
        },
        "project_token": {"title": "Project token", "type": "string", "minLength": 1},
        "operation": {
            "title": "Operation",
            "type": "string",
            "enum": list(OPERATIONS),
            "default": "track_event",
            "description": "What a bare message body is: an event or a customer update. "
            'Bodies of the form {"name", "data"} are commands and choose for themselves.',
        },
        "timeout_seconds": timeout_property(),
        "retries": retries_property(
            "How many times a 429, 5xx, timeout or connection error is retried."
        ),
        "rate_limit": rate_limit_property(
            "Most batch requests per second to this host from all workers of this workspace, "
            "retries included (0: unlimited). Bloomreach allows 100 per second per source IP "
            "unless your contract says otherwise. A 429 lowers it for a while."
        ),
        "rate_limit_burst": rate_limit_burst_property(),
        "batch_size": {
            "title": "Batch size",
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_BATCH,
            "default": 50,
        },
    },
    "required": ["project_token"],
    "additionalProperties": False,
}

CREDENTIAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "auth": {
            "title": "Access",
            "type": "string",
            "enum": ["private", "public"],
            "default": "private",
            "description": "private: API key id + secret (Basic auth); public: public token.",
        },
        "api_key_id": {"title": "API key ID", "type": "string"},
        "api_secret": {"title": "API secret", "type": "string", "secret": True},
        "public_token": {"title": "Public token", "type": "string", "secret": True},
    },
    "required": ["auth"],
    "additionalProperties": False,
}


@dataclass
class _Pending:
    """A message whose command is ready to send."""

    index: int
    command: dict[str, Any]
    logs: list[str] = field(default_factory=list)


class _RequestFailed(Exception):
    """A whole batch request failed; `stop` says the following requests would fail alike."""

    def __init__(self, error: StepError, *, stop: bool) -> None:
        super().__init__(error.message)
        self.error = error
        self.stop = stop


class BloomreachAction(Action):
    """Tracks events or updates customers in Bloomreach Engagement, in batches.

    Delivery: at least once. A 429/5xx/timeout is retried in place with backoff (honouring
    `Retry-After`); if it persists, the request's messages fail as retryable. 400/401/403/404
    are permanent. A message that is not a valid command fails on its own before sending.
    """

    descriptor = Descriptor(
        name="bloomreach",
        kind="action",
        title="Bloomreach Engagement",
        description="Track events or update customers through the Bloomreach tracking API "
        "(batch endpoint, up to 50 commands per request).",
        config_schema=CONFIG_SCHEMA,
        credential_type="bloomreach",
        credential_schema=CREDENTIAL_SCHEMA,
        sample_config={
            "base_url": "https://api.exponea.com",
            "project_token": "your-project-token",
            "operation": "track_event",
            # New steps start at the documented limit; the schema default (unlimited) keeps
            # the behaviour of steps configured before the field existed.
            "rate_limit": 100,
        },
        delivers=True,
    )

    def __init__(
        self, config: dict[str, Any], credential: dict[str, Any] | None, runtime: Runtime
    ) -> None:
        super().__init__(config, credential, runtime)
        problems = validate_config(self.descriptor, config)
        if problems:
            raise ConfigError(problems[0].field, problems[0].message)
        settings = with_defaults(CONFIG_SCHEMA, config)
        self.base_url: str = settings["base_url"].rstrip("/")
        self.project_token: str = settings["project_token"]
        self.command_name = OPERATIONS[settings["operation"]]
        self.batch_size = int(settings["batch_size"])
        self.timeout = float(settings["timeout_seconds"])
        self.policy = RetryPolicy(
            attempts=int(settings["retries"]) + 1,
            backoff_seconds=float(runtime.settings.get("http_backoff_seconds", 0.5)),
            max_delay_seconds=float(runtime.settings.get("http_max_delay_seconds", 30.0)),
        )
        token = quote(self.project_token, safe="")
        self.batch_url = f"{self.base_url}/track/v2/projects/{token}/batch"
        self.auth, self.auth_headers = _auth(credential)
        self.throttle = throttle_for(settings, runtime)
        self.session = new_session()

    def process(self, message: Message) -> Outcome:
        return self.process_batch([message])[0]

    def process_batch(self, messages: list[Message]) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(messages)
        pending: list[_Pending] = []
        for index, message in enumerate(messages):
            item = _Pending(index, {})
            try:
                item.command = to_command(message.get("body"), self.command_name, item.logs)
            except StepError as error:
                outcomes[index] = Outcome.failed(error, item.logs)
                continue
            pending.append(item)

        # After a failure that every request would meet (bad key, server down for good), the
        # rest of the batch is not sent: same answer, and no point hammering the server.
        stopped: StepError | None = None
        for chunk in _chunks(pending, self.batch_size):
            if stopped is not None:
                for item in chunk:
                    outcomes[item.index] = Outcome.failed(stopped, item.logs)
                continue
            try:
                results = self._send(chunk)
            except _RequestFailed as failure:
                for item in chunk:
                    outcomes[item.index] = Outcome.failed(failure.error, item.logs)
                stopped = failure.error if failure.stop else None
                continue
            for item, result in zip(chunk, results, strict=True):
                outcomes[item.index] = _outcome(item, result)
        done = [outcome for outcome in outcomes if outcome is not None]
        assert len(done) == len(messages), "every message gets exactly one outcome"
        return done

    def close(self) -> None:
        self.session.close()

    def _send(self, chunk: list[_Pending]) -> list[Any]:
        """The per-command results of one batch request, or `_RequestFailed`."""
        retries: list[str] = []
        throttle, url = self.throttle, self.batch_url
        try:
            response = send(
                self.session,
                "POST",
                self.batch_url,
                headers=self.auth_headers,
                json_body={"commands": [item.command for item in chunk]},
                timeout=self.timeout,
                policy=self.policy,
                auth=self.auth,
                on_retry=lambda attempt, delay, why: retries.append(
                    f"Bloomreach batch request: {why} on attempt {attempt}, "
                    f"retrying in {delay:.2f} s"
                ),
                # The documented limit counts requests, whatever the commands they carry.
                before_attempt=None if throttle is None else lambda _: throttle.take(url, retries),
                on_throttled=None
                if throttle is None
                else lambda after: throttle.throttled(url, after),
            )
        except StepError as error:
            # Exhausted retries, a URL/TLS problem or no rate-limit slot within the maximum
            # wait: the next request would meet the same.
            raise _RequestFailed(error, stop=True) from None
        finally:
            for item in chunk:
                item.logs.extend(retries)
        if response.status_code >= 300:
            raise self._request_error(response)
        return _results(response, len(chunk))

    def _request_error(self, response: requests.Response) -> _RequestFailed:
        status = response.status_code
        body = snippet(response)
        details = {"status": status, "response": body}
        if status == 401:
            text = (
                "the API key is unknown. Check the credential's API key id (private access) or "
                f"public token, and that the key exists on this instance ({self.base_url})"
            )
        elif status == 403:
            text = (
                "the API secret is wrong, the key lacks tracking permission, or it does not "
                f"belong to project {self.project_token!r}. Check the credential's secret and "
                "the key's permissions in Bloomreach (Project settings > Access management)"
            )
        elif status == 404:
            text = (
                f"not found. Check the base URL ({self.base_url}) and the project token "
                f"({self.project_token!r})"
            )
        elif status == 400:
            # About this request's content: the next request may be fine.
            error = StepError(
                f"Bloomreach refused the batch request as invalid (HTTP 400): {body}. "
                "Check that the messages are valid tracking commands.",
                details=details,
            )
            return _RequestFailed(error, stop=False)
        elif status < 400:
            text = f"unexpected redirect. Check the base URL ({self.base_url})"
        else:
            text = f"{body or '<empty body>'}. Client errors are not retried"
        error = StepError(f"Bloomreach answered HTTP {status}: {text}.", details=details)
        return _RequestFailed(error, stop=status in (401, 403, 404) or status < 400)


def to_command(body: Any, default_name: str, logs: list[str]) -> dict[str, Any]:
    """The batch command for a message body: a full command or a bare body for `default_name`.

    Raises a permanent `StepError` naming every problem; appends warnings to `logs`.
    """
    if not isinstance(body, dict):
        raise StepError(
            f"the message body must be a JSON object (a command {{'name', 'data'}} or a "
            f"{default_name} body), not {_json_type(body)}"
        )
    if "name" in body or "data" in body:
        command = _checked_command(body)
    else:
        command = {"name": default_name, "data": body}
    name, data = command["name"], command["data"]
    problems = (event_problems if name == EVENT else customer_problems)(data)
    if problems:
        raise StepError(
            f"invalid {name} command: {'; '.join(problems)}",
            details={"problems": problems},
        )
    logs.extend(_timestamp_warnings(name, data))
    return command


COMMAND_KEYS = frozenset({"name", "data", "command_id"})


def _checked_command(body: dict[str, Any]) -> dict[str, Any]:
    unexpected = body.keys() - COMMAND_KEYS
    problems = []
    if unexpected:
        problems.append(
            f"unexpected key(s) {', '.join(sorted(unexpected))} next to name/data "
            "(put the event's fields inside data)"
        )
    if body.get("name") not in (EVENT, CUSTOMER):
        problems.append(f"name must be {EVENT!r} or {CUSTOMER!r}, not {body.get('name')!r}")
    if not isinstance(body.get("data"), dict):
        problems.append(f"data must be an object, not {_json_type(body.get('data'))}")
    if "command_id" in body and not isinstance(body["command_id"], str):
        problems.append("command_id must be a string")
    if problems:
        raise StepError(f"invalid command: {'; '.join(problems)}", details={"problems": problems})
    return {key: body[key] for key in ("name", "command_id", "data") if key in body}


def event_problems(data: dict[str, Any]) -> list[str]:
    """What the API would reject in the data of a customers/events command."""
    problems = _ids_problems(data)
    event_type = data.get("event_type")
    if not isinstance(event_type, str) or not event_type:
        problems.append("event_type must be a non-empty string")
    problems += _timestamp_problems(data, "timestamp")
    if "properties" in data and not isinstance(data["properties"], dict):
        problems.append("properties must be an object")
    return problems + _size_problems(data)


def customer_problems(data: dict[str, Any]) -> list[str]:
    """What the API would reject in the data of a customers command."""
    problems = _ids_problems(data)
    properties = data.get("properties")
    if not isinstance(properties, dict) or not properties:
        problems.append("properties must be an object with at least one property")
    problems += _timestamp_problems(data, "update_timestamp")
    return problems + _size_problems(data)


def _ids_problems(data: dict[str, Any]) -> list[str]:
    ids = data.get("customer_ids")
    if not isinstance(ids, dict) or not ids:
        return ["customer_ids must be an object with at least one id, e.g. {'registered': '…'}"]
    bad = [key for key, value in ids.items() if not _is_id(value)]
    return [f"customer_ids.{key} must be a non-empty string or a number" for key in bad]


def _is_id(value: Any) -> bool:
    if isinstance(value, str):
        return bool(value)
    return isinstance(value, int | float) and not isinstance(value, bool)


def _timestamp_problems(data: dict[str, Any], key: str) -> list[str]:
    if key not in data:
        return []
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return [f"{key} must be a number of seconds or an ISO 8601 string"]
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return [f"{key} {value!r} is not an ISO 8601 date-time"]
    elif not math.isfinite(value):
        return [f"{key} must be a finite number"]
    return []


def _size_problems(data: dict[str, Any]) -> list[str]:
    try:
        size = len(orjson.dumps(data))
    except TypeError as error:  # orjson.JSONEncodeError included
        return [f"data cannot be sent as JSON ({error})"]
    problems = []
    if size >= MAX_DATA_BYTES:
        problems.append(f"data is {size} bytes; the API takes under {MAX_DATA_BYTES} bytes")
    properties = data.get("properties")
    # No single value can reach the per-value limit unless the whole does.
    if isinstance(properties, dict) and size >= MAX_PROPERTY_BYTES:
        for key, value in properties.items():
            value_size = len(orjson.dumps(value))
            if value_size >= MAX_PROPERTY_BYTES:
                problems.append(
                    f"properties.{key} is {value_size} bytes; "
                    f"the API takes under {MAX_PROPERTY_BYTES} bytes per value"
                )
    return problems


def _timestamp_warnings(name: str, data: dict[str, Any]) -> list[str]:
    key = "timestamp" if name == EVENT else "update_timestamp"
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return []
    if value <= MILLISECONDS_THRESHOLD:
        return []
    return [
        f"warning: {key} {value} looks like milliseconds; Bloomreach reads seconds, "
        "so this is dated thousands of years ahead. Divide by 1000 in the transform."
    ]


def _results(response: requests.Response, expected: int) -> list[Any]:
    try:
        payload = orjson.loads(response.content)  # 50 results: the standard library is slower
    except orjson.JSONDecodeError:
        try:
            payload = response.json()  # JSON in another encoding than UTF-8
        except ValueError:
            payload = None
    results = payload.get("results") if isinstance(payload, dict) else None
    if not isinstance(results, list) or len(results) != expected:
        # The API took the request but we cannot tell which command landed. Not retryable:
        # a blind resend could duplicate events, and duplicates are billed.
        error = StepError(
            f"Bloomreach answered HTTP {response.status_code} without one result per command "
            f"({expected} sent): {snippet(response)}. Some events may have been stored; check "
            "the project before resending.",
            details={"status": response.status_code, "response": snippet(response)},
        )
        raise _RequestFailed(error, stop=False)
    return results


def _outcome(item: _Pending, result: Any) -> Outcome:
    if isinstance(result, dict) and result.get("success") is True:
        return Outcome(outputs=[{"command": item.command, "result": result}], logs=item.logs)
    errors = result.get("errors") if isinstance(result, dict) else None
    if isinstance(errors, list) and errors:
        text = "; ".join(str(error) for error in errors)
    else:
        text = f"no reason given ({json.dumps(result)[:200]})"
    error = StepError(
        f"Bloomreach rejected this {item.command['name']} command: {text}",
        details={"result": result},
    )
    return Outcome.failed(error, item.logs)


def _auth(credential: dict[str, Any] | None) -> tuple[HTTPBasicAuth | None, dict[str, str]]:
    if not credential:
        raise ConfigError(
            "credential",
            "the Bloomreach step needs a credential: an API key id and secret (private "
            "access) or a public token",
        )
    kind = credential.get("auth") or "private"
    if kind == "private":
        key_id = _required(credential, "api_key_id", kind)
        return HTTPBasicAuth(key_id, _required(credential, "api_secret", kind)), {}
    if kind == "public":
        return None, {"Authorization": f"Token {_required(credential, 'public_token', kind)}"}
    raise ConfigError("credential.auth", f"must be 'private' or 'public', not {kind!r}")


def _required(credential: dict[str, Any], key: str, kind: str) -> str:
    value = credential.get(key)
    if not isinstance(value, str) or not value:
        # Name the field, never its value: it may be a secret.
        raise ConfigError(f"credential.{key}", f"is required for {kind} access")
    return value


def _chunks(items: list[_Pending], size: int) -> Iterator[list[_Pending]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__
