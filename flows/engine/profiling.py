"""Where the time goes, per phase of the pipeline, when TRIBUTARY_PROFILE=1 (`make bench
PROFILE=1`): every process adds its seconds and counts to one Redis hash, read by the bench.

Off by default, and then free: `phase()` is a bare context manager and `add()` returns at once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flows.engine.redis import get_redis, key

ENABLED = os.environ.get("TRIBUTARY_PROFILE", "") not in ("", "0")


def profile_key() -> str:
    return key("profile")


def add(name: str, seconds: float, messages: int = 0) -> None:
    if not ENABLED:
        return
    pipe = get_redis().pipeline(transaction=False)
    pipe.hincrbyfloat(profile_key(), f"{name}:seconds", seconds)
    pipe.hincrby(profile_key(), f"{name}:calls", 1)
    if messages:
        pipe.hincrby(profile_key(), f"{name}:messages", messages)
    pipe.execute()


@contextmanager
def phase(name: str, messages: int = 0) -> Iterator[None]:
    if not ENABLED:
        yield
        return
    started = time.perf_counter()
    try:
        yield
    finally:
        add(name, time.perf_counter() - started, messages)


def report() -> dict[str, dict[str, float]]:
    """{phase: {"seconds", "calls", "messages"}}, the costliest first."""
    raw: dict[Any, Any] = get_redis().hgetall(profile_key())
    phases: dict[str, dict[str, float]] = {}
    for field, value in raw.items():
        name, _, measure = (field.decode() if isinstance(field, bytes) else field).rpartition(":")
        phases.setdefault(name, {"seconds": 0.0, "calls": 0.0, "messages": 0.0})[measure] = float(
            value
        )
    return dict(sorted(phases.items(), key=lambda item: -item[1]["seconds"]))


def reset() -> None:
    get_redis().delete(profile_key())
