"""`make bench`: throughput, latency and cost of the platform against a no-platform ceiling.

Starts the stack (broker, Redis, database, Celery workers, one trigger runner, the recording
Bloomreach stand-in), measures the stand-in, then runs the scenarios and prints one JSON line
each; see bench/README.md for what each measures and how to read the results. Settings come
from the environment (N, WORKERS, BENCH_WORKERS, SCENARIOS, STEADY_RATE, STEADY_SECONDS,
PROFILE, BENCH_TIMEOUT, ...; listed in the README). Exits 1 naming the scenario that did not
complete; every child process is stopped on the way out, whatever happened.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench.scenarios import Bench, ScenarioFailed
from bench.settings import CEILING_OF, ROOT, Settings, say
from bench.stack import Stack, standin_throughput
from config import services


def machine(settings: Settings) -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram_mb = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        ram_mb = int(Path("/proc/meminfo").read_text().split()[1]) // 1024
    return {
        "header": True,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "diff_sha1": git_diff_digest(),
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "ram_mb": ram_mb,
        "python": platform.python_version(),
        "N": settings.events,
        "workers": settings.workers,
        "bench_workers": settings.bench_workers,
        "rounds": settings.rounds,
        "scenarios": settings.scenarios,
        "steady_rate": settings.steady_rate,
        "steady_seconds": settings.steady_seconds,
        "batch_size": settings.batch_size,
        "soak_batch_size": settings.soak_batch_size,
        "max_wait_ms": settings.max_wait_ms,
        "producer_linger_ms": settings.producer_linger_ms,
        "session_timeout_ms": settings.session_timeout_ms,
        "profile": settings.profile,
    }


def git(*args: str) -> str:
    """Output of a git command in the project, or "unknown" when git cannot answer."""
    try:
        found = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return found.stdout.decode(errors="replace").strip()


def git_commit() -> str:
    """Short hash of HEAD, with `-dirty` when tracked files differ from it."""
    return git("describe", "--always", "--dirty", "--abbrev=10")


def git_diff_digest() -> str:
    """SHA-1 of `git diff HEAD`: tells apart two `-dirty` runs of different code."""
    return hashlib.sha1(git("diff", "HEAD").encode(), usedforsecurity=False).hexdigest()[:12]


def _ratio(result: dict[str, Any], results: list[dict[str, Any]]) -> float | None:
    """A platform scenario's events/s over its ceiling's in the same round, if that ran."""
    ceiling = CEILING_OF.get(result["scenario"])
    for other in results:
        if other["scenario"] == ceiling and other["round"] == result["round"]:
            return float(result["events_per_s"]) / float(other["events_per_s"])
    return None


def table(results: list[dict[str, Any]]) -> str:
    header = (
        f"{'scenario':<18} {'round':>5} {'workers':>7} {'events':>8} {'delivered':>13} "
        f"{'seconds':>8} {'ev/s':>9} {'p50 ms':>9} {'p99 ms':>9} {'RSS MB':>8} {'CPU s':>8}"
        "  ratio"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        ratio = _ratio(r, results)
        shown = f"{ratio:.3f} of {CEILING_OF[r['scenario']]}" if ratio is not None else ""
        delivered = f"{r['delivered']}/{r['expected']}"
        lines.append(
            f"{r['scenario']:<18} {r['round']:>5} {r['workers']:>7} {r['events']:>8} "
            f"{delivered:>13} {r['seconds']:>8.2f} {r['events_per_s']:>9.1f} "
            f"{_cell(r['p50_latency_ms'])} {_cell(r['p99_latency_ms'])} "
            f"{r['peak_rss_mb_total']:>8.1f} {r['cpu_seconds']:>8.2f}  {shown}"
        )
    return "\n".join(lines)


def medians(results: list[dict[str, Any]]) -> list[str]:
    """Per platform scenario and worker count over the rounds: each round's ratio to its
    ceiling and their median, e.g. "bloomreach, 2 worker(s): 0.441 0.472 0.452 -> median
    0.452 of ceiling-batch"."""
    ratios: dict[tuple[str, int], list[float]] = {}
    for result in results:
        ratio = _ratio(result, results)
        if ratio is not None:
            ratios.setdefault((result["scenario"], result["workers"]), []).append(ratio)
    return [
        f"{scenario}, {workers} worker(s): {' '.join(f'{r:.3f}' for r in values)} -> median "
        f"{statistics.median(values):.3f} of {CEILING_OF[scenario]}"
        for (scenario, workers), values in ratios.items()
    ]


