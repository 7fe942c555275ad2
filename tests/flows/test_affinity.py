"""A batch's next step on the worker that ran its last one (flows.engine.affinity), and the job
kept in that process's memory (flows.engine.jobstore), against the test Redis and broker."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.test import override_settings

from config.celery import app
from config.services import free_port
from flows.engine import affinity, jobstore
from flows.engine.jobs import Job, new_item
from flows.tasks import run_step, send
from tests.fixtures.stack import QUEUE, Process, wait_for


def new_job(step: int = 1) -> Job:
    item = new_item("v1:t:0:0", {"topic": "t", "partition": 0, "offset": 0}, "{}")
    item["pending"]["next"] = [{"id": "t:0:0", "body": {"n": 1}, "headers": {}, "meta": {}}]
    return Job(
        batch_id=uuid.uuid4().hex,
        flow_id=1,
        version_id=1,
        step=step,
        items=[item],
        notify="runner-list",
        attempt=1,
    )


@pytest.fixture(autouse=True)
def _nothing_kept() -> Iterator[None]:
    jobstore._kept.clear()
    yield
    jobstore._kept.clear()
    affinity._node = None
    affinity._one_process = False


def test_a_job_kept_for_this_process_is_taken_from_memory_once() -> None:
    job = new_job()
    ref = jobstore.put(job, keep=True)

    assert jobstore.take(ref) is job  # no decoding
    again = jobstore.take(ref)  # a redelivery or a retry: the copy in Redis
    assert again == job and again is not job


def test_a_job_not_kept_is_read_from_redis() -> None:
    job = new_job()
    ref = jobstore.put(job)

    assert "kept" not in ref
    taken = jobstore.take(ref)
    assert taken == job and taken is not job


def test_an_older_copy_in_memory_is_not_taken_for_a_batch_dispatched_again() -> None:
    """A batch its runner dispatched again stores its steps under the same names."""
    first = new_job()
    jobstore.put(first, keep=True)
    kept_here = dict(jobstore._kept)
    second = new_job()
    second["batch_id"] = first["batch_id"]
    second["items"][0]["pending"]["next"][0]["body"] = {"n": 2}
    second_ref = jobstore.put(second, keep=True)  # as another worker would
    jobstore._kept.clear()
    jobstore._kept.update(kept_here)

    taken = jobstore.take(second_ref)
    assert taken is not first
    assert taken == second


def test_a_finished_batch_is_not_run_again_from_memory() -> None:
    job = new_job()
    ref = jobstore.put(job, keep=True)
    jobstore.drop(job, steps=2)

    assert jobstore.take(ref) is None


def test_kept_jobs_are_bounded_and_the_forgotten_are_read_from_redis() -> None:
    jobs = [new_job() for _ in range(jobstore.KEPT_JOBS + 3)]
    refs = [jobstore.put(job, keep=True) for job in jobs]

    assert len(jobstore._kept) == jobstore.KEPT_JOBS
    oldest = jobstore.take(refs[0])
    assert oldest == jobs[0] and oldest is not jobs[0]
    assert jobstore.take(refs[-1]) is jobs[-1]


def stored(job: Job) -> bool:
    return bool(jobstore.get_redis().exists(jobstore._name(job["batch_id"], job["step"])))


def dispatched(step: int = 1) -> Job:
    """A job at `step` of a batch whose runner stored its first step, as runners do."""
    first = new_job(step=0)
    jobstore.put(first)
    job = new_job(step=step)
    job["batch_id"] = first["batch_id"]
    return job


def test_a_job_only_this_process_can_take_is_kept_in_memory_only() -> None:
    job = dispatched()
    ref = jobstore.put(job, keep=True, only_here=True)

    assert not stored(job)
    assert jobstore.take(ref) is job


def test_a_job_kept_only_in_memory_and_lost_runs_its_batch_again_from_its_first_step() -> None:
    """A retry of its task, or the process killed: the runner's copy is still there."""
    job = dispatched(step=2)
    ref = jobstore.put(job, keep=True, only_here=True)
    jobstore._kept.clear()

    again = jobstore.take(ref)
    assert again is not None
    assert again["step"] == 0 and again["batch_id"] == job["batch_id"]


def test_a_job_pushed_out_of_memory_is_stored_first() -> None:
    jobs = [dispatched() for _ in range(jobstore.KEPT_JOBS + 1)]
    refs = [jobstore.put(job, keep=True, only_here=True) for job in jobs]

    assert stored(jobs[0])
    assert not any(stored(job) for job in jobs[1:])
    oldest = jobstore.take(refs[0])
    assert oldest == jobs[0] and oldest is not jobs[0]


