"""Child processes of the benchmark and what they cost, read from /proc (Linux only).

A process tree is a root pid and every descendant found through the parent pids in
/proc/<pid>/stat — which reaches the code sandbox's processes even though they run in their
own sessions. Memory is the summed RSS of the trees; CPU is utime+stime plus cutime+cstime
(children already reaped), so CPU of a sandbox process that exited is not lost.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
SAMPLE_SECONDS = 0.5


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after its closing one.
    return raw[raw.rindex(")") + 2 :].split()


def parents() -> dict[int, int]:
    """pid -> parent pid of every process visible now."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None:
                found[int(entry)] = int(fields[1])
    return found


def tree(roots: Iterable[int], parent_of: dict[int, int] | None = None) -> set[int]:
    """The roots that still run and all their descendants."""
    parent_of = parents() if parent_of is None else parent_of
    children: dict[int, list[int]] = {}
    for pid, parent in parent_of.items():
        children.setdefault(parent, []).append(pid)
    found: set[int] = set()
    todo = [pid for pid in roots if pid in parent_of]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, []))
    return found


def rss_bytes(pid: int) -> int:
    try:
        resident = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return resident * PAGE_BYTES


def cpu_seconds(pid: int) -> float:
    """User + system CPU of `pid` and of its children it has reaped."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    # Fields 14-17 of stat (utime, stime, cutime, cstime); index 0 here is field 3.
    return sum(int(value) for value in fields[11:15]) / CLOCK_TICKS


def start_time(pid: int) -> int | None:
    """The process's start time (clock ticks since boot): tells a pid from its reuse."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields is not None else None


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine since boot, all cores, from /proc/stat."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal (guest is in user)
    return total - idle, total


@dataclass
class Usage:
    peak_rss_mb: float
    cpu_seconds: float
    # Share of all the machine's cores busy (0-1), whatever ran: the platform, the broker,
    # Redis, the stand-in, the producer. Near 1, the machine, not the platform, is the limit.
    machine_busy: float
    # CPU seconds of the `watched` processes (the embedded broker), None without any.
    watched_cpu_seconds: float | None = None


class Meter:
    """Samples the summed RSS of some process trees every 0.5 s and their CPU at both ends.

    It also remembers every pid it saw (with its start time), so `survivors()` can name
    any that outlived their root. The CPU of `watched` processes, which are not the
    platform's (the embedded broker), is sampled alongside into `watched_timeline`.
    """

    def __init__(self, roots: Iterable[int], watched: Iterable[int] = ()) -> None:
        self.roots = list(roots)
        self.watched = list(watched)
        self.watched_timeline: list[tuple[float, float]] = []  # (monotonic s, CPU seconds)
        self.seen: dict[int, int] = {}
        self._peak = 0
        self.timeline: list[tuple[float, int]] = []  # (monotonic seconds, summed RSS bytes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_loop, name="meter", daemon=True)
        self._cpu_start = 0.0
        self._machine_start = (0, 0)

    def _cpu_now(self) -> float:
        return sum(cpu_seconds(pid) for pid in tree(self.roots))

    def _sample(self) -> None:
        pids = tree(self.roots)
        for pid in pids:
            if pid not in self.seen:
                began = start_time(pid)
                if began is not None:
                    self.seen[pid] = began
        rss = sum(rss_bytes(pid) for pid in pids)
        self._peak = max(self._peak, rss)
        now = time.monotonic()
        self.timeline.append((now, rss))
        if self.watched:
            self.watched_timeline.append((now, sum(cpu_seconds(pid) for pid in self.watched)))

    def _sample_loop(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self._sample()

    def __enter__(self) -> Meter:
        self._cpu_start = self._cpu_now()
        self._machine_start = machine_ticks()
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def usage(self) -> Usage:
        """Peak summed RSS so far and CPU used since entering (call before or after exit)."""
        self._sample()
        busy, total = machine_ticks()
        busy_then, total_then = self._machine_start
        watched = self.watched_timeline
        return Usage(
            peak_rss_mb=round(self._peak / 2**20, 1),
            cpu_seconds=round(self._cpu_now() - self._cpu_start, 2),
            machine_busy=round((busy - busy_then) / max(total - total_then, 1), 3),
            watched_cpu_seconds=round(watched[-1][1] - watched[0][1], 2) if watched else None,
        )


def alive(pid: int, began: int) -> bool:
    """Whether the process `pid` that started at `began` still exists (not a reused pid)."""
    return start_time(pid) == began


class Child:
    """A process of the benchmark in its own session, its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log: IO[bytes] = self.log_path.open("ab")
        self.process = subprocess.Popen(
            argv,
            cwd=Path(__file__).resolve().parent.parent,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # one signal stops it and what it spawned in its group
        )
        self.pid = self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_line(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if not self.running():
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}:\n{self.output()[-2000:]}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} did not print {text!r} within {timeout:.0f}s")
            time.sleep(0.1)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM its group, SIGKILL after `timeout`; then kill any descendant left behind
        (the sandbox's processes live in sessions of their own)."""
        known = {pid: start_time(pid) for pid in tree([self.pid])}
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.process.wait(timeout)
        deadline = time.monotonic() + 5
        left = {pid: began for pid, began in known.items() if began is not None}
        while True:
            left = {pid: began for pid, began in left.items() if alive(pid, began)}
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._log.close()
