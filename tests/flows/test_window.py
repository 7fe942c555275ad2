"""The window of batches in flight: answers in any order, commits in order, deferrals hold."""

from __future__ import annotations

import time
import uuid

import orjson
import pytest

from flows.engine.jobs import Job
from flows.engine.redis import get_redis, key
from flows.engine.window import BatchWindow


def job(name: str) -> Job:
    return Job(batch_id=name, flow_id=1, version_id=1, step=0, items=[], notify=None, attempt=1)


@pytest.fixture
def window() -> BatchWindow:
    dispatched: list[Job] = []
    notify = key("test-window", uuid.uuid4().hex)
    made = BatchWindow(notify, limit=3, timeout=60, dispatch=dispatched.append)
    made.dispatched = dispatched  # type: ignore[attr-defined]
    return made


def answer(window: BatchWindow, batch_id: str, **fields: object) -> None:
    get_redis().rpush(window.notify, orjson.dumps({"batch_id": batch_id, **fields}))


def test_batches_commit_in_order_whatever_order_they_finish_in(window: BatchWindow) -> None:
    for name in ("a", "b", "c"):
        window.add(job(name), [])
    assert not window.accepts_more()
    assert [j["notify"] for j in window.dispatched] == [window.notify] * 3  # type: ignore[attr-defined]

    answer(window, "c", state="done")
    answer(window, "b", state="done")
    assert window.collect(0.5) == []
    assert [b.job["batch_id"] for b in window.pop_final()] == []

    answer(window, "a", state="done")
    window.collect(0.5)
    assert [b.job["batch_id"] for b in window.pop_final()] == ["a", "b", "c"]
    assert window.accepts_more() and len(window) == 0
    window.forget()


def test_a_deferred_batch_holds_the_window_then_runs_again(window: BatchWindow) -> None:
    window.add(job("a"), [])
    window.add(job("b"), [])
    answer(window, "a", state="deferred", delay=0.2, reason="down", outage=True)
    answer(window, "b", state="done")

    deferred = window.collect(0.5)

    assert [b.job["batch_id"] for b in deferred] == ["a"]
    assert window.holding() and not window.accepts_more()
    assert list(window.pop_final()) == []
    window.redispatch_due(lambda batch: None)
    assert len(window.dispatched) == 2  # type: ignore[attr-defined]  # not due yet
    deadline = time.monotonic() + 5
    while len(window.dispatched) == 2 and time.monotonic() < deadline:  # type: ignore[attr-defined]
        window.redispatch_due(lambda batch: None)
        window.collect(0.05)
    again = window.dispatched[-1]  # type: ignore[attr-defined]
    assert again["attempt"] == 2 and again["batch_id"] != "a"
    assert not window.holding()

    answer(window, "a", state="done")  # a late answer to the replaced attempt: ignored
    window.collect(0.2)
    assert list(window.pop_final()) == []
    answer(window, again["batch_id"], state="done")
    window.collect(0.5)
    assert len(list(window.pop_final())) == 2
    window.forget()


def test_a_batch_without_an_answer_is_dispatched_again(window: BatchWindow) -> None:
    window.timeout = 0.0
    window.add(job("a"), [])
    timed_out: list[str] = []
    window.redispatch_due(lambda batch: timed_out.append(batch.job["batch_id"]))
    assert timed_out == ["a"]
    assert [j["batch_id"] for j in window.dispatched] == ["a", "a"]  # type: ignore[attr-defined]
    window.forget()
