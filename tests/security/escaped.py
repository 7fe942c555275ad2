"""What unrestricted Python could do inside a confined sandbox process: the inner walls alone.

Run by tests/security/test_inner_walls.py as `python escaped.py MODE`. The process confines
itself with the sandbox's own start-up code (`components.code.child`), then runs plain,
unrestricted Python probes, as code that had fully escaped RestrictedPython would. MODE picks
which inner walls are up, so each is shown to hold on its own:

- `all`: everything the real sandbox process applies;
- `kernel`: uid drop, namespaces, rlimits and the seccomp filter, but no audit hook;
- `audit`: uid drop, namespaces, rlimits and the audit hook, but no seccomp filter.

Protocol on stdout: one JSON line {"pid", "isolation"} once confined, then waits for a line
on stdin (so the test can read /proc/<pid>/status from outside), then one JSON line mapping
each probe to "ALLOWED" or the error it raised.
"""

from __future__ import annotations

import ctypes
import gc
import json
import mmap
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from components.code import audit, child, confine, modules  # noqa: E402

SECRET_FILE = "/etc/hostname"


def _probes(parent: int) -> dict[str, Callable[[], Any]]:
    def unshare_mounts() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(0x00020000) == -1:  # CLONE_NEWNS: a private mount table
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))

    def system() -> None:
        status = os.system("true")
        if status != 0:
            raise OSError(f"the shell did not run (status {status})")

    def trust_then_open() -> None:
        # Escaped code can flip the hook's mutable state; the OS refusals do not read it.
        saved, audit.GATE.trusted = audit.GATE.trusted, 10
        try:
            open(SECRET_FILE).read()  # noqa: SIM115
        finally:
            audit.GATE.trusted = saved

    return {
        "trusted-flag-flip-then-open": trust_then_open,
        "open-read": lambda: open(SECRET_FILE).read(),
        "open-write": lambda: open("/tmp/tributary-escape", "w").write("x"),
        "os-open": lambda: os.open(SECRET_FILE, os.O_RDONLY),
        "parent-environ": lambda: open(f"/proc/{parent}/environ", "rb").read(),
        "listdir": lambda: os.listdir("/"),
        "mkdir": lambda: os.mkdir("/tmp/tributary-escape-dir"),
        "socket": lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM),
        "socket-unix": lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM),
        "fork": os.fork,
        "subprocess": lambda: subprocess.run(["/bin/true"], check=True),
        "system": system,
        "exec": lambda: os.execv("/bin/true", ["/bin/true"]),
        "kill-parent": lambda: os.kill(parent, 0),
        "setuid-root": lambda: os.setuid(0),
        "exec-mapping": lambda: mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_EXEC),
        "ctypes-unshare": unshare_mounts,
        "pipe": os.pipe,
        "gc-objects": gc.get_objects,
        "frame": lambda: sys._getframe(0),
        "import-new-module": lambda: __import__("sqlite3"),
        "set-rlimit-as": lambda: __import__("resource").setrlimit(
            __import__("resource").RLIMIT_AS, (-1, -1)
        ),
        "swap-hook-code": lambda: setattr(audit._hook, "__code__", (lambda *a: None).__code__),
        "signal-parent-group": lambda: os.killpg(os.getpgid(parent), signal.SIGTERM),
    }


def main() -> None:
    mode = sys.argv[1]
    parent = os.getppid()
    config = child.ChildConfig(
        cpu_seconds=5.0, memory_mb=128, max_output_bytes=100_000, parent_pid=parent
    )
    for name in child._PRELOADED:
        __import__(name)
    modules.warm_up()
    import resource  # noqa: F401 - loaded before confinement, like everything a probe uses

    if mode == "all":
        isolation = child.confine_process(config)
    else:
        isolation = confine.harden(config.memory_mb, config.parent_pid)
        if mode == "kernel":
            isolation["seccomp"] = confine.install_seccomp()
        else:
            audit.arm()
    probes = _probes(parent)
    print(json.dumps({"pid": os.getpid(), "isolation": isolation}), flush=True)
    sys.stdin.readline()
    results: dict[str, str] = {}
    for name, probe in probes.items():
        try:
            probe()
            results[name] = "ALLOWED"
        except BaseException as error:
            results[name] = f"{type(error).__name__}: {error}"
    print(json.dumps(results), flush=True)
    os._exit(0)


if __name__ == "__main__":
    main()
