"""The sandbox process: runs user transforms for one parent, one request line at a time.

Started by `components.code.sandbox` as `python -E -s -m components.code.child '<config>'`
with an empty environment. Protocol, newline-delimited JSON over stdin/stdout:

    child  -> {"ready": true, "pid": N}                       once, after hardening
    parent -> {"op": "run", "code": "...", "scope": "..." | null, "messages": [...],
               "grouped": bool}
    child  -> {"loaded": true, "logs": [...]}                 or {"fatal": ..., "line", "kind"}
    child  -> {"outputs", "logs", "ms", "error", "line", "kind"}   one line per message, in order
    parent -> {"op": "info"}                                  diagnostics for tests and ops
    child  -> {"pid", "env", "rlimits", ...}

One line per message lets the parent attribute a hang to the right message. With `grouped`,
the lines of messages that follow each other within GROUP_SECONDS go out in one write: a write
per message (and the parent woken for each) was a third of the child's profile. A parent that
loses a grouped process cannot tell which message it died on, so it runs the messages it has
no line for again, one write each (components.code.sandbox). The child exits on stdin EOF (the
parent closed the pipe or died) and through PR_SET_PDEATHSIG.

Loaded programs are cached per (scope, code): two flows running the same code never share
module-level state. A null scope (the editor's "run") loads the code afresh and forgets it.

Start-up order matters: import and warm up everything user code may reach (`modules`),
confine the process (`confine.harden`), load the seccomp filter, and only then arm the audit
hook (`audit.arm`), after which nothing may import, open or compile outside a trusted section.
"""

from __future__ import annotations

import gc
import hashlib
import importlib
import math
import os
import resource
import signal
import sys
import time
import types
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

import orjson

from components.code import audit, confine, modules, restricted

# Deep enough for real transforms, shallow enough that the C stack is never at risk.
RECURSION_LIMIT = 250
COMPILE_RECURSION_LIMIT = 2000
PROGRAM_CACHE_SIZE = 16
MAX_ERROR_CHARS = 2000
# A swallowed CPU-limit exception is raised again every 50 ms of CPU until run() gives up.
CPU_LIMIT_REPEAT_SECONDS = 0.05
# RLIMIT_CPU, the kernel's backstop for C code that never returns to the interpreter (so the
# timer's exception cannot be raised), lets a message run this long past the CPU limit.
KERNEL_CPU_GRACE_SECONDS = 1.0
_PRELOADED = (
    *modules.EXPOSED,
    "_strptime",  # datetime's strptime and strftime import these lazily
    "time",
    "encodings.ascii",
    "encodings.latin_1",
    "encodings.utf_16",
    "encodings.utf_32",
)
_ENCODE_OPTIONS = (
    orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)
_MAX_JSON_DEPTH = 200
# Grouped results (see the module docstring) go out once they are this old or this large: far
# below any wall-clock limit, so the parent never waits on a line the child holds back.
GROUP_SECONDS = 0.002
GROUP_BYTES = 1 << 16


@dataclass(frozen=True)
class ChildConfig:
    cpu_seconds: float
    memory_mb: int
    max_output_bytes: int
    parent_pid: int


class CpuLimitExceeded(BaseException):
    """Raised into user code by SIGPROF; a BaseException so `except Exception` lets it pass."""


class OutputError(Exception):
    """run() returned something that cannot become message bodies."""


class LoadError(Exception):
    """The program could not be compiled or its module-level code failed."""

    def __init__(self, failure: dict[str, Any]) -> None:
        super().__init__(failure["error"])
        self.failure = failure


