"""Parent side of the code sandbox: a small per-process pool of pre-started child processes.

User code never runs in the calling process. Each pool keeps up to `size` children (see
`child.py`) started once and reused; a batch goes to one child in one request, and the child
streams one result line per message. The parent enforces the wall-clock limit: when a message
gets no answer in time its child is killed, the message fails with "time limit exceeded", and
the rest of the batch continues on a fresh child.

Pools are per process: after a fork (Celery prefork) the child process starts its own pools
and never touches its parent's sandbox processes.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from components import telemetry
from components.code.restricted import LOG_LIMIT_BYTES

DEFAULT_POOL_SIZE = 1
SPAWN_TIMEOUT_SECONDS = 15.0
CLOSE_TIMEOUT_SECONDS = 1.0
_READ_CHUNK = 1 << 16
# The directory holding the `components` package, so `-m components.code.child` resolves.
_IMPORT_ROOT = str(Path(__file__).resolve().parents[2])


@dataclass(frozen=True)
class SandboxLimits:
    """Per-message limits. Frozen: a pool's processes are started (and confined) with them."""

    cpu_seconds: float = 1.0
    memory_mb: int = 256
    wall_seconds: float = 5.0
    max_output_bytes: int = 1_000_000


def limits_from_settings(settings: Mapping[str, Any]) -> SandboxLimits:
    """Limits from Runtime.settings keys sandbox_cpu_seconds, _memory_mb and _wall_seconds."""
    defaults = SandboxLimits()

    def read(key: str, default: float) -> float:
        value: Any = settings.get(key)
        return default if value in (None, "") else float(value)

    return SandboxLimits(
        cpu_seconds=read("sandbox_cpu_seconds", defaults.cpu_seconds),
        memory_mb=int(read("sandbox_memory_mb", defaults.memory_mb)),
        wall_seconds=read("sandbox_wall_seconds", defaults.wall_seconds),
        max_output_bytes=defaults.max_output_bytes,
    )


@dataclass
class MessageResult:
    """What one message produced in the sandbox.

    `kind` classifies a failure: "compile", "exception", "violation" (the code tried something
    the sandbox never permits), "time", "memory", "output" or "crash" (the sandbox process
    died).
    """

    outputs: list[Any] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    error: str | None = None
    line: int | None = None
    kind: str | None = None
    duration_ms: float = 0.0

    @classmethod
    def failed(cls, kind: str, error: str, duration_ms: float = 0.0) -> MessageResult:
        return cls(error=error, kind=kind, duration_ms=duration_ms)


class SandboxUnavailable(Exception):
    """No sandbox process could be started; nothing ran (worth retrying later)."""


class _ChildGone(Exception):
    """The sandbox process exited or closed its end of a pipe."""


class _LineTooLong(Exception):
    """The sandbox process sent more than any valid result could hold."""


class _GroupLost(Exception):
    """A process sending grouped results (components.code.child) was lost before the line of
    message `position`, with more messages after it: which one it was lost on is unknown."""

    def __init__(self, position: int) -> None:
        super().__init__(position)
        self.position = position


