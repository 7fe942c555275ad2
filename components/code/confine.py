"""OS-level confinement of the sandbox process, applied once before any user code runs.

Layers, outermost first (each is best effort where the platform may refuse it, and `harden`
reports which took effect; the tests assert the ones this machine supports):

1. Empty environment (the parent spawns the child with `env={}`), `cwd=/`.
2. Started as root: switch to `nobody` (65534) with no supplementary groups, so the process
   owns no file and cannot signal or ptrace the worker.
3. A new user and network namespace: no network interface but a down loopback; then every
   capability is dropped (the namespace would grant them inside it).
4. `PR_SET_PDEATHSIG` (dies with the parent), `PR_SET_NO_NEW_PRIVS` (no set-uid gains).
5. Resource limits: address space, file size 0, 16 open files, no new processes, no core
   files; CPU time is limited per message from `child.py` (a signal timer plus RLIMIT_CPU as
   the kernel's backstop for C code that never returns to the interpreter).
6. A seccomp-BPF allowlist (x86-64 and aarch64): the syscalls a running interpreter needs to
   compute and talk over its two pipes. `open`, `socket`, `clone`/`fork`, `execve`, `kill`,
   `ptrace`, `unshare`, `mount`, executable mappings... fail with EPERM; a foreign
   architecture or the x32 ABI kills the process.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import resource
import signal
import struct
from typing import Any

NOBODY = 65534
MAX_OPEN_FILES = 16

_PR_SET_PDEATHSIG = 1
_PR_SET_SECCOMP = 22
_PR_SET_NO_NEW_PRIVS = 38
_SECCOMP_MODE_FILTER = 2
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def harden(memory_mb: int, parent_pid: int) -> dict[str, Any]:
    """Layers 1-5 (seccomp is separate: it must come after the last setup syscall).

    Returns what took effect, for `info` and the tests. Exits at once if the parent is gone.
    """
    os.environ.clear()  # spawned with an empty env; this also drops what locale coercion set
    libc = ctypes.CDLL(None, use_errno=True)
    dropped = _drop_root()
    # A fresh user + network namespace leaves no network at all and no capabilities outside.
    # Best effort: container runtimes often forbid it, the other layers still apply.
    network_isolated = libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) == 0
    # The new namespace grants every capability inside it; keep none.
    capabilities_dropped = _drop_capabilities(libc)
    # After the uid change: changing credentials clears the parent-death signal.
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(0)  # the parent died before the death signal was armed
    baseline = address_space_bytes()
    memory = baseline + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (MAX_OPEN_FILES, MAX_OPEN_FILES))
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))  # not enforced for root
    no_new_privs = libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
    os.chdir("/")
    return {
        "uid": os.getuid(),
        "dropped_root": dropped,
        "network_isolated": network_isolated,
        "capabilities_dropped": capabilities_dropped,
        "no_new_privs_set": no_new_privs,
        "baseline_bytes": baseline,
    }


def _drop_root() -> bool:
    if os.geteuid() != 0:
        return False
    try:
        os.setgroups([])
        os.setresgid(NOBODY, NOBODY, NOBODY)
        os.setresuid(NOBODY, NOBODY, NOBODY)
    except OSError:
        return False  # e.g. a user namespace without a mapping for 65534
    return True


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


def _drop_capabilities(libc: ctypes.CDLL) -> bool:
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    empty = (_CapData * 2)()  # version 3 takes two 32-bit halves
    return bool(libc.capset(ctypes.byref(header), empty) == 0)


def address_space_bytes() -> int:
    return int(proc_status("VmSize").split()[0]) * 1024


def proc_status(field: str) -> str:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name == field:
                return value.strip()
    return ""


# --- seccomp ------------------------------------------------------------------------------

# Syscalls a computing interpreter needs once started: memory, its pipes, signals and timers
# (the CPU limit), clocks, randomness (uuid4, hash seeds), exiting. Per architecture, as
# numbers. No sleeping, no polling, no new file descriptors of any kind.
_ALLOWED = (
    "read",
    "write",
    "readv",
    "writev",
    "close",
    "lseek",
    "fstat",
    "fcntl",
    "brk",
    "munmap",
    "mremap",
    "madvise",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sigaltstack",
    "setitimer",
    "getitimer",
    "clock_gettime",
    "clock_getres",
    "gettimeofday",
    "getrusage",
    "times",
    "getpid",
    "getppid",
    "gettid",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getrandom",
    "futex",
    "sched_yield",
    "membarrier",
    "rseq",
    "restart_syscall",
    "exit",
    "exit_group",
)
# Allowed unless the protection bits ask for execution (args[2] & PROT_EXEC): no shellcode.
_NO_EXEC = ("mmap", "mprotect")
_PROT_EXEC = 0x4
# Allowed for the calling process itself, and to set only RLIMIT_CPU (or read any limit).
_PRLIMIT = "prlimit64"
_RLIMIT_CPU = 0

_SYSCALLS: dict[str, dict[str, int]] = {
    "x86_64": {
        "read": 0,
        "write": 1,
        "close": 3,
        "fstat": 5,
        "lseek": 8,
        "mmap": 9,
        "mprotect": 10,
        "munmap": 11,
        "brk": 12,
        "rt_sigaction": 13,
        "rt_sigprocmask": 14,
        "rt_sigreturn": 15,
        "readv": 19,
        "writev": 20,
        "sched_yield": 24,
        "mremap": 25,
        "madvise": 28,
        "getitimer": 36,
        "setitimer": 38,
        "getpid": 39,
        "exit": 60,
        "fcntl": 72,
        "gettimeofday": 96,
        "getrusage": 98,
        "times": 100,
        "getuid": 102,
        "getgid": 104,
        "geteuid": 107,
        "getegid": 108,
        "getppid": 110,
        "sigaltstack": 131,
        "gettid": 186,
        "futex": 202,
        "restart_syscall": 219,
        "clock_gettime": 228,
        "clock_getres": 229,
        "exit_group": 231,
        "prlimit64": 302,
        "getrandom": 318,
        "membarrier": 324,
        "rseq": 334,
    },
    "aarch64": {
        "fcntl": 25,
        "lseek": 62,
        "read": 63,
        "write": 64,
        "readv": 65,
        "writev": 66,
        "fstat": 80,
        "exit": 93,
        "exit_group": 94,
        "futex": 98,
        "getitimer": 102,
        "setitimer": 103,
        "clock_gettime": 113,
        "clock_getres": 114,
        "sched_yield": 124,
        "restart_syscall": 128,
        "sigaltstack": 132,
        "rt_sigaction": 134,
        "rt_sigprocmask": 135,
        "rt_sigreturn": 139,
        "times": 153,
        "getrusage": 165,
        "gettimeofday": 169,
        "getpid": 172,
        "getppid": 173,
        "getuid": 174,
        "geteuid": 175,
        "getgid": 176,
        "getegid": 177,
        "gettid": 178,
        "brk": 214,
        "munmap": 215,
        "mremap": 216,
        "mmap": 222,
        "mprotect": 226,
        "madvise": 233,
        "prlimit64": 261,
        "getrandom": 278,
        "membarrier": 283,
        "rseq": 293,
        "close": 57,
    },
}
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_X32_SYSCALL_BIT = 0x40000000

# Classic BPF, as the kernel's seccomp filter reads it (linux/filter.h, linux/seccomp.h).
_LD_W_ABS = 0x20
_JMP_JEQ_K = 0x15
_JMP_JGE_K = 0x35
_JMP_JSET_K = 0x45
_RET_K = 0x06
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_RET_ALLOW = 0x7FFF0000
_EPERM = 1
# struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6].
_NR, _ARCH = 0, 4


def _arg_low(index: int) -> int:
    return 16 + 8 * index  # little-endian: the low 32 bits come first


def _arg_high(index: int) -> int:
    return 20 + 8 * index


Instruction = tuple[int, int, int, int]
# While assembling: a jump names its targets by label; `_assemble` turns them into offsets.
_Item = tuple[int, str | int, str | int, int] | str


def _assemble(items: list[_Item]) -> list[Instruction]:
    labels: dict[str, int] = {}
    for item in items:
        if isinstance(item, str):
            labels[item] = sum(1 for i in items[: items.index(item)] if not isinstance(i, str))
    program: list[Instruction] = []
    for item in items:
        if isinstance(item, str):
            continue
        code, true, false, k = item
        here = len(program) + 1  # jumps count from the next instruction
        jt = labels[true] - here if isinstance(true, str) else true
        jf = labels[false] - here if isinstance(false, str) else false
        if not (0 <= jt <= 255 and 0 <= jf <= 255):
            raise ValueError("seccomp jump out of range")
        program.append((code, jt, jf, k))
    return program


def _load(offset: int) -> _Item:
    return (_LD_W_ABS, 0, 0, offset)


def _jeq(k: int, true: str | int, false: str | int) -> _Item:
    return (_JMP_JEQ_K, true, false, k)


def _ret(k: int) -> _Item:
    return (_RET_K, 0, 0, k)


def seccomp_program(machine: str) -> list[Instruction] | None:
    """The filter for `machine` (platform.machine()), or None where we have no table."""
    numbers = _SYSCALLS.get(machine)
    if numbers is None or platform.system() != "Linux" or struct.pack("=H", 1) != b"\x01\x00":
        return None
    items: list[_Item] = [
        _load(_ARCH),
        _jeq(_AUDIT_ARCH[machine], 0, "kill"),
        _load(_NR),
    ]
    if machine == "x86_64":  # x32 syscalls share the architecture value: refuse them all
        items.append((_JMP_JGE_K, "kill", 0, _X32_SYSCALL_BIT))
    items += [_jeq(numbers[name], "allow", 0) for name in _ALLOWED if name in numbers]
    # mmap/mprotect: allowed unless asking for an executable mapping.
    items += [_jeq(numbers[name], "check_prot", 0) for name in _NO_EXEC]
    # prlimit64(pid=0, resource, new, old): reading any limit, or setting RLIMIT_CPU.
    items += [
        _jeq(numbers[_PRLIMIT], 0, "deny"),
        _load(_arg_low(0)),
        _jeq(0, 0, "deny"),
        _load(_arg_high(0)),
        _jeq(0, 0, "deny"),
        _load(_arg_low(1)),
        _jeq(_RLIMIT_CPU, "allow", 0),
        _load(_arg_low(2)),  # any other limit: only reading it (new == NULL)
        _jeq(0, 0, "deny"),
        _load(_arg_high(2)),
        _jeq(0, "allow", "deny"),
        "check_prot",
        _load(_arg_low(2)),
        (_JMP_JSET_K, "deny", "allow", _PROT_EXEC),
        "deny",
        _ret(_RET_ERRNO | _EPERM),
        "allow",
        _ret(_RET_ALLOW),
        "kill",
        _ret(_RET_KILL_PROCESS),
    ]
    return _assemble(items)


class _SockFilter(ctypes.Structure):
    _fields_ = (
        ("code", ctypes.c_ushort),
        ("jt", ctypes.c_ubyte),
        ("jf", ctypes.c_ubyte),
        ("k", ctypes.c_uint),
    )


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter)))


def install_seccomp() -> bool:
    """Load the filter into this (single-threaded) process; False where unsupported.

    Needs PR_SET_NO_NEW_PRIVS (set by `harden`) when not privileged. Irreversible, and
    inherited by any child, which there cannot be.
    """
    program = seccomp_program(platform.machine())
    if program is None:
        return False
    filters = (_SockFilter * len(program))(*(_SockFilter(*i) for i in program))
    fprog = _SockFprog(len(program), ctypes.cast(filters, ctypes.POINTER(_SockFilter)))
    libc = ctypes.CDLL(None, use_errno=True)
    result = libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0)
    return bool(result == 0)
