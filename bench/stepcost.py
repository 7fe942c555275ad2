"""The cost of a batch's steps in one process, for comparing two commits by instructions.

Runs the benchmark's flow (Kafka → code → Bloomreach) through `run_job_step`, in this
process, on generated batches of the sample events: the worker's whole part of a batch, from
decoding the runner's job to writing its records, with the real sandbox, Redis, a fresh SQLite
database and the stand-in. Timing such a run swings by a fifth on these machines; counting its
instructions does not (the same total to 0.1%), so run it under callgrind:

    valgrind --tool=callgrind --instr-atstart=no python -m bench.stepcost --callgrind

With `--callgrind` it warms up, then asks callgrind to count only the measured batches and
prints their CPU time too. Without it, it prints the CPU time per batch only. The events of a
batch come in runs of one partition each, as a consumer reads them. Nothing here is sent
beyond 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.settings import PARTITIONS, PYTHON, ROOT

BATCH = 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--batches", type=int, default=4, help="measured batches")
    parser.add_argument("--warm", type=int, default=1, help="batches run before measuring")
    parser.add_argument("--callgrind", action="store_true", help="count only the measured part")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="stepcost-"))
    sink = subprocess.Popen(
        [PYTHON, "-m", "bench.sink", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sink.stdout is not None
        url = sink.stdout.readline().split()[-1]  # "bench sink listening on http://..."
        os.environ["DATABASE_URL"] = f"sqlite:///{work / 'stepcost.sqlite3'}"
        os.environ["TRIBUTARY_REDIS_PREFIX"] = f"stepcost-{os.getpid()}"
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        cpu, statuses = _run(url, args.warm, args.batches, args.callgrind)
    finally:
        sink.terminate()
        sink.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"{args.batches} batches of {BATCH}: CPU ms a batch, median {statistics.median(cpu):.1f}, "
        f"least {min(cpu):.1f} (this process; the sandbox's own is not counted)"
    )
    print("executions recorded:", ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())))
    return 0


def _run(url: str, warm: int, batches: int, callgrind: bool) -> tuple[list[float], dict[str, int]]:
    """CPU ms of each measured batch, and how many executions were recorded by status."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)

    import orjson

    from flows.engine import collector
    from flows.engine.redis import get_redis, key
    from flows.engine.steps import run_job_step

    make_job = _flow(url)
    collector.tune()  # as a worker does
    try:
        for _ in range(warm):
            _run_batch(run_job_step, orjson.loads(make_job()))
        if callgrind:
            _callgrind_on()
        cpu = []
        for _ in range(batches):
            raw = make_job()
            started = time.process_time()
            _run_batch(run_job_step, orjson.loads(raw))  # decoded as a worker's first step does
            cpu.append((time.process_time() - started) * 1000)
        from flows.models import Execution

        statuses = Counter(Execution.objects.values_list("status", flat=True))
        return cpu, dict(statuses)
    finally:
        client = get_redis()
        for name in client.scan_iter(key("*")):
            client.delete(name)


def _run_batch(run_job_step: Any, job: Any) -> None:
    while job is not None:
        job = run_job_step(job)


def _flow(url: str) -> Any:
    """A published flow of the bench's shape, and a maker of its runner's jobs."""
    import orjson

    from bench.events import EventSource
    from bench.scenarios import bench_workspace, bloomreach_action, transform_graph
    from components.kafka.records import build_record
    from flows.engine.jobs import job_from_records
    from flows.graph import plan_for
    from flows.services.flows import create_flow, publish_flow

    user, workspace, credential = bench_workspace(f"stepcost-{os.getpid()}")
    trigger = {"topic": "t", "batch_size": BATCH}
    graph = transform_graph(trigger, bloomreach_action(url, credential.id))
    flow = create_flow(workspace, "Step cost", graph, user)
    version = publish_flow(flow, user)
    plan = plan_for(version.graph)
    source = EventSource()
    offset = 0

    def make_job() -> bytes:
        nonlocal offset
        now = int(time.time() * 1000)
        records = []
        for index in range(BATCH):
            record_key, value = source.value(offset + index, now)
            partition = index * PARTITIONS // BATCH
            records.append(
                build_record("t", partition, offset + index, record_key, value, [], now, "json")
            )
        offset += BATCH
        return orjson.dumps(job_from_records(flow.id, version.id, plan, records))

    return make_job


def _callgrind_on() -> None:
    """Start counting (valgrind's callgrind_control, on this process)."""
    if not shutil.which("callgrind_control"):
        raise SystemExit("--callgrind: callgrind_control not found (Debian's valgrind)")
    control = subprocess.Popen(
        ["callgrind_control", "--instr=on", str(os.getpid())], stdout=subprocess.DEVNULL
    )
    # Polled, not waited for: valgrind takes the request while this process runs on.
    deadline = time.monotonic() + 60
    while control.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if control.returncode != 0:
        control.kill()
        raise SystemExit("--callgrind: callgrind_control failed (is this run under callgrind?)")


if __name__ == "__main__":
    sys.exit(main())