class CpuTimer:
    """Per-message CPU limit through ITIMER_PROF, as a context manager around user code.

    Backed by RLIMIT_CPU: the timer's exception can only be raised between bytecodes, so a
    single C call that never returns (`sum(itertools.repeat(1))`) would escape it; the
    kernel then kills the process with SIGXCPU and the parent reports the time limit.
    The soft limit is kept between `seconds + grace` and `seconds + grace + 1` ahead of the
    CPU time used, re-armed from what the timer measured rather than with a syscall per
    message.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.armed = False
        self.fired = False
        self.spent_since_rearm = 0.0
        signal.signal(signal.SIGPROF, self._on_signal)
        self.rearm_kernel_limit()

    def rearm_kernel_limit(self) -> None:
        soft = math.ceil(time.process_time() + self.seconds + KERNEL_CPU_GRACE_SECONDS)
        with audit.GATE.trust():
            resource.setrlimit(resource.RLIMIT_CPU, (soft, resource.RLIM_INFINITY))
        self.spent_since_rearm = 0.0

    def _on_signal(self, signum: int, frame: types.FrameType | None) -> None:
        # The timer can fire just after user code returned; only raise while it is armed.
        if self.armed:
            self.fired = True
            raise CpuLimitExceeded

    def __enter__(self) -> None:
        if self.spent_since_rearm > 0.5:
            self.rearm_kernel_limit()
        self.fired = False
        self.armed = True
        signal.setitimer(signal.ITIMER_PROF, self.seconds, CPU_LIMIT_REPEAT_SECONDS)

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        if not self.armed:
            return
        self.armed = False
        remaining, _ = signal.setitimer(signal.ITIMER_PROF, 0, 0)
        # Once fired, how long the code went on is unknown: re-arm before the next message.
        self.spent_since_rearm += math.inf if self.fired else self.seconds - remaining


@dataclass
class Program:
    run: Callable[[Any], Any]


class Worker:
    def __init__(self, config: ChildConfig, out_fd: int, isolation: dict[str, Any]) -> None:
        self.config = config
        self.out_fd = out_fd
        self.isolation = isolation
        self.sink = restricted.LogSink()
        self.timer = CpuTimer(config.cpu_seconds)
        self.programs: OrderedDict[str, Program] = OrderedDict()
        self.generation = 0  # bumped when the cache is dropped (after a MemoryError)
        self.writes = 0  # to the parent, for `info`: how well results are grouped

    # --- protocol -----------------------------------------------------------------------

    def serve(self, stdin: IO[bytes]) -> None:
        self.send({"ready": True, "pid": os.getpid()})
        while True:
            line = stdin.readline()
            if not line:
                return  # the parent closed the pipe or died
            request = orjson.loads(line)
            if request.get("op") == "run":
                self.serve_run(
                    request["code"],
                    request.get("scope"),
                    request["messages"],
                    bool(request.get("grouped")),
                )
            elif request.get("op") == "info":
                self.send(self.info())
            else:
                self.send({"fatal": f"unknown request {request.get('op')!r}", "kind": "protocol"})

    def send(self, payload: dict[str, Any]) -> None:
        self.write(orjson.dumps(payload, option=orjson.OPT_APPEND_NEWLINE))

    def write(self, data: bytes) -> None:
        self.writes += 1
        view = memoryview(data)
        while view:
            written = os.write(self.out_fd, view)
            view = view[written:]

    def serve_run(
        self, code: str, scope: str | None, messages: list[Any], grouped: bool = False
    ) -> None:
        # Whatever the previous batch (maybe another flow) did to process-wide state goes.
        modules.reset_shared_state()
        # Reading the request was CPU the timer did not see (a large batch takes a while).
        self.timer.rearm_kernel_limit()
        batch = Batch(self, code, scope)
        try:
            batch.program()
        except LoadError as error:
            self.send({**error.failure, "logs": self.sink.reset()})
            return
        # On its own: the parent must know the code loaded before any message can fail.
        self.send({"loaded": True, "logs": self.sink.reset()})
        lines: list[bytes] = []
        size, written = 0, time.perf_counter()
        for message in messages:
            line = orjson.dumps(self.run_message(batch, message), option=orjson.OPT_APPEND_NEWLINE)
            lines.append(line)
            size += len(line)
            now = time.perf_counter()
            if not grouped or now - written >= GROUP_SECONDS or size >= GROUP_BYTES:
                self.write(b"".join(lines))
                lines.clear()
                size, written = 0, now
        if lines:
            self.write(b"".join(lines))

    # --- programs -----------------------------------------------------------------------

    def cached_program(self, key: str, code: str) -> Program:
        """The loaded program for `key`, compiling and running its module code on a miss."""
        program = self.programs.get(key)
        if program is not None:
            self.programs.move_to_end(key)
            return program
        program = self.load(code)
        self.programs[key] = program
        if len(self.programs) > PROGRAM_CACHE_SIZE:
            self.programs.popitem(last=False)
        return program

    def load(self, code: str) -> Program:
        self.sink.reset()
        sys.setrecursionlimit(COMPILE_RECURSION_LIMIT)
        try:
            with audit.GATE.trust():  # compiling runs no user code
                module_code = restricted.compile_code(code)
        except restricted.CodeCompileError as error:
            raise LoadError(
                _failure("compile", error.problem.message, error.problem.line)
            ) from None
        finally:
            sys.setrecursionlimit(RECURSION_LIMIT)
        self.timer.rearm_kernel_limit()  # compiling is CPU the timer did not see
        namespace = restricted.make_globals(self.sink)
        try:
            with self.timer:
                audit.GATE.allow_one_exec()
                exec(module_code, namespace)  # noqa: S102 - restricted code, in the sandbox
            self.check_violation()
        except BaseException as error:
            self.timer.stop()
            raise LoadError(self.describe(error)) from None
        run = namespace.get(restricted.ENTRY_POINT)
        if not callable(run):
            raise LoadError(_failure("compile", "the code must define a function run(msg)", None))
        return Program(run=run)

    def forget_programs(self) -> None:
        # After a MemoryError the module state may be what filled memory: start clean.
        self.programs.clear()
        self.generation += 1
        gc.collect()

    # --- messages -----------------------------------------------------------------------

    def run_message(self, batch: Batch, message: Any) -> dict[str, Any]:
        self.sink.reset()
        started = time.perf_counter()
        try:
            program = batch.program()
        except LoadError as error:
            return {**error.failure, "logs": self.sink.reset(), "ms": _ms_since(started)}
        try:
            with self.timer:
                data = encode_outputs(program.run(message), self.config.max_output_bytes)
            if self.timer.fired:  # user code caught the limit and carried on
                raise CpuLimitExceeded
            self.check_violation()
            result = {"outputs": orjson.Fragment(data), "error": None, "line": None, "kind": None}
        except BaseException as error:
            self.timer.stop()
            result = self.describe(error)
        return {**result, "logs": self.sink.reset(), "ms": _ms_since(started)}

    @staticmethod
    def check_violation() -> None:
        # User code may have caught the SandboxViolation and carried on: it still fails.
        if audit.GATE.violation is not None:
            raise audit.SandboxViolation(audit.GATE.violation)

    def describe(self, error: BaseException) -> dict[str, Any]:
        with audit.GATE.trust():  # reading the traceback's frames runs no user code
            line = restricted.error_line(error)
        violation = audit.GATE.take_violation()
        if violation is not None:
            return _failure("violation", violation, line)
        if isinstance(error, CpuLimitExceeded):
            limit = self.config.cpu_seconds
            return _failure("time", f"time limit exceeded: more than {limit:g} s of CPU", line)
        if isinstance(error, MemoryError):
            self.forget_programs()
            limit = self.config.memory_mb
            return _failure("memory", f"memory limit exceeded: more than {limit} MB", line)
        if isinstance(error, OutputError):
            return _failure("output", str(error), None)
        try:
            text = f"{type(error).__name__}: {error}"
        except BaseException:
            text = f"{type(error).__name__} (its message could not be shown)"
        return _failure("exception", text, line)

    def info(self) -> dict[str, Any]:
        limits = {
            name: list(resource.getrlimit(getattr(resource, f"RLIMIT_{name.upper()}")))
            for name in ("as", "fsize", "nofile", "nproc", "core")
        }
        return {
            "pid": os.getpid(),
            "ppid": os.getppid(),
            "env": dict(os.environ),
            "rlimits": limits,
            "recursion_limit": sys.getrecursionlimit(),
            "writes": self.writes,
            **self.isolation,
        }


class Batch:
    """One run request: its program, loaded again if the cache was dropped mid-batch."""

    def __init__(self, worker: Worker, code: str, scope: str | None) -> None:
        self.worker = worker
        self.code = code
        # A null scope is a one-off run (the editor's button): never cached, never shared.
        self.key = None if scope is None else _program_key(scope, code)
        self._program: Program | None = None
        self._generation = -1

    def program(self) -> Program:
        worker = self.worker
        if self._program is None or self._generation != worker.generation:
            self._generation = worker.generation
            if self.key is None:
                self._program = worker.load(self.code)
            else:
                self._program = worker.cached_program(self.key, self.code)
        return self._program


def _program_key(scope: str, code: str) -> str:
    # Length-prefixed: no (scope, code) pair can be made to hash like another one.
    scope_bytes = scope.encode("utf-8", "surrogatepass")
    digest = hashlib.sha256(len(scope_bytes).to_bytes(8, "big") + scope_bytes)
    digest.update(code.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _failure(kind: str, message: str, line: int | None) -> dict[str, Any]:
    if len(message) > MAX_ERROR_CHARS:  # `raise ValueError(huge)` must not flood the log
        message = message[:MAX_ERROR_CHARS] + " ... (error message truncated)"
    text = f"line {line}: {message}" if line else message
    return {"outputs": None, "error": text, "line": line, "kind": kind}


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


# --- outputs ------------------------------------------------------------------------------


def encode_outputs(value: Any, max_bytes: int) -> bytes:
    """The JSON array of output bodies for run()'s return value."""
    if value is None:
        items: list[Any] = []
    elif isinstance(value, dict):
        items = [value]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise OutputError(
            f"run() returned {type(value).__name__}: return a dict (one message), "
            "a list (one message per item) or None (drop the message)"
        )
    try:
        data = orjson.dumps(items, default=_refuse, option=_ENCODE_OPTIONS)
    except orjson.JSONEncodeError:
        raise OutputError(
            f"run() returned a value that is not JSON-serialisable: {_unserialisable(value)}"
        ) from None
    if len(data) > max_bytes:
        raise OutputError(f"output too large: {len(data)} bytes (limit {max_bytes})")
    return data


