"""The trigger runner: one consumer thread per running flow, handing batches to Celery.

Delivery is at-least-once: a batch's offsets are committed only after the step tasks report
every message final (delivered, filtered or failed and recorded). A batch with no answer within
TRIBUTARY_BATCH_TIMEOUT is dispatched again; the delivery ledger keeps the second run from
sending what the first already sent. Up to TRIBUTARY_BATCHES_IN_FLIGHT batches run at once
(flows/engine/window.py); offsets are committed in order all the same. A batch whose
destination fails comes back "deferred": the consumer reads nothing more (back-pressure),
marks the flow "retrying" and runs the batch again, until it goes through or the step's retry
policy lets the messages fail.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid

import django.db
import kombu.exceptions
import redis
from django.conf import settings
from django.db import close_old_connections

from components.base import PartitionLag, StepError, Trigger, TriggerRecord
from flows.choices import CONSUMING_STATUSES
from flows.engine import instances, lag, ledger, profiling, tally, tracing
from flows.engine.jobs import Job, job_from_records
from flows.engine.redis import get_redis, key
from flows.engine.window import Batch, BatchWindow
from flows.graph import Plan, plan_for
from flows.models import Flow, FlowVersion
from flows.services.flows import fail_flow, mark_retrying, resume_flow

logger = logging.getLogger(__name__)

# How long a stopping consumer still waits for its batch in flight before closing without
# committing (the batch is then read again on restart; the ledger prevents re-sends).
STOP_GRACE_SECONDS = 10.0
# How often a consumer holding a batch serves its group (heartbeats, rebalances), so that a
# long batch or a long outage does not get it thrown out for not polling.
KEEP_ALIVE_SECONDS = 5.0
# Infrastructure that comes back by itself (a Redis or database restart, the broker of Celery
# unreachable): the consumer waits for it instead of failing the flow.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    kombu.exceptions.OperationalError,
    django.db.OperationalError,
    django.db.InterfaceError,
)


def consumers_key() -> str:
    """Hash flow id -> version id of the flows a runner is consuming right now."""
    return key("consumers")


def dispatch(job: Job) -> None:
    from flows.tasks import send

    send(job)


class FlowConsumer(threading.Thread):
    def __init__(self, flow_id: int, version_id: int) -> None:
        super().__init__(name=f"flow-{flow_id}-v{version_id}", daemon=True)
        self.flow_id = flow_id
        self.version_id = version_id
        self.stopping = threading.Event()
        # Set while this consumer holds a deferred batch and has marked the flow "retrying".
        self.retrying = False
        # When the consumer must next serve its group if it has not polled meanwhile.
        self.alive_at = 0.0
        # When to publish the partitions' lag next, and what was published last.
        self.lag_at = 0.0
        self.lags: list[PartitionLag] = []
        # The steps that record deliveries in the ledger, and how far its blocks are dropped.
        self.delivering: list[str] = []
        self.swept: dict[tuple[str, int], int] = {}

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        try:
            self._run()
        except Exception as error:  # the runner must outlive any one flow
            logger.exception("flow %s stopped by an error", self.flow_id)
            fail_flow(self.flow_id, f"trigger failed: {type(error).__name__}: {error}")
        finally:
            close_old_connections()

    def _open(self) -> tuple[Plan, Trigger, int] | None:
        version = FlowVersion.objects.select_related("flow").get(id=self.version_id)
        plan = plan_for(version.graph)
        trigger = instances.build(plan.trigger, self.flow_id, version.flow.workspace_id)
        assert isinstance(trigger, Trigger)
        trigger.open()
        return plan, trigger, version.flow.workspace_id

    def _run(self) -> None:
        try:
            opened = self._open()
        except Exception as error:
            fail_flow(self.flow_id, f"cannot start the trigger: {error}")
            return
        assert opened is not None
        plan, trigger, _ = opened
        self.delivering = [node.id for node in plan.actions if node.descriptor.delivers]
        logger.info("flow %s: consuming (version %s)", self.flow_id, self.version_id)
        window = BatchWindow(
            key("consumer", self.flow_id, uuid.uuid4().hex, "answers"),
            settings.TRIBUTARY_BATCHES_IN_FLIGHT,
            settings.TRIBUTARY_BATCH_TIMEOUT,
            dispatch,
        )
        try:
            with contextlib.suppress(*TRANSIENT_ERRORS):
                get_redis().hset(consumers_key(), str(self.flow_id), str(self.version_id))
            self._consume(plan, trigger, window)
            self._drain(trigger, window)
        finally:
            trigger.close()
            with contextlib.suppress(*TRANSIENT_ERRORS):
                window.forget()
                get_redis().hdel(consumers_key(), str(self.flow_id))
                lag.forget(self.flow_id, self.lags)
            logger.info("flow %s: consumer closed", self.flow_id)

    def _consume(self, plan: Plan, trigger: Trigger, window: BatchWindow) -> None:
        """Poll, dispatch and settle until stopped. Redis or the database going away for a
        while (a restart) pauses the loop, with backoff, rather than failing the flow."""
        self.alive_at = time.monotonic() + KEEP_ALIVE_SECONDS
        backoff = 0.5
        while not self.stopping.is_set():
            try:
                if not self._turn(plan, trigger, window):
                    return
                backoff = 0.5
            except TRANSIENT_ERRORS as error:
                logger.warning(
                    "flow %s: %s: %s; trying again in %.1f s",
                    self.flow_id,
                    type(error).__name__,
                    error,
                    backoff,
                )
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def _turn(self, plan: Plan, trigger: Trigger, window: BatchWindow) -> bool:
        """One round: read a batch if there is room, collect answers, commit. False: the
        trigger failed for good and the flow is marked failed."""
        if window.accepts_more():
            polled_at = time.time_ns()
            try:
                with profiling.phase("consume"):
                    records = trigger.poll_batch()
            except StepError as error:
                if not error.retryable:
                    fail_flow(self.flow_id, f"trigger failed: {error.message}")
                    return False
                logger.warning("flow %s: %s (retrying)", self.flow_id, error.message)
                self.stopping.wait(2.0)
                return True
            if records:
                with profiling.phase("dispatch", len(records)):
                    self._dispatch(plan, window, records, polled_at)
            self.alive_at = time.monotonic() + KEEP_ALIVE_SECONDS
            deferred = window.collect(0)
        else:
            # Full, or held by a failing destination: read nothing (back-pressure), but keep
            # the group membership alive.
            deferred = window.collect(1.0 if window else 0)
            if time.monotonic() > self.alive_at:
                trigger.keep_alive()
                self.alive_at = time.monotonic() + KEEP_ALIVE_SECONDS
        self._settle(trigger, window, deferred)
        self._report_lag(trigger)
        return True

    def _dispatch(
        self, plan: Plan, window: BatchWindow, records: list[TriggerRecord], polled_at: int
    ) -> None:
        """Hand the records to the workers as one job, which starts the batch's trace."""
        attributes = {"tributary.flow_id": self.flow_id, "tributary.messages": len(records)}
        with tracing.span("batch", attributes=attributes, start_ns=polled_at):
            tracing.record("consume", polled_at, time.time_ns(), attributes=attributes)
            job = job_from_records(self.flow_id, self.version_id, plan, records)
            tally.count_trigger(job, plan.trigger.id, records)
            trace = tracing.traceparent()
            if trace:
                job["trace"] = trace
            window.add(job, records)

    def _report_lag(self, trigger: Trigger) -> None:
        """Every TRIBUTARY_LAG_SECONDS: publish the lag of the partitions read now."""
        now = time.monotonic()
        if now < self.lag_at:
            return
        self.lag_at = now + settings.TRIBUTARY_LAG_SECONDS
        lags = trigger.lag()
        if not lags:
            return  # unknown for now (the broker slow to answer): the old entries expire
        # Partitions a rebalance took away: their new owner publishes them.
        held = {(now_held.topic, now_held.partition) for now_held in lags}
        lag.forget(self.flow_id, [p for p in self.lags if (p.topic, p.partition) not in held])
        lag.publish(self.flow_id, lags)
        self.lags = lags

    def _drain(self, trigger: Trigger, window: BatchWindow) -> None:
        """Stopping: give the batches in flight a grace period to finish, committing those
        that do. A deferred batch is not run again; it is read again on the next start."""
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while window and not window.holding() and time.monotonic() < deadline:
            self._settle(trigger, window, window.collect(0.5))
        if window:
            logger.info("flow %s: stopped with %d batches in flight", self.flow_id, len(window))

    def _settle(self, trigger: Trigger, window: BatchWindow, deferred: list[Batch]) -> None:
        """Commit what is final, in order; note deferrals; run again what is due."""
        for batch in deferred:
            answer = batch.deferral or {}
            delay = float(answer.get("delay") or 0)
            reason = f"{answer.get('reason')}; trying again in {delay:.0f} s"
            logger.warning("flow %s: batch deferred: %s", self.flow_id, reason)
            if answer.get("outage") or batch.job.get("attempt", 1) > 1:
                self.retrying = True
                mark_retrying(self.flow_id, reason)
        for batch in window.pop_final():
            with (
                profiling.phase("commit", len(batch.records)),
                tracing.span("commit", parent=batch.job.get("trace")),
            ):
                self._commit(trigger, batch.records)
            if self.retrying and not window.holding():
                self.retrying = False
                resume_flow(self.flow_id)
        if not self.stopping.is_set():
            window.redispatch_due(self._timed_out)

    def _timed_out(self, batch: Batch) -> None:
        logger.warning(
            "flow %s: no answer for batch %s within %.0f s; dispatching it again",
            self.flow_id,
            batch.job["batch_id"],
            settings.TRIBUTARY_BATCH_TIMEOUT,
        )

    def _commit(self, trigger: Trigger, records: list[TriggerRecord]) -> None:
        try:
            committed = trigger.commit(records)
        except StepError as error:
            # Typically a rebalance moved the partitions away while the batch ran: the new
            # owner reads these records again and the ledger keeps them from being re-sent.
            logger.warning("flow %s: commit failed: %s", self.flow_id, error.message)
            return
        if not self.delivering:
            return
        try:
            ledger.forget_committed(self.version_id, self.delivering, committed, self.swept)
        except TRANSIENT_ERRORS as error:
            # Left for the next commit to drop, or for their TTL.
            logger.warning("flow %s: ledger blocks not dropped: %s", self.flow_id, error)


