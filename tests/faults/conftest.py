"""Fixtures of the fault-injection suite (issue 5); the shared helpers are in harness.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.faults.harness import Processes
from tests.test_end_to_end import e2e_api  # noqa: F401 (a fixture, shared with the e2e tests)


@pytest.fixture
def fault_env(stack_env: dict[str, str]) -> dict[str, str]:
    """The stack's environment for worker and runner subprocesses, started many times here.

    PYTHONDONTWRITEBYTECODE goes: with cached bytecode an interpreter that imports Django and
    Celery starts in ~1 s instead of ~5 s, which is most of a scenario's set-up.
    """
    env = dict(stack_env)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


@pytest.fixture
def processes(fault_env: dict[str, str], request: pytest.FixtureRequest) -> Iterator[Processes]:
    started = Processes(fault_env, request.node.name.removeprefix("test_")[:40])
    try:
        yield started
    finally:
        started.stop_all()


@pytest.fixture
def fault_api(e2e_api: Any) -> Any:  # noqa: F811 (the imported fixture)
    return e2e_api
