"""The sandbox process: runs user transforms for one parent, one request line at a time.

Started by `components.code.sandbox` as `python -E -s -m components.code.child '<config>'`
with an empty environment. Protocol, newline-delimited JSON over stdin/stdout:

    child  -> {"ready": true, "pid": N}                       once, after hardening
    parent -> {"op": "run", "code": "...", "messages": [...]}
    child  -> {"loaded": true, "logs": [...]}                 or {"fatal": ..., "line", "kind"}
    child  -> {"outputs", "logs", "ms", "error", "line", "kind"}   one line per message, in order
    parent -> {"op": "info"}                                  diagnostics for tests and ops
    child  -> {"pid", "env", "rlimits", ...}

One line per message lets the parent attribute a hang to the right message. The child exits
on stdin EOF (the parent closed the pipe or died) and through PR_SET_PDEATHSIG.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import hashlib
import importlib
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

from components.code import restricted

# Deep enough for real transforms, shallow enough that the C stack is never at risk.
RECURSION_LIMIT = 250
COMPILE_RECURSION_LIMIT = 2000
PROGRAM_CACHE_SIZE = 16
# A swallowed CPU-limit exception is raised again every 50 ms of CPU until run() gives up.
CPU_LIMIT_REPEAT_SECONDS = 0.05
MAX_OPEN_FILES = 16
_PRELOADED = (
    *restricted.ALLOWED_MODULES,
    "collections.abc",
    "json.decoder",
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

_PR_SET_PDEATHSIG = 1
_PR_SET_NO_NEW_PRIVS = 38
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000


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
    """Per-message CPU limit through ITIMER_PROF, as a context manager around user code."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.armed = False
        self.fired = False
        signal.signal(signal.SIGPROF, self._on_signal)

    def _on_signal(self, signum: int, frame: types.FrameType | None) -> None:
        # The timer can fire just after user code returned; only raise while it is armed.
        if self.armed:
            self.fired = True
            raise CpuLimitExceeded

    def __enter__(self) -> None:
        self.fired = False
        self.armed = True
        signal.setitimer(signal.ITIMER_PROF, self.seconds, CPU_LIMIT_REPEAT_SECONDS)

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.armed = False
        signal.setitimer(signal.ITIMER_PROF, 0, 0)


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

    # --- protocol -----------------------------------------------------------------------

    def serve(self, stdin: IO[bytes]) -> None:
        self.send({"ready": True, "pid": os.getpid()})
        while True:
            line = stdin.readline()
            if not line:
                return  # the parent closed the pipe or died
            request = orjson.loads(line)
            if request.get("op") == "run":
                self.serve_run(request["code"], request["messages"])
            elif request.get("op") == "info":
                self.send(self.info())
            else:
                self.send({"fatal": f"unknown request {request.get('op')!r}", "kind": "protocol"})

    def send(self, payload: dict[str, Any]) -> None:
        data = memoryview(orjson.dumps(payload) + b"\n")
        while data:
            written = os.write(self.out_fd, data)
            data = data[written:]

    def serve_run(self, code: str, messages: list[Any]) -> None:
        key = hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()
        try:
            self.program(key, code)
        except LoadError as error:
            self.send({**error.failure, "logs": self.sink.reset()})
            return
        self.send({"loaded": True, "logs": self.sink.reset()})
        for message in messages:
            self.send(self.run_message(key, code, message))

    # --- programs -----------------------------------------------------------------------

    def program(self, key: str, code: str) -> Program:
        """The loaded program for `code`, compiling and running its module code on a miss."""
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
            module_code = restricted.compile_code(code)
        except restricted.CodeCompileError as error:
            raise LoadError(
                _failure("compile", error.problem.message, error.problem.line)
            ) from None
        finally:
            sys.setrecursionlimit(RECURSION_LIMIT)
        namespace = restricted.make_globals(self.sink)
        try:
            with self.timer:
                exec(module_code, namespace)  # noqa: S102 - restricted code, in the sandbox
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
        gc.collect()

    # --- messages -----------------------------------------------------------------------

    def run_message(self, key: str, code: str, message: Any) -> dict[str, Any]:
        self.sink.reset()
        started = time.perf_counter()
        try:
            program = self.program(key, code)
        except LoadError as error:
            return {**error.failure, "logs": self.sink.reset(), "ms": _ms_since(started)}
        try:
            with self.timer:
                data = encode_outputs(program.run(message), self.config.max_output_bytes)
            if self.timer.fired:  # user code caught the limit and carried on
                raise CpuLimitExceeded
            result = {"outputs": orjson.Fragment(data), "error": None, "line": None, "kind": None}
        except BaseException as error:
            self.timer.stop()
            result = self.describe(error)
        return {**result, "logs": self.sink.reset(), "ms": _ms_since(started)}

    def describe(self, error: BaseException) -> dict[str, Any]:
        line = restricted.error_line(error)
        if isinstance(error, CpuLimitExceeded):
            limit = self.config.cpu_seconds
            return _failure("time", f"time limit exceeded: more than {limit:g} s of CPU", line)
        if isinstance(error, MemoryError):
            self.forget_programs()
            limit = self.config.memory_mb
            return _failure("memory", f"memory limit exceeded: more than {limit} MB", line)
        if isinstance(error, OutputError):
            return _failure("output", str(error), None)
        return _failure("exception", f"{type(error).__name__}: {error}", line)

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
            "no_new_privs": _proc_status("NoNewPrivs") == "1",
            "recursion_limit": sys.getrecursionlimit(),
            **self.isolation,
        }


def _failure(kind: str, message: str, line: int | None) -> dict[str, Any]:
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
        elif isinstance(item, list | tuple):
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


# --- hardening ----------------------------------------------------------------------------


def harden(config: ChildConfig) -> dict[str, Any]:
    """Confine this process before any user code runs; returns what isolation was achieved."""
    os.environ.clear()  # spawned with an empty env; this also drops what locale coercion set
    libc = ctypes.CDLL(None, use_errno=True)
    # A fresh user + network namespace leaves no network at all (only a down loopback) and no
    # capabilities. Best effort: container runtimes often forbid it, the rlimits still apply.
    network_isolated = libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) == 0
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != config.parent_pid:
        os._exit(0)  # the parent died before the death signal was armed
    baseline = _address_space_bytes()
    memory = baseline + config.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (MAX_OPEN_FILES, MAX_OPEN_FILES))
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))  # ignored for root, refused by some
    no_new_privs = libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
    os.chdir("/")
    sys.setrecursionlimit(RECURSION_LIMIT)
    return {
        "network_isolated": network_isolated,
        "no_new_privs_set": no_new_privs,
        "baseline_bytes": baseline,
    }


def _address_space_bytes() -> int:
    return int(_proc_status("VmSize").split()[0]) * 1024


def _proc_status(field: str) -> str:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name == field:
                return value.strip()
    return ""


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
    warnings.simplefilter("ignore")
    for name in _PRELOADED:
        importlib.import_module(name)
    # The protocol gets a private copy of stdout; fd 1 points at stderr so a stray write by
    # any library cannot corrupt the result stream.
    out_fd = os.dup(1)
    os.dup2(2, 1)
    isolation = harden(config)
    Worker(config, out_fd, isolation).serve(sys.stdin.buffer)


if __name__ == "__main__":
    main()
