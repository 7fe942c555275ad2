"""The opt-in profile: phases add up in Redis; off, nothing is written."""

from __future__ import annotations

import pytest

from flows.engine import profiling
from flows.engine.redis import get_redis


def test_phases_add_up_when_profiling_is_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(profiling, "ENABLED", True)
    profiling.reset()
    for _ in range(3):
        with profiling.phase("records", messages=500):
            pass
    profiling.add("http", 0.25, messages=50)

    report = profiling.report()

    assert next(iter(report)) == "http"
    assert report["http"] == {"seconds": 0.25, "calls": 1, "messages": 50}
    assert report["records"]["calls"] == 3 and report["records"]["messages"] == 1500
    profiling.reset()


def test_nothing_is_written_when_profiling_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(profiling, "ENABLED", False)
    profiling.reset()
    with profiling.phase("records", messages=500):
        pass
    assert not get_redis().exists(profiling.profile_key())
