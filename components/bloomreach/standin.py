"""A local stand-in for the Bloomreach Engagement tracking API, for tests, demos and benchmarks.

It implements what Tributary uses (see BLOOMREACH.md): track event, update customer, batch
(at most 50 commands, one result per command) and server time, with Basic (API key id and
secret) or Token (public token) auth, the API's validation and its answer shapes. Failures can
be injected at run time (429 with optional `Retry-After`, 500, latency, connection refused) and
it counts what it accepted.

It is an asyncio server on its own thread: one event loop handles every connection, HTTP/1.1
keep-alive included, so latency injection costs no thread per request and a keep-alive client
is limited by its own speed, not by the stand-in's (see the README for measured numbers).

Control endpoints (never subject to auth or failure injection):
  GET /_stats, POST /_reset, GET|POST /_config (JSON of `configure()` arguments).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import random
import re
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, replace
from typing import Any

import orjson

from components.bloomreach.standin_http import (
    MAX_HEAD_BYTES,
    BadRequest,
    Request,
    encode_response,
    read_request,
)
from components.bloomreach.standin_rules import (
    CUSTOMER,
    EVENT,
    MAX_COMMANDS,
    command_problems,
    validate_command_data,
)

KEEP = 1000  # how many accepted commands /_stats shows

_TRACK_PATH = re.compile(
    r"^/track/v2/projects/([^/]+)/(customers/events|customers|batch|system/time)$"
)

Reply = tuple[int, dict[str, str], Any]


@dataclass(frozen=True)
class Faults:
    """The failure-injection switches. Rates are fractions of tracking requests (0..1)."""

    rate_429: float = 0.0
    retry_after: float | None = None
    rate_500: float = 0.0
    latency_ms: float = 0
    down: bool = False
    # Deterministic injection for tests: the next `fail_next` tracking requests answer
    # `fail_status`, before the random rates apply.
    fail_next: int = 0
    fail_status: int = 429

    def __post_init__(self) -> None:
        for name in ("rate_429", "rate_500"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if self.latency_ms < 0:
            raise ValueError(f"latency_ms must not be negative, got {self.latency_ms}")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError(f"retry_after must not be negative, got {self.retry_after}")
        if self.fail_next < 0:
            raise ValueError(f"fail_next must not be negative, got {self.fail_next}")
        if not 400 <= self.fail_status <= 599:
            raise ValueError(f"fail_status must be a 4xx or 5xx status, got {self.fail_status}")


class _Stats:
    """Counters, touched by the event loop thread and read by any thread (hence the lock)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        self.requests = 0
        self.commands = 0
        self.rejected_requests = 0
        self.rejected_commands = 0
        self.throttled = 0
        self.failed = 0
        self.by_name: dict[str, int] = {EVENT: 0, CUSTOMER: 0}
        self.events: deque[Any] = deque(maxlen=KEEP)
        self.received_at: deque[float] = deque(maxlen=KEEP)
        self.errors: deque[str] = deque(maxlen=100)

    def accept(self, name: str, data: Any, now: float) -> None:
        self.commands += 1
        self.by_name[name] += 1
        self.events.append(data)
        self.received_at.append(now)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "commands": self.commands,
                "events": list(self.events),
                "received_at": list(self.received_at),
                "requests": self.requests,
                "rejected": self.rejected_requests + self.rejected_commands,
                "rejected_requests": self.rejected_requests,
                "rejected_commands": self.rejected_commands,
                "throttled": self.throttled,
                "failed": self.failed,
                "by_name": dict(self.by_name),
                "errors": list(self.errors),
            }


