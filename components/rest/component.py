"""The `rest` action: one HTTP request per message, built from templates over the message."""

from __future__ import annotations

import json
from typing import Any

import requests
from requests.auth import HTTPBasicAuth

from components.base import (
    JSON,
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
    safe_url,
    send,
    snippet,
    timeout_property,
)
from components.ratelimit import rate_limit_burst_property, rate_limit_property, throttle_for
from components.rest.templating import (
    Expression,
    Template,
    TemplateRenderError,
    TemplateSyntaxError,
)
from components.validation import validate_config, with_defaults

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# Without a `body` expression these methods send the message body; GET and DELETE send none.
METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
AUTH_TYPES = ("none", "basic", "bearer", "api_key")
DEFAULT_API_KEY_HEADER = "X-API-Key"

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "method": {"title": "Method", "type": "string", "enum": list(METHODS), "default": "POST"},
        "url": {
            "title": "URL",
            "type": "string",
            "minLength": 1,
            "description": "May contain {{ expr }} placeholders, e.g. "
            "https://api.example.com/users/{{ body.user_id }}. Values after the host are "
            "percent-encoded.",
        },
        "headers": {
            "title": "Headers",
            "type": "object",
            "additionalProperties": {"type": "string"},
            "default": {},
            "description": "Header values may contain {{ expr }} placeholders.",
        },
        "body": {
            "title": "Body (JSONata)",
            "type": ["string", "null"],
            "default": None,
            "description": "JSONata expression whose value is sent as JSON. Empty: send the "
            "message body (POST/PUT/PATCH) or nothing (GET/DELETE).",
        },
        "timeout_seconds": timeout_property(),
        "retries": retries_property(
            "How many times a timeout, connection error, 408, 429 or 5xx is "
            "retried (0: a single attempt)."
        ),
        "rate_limit": rate_limit_property(
            "Most requests per second to the URL's host from all workers of this "
            "workspace, retries included (0: unlimited). A 429 lowers it for a while."
        ),
        "rate_limit_burst": rate_limit_burst_property(),
        "on_client_error": {
            "title": "On other 4xx",
            "type": "string",
            "enum": ["fail", "pass"],
            "default": "fail",
            "description": "On a 4xx answer: fail the message, or pass "
            '{"status": <code>, "body": <answer>} on to the next step.',
        },
    },
    "required": ["url"],
    "additionalProperties": False,
}

CREDENTIAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "auth_type": {
            "title": "Authentication",
            "type": "string",
            "enum": list(AUTH_TYPES),
            "default": "none",
        },
        "username": {"title": "Username", "type": "string", "description": "basic"},
        "password": {"title": "Password", "type": "string", "secret": True, "description": "basic"},
        "token": {
            "title": "Bearer token",
            "type": "string",
            "secret": True,
            "description": "bearer",
        },
        "header_name": {
            "title": "Header name",
            "type": "string",
            "default": DEFAULT_API_KEY_HEADER,
            "description": "api_key: the header that carries the key",
        },
        "api_key": {"title": "API key", "type": "string", "secret": True, "description": "api_key"},
    },
    "required": ["auth_type"],
    "additionalProperties": False,
}


