"""Sending HTTP requests for components, with retries a destination can rely on.

Transient failures (connection errors, timeouts, HTTP 408, 429 and 5xx) are retried with
exponential backoff and jitter, honouring `Retry-After`. Every other answer, 4xx included, is
returned to the caller, who knows what a 404 means for its destination. When the attempts run
out on a transient failure, `send` raises a retryable `StepError` so that the engine can try
the message again later.

Error messages name the method, the URL (without any user:password part) and the last answer;
they never carry request headers, where credentials live.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import requests
from requests.adapters import HTTPAdapter
from requests.auth import HTTPBasicAuth

from components import telemetry
from components.base import StepError

# Statuses worth trying again: the request may succeed later without any change on our side.
TRANSIENT_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))
SNIPPET_CHARS = 300
DEFAULT_POOL_SIZE = 32
# Prepared requests a session keeps to copy (`_Session.prepared`): one per destination a step
# sends to with the same headers.
PREPARED_TEMPLATES = 64

# Called before each wait with (attempt just failed, seconds until the next, why).
RetryHook = Callable[[int, float, str], None]
# Called right before each attempt (1-based), e.g. to take a token from a rate limit; may block,
# and may raise `StepError` to give up before sending.
AttemptHook = Callable[[int], object]
# Called on every HTTP 429 with its Retry-After in seconds (None when absent or unreadable).
ThrottledHook = Callable[[float | None], None]
Sleep = Callable[[float], None]


def timeout_property() -> dict[str, Any]:
    """The `timeout_seconds` config field of components that send HTTP requests."""
    return {
        "title": "Timeout (s)",
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": 300,
        "default": 10,
    }


def retries_property(description: str) -> dict[str, Any]:
    """The `retries` config field of components that send HTTP requests."""
    return {
        "title": "Retries",
        "type": "integer",
        "minimum": 0,
        "maximum": 20,
        "default": 5,
        "description": description,
    }


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to try a request and how long to wait between tries.

    `attempts` counts the first try: 1 means no retry. The wait before try n+1 is
    `backoff_seconds * 2**(n-1)` with jitter, or the server's `Retry-After`, never more than
    `max_delay_seconds`.
    """

    attempts: int = 5
    backoff_seconds: float = 0.5
    max_delay_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")
        if self.backoff_seconds < 0 or self.max_delay_seconds < 0:
            raise ValueError("RetryPolicy delays must not be negative")

    def delay(self, failed_attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after `failed_attempt` (1-based) failed."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay_seconds)
        ceiling = min(self.backoff_seconds * 2 ** (failed_attempt - 1), self.max_delay_seconds)
        # "Equal jitter": at least half the exponential delay, so a herd of workers that failed
        # together spreads out, yet none of them hammers the server right away.
        return ceiling / 2 + random.uniform(0, ceiling / 2)


def new_session(pool_size: int = DEFAULT_POOL_SIZE) -> requests.Session:
    """A session with a connection pool sized for a worker sending batches concurrently.

    Retries are ours (in `send`), so urllib3's own retries are off: they would not honour our
    policy and would hide attempts from the step's log.
    """
    session = _Session()
    adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class _Session(requests.Session):
    """Reads the environment's proxy and CA bundle settings once per destination, not on
    every request: requests scans the environment and `no_proxy` each time, a measurable
    share of a worker's time at thousands of requests a second. Workers' environments do not
    change while they run. Prepares a request by copying one prepared before (`prepared`)."""

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[tuple[str, str], Any] = {}
        self._templates: dict[tuple[Any, ...], requests.PreparedRequest] = {}

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        if proxies or stream is not None or verify is not None or cert is not None:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        destination = (str(parts.scheme), str(parts.netloc))
        settings = self._environment.get(destination)
        if settings is None:
            settings = super().merge_environment_settings(url, {}, None, None, None)
            self._environment[destination] = settings
        return {**settings, "proxies": dict(settings["proxies"])}

    def prepared(
        self, method: str, url: str, headers: dict[str, str], data: bytes | str | None, auth: Any
    ) -> requests.PreparedRequest:
        """The request as `Session.request` would prepare it, from a copy of one prepared
        earlier for the same method, URL, headers and Basic credentials, given its body.

        Preparing costs about 300 µs a request here (requests merges settings through
        run-time protocol checks); a copy and a body 13 µs. Only while the session holds no
        cookies (they would go in the headers) and for Basic or no auth (which set a header
        and nothing else): otherwise it is prepared whole, as before.
        """
        if self.cookies or not (auth is None or type(auth) is HTTPBasicAuth):
            return self._prepare_whole(method, url, headers, data, auth)
        credentials = None if auth is None else (auth.username, auth.password)
        template_key = (method, url, tuple(headers.items()), credentials)
        template = self._templates.get(template_key)
        if template is None:
            template = self._prepare_whole(method, url, headers, None, auth)
            if len(self._templates) >= PREPARED_TEMPLATES:
                self._templates.clear()  # per-message URLs (a templated REST step): start over
            self._templates[template_key] = template
        prepared = template.copy()
        if data is not None:
            prepared.prepare_body(data, None)
        return prepared

    def _prepare_whole(
        self, method: str, url: str, headers: dict[str, str], data: bytes | str | None, auth: Any
    ) -> requests.PreparedRequest:
        request = requests.Request(method, url, headers=headers, data=data, auth=auth)
        return self.prepare_request(request)


def _send_prepared(
    session: requests.Session,
    method: str,
    url: str,
    headers: dict[str, str],
    data: bytes | str | None,
    timeout: float,
    auth: Any,
) -> requests.Response:
    """What `session.request` does (redirects, cookies and hooks included), preparing the
    request faster on a session of `new_session`."""
    if not isinstance(session, _Session):
        return session.request(method, url, headers=headers, data=data, timeout=timeout, auth=auth)
    prepared = session.prepared(method, url, headers, data, auth)
    assert prepared.url is not None
    environment = session.merge_environment_settings(prepared.url, {}, None, None, None)
    return session.send(prepared, timeout=timeout, allow_redirects=True, **environment)


def safe_url(url: str) -> str:
    """The URL without a `user:password@` part, fit for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def snippet(response: requests.Response, limit: int = SNIPPET_CHARS) -> str:
    """The start of a response body, on one line, for error messages."""
    try:
        text = response.text
    except Exception:  # an undecodable body must not hide the real error
        return "<unreadable body>"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a `Retry-After` header: delta-seconds or an HTTP-date; None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # HTTP-dates are GMT by definition
        when = when.replace(tzinfo=UTC)
    current = datetime.now(UTC).timestamp() if now is None else now
    return max(when.timestamp() - current, 0.0)


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    json_body: Any = None,
    data: bytes | str | None = None,
    timeout: float = 10.0,
    policy: RetryPolicy | None = None,
    auth: Any = None,
    on_retry: RetryHook | None = None,
    before_attempt: AttemptHook | None = None,
    on_throttled: ThrottledHook | None = None,
    sleep: Sleep = time.sleep,
) -> requests.Response:
    """Send one request, retrying transient failures; return the final non-transient answer.

    Give the body as `json_body` (serialised once, so every attempt sends the same bytes) or
    as raw `data`, not both. Returns any response that is not transient: 2xx, 3xx and 4xx other
    than 408/429 (never retried: the caller decides what they mean). Raises `StepError` with
    `retryable=True` when every attempt failed transiently, and with `retryable=False` for a
    request that cannot work at all (malformed URL, TLS failure). At-least-once: a timeout
    after the server got the request leads to a second send.

    `before_attempt` runs before every attempt, retries included (a rate limit counts each
    request the destination sees); `on_throttled` hears of every 429, the last one included.
    """
    policy = policy or RetryPolicy()
    if json_body is not None and data is not None:
        raise ValueError("send() takes json_body or data, not both")
    request_headers = dict(headers or {})
    if json_body is not None:
        data = _json_bytes(json_body)
        if not any(name.lower() == "content-type" for name in request_headers):
            request_headers["Content-Type"] = "application/json"
    shown_url = safe_url(url)
    # Traces get no query string: APIs put keys there.
    traced = {
        "http.request.method": method,
        "url.full": urlunsplit(urlsplit(shown_url)._replace(query="", fragment="")),
    }

    for attempt in range(1, policy.attempts + 1):
        last = attempt == policy.attempts
        if before_attempt is not None:
            before_attempt(attempt)
        try:
            with telemetry.span(
                f"HTTP {method}", **traced, **{"http.request.resend_count": attempt - 1}
            ) as span:
                response = _send_prepared(
                    session, method, url, request_headers, data, timeout, auth
                )
                span.set_attribute("http.response.status_code", response.status_code)
        except requests.exceptions.SSLError as error:
            # A certificate problem does not fix itself between two attempts.
            raise StepError(
                f"{method} {shown_url} failed: TLS error ({_describe(error)}). "
                "Check the URL's scheme and the server's certificate.",
                details={"url": shown_url, "method": method},
            ) from None
        except (
            requests.exceptions.ConnectionError,
            requests.exceptions.Timeout,
            requests.exceptions.ChunkedEncodingError,
        ) as error:
            reason = _describe(error)
            if last:
                raise StepError(
                    f"{method} {shown_url} failed after {attempt} attempt(s): {reason}. "
                    "The server did not answer; it will be tried again later.",
                    retryable=True,
                    details={"url": shown_url, "method": method, "attempts": attempt},
                ) from None
            _wait(policy.delay(attempt), attempt, reason, on_retry, sleep)
            continue
        except requests.exceptions.RequestException as error:
            # Malformed URL, bad header value and the like: retrying cannot help.
            raise StepError(
                f"{method} {shown_url} could not be sent: {_describe(error)}. "
                "Check the step's URL and headers.",
                details={"url": shown_url, "method": method},
            ) from None

        if response.status_code not in TRANSIENT_STATUSES:
            return response
        body = snippet(response)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if response.status_code == 429 and on_throttled is not None:
            on_throttled(retry_after)
        response.close()  # give the connection back to the pool before waiting
        if last:
            raise StepError(
                f"{method} {shown_url} failed after {attempt} attempt(s): last answer "
                f"HTTP {response.status_code}: {body or '<empty body>'}. "
                "The server is overloaded or failing; it will be tried again later.",
                retryable=True,
                details={
                    "url": shown_url,
                    "method": method,
                    "attempts": attempt,
                    "status": response.status_code,
                    "response": body,
                },
            )
        _wait(
            policy.delay(attempt, retry_after),
            attempt,
            f"HTTP {response.status_code}",
            on_retry,
            sleep,
        )
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


def _wait(
    delay: float, attempt: int, reason: str, on_retry: RetryHook | None, sleep: Sleep
) -> None:
    if on_retry is not None:
        on_retry(attempt, delay, reason)
    telemetry.count("http_retry")
    if delay > 0:
        sleep(delay)


def _describe(error: Exception) -> str:
    text = " ".join(str(error).split())
    if len(text) > SNIPPET_CHARS:
        text = text[:SNIPPET_CHARS] + "…"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _json_bytes(body: Any) -> bytes:
    """Compact UTF-8 JSON; orjson when it can (fast), the standard library for what orjson
    refuses (integers beyond 64 bits)."""
    try:
        return orjson.dumps(body)
    except TypeError:
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
