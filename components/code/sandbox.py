"""Parent side of the code sandbox: a small per-process pool of pre-started child processes.

User code never runs in the calling process. Each pool keeps up to `size` children (see
`child.py`) started once and reused; a batch goes to one child in one request, and the child
streams one result line per message. The parent enforces the wall-clock limit: when a message
gets no answer in time its child is killed, the message fails with "time limit exceeded", and
the rest of the batch continues on a fresh child.

Pools are per process: after a fork (Celery prefork) the child process starts its own pools
and never touches its parent's sandbox processes. One process's pipes, start and end are in
`process.py`; the limits in `limits.py`.
"""

from __future__ import annotations

import atexit
import os
import signal
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson

from components import telemetry
from components.code.limits import SandboxLimits, limits_from_settings
from components.code.process import (
    LineTooLong,
    ProcessGone,
    SandboxProcess,
    encode,
    spawn_process,
)
from components.code.restricted import LOG_LIMIT_BYTES

__all__ = [
    "DEFAULT_POOL_SIZE",
    "CodeRunResult",
    "MessageResult",
    "SandboxLimits",
    "SandboxPool",
    "SandboxUnavailable",
    "get_pool",
    "limits_from_settings",
    "run_code",
    "shutdown_pools",
]

DEFAULT_POOL_SIZE = 1
SPAWN_TIMEOUT_SECONDS = 15.0


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


class _GroupLost(Exception):
    """A process sending grouped results (components.code.child) was lost before the line of
    message `position`, with more messages after it: which one it was lost on is unknown."""

    def __init__(self, position: int) -> None:
        super().__init__(position)
        self.position = position


class SandboxPool:
    """Up to `size` sandbox processes with the same limits, shared by the threads of a process."""

    def __init__(self, limits: SandboxLimits, size: int = DEFAULT_POOL_SIZE) -> None:
        self.limits = limits
        self.size = max(1, size)
        self._idle: list[SandboxProcess] = []
        self._children: set[SandboxProcess] = set()
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
                payloads.append(orjson.Fragment(encode(message)))
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
        except ProcessGone as error:
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
        child: SandboxProcess,
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
        except ProcessGone:
            child.kill()
            telemetry.count("sandbox_kill", reason="crash")
            return None
        try:
            loaded = child.read(wall)
        except (ProcessGone, LineTooLong) as error:
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
        self, child: SandboxProcess, wall: float, in_group: int | None = None
    ) -> MessageResult:
        """The next message's result. `in_group`: the message's position when its line comes
        grouped and more messages follow; a process lost then was not lost on this message
        for sure (raises _GroupLost, counting no kill: the message it was is counted when
        found)."""
        started = time.monotonic()
        lost: ProcessGone | LineTooLong | None = None
        try:
            reply = child.read(wall)
        except (ProcessGone, LineTooLong) as error:
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
        if isinstance(lost, LineTooLong):
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

    def _death(self, child: SandboxProcess, error: Exception) -> tuple[str, str]:
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
            "sandbox_kill", reason="output" if isinstance(error, LineTooLong) else "crash"
        )
        return "crash", f"the sandbox process died ({error})"

    @staticmethod
    def _fail_rest(results: list[MessageResult | None], start: int, kind: str, error: str) -> int:
        for index in range(start, len(results)):
            results[index] = MessageResult.failed(kind, error)
        return len(results)

    # --- checkout -------------------------------------------------------------------------

    def _checkout(self) -> SandboxProcess:
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

    def _checkin(self, child: SandboxProcess) -> None:
        with self._cond:
            if child.alive():
                self._idle.append(child)
            else:
                self._forget(child)
            self._cond.notify()

    def _forget(self, child: SandboxProcess) -> None:
        if child in self._children:
            self._children.discard(child)
            self._slots_taken -= 1
        child.kill()  # reaps it and closes the pipes

    def _start(self) -> SandboxProcess:
        try:
            process = _spawner().submit(spawn_process, self.limits).result()
        except OSError as error:
            raise SandboxUnavailable(f"cannot start a sandbox process: {error}") from None
        child = SandboxProcess(process, self._max_line)
        try:
            ready = child.read(SPAWN_TIMEOUT_SECONDS)
        except (ProcessGone, LineTooLong) as error:
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
