"""The second wall inside the sandbox process: a CPython audit hook (PEP 578).

Once armed, every audited operation that the transform path does not need is refused with a
SandboxViolation: opening files, imports of modules not already loaded, sockets, processes,
signals, ctypes, frame and code introspection, code-object construction, `gc` walks, setting
a function's code... The interpreter raises audit events from C, below anything
RestrictedPython sees, so this holds even if the language guard is bypassed.

The hook only allows, always: `builtins.id` (the pure-Python JSON encoder uses it) and the
interpreter's own exception-hook events. During a *trusted* section (our own compile of the
user's code, the `exec` that loads it, reading a traceback to name the failing line,
`collections.namedtuple`) it also allows compiling, exec, frame reads and setting attributes
on a freshly made class. No user code runs inside a trusted section.

The allowed names are constants inside the hook's code object and replacing a function's
`__code__` is itself an audited event the hook refuses, so even unrestricted Python in this
process cannot talk the hook out of refusing OS access; only memory corruption could, and
the seccomp filter (see `confine.py`) is the wall behind that.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any


class SandboxViolation(PermissionError):
    """An operation the sandbox never permits (raised by the audit hook)."""


class AuditGate:
    """The hook's mutable state: whether a trusted section is open, the first violation seen."""

    def __init__(self) -> None:
        self.trusted = 0
        self.exec_tokens = 0
        self.violation: str | None = None

    @contextlib.contextmanager
    def trust(self) -> Iterator[None]:
        """Allow compile/exec/frame reads for trusted code that runs no user code."""
        self.trusted += 1
        try:
            yield
        finally:
            self.trusted -= 1

    def allow_one_exec(self) -> None:
        """Let the next `exec` through: loading user code, which then runs untrusted."""
        self.exec_tokens = 1

    def take_violation(self) -> str | None:
        """The first violation since the last call (user code may have swallowed it)."""
        violation, self.violation = self.violation, None
        return violation


GATE = AuditGate()


def _describe(event: str, args: tuple[Any, ...]) -> str:
    subject = ""
    if event in {"open", "import", "os.system", "subprocess.Popen", "os.exec"} and args:
        subject = f" ({_short(args[0])})"
    elif event.startswith("object.") and len(args) > 1:
        subject = f" ({_short(args[1])})"
    return f"sandbox violation: {event}{subject} is not permitted"


def _short(value: Any) -> str:
    if isinstance(value, bytes):
        text = value.decode("utf-8", "replace")
    elif isinstance(value, str | int):
        text = str(value)
    else:
        text = type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def _hook(event: str, args: tuple[Any, ...], _gate: AuditGate = GATE) -> None:
    # Hot path first: the interpreter calls this for every audited event in the process.
    if event in {
        "builtins.id",
        "sys.excepthook",
        "sys.unraisablehook",
    }:
        return
    if event == "exec" and _gate.exec_tokens:
        _gate.exec_tokens = 0  # the audit event comes before the code runs
        return
    # A function's code is never swapped, not even by trusted code: this keeps the hook's own
    # code (and so the constant sets in it) fixed.
    swaps_code = event == "object.__setattr__" and len(args) > 1 and args[1] == "__code__"
    if (
        _gate.trusted
        and not swaps_code
        and event
        in {
            "compile",
            "exec",
            "object.__getattr__",
            "object.__setattr__",
            "sys._getframe",
            "resource.setrlimit",
        }
    ):
        return
    message = _describe(event, args)
    # Refused inside a trusted section is our own code's probe (a SyntaxError looks for the
    # source file to quote the line): refused, but not the user's violation.
    if _gate.violation is None and not _gate.trusted:
        _gate.violation = message
    raise SandboxViolation(message)


def arm() -> None:
    """Install the hook: from now on this process refuses everything outside the allowlist.

    Audit hooks cannot be removed, so there is no way back; call it last, after every
    module the sandbox needs is imported and warmed up.
    """
    sys.addaudithook(_hook)