class _Child:
    """One sandbox process and the parent's ends of its pipes."""

    def __init__(self, process: subprocess.Popen[bytes], max_line: int) -> None:
        self.process = process
        self.max_line = max_line
        self.dead = False
        assert process.stdin is not None and process.stdout is not None
        self._stdin = process.stdin
        self._out_fd = process.stdout.fileno()
        self._poll = select.poll()  # not select(): worker processes may hold fds above 1024
        self._poll.register(self._out_fd, select.POLLIN)
        # What the process sent: lines from `_start` on are unread, and up to `_scanned` hold no
        # newline. Read lines are cut off when more is read, not one by one: a grouped write
        # holds many lines, and cutting each off moved all the rest.
        self._buffer = bytearray()
        self._start = 0
        self._scanned = 0

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, payload: Mapping[str, Any]) -> None:
        data = _encode(payload)
        try:
            self._stdin.write(data + b"\n")
            self._stdin.flush()
        except OSError as error:  # BrokenPipeError: it died since the last batch
            raise _ChildGone(str(error)) from None

    def read(self, timeout: float) -> dict[str, Any] | None:
        """The next line as JSON, or None when `timeout` seconds pass without one."""
        deadline = time.monotonic() + timeout
        buffer = self._buffer
        while True:
            end = buffer.find(b"\n", self._scanned)
            if end >= 0:
                line = buffer[self._start : end]
                self._start = self._scanned = end + 1
                try:
                    result: dict[str, Any] = orjson.loads(line)
                except orjson.JSONDecodeError:
                    raise _ChildGone("it sent an unreadable result") from None
                return result
            if self._start:
                del buffer[: self._start]
                self._start = 0
            self._scanned = len(buffer)
            if len(buffer) > self.max_line:
                raise _LineTooLong
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._poll.poll(remaining * 1000):
                return None
            chunk = os.read(self._out_fd, _READ_CHUNK)
            if not chunk:
                raise _ChildGone(self.exit_description())
            buffer += chunk

    def kill(self) -> None:
        self.dead = True
        with contextlib.suppress(OSError):
            self.process.kill()
        self.process.wait()
        self._close_pipes()

    def close(self) -> None:
        """Ask the process to exit (stdin EOF); kill it if it does not."""
        self.dead = True
        with contextlib.suppress(OSError):
            self._stdin.close()
        try:
            self.process.wait(CLOSE_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._close_pipes()

    def abandon(self) -> None:
        """In a forked copy of the owner: drop the inherited pipe ends, leave the process be.

        Raw os.close, not file.close(): a buffered write of the owner's may sit in the copied
        buffer, and flushing it from here would corrupt the owner's stream.
        """
        self.dead = True
        for fd in (self._stdin.fileno(), self._out_fd):
            with contextlib.suppress(OSError):
                os.close(fd)

    def alive(self) -> bool:
        return not self.dead and self.process.poll() is None

    def exit_description(self) -> str:
        try:
            code = self.process.wait(CLOSE_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            return "it closed its output"
        return f"killed by signal {-code}" if code < 0 else f"exit code {code}"

    def _close_pipes(self) -> None:
        assert self.process.stdout is not None
        for pipe in (self._stdin, self.process.stdout):
            with contextlib.suppress(OSError):
                pipe.close()


def _encode(value: Any) -> bytes:
    try:
        return orjson.dumps(value, default=_jsonable)
    except orjson.JSONEncodeError:
        # Keys that are not text (a dict built in Python, not decoded from JSON) become text;
        # the option that allows them makes every encoding about 60% slower, so only here.
        return orjson.dumps(value, default=_jsonable, option=orjson.OPT_NON_STR_KEYS)


def _jsonable(value: Any) -> Any:
    # Message metadata may carry bytes (a Kafka key); user code sees them as text.
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def _spawn_process(limits: SandboxLimits) -> subprocess.Popen[bytes]:
    config = {
        "cpu_seconds": limits.cpu_seconds,
        "memory_mb": limits.memory_mb,
        "max_output_bytes": limits.max_output_bytes,
        "parent_pid": os.getpid(),
    }
    command = [sys.executable, "-E", "-s", "-X", "utf8", "-m", "components.code.child"]
    return subprocess.Popen(
        [*command, orjson.dumps(config).decode()],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={},  # no secrets from the worker's environment ever reach the sandbox
        cwd=_IMPORT_ROOT,
        close_fds=True,
        start_new_session=True,  # out of the terminal's process group: no stray Ctrl-C
    )


class SandboxPool:
    """Up to `size` sandbox processes with the same limits, shared by the threads of a process."""

    def __init__(self, limits: SandboxLimits, size: int = DEFAULT_POOL_SIZE) -> None:
        self.limits = limits
        self.size = max(1, size)
        self._idle: list[_Child] = []
        self._children: set[_Child] = set()
        self._slots_taken = 0  # running children plus ones being started
        self._cond = threading.Condition()
        # Generous: the child also sends the message's logs, which JSON may escape.
        self._max_line = limits.max_output_bytes + 8 * LOG_LIMIT_BYTES + (1 << 16)

    def run_batch(
        self, code: str, messages: list[Any], scope: str | None = None
    ) -> list[MessageResult]:
        """One result per message, in order, from as few sandbox round trips as possible.

        `scope` names whose module-level state the code gets (a flow's step): code loaded for
        one scope is never reused for another, so two flows running the same code share
        nothing. None loads the code for this batch only.

        A failure of one message (exception, time or memory limit, dead process) never fails
        the others. Raises SandboxUnavailable only when no sandbox process can be started.
        """
        results: list[MessageResult | None] = [None] * len(messages)
        runnable: list[int] = []
        payloads: list[orjson.Fragment] = []
        for index, message in enumerate(messages):
            try:
                payloads.append(orjson.Fragment(_encode(message)))
                runnable.append(index)
            except orjson.JSONEncodeError as error:  # e.g. an integer beyond 64 bits
                text = f"the message cannot be passed to the code as JSON: {error}"
                results[index] = MessageResult.failed("input", text)
        outcomes = self._run_encoded(code, scope, payloads)
        for index, result in zip(runnable, outcomes, strict=True):
            results[index] = result
        return [result or MessageResult.failed("crash", "no result") for result in results]

    def _run_encoded(
        self, code: str, scope: str | None, messages: list[orjson.Fragment]
    ) -> list[MessageResult]:
        """The messages on as few processes as it takes, their results grouped (see
        components.code.child) until a process is lost mid-group; the messages it owed a line
        then run again with a line each, so that what killed it is found and only that fails."""
        results: list[MessageResult | None] = [None] * len(messages)
        position, retries, grouped = 0, 0, True
        while position < len(messages):
            child = self._checkout()
            try:
                moved = self._run_on(child, code, scope, messages, position, results, grouped)
            except _GroupLost as lost:
                moved, grouped = lost.position, False
            finally:
                self._checkin(child)
            if moved is None:  # the process was gone before it took the request
                retries += 1
                if retries > 2:
                    raise SandboxUnavailable("sandbox processes keep exiting")
                continue
            position = moved
        return [result or MessageResult.failed("crash", "no result") for result in results]

    def info(self) -> dict[str, Any]:
        """Diagnostics reported by one of the pool's processes (pid, env, rlimits...)."""
        child = self._checkout()
        try:
            child.send({"op": "info"})
            reply = child.read(self.limits.wall_seconds)
            if reply is None:
                child.kill()
                raise SandboxUnavailable("the sandbox process did not answer")
            return reply
        except _ChildGone as error:
            child.kill()
            raise SandboxUnavailable(str(error)) from None
        finally:
            self._checkin(child)

    def close(self) -> None:
        with self._cond:
            children, self._children, self._idle = self._children, set(), []
            self._slots_taken = 0
        for child in children:
            child.close()

    def abandon(self) -> None:
        for child in self._children:
            child.abandon()

    # --- one batch on one process ---------------------------------------------------------

    def _run_on(
        self,
        child: _Child,
        code: str,
        scope: str | None,
        messages: list[orjson.Fragment],
        start: int,
        results: list[MessageResult | None],
        grouped: bool = False,
    ) -> int | None:
        """Run messages[start:] on `child`; returns where to continue (None: nothing ran).
        Raises _GroupLost when a process sending `grouped` results is lost."""
        wall = self.limits.wall_seconds
        request = {
            "op": "run",
            "code": code,
            "scope": scope,
            "messages": messages[start:],
            "grouped": grouped,
        }
        try:
            child.send(request)
        except _ChildGone:
            child.kill()
            telemetry.count("sandbox_kill", reason="crash")
            return None
        try:
            loaded = child.read(wall)
        except (_ChildGone, _LineTooLong) as error:
            child.kill()
            return self._fail_rest(results, start, *self._death(child, error))
        if loaded is None:
            child.kill()
            telemetry.count("sandbox_kill", reason="wall_time")
            message = f"time limit exceeded: the module-level code ran longer than {wall:g} s"
            return self._fail_rest(results, start, "time", message)
        if "fatal" in loaded or "loaded" not in loaded:
            text = loaded.get("error") or loaded.get("fatal") or "the code could not be loaded"
            failures = [
                MessageResult(error=text, line=loaded.get("line"), kind=loaded.get("kind"))
                for _ in range(start, len(messages))
            ]
            # What the module-level code printed before it failed helps to see why.
            failures[0].logs = list(loaded.get("logs") or [])
            results[start:] = failures
            return len(messages)
        module_logs: list[str] = loaded.get("logs") or []
        last = len(messages) - 1
        for index in range(start, len(messages)):
            in_group = index if grouped and index < last else None
            result = results[index] = self._read_result(child, wall, in_group)
            if index == start:
                result.logs[:0] = module_logs  # what the module-level code printed on load
            if child.dead:
                return index + 1  # continue on a fresh process
        return len(messages)

    def _read_result(
        self, child: _Child, wall: float, in_group: int | None = None
    ) -> MessageResult:
        """The next message's result. `in_group`: the message's position when its line comes
        grouped and more messages follow; a process lost then was not lost on this message
        for sure (raises _GroupLost, counting no kill: the message it was is counted when
        found)."""
        started = time.monotonic()
        lost: _ChildGone | _LineTooLong | None = None
        try:
            reply = child.read(wall)
        except (_ChildGone, _LineTooLong) as error:
            reply, lost = None, error
        if reply is not None:
            return MessageResult(
                outputs=reply.get("outputs") or [],
                logs=reply.get("logs") or [],
                error=reply.get("error"),
                line=reply.get("line"),
                kind=reply.get("kind"),
                duration_ms=float(reply.get("ms") or 0.0),
            )
        child.kill()
        if in_group is not None:
            raise _GroupLost(in_group)
        if isinstance(lost, _LineTooLong):
            telemetry.count("sandbox_kill", reason="output")
            return MessageResult.failed("output", "output too large")
        if lost is not None:
            return MessageResult.failed(*self._death(child, lost))
        telemetry.count("sandbox_kill", reason="wall_time")
        return MessageResult.failed(
            "time",
            f"time limit exceeded: no result within {wall:g} s (the sandbox was restarted)",
            duration_ms=(time.monotonic() - started) * 1000,
        )

    def _death(self, child: _Child, error: Exception) -> tuple[str, str]:
        """Why the child died, as a failure kind and message (it was killed and reaped);
        counted as a sandbox kill."""
        code = child.process.returncode
        if code == -signal.SIGXCPU:  # RLIMIT_CPU: C code that never returned in time
            telemetry.count("sandbox_kill", reason="cpu_time")
            cpu = self.limits.cpu_seconds
            return "time", f"time limit exceeded: more than {cpu:g} s of CPU (in C code)"
        if code == -signal.SIGSYS:  # the seccomp filter's kill action
            telemetry.count("sandbox_kill", reason="violation")
            return "violation", "sandbox violation: a forbidden system call was attempted"
        telemetry.count(
            "sandbox_kill", reason="output" if isinstance(error, _LineTooLong) else "crash"
        )
        return "crash", f"the sandbox process died ({error})"

    @staticmethod
    def _fail_rest(results: list[MessageResult | None], start: int, kind: str, error: str) -> int:
        for index in range(start, len(results)):
            results[index] = MessageResult.failed(kind, error)
        return len(results)

    # --- checkout -------------------------------------------------------------------------

    def _checkout(self) -> _Child:
        with self._cond:
            while True:
                while self._idle:
                    child = self._idle.pop()
                    if child.alive():
                        return child
                    self._forget(child)  # died while idle (killed from outside)
                if self._slots_taken < self.size:
                    break
                self._cond.wait()
            self._slots_taken += 1
        try:
            child = self._start()  # outside the lock: starting takes a while
        except BaseException:
            with self._cond:
                self._slots_taken -= 1
                self._cond.notify()
            raise
        with self._cond:
            self._children.add(child)
        return child

    def _checkin(self, child: _Child) -> None:
        with self._cond:
            if child.alive():
                self._idle.append(child)
            else:
                self._forget(child)
            self._cond.notify()

    def _forget(self, child: _Child) -> None:
        if child in self._children:
            self._children.discard(child)
            self._slots_taken -= 1
        child.kill()  # reaps it and closes the pipes

    def _start(self) -> _Child:
        try:
            process = _spawner().submit(_spawn_process, self.limits).result()
        except OSError as error:
            raise SandboxUnavailable(f"cannot start a sandbox process: {error}") from None
        child = _Child(process, self._max_line)
        try:
            ready = child.read(SPAWN_TIMEOUT_SECONDS)
        except (_ChildGone, _LineTooLong) as error:
            child.kill()
            raise SandboxUnavailable(f"the sandbox process failed to start: {error}") from None
        if not ready or not ready.get("ready"):
            child.kill()
            raise SandboxUnavailable("the sandbox process did not become ready")
        return child


# --- the per-process registry -------------------------------------------------------------

_pools: dict[SandboxLimits, SandboxPool] = {}
_registry_lock = threading.Lock()
_owner_pid = os.getpid()
_spawner_executor: ThreadPoolExecutor | None = None
# Pools inherited through fork stay referenced so their pipe objects are never finalised
# (and flushed) in the copy.
_abandoned: list[SandboxPool] = []


def get_pool(limits: SandboxLimits | None = None, size: int = DEFAULT_POOL_SIZE) -> SandboxPool:
    """This process's pool for `limits`, created on first use (thread-safe, fork-aware)."""
    if os.getpid() != _owner_pid:
        _after_fork_in_child()
    limits = limits or SandboxLimits()
    with _registry_lock:
        pool = _pools.get(limits)
        if pool is None:
            pool = _pools[limits] = SandboxPool(limits, size)
        elif size > pool.size:
            with pool._cond:
                pool.size = size
                pool._cond.notify_all()
        return pool


def shutdown_pools() -> None:
    """Stop every sandbox process this process started (at exit, and for tests)."""
    if os.getpid() != _owner_pid:
        return
    with _registry_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.close()


def _spawner() -> ThreadPoolExecutor:
    """The one long-lived thread that starts sandbox processes.

    PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, not the process:
    spawning from a short-lived request thread would kill the sandbox along with it.
    """
    global _spawner_executor
    with _registry_lock:
        if _spawner_executor is None:
            _spawner_executor = ThreadPoolExecutor(1, thread_name_prefix="code-sandbox-spawner")
        return _spawner_executor


def _after_fork_in_child() -> None:
    global _pools, _registry_lock, _owner_pid, _spawner_executor
    if os.getpid() == _owner_pid:
        return
    for pool in _pools.values():
        pool.abandon()
        _abandoned.append(pool)
    _pools = {}
    _registry_lock = threading.Lock()  # another thread may have held it at fork time
    _spawner_executor = None  # its thread does not exist in the copy
    _owner_pid = os.getpid()


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(shutdown_pools)


# --- one message, for the editor's "run" button -------------------------------------------


@dataclass
class CodeRunResult:
    outputs: list[Any]
    logs: list[str]
    error: str | None = None
    line: int | None = None


def run_code(
    code: str, message: Mapping[str, Any], *, limits: SandboxLimits | None = None
) -> CodeRunResult:
    """Run `code` on one message in the sandbox, as the code step would.

    `message` is {"body": ..., "headers": {...}, "meta": {...}} (headers and meta optional).
    Never raises for a problem with the code or the message: `error` says what went wrong
    (compile error or violation with its line, limit exceeded, exception with its line).
    """
    if not isinstance(message, Mapping) or "body" not in message:
        return CodeRunResult([], [], 'message must be a JSON object with a "body"')
    msg = {
        "id": str(message.get("id") or "test"),
        "body": message["body"],
        "headers": dict(message.get("headers") or {}),
        "meta": dict(message.get("meta") or {}),
    }
    try:
        [result] = get_pool(limits).run_batch(code, [msg])
    except SandboxUnavailable as error:
        return CodeRunResult([], [], f"the code sandbox is unavailable: {error}")
    return CodeRunResult(result.outputs, result.logs, result.error, result.line)