def test_a_finished_batch_is_not_stored_again_when_pushed_out() -> None:
    job = dispatched()
    ref = jobstore.put(job, keep=True, only_here=True)
    jobstore.drop(job, steps=2)
    for _ in range(jobstore.KEPT_JOBS):
        jobstore.put(dispatched(), keep=True, only_here=True)

    assert not stored(job)
    assert jobstore.take(ref) is None


def test_a_finished_batch_is_not_run_again_from_a_job_kept_only_in_memory() -> None:
    job = dispatched()
    ref = jobstore.put(job, keep=True, only_here=True)
    jobstore.drop(job, steps=2)

    assert jobstore.take(ref) is None


def test_two_attempts_of_a_batch_on_one_process_each_take_their_own_job() -> None:
    """A runner's re-dispatch, or a task run again from the first copy, keeps a job under the
    same names as the attempt still running: neither may take or drop the other's (they
    would run the batch from its first step by turns, for ever)."""
    first = dispatched()
    second = new_job()
    second["batch_id"] = first["batch_id"]
    first_ref = jobstore.put(first, keep=True, only_here=True)
    second_ref = jobstore.put(second, keep=True, only_here=True)

    assert jobstore.take(first_ref) is first
    assert jobstore.take(second_ref) is second


def test_a_stopping_process_stores_what_it_kept_only_in_memory() -> None:
    only_here = [dispatched() for _ in range(2)]
    refs = [jobstore.put(job, keep=True, only_here=True) for job in only_here]
    jobstore.put(dispatched(), keep=True)  # stored already

    assert affinity.store_kept() == 2

    assert jobstore._kept == {}
    assert all(stored(job) for job in only_here)
    assert [jobstore.take(ref) for ref in refs] == only_here


def test_the_signals_of_a_stopping_worker_store_what_it_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """config.celery's handlers: a pool process stopping, and a worker whose tasks ran in
    its own process (solo) stopping."""
    from celery.signals import worker_process_shutdown, worker_shutdown

    for signal in (worker_process_shutdown, worker_shutdown):
        job = dispatched()
        jobstore.put(job, keep=True, only_here=True)

        signal.send(sender=None)

        assert stored(job)
    assert "stored 1 job(s) kept in memory" in caplog.text


class Worker:
    def __init__(self, pool: str, concurrency: int, autoscale: object = None) -> None:
        import celery.concurrency

        self.pool_cls = celery.concurrency.get_implementation(pool)
        self.concurrency = concurrency
        self.autoscale = autoscale


@pytest.mark.parametrize(
    ("worker", "one"),
    [
        (Worker("prefork", 1), True),
        (Worker("prefork", 2), False),
        (Worker("prefork", 1, autoscale=[4, 1]), False),
        (Worker("solo", 2), True),
        (Worker("threads", 8), True),
    ],
)
def test_which_workers_run_their_tasks_in_one_process(worker: Worker, one: bool) -> None:
    assert affinity.runs_in_one_process(worker) is one
    affinity.register(app, "worker-a@host", worker)

    assert affinity.only_process("worker-a@host") is one
    assert affinity.only_process("worker-b@host") is False


def test_only_a_registered_worker_has_a_queue_of_its_own() -> None:
    assert affinity.own_queue("worker-a@host") is None  # not a worker process
    affinity.register(app, "worker-a@host")

    queue = affinity.own_queue("worker-a@host")
    assert queue == f"{app.conf.task_default_queue}.worker-a@host"
    assert queue in app.amqp.queues
    assert affinity.own_queue("worker-b@host") is None
    assert affinity.own_queue(None) is None  # run eagerly, from a runner


@override_settings(TRIBUTARY_STEP_AFFINITY=False)
def test_with_affinity_off_no_worker_has_a_queue_of_its_own() -> None:
    affinity.register(app, "worker-a@host")

    assert affinity.own_queue("worker-a@host") is None


@pytest.fixture
def private_queue(redis_url: str) -> Iterator[tuple[str, redis.Redis]]:
    """A shared queue of this test alone on the test broker."""
    name = f"affinity-{uuid.uuid4().hex}"
    before = app.conf.task_default_queue
    app.conf.task_default_queue = name
    client = redis.Redis.from_url(redis_url)
    try:
        yield name, client
    finally:
        app.conf.task_default_queue = before
        client.delete(*client.keys(f"{name}*"), *client.keys(f"_kombu.binding.{name}*"))