def _refuse(value: Any) -> Any:
    raise TypeError(type(value).__name__)


_CONVERSION_HINTS = {
    "datetime": "use .isoformat() or .timestamp()",
    "date": "use .isoformat()",
    "time": "use .isoformat()",
    "Decimal": "use float() or str()",
    "set": "use list() or sorted()",
    "frozenset": "use list() or sorted()",
    "bytes": "use .decode() or base64",
}


def _unserialisable(value: Any) -> str:
    """Where in `value` the first thing JSON cannot carry is, for the error message."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        where = path or "the top level"
        if depth > _MAX_JSON_DEPTH:
            return f"nested more than {_MAX_JSON_DEPTH} levels at {where} (a circular reference?)"
        if item is None or isinstance(item, bool | str | float):
            continue
        if isinstance(item, int):
            if not -(2**63) <= item < 2**64:
                return f"integer at {where} is larger than 64 bits (convert it to str)"
        elif type(item) in (list, tuple):  # orjson refuses subclasses (namedtuples)
            stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in reversed(list(enumerate(item))))
        elif isinstance(item, dict):
            for key in reversed(list(item)):
                if key is not None and not isinstance(key, str | int | float | bool):
                    return f"dict key of type {type(key).__name__} at {where} (use str keys)"
                child = f"{path}.{key}" if path else str(key)
                stack.append((item[key], child, depth + 1))
        else:
            name = type(item).__name__
            hint = _CONVERSION_HINTS.get(name, "convert it to a dict, list, str or number")
            return f"{name} at {where} ({hint})"
    return "nested too deeply"


# --- start-up -----------------------------------------------------------------------------


def _ignore_unraisable(unraisable: Any) -> None:
    return None


def confine_process(config: ChildConfig) -> dict[str, Any]:
    """Every OS-level layer (see `confine`), then the audit hook; returns what took effect."""
    isolation = confine.harden(config.memory_mb, config.parent_pid)
    isolation["no_new_privs"] = confine.proc_status("NoNewPrivs") == "1"
    sys.setrecursionlimit(RECURSION_LIMIT)
    # Last syscall-level step: the filter refuses what the steps above needed (unshare...).
    isolation["seccomp"] = confine.install_seccomp()
    audit.arm()
    isolation["audit_hook"] = True
    return isolation


def main() -> None:
    raw = orjson.loads(sys.argv[1])
    config = ChildConfig(
        cpu_seconds=float(raw["cpu_seconds"]),
        memory_mb=int(raw["memory_mb"]),
        max_output_bytes=int(raw["max_output_bytes"]),
        parent_pid=int(raw["parent_pid"]),
    )
    # Ctrl-C in a terminal reaches the whole process group; the parent decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # fd 2 is the worker's own log: user code must not be able to write to it, neither by
    # warnings nor by exceptions nobody can catch (a generator's `finally` raising in GC).
    warnings.simplefilter("ignore")
    sys.unraisablehook = _ignore_unraisable
    for name in _PRELOADED:
        importlib.import_module(name)
    modules.warm_up()
    # The protocol gets a private copy of stdout; fd 1 goes to /dev/null so a stray write by
    # any library (re.DEBUG prints) cannot corrupt the result stream or fill the worker's log.
    out_fd = os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)
    worker = Worker(config, out_fd, {})
    worker.isolation = confine_process(config)
    try:
        worker.serve(sys.stdin.buffer)
    except BaseException:
        sys.excepthook(*sys.exc_info())  # to the worker's stderr, for its log
        os._exit(1)
    # No interpreter finalisation: it clears the audit hooks before tearing down modules,
    # whose destructors code that had escaped could have planted.
    os._exit(0)


if __name__ == "__main__":
    main()