def scaling(results: list[dict[str, Any]]) -> list[str]:
    """Per platform scenario and round run at 1 worker and at more: how much faster the more
    ran, and whether the machine or the platform set the limit. A platform that scales keeps
    its events per busy core; at one worker's share of the machine (`machine_cpu_busy`), the
    most any number of workers can reach is 1 / that share, e.g. "bloomreach, round 1: 2
    workers x1.50 of 1; machine busy 0.66 -> 0.92; events per busy core x1.07; the machine
    allows x1.52 at 1 worker's cost"."""
    runs = {
        (r["scenario"], r["round"], r["workers"]): r
        for r in results
        if r["workers"] and r.get("machine_cpu_busy") and r["scenario"] in CEILING_OF
    }
    lines = []
    for (scenario, round_number, workers), more in runs.items():
        one = runs.get((scenario, round_number, 1))
        if workers == 1 or one is None:
            continue
        busy_one, busy_more = one["machine_cpu_busy"], more["machine_cpu_busy"]
        speedup = more["events_per_s"] / one["events_per_s"]
        per_core = speedup * busy_one / busy_more
        lines.append(
            f"{scenario}, round {round_number}: {workers} workers x{speedup:.2f} of 1; "
            f"machine busy {busy_one:.2f} -> {busy_more:.2f}; events per busy core "
            f"x{per_core:.2f}; the machine allows x{1 / busy_one:.2f} at 1 worker's cost"
        )
    return lines


def _cell(value: float | None) -> str:
    return f"{value:>9.1f}" if value is not None else f"{'-':>9}"


def run(settings: Settings) -> int:
    run_id = f"{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:6]}"
    run_dir = ROOT / "var" / "bench" / run_id
    load = [round(x, 2) for x in os.getloadavg()]
    run_dir.mkdir(parents=True)
    stack = Stack(settings, run_id, run_dir)
    failed: str | None = None
    try:
        stack.start_services()
        os.environ.update(stack.env)
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", interactive=False, verbosity=0)
        say(
            f"run {run_id}: Kafka {stack.notes['kafka']}, Redis {stack.notes['redis']}, "
            f"database {stack.notes['database']}; logs in {run_dir}"
        )

        sink = stack.start_sink()
        bench = Bench(settings, stack, sink)
        probe = bench.source.run
        sample = bench.source.value(bench.source.first_kept(), int(time.time() * 1000))[1]
        rates = standin_throughput(sink.url, probe(_attr(sample)))
        sink.reset()
        say(
            f"stand-in: {rates['batch_commands_per_s']} commands/s on the batch endpoint "
            f"(50 a request), {rates['sink_requests_per_s']} requests/s on /sink "
            "(lower bounds: 2 Python client threads)"
        )
        header = {**machine(settings), **{f"standin_{k}": v for k, v in rates.items()}}
        # Taken before anything of ours ran: other work on the machine skews every number.
        header["loadavg_at_start"] = load
        header.update({k: v for k, v in stack.notes.items()})
        settings.results_dir.mkdir(parents=True, exist_ok=True)
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        results_file = settings.results_dir / f"{day}-{header['commit']}.jsonl"
        with results_file.open("a") as out:
            out.write(json.dumps(header) + "\n")

        if any(not s.startswith("ceiling") for s in settings.scenarios):
            # Started (and then idle) before the ceilings, so that every round runs on the
            # same set of processes.
            stack.start_platform(settings.workers)
        for round_number in range(1, settings.rounds + 1):
            run_round(bench, settings, round_number, results_file)
        print(table(bench.results), flush=True)
        if settings.rounds > 1:
            for line in medians(bench.results):
                print(line, flush=True)
        for line in scaling(bench.results):
            print(line, flush=True)
        say(f"results appended to {results_file}")
    except ScenarioFailed as error:
        failed = str(error)
    except (services.ServiceError, TimeoutError, RuntimeError) as error:
        failed = f"set-up failed: {error}"
    finally:
        left = stack.stop()
        with contextlib.suppress(Exception):
            if stack.env:
                stack.clean_redis()
    if left:
        say(f"processes still running after shutdown: {left}")
        failed = failed or f"orphan processes {left}"
    if failed:
        say(f"FAILED: {failed}; logs kept in {run_dir}")
        return 1
    if not settings.keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    return 0


def run_round(bench: Bench, settings: Settings, number: int, results_file: Path) -> None:
    """The ceilings first, then the platform scenarios (`bloomreach` at each worker count)."""
    rounds = f" (round {number} of {settings.rounds})" if settings.rounds > 1 else ""
    for scenario in settings.scenarios:
        if scenario.startswith("ceiling"):
            say(f"{scenario}: running{rounds}")
            bench.emit({**bench.ceiling(scenario), "round": number}, results_file)
    for scenario in settings.scenarios:
        if scenario.startswith("ceiling"):
            continue
        counts = settings.bench_workers if scenario == "bloomreach" else [settings.workers]
        for workers in counts:
            say(f"{scenario}: running with {workers} worker(s){rounds}")
            result = bench.platform(scenario, workers)
            bench.emit({**result, "round": number}, results_file)


def _attr(value: bytes) -> Any:
    from bench.ceiling import AttrDict

    return AttrDict(body=AttrDict(orjson.loads(value)))


def main() -> int:
    # SIGTERM (e.g. from make or a CI timeout) takes the same path as Ctrl-C: the `finally`
    # of `run` stops every child.
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        return run(Settings.from_env())
    except KeyboardInterrupt:
        say("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