def queued(client: redis.Redis, queue: str) -> list[dict[str, Any]]:
    """Bodies of the tasks waiting in a queue (kombu keeps a Redis list per queue)."""
    import base64
    import json

    return [
        json.loads(base64.b64decode(json.loads(raw)["body"])) for raw in client.lrange(queue, 0, -1)
    ]


def test_a_worker_queues_the_next_step_on_its_own_queue_with_the_job_kept(
    private_queue: tuple[str, redis.Redis],
) -> None:
    shared, client = private_queue
    affinity.register(app, "worker-a@host")
    job = new_job()

    send(job, node="worker-a@host")

    own = queued(client, f"{shared}.worker-a@host")
    assert queued(client, shared) == []
    assert len(own) == 1
    (ref,), _, _ = own[0]
    assert ref["kept"]
    assert jobstore.take(ref) is job
    assert stored(job)  # for another process of the worker


def test_a_worker_of_one_process_queues_the_next_step_without_storing_it(
    private_queue: tuple[str, redis.Redis],
) -> None:
    shared, client = private_queue
    affinity.register(app, "worker-a@host", Worker("prefork", 1))
    job = dispatched()

    send(job, node="worker-a@host")

    (ref,), _, _ = queued(client, f"{shared}.worker-a@host")[0]
    assert not stored(job)
    assert jobstore.take(ref) is job


def test_a_runner_queues_on_the_shared_queue(private_queue: tuple[str, redis.Redis]) -> None:
    shared, client = private_queue
    affinity.register(app, "worker-a@host")

    send(new_job(step=0))

    assert len(queued(client, shared)) == 1
    assert jobstore._kept == {}


def test_a_stopping_worker_hands_its_waiting_steps_back_to_the_shared_queue(
    private_queue: tuple[str, redis.Redis],
) -> None:
    shared, client = private_queue
    affinity.register(app, "worker-a@host")
    for _ in range(3):
        send(new_job(), node="worker-a@host")
    refs = [body[0][0]["ref"] for body in queued(client, f"{shared}.worker-a@host")]

    assert affinity.hand_back(app, "worker-a@host") == 3

    assert queued(client, f"{shared}.worker-a@host") == []
    moved = queued(client, shared)
    assert sorted(body[0][0]["ref"] for body in moved) == sorted(refs)
    # Taken by another worker, each is read from Redis as stored.
    jobstore._kept.clear()
    assert all(jobstore.take(body[0][0]) is not None for body in moved)


def test_a_worker_stopping_with_the_broker_unreachable_stops_all_the_same(
    caplog: pytest.LogCaptureFixture,
) -> None:
    affinity.register(app, "worker-a@host")
    before = app.conf.broker_url
    app.conf.broker_url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    try:
        started = time.monotonic()
        assert affinity.hand_back(app, "worker-a@host") == 0
        assert time.monotonic() - started < 30  # a bound on hanging, not a speed target
        assert "could not hand worker-a@host's waiting steps back" in caplog.text
    finally:
        app.conf.broker_url = before


def test_a_real_worker_consumes_its_own_queue_and_hands_it_back_when_it_stops(
    celery_worker: Process, redis_url: str
) -> None:
    """The signals of config.celery, in a worker process: a step put on the worker's queue for
    later (a countdown: the worker holds it unacknowledged) is back on the shared queue once
    the worker stopped, for another worker to run."""
    client = redis.Redis.from_url(redis_url)
    node = f"test0@{socket.gethostname()}"  # the fixture's first worker, `-n test0@%h`
    assert f"{QUEUE}.{node}" in celery_worker.output()  # in the worker's list of queues
    job = new_job()
    ref = jobstore.put(job)
    task = run_step.apply_async((ref,), queue=f"{QUEUE}.{node}", countdown=3600)
    wait_for(lambda: task.id in celery_worker.output(), 30, "the worker to hold the step")

    celery_worker.stop()

    waiting = [json.loads(raw)["headers"]["id"] for raw in client.lrange(QUEUE, 0, -1)]
    assert task.id in waiting
    assert client.llen(f"{QUEUE}.{node}") == 0
    assert f"handed 1 waiting step(s) back to queue {QUEUE}" in celery_worker.output()