class RestAction(Action):
    """Sends each message as one HTTP request and passes the answer on.

    Delivery: at least once. Transient failures are retried in place (see `components.http`);
    when they persist the message fails with a retryable error.
    """

    descriptor = Descriptor(
        name="rest",
        kind="action",
        title="HTTP request",
        description="Send each message to an HTTP endpoint; the answer becomes the message.",
        config_schema=CONFIG_SCHEMA,
        credential_type="http_auth",
        credential_schema=CREDENTIAL_SCHEMA,
        sample_config={
            "method": "POST",
            "url": "https://api.example.com/users/{{ body.user_id }}/events",
            "headers": {"X-Request-Id": "{{ meta.key }}"},
            "body": '{"type": body.action, "at": body.ts}',
        },
        delivers=True,
        # One request per message: record every few so a crash re-sends little.
        delivery_chunk=10,
    )

    def __init__(
        self, config: dict[str, Any], credential: dict[str, Any] | None, runtime: Runtime
    ) -> None:
        super().__init__(config, credential, runtime)
        problems = validate_config(self.descriptor, config)
        if problems:
            raise ConfigError(problems[0].field, problems[0].message)
        settings = with_defaults(CONFIG_SCHEMA, config)
        self.method: str = settings["method"]
        self.timeout: float = float(settings["timeout_seconds"])
        self.on_client_error: str = settings["on_client_error"]
        self.policy = RetryPolicy(
            attempts=int(settings["retries"]) + 1,
            backoff_seconds=float(runtime.settings.get("http_backoff_seconds", 0.5)),
            max_delay_seconds=float(runtime.settings.get("http_max_delay_seconds", 30.0)),
        )
        # Compiled once here: parsing JSONata costs far more than evaluating it.
        self.url = _template("url", settings["url"], url=True)
        self.headers = {
            name: _template(f"headers.{name}", value) for name, value in settings["headers"].items()
        }
        body = settings["body"]
        self.body = _expression("body", body) if body and body.strip() else None
        self.auth, self.auth_headers = _auth(credential)
        self.throttle = throttle_for(settings, runtime)
        self.session = new_session()

    def process(self, message: Message) -> Outcome:
        logs: list[str] = []
        context = {
            "body": message.get("body"),
            "headers": message.get("headers") or {},
            "meta": message.get("meta") or {},
        }
        url = self._render("url", self.url, context)
        headers = {
            name: self._render(f"headers.{name}", t, context) for name, t in self.headers.items()
        }
        headers.update(self.auth_headers)  # the credential wins over a same-named config header
        throttle = self.throttle
        response = send(
            self.session,
            self.method,
            url,
            headers=headers,
            json_body=self._body(context),
            timeout=self.timeout,
            policy=self.policy,
            auth=self.auth,
            on_retry=lambda attempt, delay, why: logs.append(
                f"{self.method} {safe_url(url)}: {why} on attempt {attempt}, "
                f"retrying in {delay:.2f} s"
            ),
            before_attempt=None if throttle is None else lambda _: throttle.take(url, logs),
            on_throttled=None if throttle is None else lambda after: throttle.throttled(url, after),
        )
        if response.status_code < 400:
            return Outcome(outputs=[_answer(response)], logs=logs)
        if self.on_client_error == "pass":
            logs.append(f"{self.method} {safe_url(url)} answered HTTP {response.status_code}")
            return Outcome(
                outputs=[{"status": response.status_code, "body": _answer(response)}], logs=logs
            )
        raise _client_error(self.method, url, response)

    def close(self) -> None:
        self.session.close()

    def _render(self, field: str, template: Template, context: dict[str, Any]) -> str:
        try:
            value = template.render(context)
        except TemplateRenderError as error:
            raise StepError(f"{field}: {error}", details={"field": field}) from None
        if "\r" in value or "\n" in value:
            # A line break in a rendered value would smuggle extra headers into the request.
            raise StepError(
                f"{field}: the rendered value contains a line break; check the placeholders",
                details={"field": field},
            )
        return value

    def _body(self, context: dict[str, Any]) -> JSON:
        if self.body is None:
            return context["body"] if self.method in METHODS_WITH_BODY else None
        try:
            value = self.body.evaluate(context)
            json.dumps(value)
        except TemplateRenderError as error:
            raise StepError(f"body: {error}", details={"field": "body"}) from None
        except (TypeError, ValueError) as error:
            raise StepError(
                f"body: the expression's value cannot be sent as JSON ({error})",
                details={"field": "body"},
            ) from None
        return value


def _template(field: str, text: str, *, url: bool = False) -> Template:
    try:
        return Template(text, url=url)
    except TemplateSyntaxError as error:
        raise ConfigError(field, str(error)) from None


def _expression(field: str, source: str) -> Expression:
    try:
        return Expression(source)
    except TemplateSyntaxError as error:
        raise ConfigError(field, str(error)) from None


def _auth(credential: dict[str, Any] | None) -> tuple[HTTPBasicAuth | None, dict[str, str]]:
    """The requests auth object and extra headers for an `http_auth` credential."""
    if not credential:
        return None, {}
    auth_type = credential.get("auth_type", "none")
    if auth_type == "none":
        return None, {}
    if auth_type == "basic":
        username = _required(credential, "username", auth_type)
        return HTTPBasicAuth(username, credential.get("password") or ""), {}
    if auth_type == "bearer":
        return None, {"Authorization": f"Bearer {_required(credential, 'token', auth_type)}"}
    if auth_type == "api_key":
        header = credential.get("header_name") or DEFAULT_API_KEY_HEADER
        return None, {header: _required(credential, "api_key", auth_type)}
    raise ConfigError(
        "credential.auth_type",
        f"unknown auth type {auth_type!r}; use one of {', '.join(AUTH_TYPES)}",
    )


def _required(credential: dict[str, Any], key: str, auth_type: str) -> str:
    value = credential.get(key)
    if not isinstance(value, str) or not value:
        # Name the field, never its value: it may be a secret.
        raise ConfigError(f"credential.{key}", f"is required for auth type {auth_type!r}")
    return value


def _answer(response: requests.Response) -> JSON:
    """The response body: parsed JSON when it says (or turns out to be) JSON, else text."""
    if not response.content:
        return None
    content_type = response.headers.get("Content-Type", "").lower()
    if "json" in content_type:
        try:
            return response.json()
        except ValueError:
            pass  # a server that mislabels text: pass the text on rather than fail
    return response.text


def _client_error(method: str, url: str, response: requests.Response) -> StepError:
    status = response.status_code
    if status in (401, 403):
        hint = "check the step's credential and its permissions"
    elif status == 404:
        hint = "check the URL and the values put into it"
    else:
        hint = "check the request the step builds (URL, headers, body)"
    body = snippet(response)
    return StepError(
        f"{method} {safe_url(url)} answered HTTP {status}: {body or '<empty body>'}. "
        f"Client errors are not retried; {hint}.",
        details={"status": status, "response": body, "url": safe_url(url)},
    )