class TriggerRunner:
    """Keeps one consumer per running flow, in step with the database."""

    def __init__(self) -> None:
        self.consumers: dict[int, FlowConsumer] = {}
        self.stopping = threading.Event()

    def sync(self) -> None:
        wanted = dict(
            Flow.objects.filter(
                status__in=CONSUMING_STATUSES, active_version__isnull=False
            ).values_list("id", "active_version_id")
        )
        for flow_id, consumer in list(self.consumers.items()):
            if wanted.get(flow_id) != consumer.version_id:
                consumer.stop()
            if not consumer.is_alive():
                del self.consumers[flow_id]
        for flow_id, version_id in wanted.items():
            if flow_id not in self.consumers:
                consumer = FlowConsumer(flow_id, version_id)
                self.consumers[flow_id] = consumer
                consumer.start()

    def run_forever(self) -> None:
        interval = settings.TRIBUTARY_RUNNER_SYNC_SECONDS
        while not self.stopping.is_set():
            try:
                self.sync()
            except Exception:
                logger.exception("trigger runner: sync failed; trying again")
            finally:
                close_old_connections()
            self.stopping.wait(interval)
        self.shutdown()

    def shutdown(self) -> None:
        for consumer in self.consumers.values():
            consumer.stop()
        for consumer in self.consumers.values():
            consumer.join(timeout=STOP_GRACE_SECONDS + 5)
