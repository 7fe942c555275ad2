"""One sandbox process as its parent sees it: started with its limits and an empty
environment, a request written to its stdin, its results read back one JSON line at a time
with a deadline, and killed or closed. The pool (components.code.sandbox) decides what to do
when one is lost; the process side is components.code.child."""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from components.code.limits import SandboxLimits

CLOSE_TIMEOUT_SECONDS = 1.0
_READ_CHUNK = 1 << 16
# The directory holding the `components` package, so `-m components.code.child` resolves.
_IMPORT_ROOT = str(Path(__file__).resolve().parents[2])


class ProcessGone(Exception):
    """The sandbox process exited or closed its end of a pipe."""


class LineTooLong(Exception):
    """The sandbox process sent more than any valid result could hold."""


class SandboxProcess:
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
        data = encode(payload)
        try:
            self._stdin.write(data + b"\n")
            self._stdin.flush()
        except OSError as error:  # BrokenPipeError: it died since the last batch
            raise ProcessGone(str(error)) from None

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
                    raise ProcessGone("it sent an unreadable result") from None
                return result
            if self._start:
                del buffer[: self._start]
                self._start = 0
            self._scanned = len(buffer)
            if len(buffer) > self.max_line:
                raise LineTooLong
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._poll.poll(remaining * 1000):
                return None
            chunk = os.read(self._out_fd, _READ_CHUNK)
            if not chunk:
                raise ProcessGone(self.exit_description())
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


def encode(value: Any) -> bytes:
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


def spawn_process(limits: SandboxLimits) -> subprocess.Popen[bytes]:
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