class BloomreachStandIn:
    """The stand-in server. `start()` it, point the component at `url`, `stop()` it.

    `project_token` is the one project it serves (another token in the path answers 404);
    `api_key_id`/`api_secret` are checked for Basic auth (unknown id: 401, bad secret: 403);
    `public_token`, when set, is accepted as `Authorization: Token <public_token>`.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        # Demo values of a local fake, not secrets of any real system.
        project_token: str = "demo-project",  # noqa: S107
        api_key_id: str = "demo-key",
        api_secret: str = "demo-secret",  # noqa: S107
        public_token: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.project_token = project_token
        self.api_key_id = api_key_id
        self.api_secret = api_secret
        self.public_token = public_token
        self._faults = Faults()
        self._stats = _Stats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._pending: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL to configure in the component, e.g. http://127.0.0.1:40123."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> BloomreachStandIn:
        """Start serving on a background thread; returns once the socket is listening."""
        if self._thread is not None:
            raise RuntimeError("the stand-in is already running")
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._run, args=(ready, failure), name="bloomreach-standin", daemon=True
        )
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        """Close every connection and the listening socket, and end the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._close_all(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        self._thread = None
        self._loop = None

    def __enter__(self) -> BloomreachStandIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- control -----------------------------------------------------------------------------

    def configure(
        self,
        rate_429: float = 0.0,
        retry_after: float | None = None,
        rate_500: float = 0.0,
        latency_ms: float = 0,
        down: bool = False,
        fail_next: int = 0,
        fail_status: int = 429,
    ) -> dict[str, Any]:
        """Replace the whole failure-injection state (an omitted switch goes back to off).

        `down=True` closes the listening socket and every open connection, so clients get
        "connection refused"; `down=False` listens again on the same port. Returns the new
        state. Safe to call from any thread, before or after `start()`.
        """
        faults = Faults(rate_429, retry_after, rate_500, latency_ms, down, fail_next, fail_status)
        loop = self._loop
        if loop is None:
            self._faults = faults
        elif _in_thread(self._thread):
            raise RuntimeError("configure() cannot be called from the stand-in's own thread")
        else:
            asyncio.run_coroutine_threadsafe(self._apply(faults), loop).result()
        return asdict(self._faults)

    def reset(self) -> None:
        """Forget every count and accepted event (the failure switches stay as they are)."""
        with self._stats.lock:
            self._stats.clear()

    def stats(self) -> dict[str, Any]:
        """What `GET /_stats` answers: accepted `commands`, the last 1000 accepted `events`
        (command data) with their `received_at` times, `requests`, `rejected`, and details."""
        return self._stats.snapshot()

    @property
    def faults(self) -> Faults:
        return self._faults

    # -- event loop --------------------------------------------------------------------------

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._apply(self._faults, force=True))
        except BaseException as error:  # e.g. port in use: re-raised by start()
            failure.append(error)
            loop.close()
            ready.set()
            return
        self._loop = loop
        ready.set()
        try:
            loop.run_forever()
        finally:
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.close()

    async def _apply(self, faults: Faults, *, force: bool = False) -> None:
        going_down = faults.down and (force or not self._faults.down)
        coming_up = not faults.down and (force or self._faults.down)
        self._faults = faults
        if going_down:
            await self._close_all()
        elif coming_up and self._server is None:
            # reuse_address lets the same port be bound again right after closing it.
            self._server = await asyncio.start_server(
                self._serve,
                self.host,
                self.port,
                limit=MAX_HEAD_BYTES,
                backlog=1024,
                reuse_address=True,
            )
            self.port = self._server.sockets[0].getsockname()[1]

    async def _close_all(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        # close() rather than abort(): an answer already written (say, to the /_config request
        # that asked to go down) still reaches its client.
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                try:
                    request = await read_request(reader, writer)
                except BadRequest as error:
                    writer.write(encode_response(error.status, {}, _errors(error.message), False))
                    break
                if request is None:
                    break
                status, headers, payload = await self._dispatch(request)
                if writer.is_closing():  # went down while this request waited
                    break
                writer.write(encode_response(status, headers, payload, request.keep_alive))
                if not request.keep_alive:
                    break
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away: nothing to answer
        finally:
            self._writers.discard(writer)
            writer.close()

    # -- routing -----------------------------------------------------------------------------

    async def _dispatch(self, request: Request) -> Reply:
        path = request.path.split("?", 1)[0]
        if path.startswith("/_"):
            return await self._control(request, path)
        match = _TRACK_PATH.match(path)
        if match is None:
            return self._reject_request(404, f"no such endpoint: {request.method} {path}")
        with self._stats.lock:
            self._stats.requests += 1
        faults = self._faults
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        injected = self._injected_failure()
        if injected is not None:
            return injected
        token, endpoint = match.groups()
        expected_method = "GET" if endpoint == "system/time" else "POST"
        if request.method != expected_method:
            reply = self._reject_request(405, f"{path} takes {expected_method}")
            reply[1]["Allow"] = expected_method
            return reply
        refused = self._check_auth(request.headers.get("authorization"))
        if refused is not None:
            return refused
        if token != self.project_token:
            return self._reject_request(404, "project not found: check the project token")
        if endpoint == "system/time":
            return 200, {}, {"success": True, "time": time.time()}
        try:
            body = orjson.loads(request.body)
        except orjson.JSONDecodeError as error:
            return self._reject_request(400, f"invalid JSON: {error}")
        size = len(request.body)
        if endpoint == "batch":
            return self._batch(body, size)
        return self._single(EVENT if endpoint == EVENT else CUSTOMER, body, size)

    def _injected_failure(self) -> Reply | None:
        faults = self._faults
        status = 0
        if faults.fail_next > 0:
            self._faults = replace(faults, fail_next=faults.fail_next - 1)
            status = faults.fail_status
        elif faults.rate_429 and random.random() < faults.rate_429:
            status = 429
        elif faults.rate_500 and random.random() < faults.rate_500:
            status = 500
        if not status:
            return None
        headers = {}
        if status == 429 and faults.retry_after is not None:
            headers["Retry-After"] = _seconds_text(faults.retry_after)
        with self._stats.lock:
            if status == 429:
                self._stats.throttled += 1
            else:
                self._stats.failed += 1
        message = "rate limit exceeded" if status == 429 else "internal server error (injected)"
        return status, headers, _errors(message)

    def _check_auth(self, header: str | None) -> Reply | None:
        if not header:
            return self._reject_request(
                401, "missing Authorization: use Basic <key id:secret> or Token <public token>"
            )
        scheme, _, value = header.strip().partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return self._reject_request(401, "malformed Basic credentials")
            key_id, _, secret = decoded.partition(":")
            if not hmac.compare_digest(key_id.encode(), self.api_key_id.encode()):
                return self._reject_request(401, "unknown API key")
            if not hmac.compare_digest(secret.encode(), self.api_secret.encode()):
                return self._reject_request(403, "invalid API secret")
            return None
        if scheme == "token":
            known = self.public_token
            if known and hmac.compare_digest(value.strip().encode(), known.encode()):
                return None
            return self._reject_request(401, "unknown public token")
        return self._reject_request(401, f"unsupported authorization scheme {scheme!r}")

    def _single(self, name: str, body: Any, size: int) -> Reply:
        problems = validate_command_data(name, body, size)
        with self._stats.lock:
            if problems:
                self._stats.rejected_requests += 1
                self._stats.errors.extend(problems)
            else:
                self._stats.accept(name, body, time.time())
        if problems:
            return 400, {}, {"success": False, "errors": problems}
        return 200, {}, {"success": True, "errors": []}

    def _batch(self, body: Any, size: int) -> Reply:
        commands = body.get("commands") if isinstance(body, dict) else None
        if not isinstance(commands, list):
            return self._reject_request(400, "the body must be an object with a commands list")
        if len(commands) > MAX_COMMANDS:
            return self._reject_request(
                400, f"a batch holds at most {MAX_COMMANDS} commands, got {len(commands)}"
            )
        start = time.time()
        results = []
        with self._stats.lock:
            for command in commands:
                problems = command_problems(command, size)
                if problems:
                    self._stats.rejected_commands += 1
                    self._stats.errors.extend(problems)
                    results.append({"success": False, "errors": problems})
                else:
                    self._stats.accept(command["name"], command["data"], start)
                    results.append({"success": True})
        return (
            200,
            {},
            {
                "success": True,
                "start_time": start,
                "end_time": time.time(),
                "results": results,
            },
        )

    def _reject_request(self, status: int, message: str) -> Reply:
        with self._stats.lock:
            self._stats.rejected_requests += 1
            self._stats.errors.append(message)
        return status, {}, _errors(message)

    async def _control(self, request: Request, path: str) -> Reply:
        if path == "/_stats" and request.method == "GET":
            return 200, {}, self.stats()
        if path == "/_reset" and request.method == "POST":
            self.reset()
            return 200, {}, {"success": True}
        if path == "/_config" and request.method == "GET":
            return 200, {}, asdict(self._faults)
        if path == "/_config" and request.method == "POST":
            try:
                options = orjson.loads(request.body or b"{}")
                faults = Faults(**options)
            except (orjson.JSONDecodeError, TypeError, ValueError) as error:
                return 400, {}, _errors(f"bad /_config body: {error}")
            if faults.down:
                # Answer first: going down closes this very connection. The task runs at the
                # loop's next turn, after `_serve` has written this reply.
                self._pending = asyncio.get_running_loop().create_task(self._apply(faults))
            else:
                await self._apply(faults)
            return 200, {}, asdict(faults)
        return 404, {}, _errors(f"no such control endpoint: {request.method} {path}")


def _errors(message: str) -> dict[str, Any]:
    return {"success": False, "errors": [message]}


def _seconds_text(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def _in_thread(thread: threading.Thread | None) -> bool:
    return thread is not None and thread is threading.current_thread()
