"""The walls behind the language guard: assume RestrictedPython is bypassed entirely.

`escaped.py` confines itself with the sandbox's own start-up code, then runs unrestricted
Python probes. Each inner wall (the seccomp filter and the audit hook) is also tested alone,
so one failing open would not be hidden by the other. The real pool's process is checked
for the same layers from outside, through /proc.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.code.confine import seccomp_program
from components.code.sandbox import get_pool, shutdown_pools
from tests.security.harness import LIMITS, assert_pool_serves

ESCAPED = Path(__file__).with_name("escaped.py")
HAS_SECCOMP = seccomp_program(platform.machine()) is not None
needs_seccomp = pytest.mark.skipif(not HAS_SECCOMP, reason="no seccomp table for this platform")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def _stop_sandboxes() -> Iterator[None]:
    yield
    shutdown_pools()


def _status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        return {k: v.strip() for k, _, v in (line.partition(":") for line in status)}


def _escaped_run(mode: str) -> dict[str, Any]:
    process = subprocess.Popen(
        [sys.executable, "-E", "-s", str(ESCAPED), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={},
        cwd=ROOT,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        hello = json.loads(process.stdout.readline())
        status = _status(hello["pid"])
        process.stdin.write(b"go\n")
        process.stdin.flush()
        probes = json.loads(process.stdout.readline())
    finally:
        process.kill()
        process.wait()
    return {"isolation": hello["isolation"], "status": status, "probes": probes}


@pytest.fixture(scope="module")
def escaped() -> dict[str, dict[str, Any]]:
    return {mode: _escaped_run(mode) for mode in ("all", "kernel", "audit")}


# What each probe attempts, and which wall must stop it in each mode. "audit" refusals say
# "sandbox violation"; "kernel" ones are EPERM from the seccomp filter (or the uid drop).
OS_ACCESS = [
    "open-read",
    "open-write",
    "os-open",
    "parent-environ",
    "listdir",
    "mkdir",
    "socket",
    "socket-unix",
    "fork",
    "subprocess",
    "system",
    "exec",
    "kill-parent",
    "exec-mapping",
    "ctypes-unshare",
    "signal-parent-group",
]
INTERPRETER = ["gc-objects", "frame", "import-new-module", "set-rlimit-as", "swap-hook-code"]


@pytest.mark.parametrize("probe", [*OS_ACCESS, *INTERPRETER, "trusted-flag-flip-then-open"])
def test_escaped_code_is_stopped_by_all_layers(
    escaped: dict[str, dict[str, Any]], probe: str
) -> None:
    outcome = escaped["all"]["probes"][probe]
    assert outcome != "ALLOWED"
    assert "sandbox violation" in outcome or "Operation not permitted" in outcome, outcome
    assert_pool_serves()


@needs_seccomp
@pytest.mark.parametrize("probe", [*OS_ACCESS, "setuid-root", "pipe"])
def test_seccomp_alone_stops_os_access(escaped: dict[str, dict[str, Any]], probe: str) -> None:
    outcome = escaped["kernel"]["probes"][probe]
    assert outcome != "ALLOWED"
    assert "Operation not permitted" in outcome or "did not run" in outcome, outcome


@pytest.mark.parametrize("probe", [*OS_ACCESS, *INTERPRETER])
def test_audit_hook_alone_stops_os_access(escaped: dict[str, dict[str, Any]], probe: str) -> None:
    outcome = escaped["audit"]["probes"][probe]
    assert outcome.startswith("SandboxViolation: sandbox violation"), outcome


def test_escaped_process_reports_its_layers(escaped: dict[str, dict[str, Any]]) -> None:
    everything = escaped["all"]
    assert everything["isolation"]["audit_hook"] is True
    assert everything["status"]["NoNewPrivs"] == "1"
    if HAS_SECCOMP:
        assert everything["isolation"]["seccomp"] is True
        assert everything["status"]["Seccomp"] == "2"  # filter mode
    assert escaped["audit"]["status"]["Seccomp"] == "0"


def test_the_pool_process_runs_with_every_layer_this_machine_supports() -> None:
    info = get_pool(LIMITS).info()
    pid = info["pid"]
    status = _status(pid)
    assert info["env"] == {}
    assert info["audit_hook"] is True
    assert status["NoNewPrivs"] == "1"
    if HAS_SECCOMP:
        assert info["seccomp"] is True
        assert status["Seccomp"] == "2"
    if os.geteuid() == 0:  # started as root: switched to nobody, no capabilities
        assert info["dropped_root"] is True
        assert status["Uid"].split() == ["65534"] * 4
    if info["network_isolated"]:
        assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")
        assert status["CapEff"] == "0000000000000000"
    assert info["rlimits"]["fsize"] == [0, 0]
    assert info["rlimits"]["nproc"] == [0, 0]
    assert info["rlimits"]["nofile"][0] <= 16
    assert_pool_serves()


# --- the seccomp program itself, for both architectures ---------------------------------------


def _run_bpf(program: list[tuple[int, int, int, int]], data: bytes) -> int:
    """A classic-BPF interpreter for the instructions the filter uses."""
    accumulator, pc = 0, 0
    while True:
        code, jt, jf, k = program[pc]
        pc += 1
        if code == 0x20:  # ld [k]
            accumulator = int.from_bytes(data[k : k + 4], "little")
        elif code in (0x15, 0x35, 0x45):  # jeq, jge, jset
            taken = {0x15: accumulator == k, 0x35: accumulator >= k, 0x45: accumulator & k}[code]
            pc += jt if taken else jf
        elif code == 0x06:
            return k
        else:
            raise AssertionError(f"unexpected instruction {code:#x}")


def _seccomp_data(arch: int, nr: int, *args: int) -> bytes:
    padded = [*args, *[0] * (6 - len(args))]
    return (
        nr.to_bytes(4, "little")
        + arch.to_bytes(4, "little")
        + (0).to_bytes(8, "little")
        + b"".join(a.to_bytes(8, "little") for a in padded)
    )


ALLOW, EPERM, KILL = 0x7FFF0000, 0x00050001, 0x80000000
X86, ARM = 0xC000003E, 0xC00000B7


@pytest.mark.parametrize(
    ("machine", "arch", "nr", "args", "expected"),
    [
        ("x86_64", X86, 0, (), ALLOW),  # read
        ("x86_64", X86, 257, (), EPERM),  # openat
        ("x86_64", X86, 41, (2, 1, 0), EPERM),  # socket
        ("x86_64", X86, 56, (), EPERM),  # clone
        ("x86_64", X86, 59, (), EPERM),  # execve
        ("x86_64", X86, 62, (), EPERM),  # kill
        ("x86_64", X86, 101, (), EPERM),  # ptrace
        ("x86_64", X86, 272, (), EPERM),  # unshare
        ("x86_64", X86, 9, (0, 4096, 0x3), ALLOW),  # mmap read/write
        ("x86_64", X86, 9, (0, 4096, 0x5), EPERM),  # mmap read/exec
        ("x86_64", X86, 10, (0, 4096, 0x7), EPERM),  # mprotect rwx
        ("x86_64", X86, 302, (0, 0, 1234, 0), ALLOW),  # prlimit64: set own RLIMIT_CPU
        ("x86_64", X86, 302, (0, 9, 0, 1234), ALLOW),  # prlimit64: read own RLIMIT_AS
        ("x86_64", X86, 302, (0, 9, 1234, 0), EPERM),  # prlimit64: set own RLIMIT_AS
        ("x86_64", X86, 302, (1, 0, 1234, 0), EPERM),  # prlimit64: another process
        ("x86_64", X86, 0x40000000 + 257, (), KILL),  # x32 ABI openat
        ("x86_64", 0x40000003, 5, (), KILL),  # i386 compat (int 0x80) open
        ("aarch64", ARM, 63, (), ALLOW),  # read
        ("aarch64", ARM, 56, (), EPERM),  # openat
        ("aarch64", ARM, 198, (), EPERM),  # socket
        ("aarch64", ARM, 220, (), EPERM),  # clone
        ("aarch64", ARM, 222, (0, 4096, 0x4), EPERM),  # mmap exec
        ("aarch64", X86, 63, (), KILL),  # another architecture's calling convention
    ],
)
def test_seccomp_program_decisions(
    machine: str, arch: int, nr: int, args: tuple[int, ...], expected: int
) -> None:
    program = seccomp_program(machine)
    assert program is not None
    assert _run_bpf(program, _seccomp_data(arch, nr, *args)) == expected
