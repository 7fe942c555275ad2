"""What a bench run is asked to do (from the environment) and the constants it shares."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

from config.env import env_bool, env_float, env_int, env_list, env_str

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PARTITIONS = 6
PROJECT_TOKEN = "demo-project"
API_KEY_ID = "demo-key"
API_SECRET = "demo-secret"  # the stand-in's demo secret, not a real one
ALL_SCENARIOS = ("ceiling-batch", "ceiling-per-event", "bloomreach", "rest", "steady", "soak")
# `soak` takes SOAK_SECONDS (10 minutes) on its own: asked for by name, never by default.
DEFAULT_SCENARIOS = ALL_SCENARIOS[:-1]
# A scenario's ratio is its events/s over its ceiling's.
CEILING_OF = {"bloomreach": "ceiling-batch", "rest": "ceiling-per-event"}


@dataclass(frozen=True)
class Settings:
    events: int
    workers: int
    bench_workers: list[int]
    scenarios: list[str]
    steady_rate: float
    steady_seconds: float
    soak_rate: float
    soak_seconds: float
    profile: bool
    timeout: float
    batch_size: int
    soak_batch_size: int
    max_wait_ms: int
    steady_max_wait_ms: int
    producer_linger_ms: int
    session_timeout_ms: int
    results_dir: Path
    keep: bool
    # Every scenario this many times, round after round: one machine's runs differ by ~15%,
    # and a median of ratios, each to its own round's ceiling, travels better than one.
    rounds: int

    @classmethod
    def from_env(cls) -> Settings:
        workers = env_int("WORKERS", 2)
        scenarios = env_list("SCENARIOS", ",".join(DEFAULT_SCENARIOS))
        unknown = sorted(set(scenarios) - set(ALL_SCENARIOS))
        if unknown:
            raise SystemExit(f"unknown SCENARIOS {unknown}: choose from {list(ALL_SCENARIOS)}")
        bench_workers = [int(n) for n in env_list("BENCH_WORKERS", str(workers))]
        if workers < 1 or any(n < 1 for n in bench_workers):
            raise SystemExit("WORKERS and BENCH_WORKERS need at least one worker")
        rounds = env_int("BENCH_ROUNDS", 1)
        if rounds < 1:
            raise SystemExit("BENCH_ROUNDS needs at least one round")
        return cls(
            events=env_int("N", 100_000),
            workers=workers,
            bench_workers=bench_workers,
            scenarios=[s for s in ALL_SCENARIOS if s in scenarios],
            steady_rate=env_float("STEADY_RATE", 2000.0),
            steady_seconds=env_float("STEADY_SECONDS", 60.0),
            soak_rate=env_float("SOAK_RATE", 1000.0),
            soak_seconds=env_float("SOAK_SECONDS", 600.0),
            profile=env_bool("PROFILE", False),
            timeout=env_float("BENCH_TIMEOUT", 600.0),
            batch_size=env_int("BENCH_BATCH_SIZE", 1000),
            # What a 100 ms window gathers at 1,000 events/s: the soak's batches stay that size
            # however late the broker answers, so that memory is compared under one load.
            soak_batch_size=env_int("BENCH_SOAK_BATCH_SIZE", 100),
            max_wait_ms=env_int("BENCH_MAX_WAIT_MS", 500),
            # A flow tuned for latency, as its owner would: batches close after 100 ms.
            steady_max_wait_ms=env_int("BENCH_STEADY_MAX_WAIT_MS", 100),
            # The event producer's linger, which its latency includes. Tansu's fetches cost in
            # proportion to the record batches a topic holds: at 5 ms, one small batch every
            # 10 ms of `steady`, the broker averaged 0.75 of a core; at 50 ms, 0.21.
            producer_linger_ms=env_int("BENCH_LINGER_MS", 50),
            # The platform's default. Tansu holds a new group member about half of it
            # before the first assignment; that wait is never measured (see the warm-up).
            session_timeout_ms=env_int("BENCH_SESSION_TIMEOUT_MS", 10_000),
            results_dir=Path(env_str("BENCH_RESULTS_DIR", str(ROOT / "bench" / "results"))),
            keep=env_bool("BENCH_KEEP", False),
            rounds=rounds,
        )


_STARTED = time.monotonic()


def say(line: str) -> None:
    """Progress on stderr (stdout carries only the JSON lines and the table)."""
    print(f"bench [{time.monotonic() - _STARTED:6.1f}s] {line}", file=sys.stderr, flush=True)
