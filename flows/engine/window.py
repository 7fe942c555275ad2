"""The batches one flow consumer has dispatched and not yet committed, oldest first.

Several batches may be in flight at once (TRIBUTARY_BATCHES_IN_FLIGHT), so that more than one
worker can work for a flow; offsets are still committed strictly in order, a batch only once
it and every batch before it are final. Workers answer on one Redis list per consumer:
`{"batch_id", "state": "done" | "deferred", ...}`.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from components.base import TriggerRecord
from flows.engine.jobs import Job, next_attempt
from flows.engine.redis import get_redis

Dispatch = Callable[[Job], None]
# How soon a batch whose dispatch failed (broker away) is sent again.
RESEND_SECONDS = 1.0


@dataclass
class Batch:
    job: Job
    records: list[TriggerRecord]
    # When to dispatch again if no answer came (a lost task, a dead worker).
    deadline: float
    done: bool = False
    # Set while deferred: when to run it again, and the worker's reason.
    retry_at: float | None = None
    deferral: dict[str, Any] | None = None


class BatchWindow:
    def __init__(self, notify: str, limit: int, timeout: float, dispatch: Dispatch) -> None:
        self.notify = notify
        self.limit = max(limit, 1)
        self.timeout = timeout
        self.dispatch = dispatch
        self.batches: deque[Batch] = deque()

    def __len__(self) -> int:
        return len(self.batches)

    def accepts_more(self) -> bool:
        """Room for another batch, and none held back by a failing destination."""
        return len(self.batches) < self.limit and not self.holding()

    def holding(self) -> bool:
        return any(batch.retry_at is not None for batch in self.batches)

    def add(self, job: Job, records: list[TriggerRecord]) -> None:
        job["notify"] = self.notify
        batch = Batch(job, records, time.monotonic() + self.timeout)
        self.batches.append(batch)
        self._send(batch)

    def _send(self, batch: Batch) -> None:
        """Dispatch; if the broker is away, the batch is due again in a moment (the caller
        hears of the error and backs off)."""
        try:
            self.dispatch(batch.job)
        except Exception:
            batch.deadline = time.monotonic() + RESEND_SECONDS
            raise

    def collect(self, wait_seconds: float) -> list[Batch]:
        """Take the workers' answers (waiting up to `wait_seconds` for the first); return the
        batches that came back deferred."""
        client = get_redis()
        raw: list[Any] = []
        if wait_seconds > 0:
            popped = client.blpop([self.notify], timeout=wait_seconds)
            if popped:
                raw.append(popped[1])
        while (more := client.lpop(self.notify)) is not None:
            raw.append(more)
        by_id = {batch.job["batch_id"]: batch for batch in self.batches}
        deferred = []
        for item in raw:
            answer = orjson.loads(item)
            batch = by_id.get(str(answer.get("batch_id"))) if isinstance(answer, dict) else None
            if batch is None or batch.done:
                continue  # a late answer to an attempt already replaced or answered
            if answer.get("state") == "deferred":
                delay = float(answer.get("delay") or 0)
                batch.retry_at = time.monotonic() + delay
                batch.deferral = answer
                deferred.append(batch)
            else:
                batch.done = True
        return deferred

    def redispatch_due(self, on_timeout: Callable[[Batch], None]) -> None:
        """Run deferred batches whose wait is over again, and batches with no answer in time."""
        now = time.monotonic()
        for batch in self.batches:
            if batch.done:
                continue
            if batch.retry_at is not None:
                if now >= batch.retry_at:
                    batch.job = next_attempt(batch.job)
                    batch.retry_at, batch.deferral = None, None
                    batch.deadline = now + self.timeout
                    self._send(batch)
            elif now > batch.deadline:
                on_timeout(batch)
                batch.deadline = now + self.timeout
                self._send(batch)

    def pop_final(self) -> Iterator[Batch]:
        """The leading batches that are done, in order: theirs are the offsets to commit."""
        while self.batches and self.batches[0].done:
            yield self.batches.popleft()

    def forget(self) -> None:
        get_redis().delete(self.notify)
