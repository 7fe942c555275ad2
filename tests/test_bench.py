"""`make bench` at a tiny N: the whole stack starts, the scenarios complete with sane numbers
and every process the bench started is gone afterwards."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.events import EventSource

ROOT = Path(__file__).resolve().parents[1]
# The four burst scenarios; `steady` differs only in pacing the producer and would add its
# fixed ~6 s (consumer-group join, warm-up) to a test meant to stay well under 40 s.
SCENARIOS = ["ceiling-batch", "ceiling-per-event", "bloomreach", "rest"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="the bench brings its own SQLite database; the SQLite pass already ran it",
    ),
]


def bench_processes(run_id: str) -> list[str]:
    """Command lines of running processes that name this bench run (its Celery workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if run_id in cmdline:
            found.append(f"{entry.name}: {cmdline}")
    return found


def test_bench_at_tiny_n_reports_every_scenario_and_leaves_no_process(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        N="300",
        WORKERS="1",
        SCENARIOS=",".join(SCENARIOS),
        BENCH_RESULTS_DIR=str(tmp_path),
        BENCH_TIMEOUT="60",
        # The shortest session the Kafka trigger accepts: Tansu holds a new group member
        # about half of it before the first assignment, once per scenario.
        BENCH_SESSION_TIMEOUT_MS="6000",
    )
    done = subprocess.run(
        [sys.executable, "-m", "bench.run"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]

    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [line["scenario"] for line in lines] == SCENARIOS
    for line in lines:
        assert line["events"] == 300
        assert line["expected"] == 288, "the transform keeps 947 of the 1,000 samples"
        assert line["delivered"] >= line["expected"]
        assert line["seconds"] > 0 and line["events_per_s"] > 0
        assert 0 <= line["p50_latency_ms"] <= line["p99_latency_ms"] < 60_000
        assert line["peak_rss_mb_total"] > 0 and line["cpu_seconds"] >= 0
        assert 0 < line["machine_cpu_busy"] <= 1
        # The embedded broker, measured apart from the platform (in 10 ms ticks).
        assert line["broker_cpu_seconds"] is not None and line["broker_cpu_seconds"] >= 0
    assert sum(line["broker_cpu_seconds"] for line in lines) > 0, "it served every scenario"
    assert "of ceiling-batch" in done.stdout and "of ceiling-per-event" in done.stdout

    (results,) = tmp_path.glob("*.jsonl")
    header, *scenario_lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert header["header"] and header["N"] == 300 and header["cores"]
    assert header["standin_batch_commands_per_s"] > 0
    assert [line["scenario"] for line in scenario_lines] == SCENARIOS
    assert {line["round"] for line in scenario_lines} == {1} and header["rounds"] == 1

    found = re.search(r"run (\S+):", done.stderr)
    assert found, done.stderr[-2000:]
    assert bench_processes(found.group(1)) == []


def test_rss_drift_tells_a_leak_from_a_flat_line() -> None:
    from bench.scenarios import rss_drift

    mb = 2**20
    flat = [(t * 0.5, 500 * mb + (t % 3) * mb) for t in range(600)]  # 5 minutes, ±1 MB noise
    leaking = [(t * 0.5, 500 * mb + t * mb // 10) for t in range(600)]  # +12 MB a minute

    steady = rss_drift(flat)
    assert steady["rss_growth_mb"] is not None and abs(steady["rss_growth_mb"]) <= 1
    assert abs(steady["rss_slope_mb_per_min"] or 0) < 0.5
    leak = rss_drift(leaking)
    assert leak["rss_growth_mb"] is not None and leak["rss_growth_mb"] > 30
    assert leak["rss_slope_mb_per_min"] == pytest.approx(12, rel=0.01)
    assert rss_drift(flat[:200])["rss_growth_mb"] is None  # under 3 minutes: no verdict


def test_broker_drift_gives_the_cores_of_the_second_and_the_last_minute() -> None:
    from bench.scenarios import broker_drift

    # CPU seconds sampled every 0.5 s for 5 minutes: 0.2 cores at first, 1 core from minute 4.
    timeline = [(t * 0.5, t * 0.5 * 0.2 if t < 480 else 48 + (t - 480) * 0.5) for t in range(600)]
    drift = broker_drift(timeline)
    assert drift["broker_cores_minute_2"] == pytest.approx(0.2, abs=0.01)
    assert drift["broker_cores_last_minute"] == pytest.approx(1.0, abs=0.02)
    assert broker_drift(timeline[:200])["broker_cores_last_minute"] is None  # under 3 minutes


def test_each_round_is_compared_with_its_own_ceiling_and_the_median_is_reported() -> None:
    from bench.run import medians, table

    def line(scenario: str, round_number: int, events_per_s: float, workers: int) -> dict:
        return {
            "scenario": scenario,
            "round": round_number,
            "events_per_s": events_per_s,
            "workers": workers,
            "events": 100,
            "expected": 94,
            "delivered": 94,
            "seconds": 1.0,
            "p50_latency_ms": 1.0,
            "p99_latency_ms": None,
            "peak_rss_mb_total": 1.0,
            "cpu_seconds": 1.0,
        }

    results = [
        line("ceiling-batch", 1, 10_000, 0),
        line("bloomreach", 1, 4_000, 2),
        line("ceiling-batch", 2, 8_000, 0),  # a slower moment of the machine
        line("bloomreach", 2, 4_000, 2),
        line("ceiling-batch", 3, 10_000, 0),
        line("bloomreach", 3, 5_000, 2),
        line("rest", 3, 900, 2),  # no per-event ceiling ran: no ratio
    ]
    assert medians(results) == [
        "bloomreach, 2 worker(s): 0.400 0.500 0.500 -> median 0.500 of ceiling-batch"
    ]
    shown = table(results).splitlines()
    assert shown[3].split()[:2] == ["bloomreach", "1"] and shown[3].endswith(
        "0.400 of ceiling-batch"
    )
    assert shown[5].endswith("0.500 of ceiling-batch")
    assert shown[-1].split()[0] == "rest" and "ceiling" not in shown[-1]


def test_scaling_tells_whether_the_machine_or_the_platform_set_the_limit() -> None:
    from bench.run import scaling

    def line(scenario: str, round_number: int, workers: int, rate: float, busy: float) -> dict:
        return {
            "scenario": scenario,
            "round": round_number,
            "workers": workers,
            "events_per_s": rate,
            "machine_cpu_busy": busy,
        }

    results = [
        line("ceiling-batch", 1, 0, 12_000, 0.6),
        line("bloomreach", 1, 1, 4_000, 0.66),
        line("bloomreach", 1, 2, 6_000, 0.92),
        line("bloomreach", 2, 2, 7_000, 0.9),  # no 1-worker run in this round: nothing said
        line("rest", 1, 1, 1_000, 0.5),
        line("rest", 1, 2, 1_200, 0.8),  # the machine had room: the platform held it back
    ]
    assert scaling(results) == [
        "bloomreach, round 1: 2 workers x1.50 of 1; machine busy 0.66 -> 0.92; "
        "events per busy core x1.08; the machine allows x1.52 at 1 worker's cost",
        "rest, round 1: 2 workers x1.20 of 1; machine busy 0.50 -> 0.80; "
        "events per busy core x0.75; the machine allows x2.00 at 1 worker's cost",
    ]


def test_stepcost_runs_a_batch_through_every_step_in_one_process() -> None:
    """`python -m bench.stepcost` (counted under callgrind in docs/performance.md): one batch
    goes through the code and Bloomreach steps to its records, and its CPU is reported."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.stepcost", "--batches", "1", "--warm", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r"1 batches of 1000: CPU ms a batch, median ([\d.]+)", done.stdout)
    assert found and float(found.group(1)) > 0, done.stdout
    # Every event the reference transform keeps reached the stand-in; the samples' poison
    # records failed at the trigger, as they should.
    recorded = re.search(r"executions recorded: (.*)$", done.stdout, re.M)
    assert recorded, done.stdout
    counts = {status: int(n) for n, status in re.findall(r"(\d+) (\w+)", recorded.group(1))}
    assert counts["succeeded"] == EventSource().expected(1000)
    assert sum(counts.values()) == 1000 and counts["failed"] > 0
