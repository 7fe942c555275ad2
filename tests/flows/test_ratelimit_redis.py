"""flows.engine.ratelimit: the Redis token bucket shared by workers, against the test Redis."""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from components.base import Runtime, StepError
from components.bloomreach.component import BloomreachAction
from components.bloomreach.standin import BloomreachStandIn
from components.ratelimit import bucket_name
from components.rest.component import RestAction
from flows.engine.ratelimit import RedisRateLimiter, bucket_key
from flows.engine.redis import get_redis
from tests.components.test_ratelimit import assert_within_rate
from tests.fixtures.stack import REDIS_PREFIX
from tests.fixtures.standin import ScriptedServer

pytest_plugins = ["tests.fixtures.standin"]

PRIVATE = {"auth": "private", "api_key_id": "demo-key", "api_secret": "demo-secret"}


def fresh_bucket(workspace: int = 1) -> str:
    """A bucket no other test touched (the test Redis is shared, never flushed)."""
    return bucket_name(f"https://{uuid.uuid4().hex}.example/api", workspace)


class Booked:
    """A sleep that only records: each acquire then shows the slot it booked, instantly."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def server_now() -> float:
    seconds, micros = get_redis().time()
    return seconds + micros / 1e6


def _acquire_in_child(bucket: str, n: int, rate: float, burst: int, out: Any) -> None:
    limiter = RedisRateLimiter()  # its own connection: get_redis() is per process
    times = []
    for _ in range(n):
        limiter.acquire(bucket, rate, burst)
        times.append(time.monotonic())  # system-wide on Linux: comparable across processes
    out.put(times)


def test_processes_sharing_a_bucket_never_get_more_than_rate_times_elapsed_plus_burst() -> None:
    bucket, rate, burst, processes, each = fresh_bucket(), 100.0, 10, 4, 50
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    children = [
        context.Process(target=_acquire_in_child, args=(bucket, each, rate, burst, out))
        for _ in range(processes)
    ]
    for child in children:
        child.start()
    granted = [t for _ in children for t in out.get(timeout=60)]
    for child in children:
        child.join(10)
        assert child.exitcode == 0

    assert_within_rate(granted, rate, burst, processes * each)
    sustained = (len(granted) - burst) / (max(granted) - min(granted))
    print(f"sustained {sustained:.1f}/s after the burst, configured {rate}/s")


def test_threads_sharing_a_bucket_each_book_a_distinct_slot() -> None:
    # At 1 request/s the few milliseconds the test takes are small against the slots, so each
    # wait rounds to its slot's number: slots 0 (the full bucket) to 99, each booked once.
    bucket = fresh_bucket()
    limiter = RedisRateLimiter(max_wait=200, sleep=Booked())
    waits: list[float] = []

    def work() -> None:
        for _ in range(25):
            waits.append(limiter.acquire(bucket, 1, 1))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(round(wait) for wait in waits) == list(range(100))


def test_a_429_halves_the_rate_until_a_quiet_window_passes() -> None:
    bucket, booked = fresh_bucket(), Booked()
    limiter = RedisRateLimiter(sleep=booked)
    limiter.acquire(bucket, 100, 1)
    for _ in range(3):  # the same overload, reported by three requests in flight
        limiter.penalise(bucket, 100, 1, None)
    assert limiter.rate_factor(bucket) == 0.5

    for _ in range(20):
        limiter.acquire(bucket, 100, 1)
    # 20 slots at 50/s lie 0.4 s ahead (less the little time the calls took); at 100/s, 0.2.
    assert 0.3 < booked.waits[-1] <= 0.4 + 1e-6

    key = bucket_key(bucket)
    get_redis().hset(key, "penalised_at", f"{server_now() - 31:.6f}")  # a window of quiet
    assert limiter.rate_factor(bucket) == 1.0


def test_repeated_429s_lower_the_rate_to_a_tenth_and_it_doubles_back_per_window() -> None:
    bucket = fresh_bucket()
    limiter = RedisRateLimiter(cooldown_seconds=0, sleep=Booked())
    factors = []
    for _ in range(5):
        limiter.penalise(bucket, 100, 1, None)
        factors.append(limiter.rate_factor(bucket))
    assert factors == [0.5, 0.25, 0.125, 0.1, 0.1]

    key = bucket_key(bucket)
    get_redis().hset(key, "penalised_at", f"{server_now() - 61:.6f}")  # two quiet windows
    assert limiter.rate_factor(bucket) == pytest.approx(0.4)


def test_retry_after_pauses_the_bucket_for_every_worker() -> None:
    bucket, booked = fresh_bucket(), Booked()
    limiter = RedisRateLimiter(sleep=booked)
    limiter.acquire(bucket, 100, 10)
    limiter.penalise(bucket, 100, 10, 2.0)

    other_worker = RedisRateLimiter(sleep=booked)
    other_worker.acquire(bucket, 100, 10)

    # The pause, then one slot at the halved rate (less the time the calls took).
    assert 2.0 < booked.waits[-1] <= 2.02 + 1e-6


def test_a_wait_beyond_the_maximum_fails_retryably_without_booking() -> None:
    bucket, booked = fresh_bucket(), Booked()
    limiter = RedisRateLimiter(max_wait=0.5, sleep=booked)
    for _ in range(6):  # the full bucket's token, then slots 0.1 ... 0.5 s ahead
        limiter.acquire(bucket, 10, 1)

    with pytest.raises(StepError) as caught:
        limiter.acquire(bucket, 10, 1)

    assert caught.value.retryable
    assert ".example:443" in caught.value.message
    level = float(get_redis().hget(bucket_key(bucket), "level") or 0)
    assert level == pytest.approx(-5, abs=0.1)  # the refused call booked nothing


def test_workspaces_have_separate_buckets() -> None:
    url = f"https://{uuid.uuid4().hex}.example/x"
    booked = Booked()
    limiter = RedisRateLimiter(sleep=booked)

    assert limiter.acquire(bucket_name(url, 1), 1, 1) == 0
    assert limiter.acquire(bucket_name(url, 1), 1, 1) > 0.9
    assert limiter.acquire(bucket_name(url, 2), 1, 1) == 0
    assert get_redis().exists(bucket_key(bucket_name(url, 2)))


def test_buckets_live_under_the_prefix_and_expire_once_full_and_recovered() -> None:
    bucket = fresh_bucket()
    limiter = RedisRateLimiter(sleep=Booked())
    key = bucket_key(bucket)
    assert key.startswith(f"{REDIS_PREFIX}:ratelimit:")

    limiter.acquire(bucket, 100, 10)
    assert 60_000 < get_redis().pttl(key) <= 61_100  # full again in 10 ms, then 60 s of margin

    limiter.penalise(bucket, 100, 10, None)
    assert 89_000 < get_redis().pttl(key) <= 91_100  # the penalty recovers in 30 s


def test_an_unreachable_redis_fails_the_acquire_retryably() -> None:
    def unreachable() -> redis.Redis:
        return redis.Redis(port=1, retry=Retry(NoBackoff(), 0))  # fail fast: no retries

    limiter = RedisRateLimiter(client=unreachable)

    with pytest.raises(StepError) as caught:
        limiter.acquire(fresh_bucket(), 10, 1)
    assert caught.value.retryable and "Redis" in caught.value.message
    limiter.penalise(fresh_bucket(), 10, 1, 1.0)  # logged, not raised: the 429 is retried anyway


def test_rest_steps_of_several_workers_never_outrun_the_rate(
    scripted_server: ScriptedServer,
) -> None:
    rate, burst, count, workers = 20.0, 2, 40, 4
    workspace = int(uuid.uuid4().int % 1_000_000)  # a bucket of its own
    actions = [
        RestAction(
            {"url": scripted_server.url + "/in", "rate_limit": rate},
            None,
            Runtime(1, "n", workspace_id=workspace, limiter=RedisRateLimiter()),
        )
        for _ in range(workers)
    ]

    def work(action: RestAction) -> None:
        for _ in range(count // workers):
            assert action.process({"id": "m", "body": {}, "headers": {}, "meta": {}}).error is None

    threads = [threading.Thread(target=work, args=(a,)) for a in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for action in actions:
        action.close()

    arrived = [r.arrived for r in scripted_server.requests]
    # Four threads granted slots 50 ms apart may arrive bunched on a busy machine (the test
    # suite's other lane); 100 ms of jitter still fails a limiter each worker kept to itself,
    # which sends the 40 requests four times as fast.
    assert_within_rate(arrived, rate, burst, count, jitter=0.1)
    sustained = (count - burst) / (max(arrived) - min(arrived))
    print(f"sustained {sustained:.1f}/s after the burst, configured {rate}/s")


def test_a_bloomreach_429_slows_the_workspace_bucket_down(
    bloomreach_standin: BloomreachStandIn,
) -> None:
    bloomreach_standin.configure(fail_next=1, retry_after=0)
    workspace = int(uuid.uuid4().int % 1_000_000)
    limiter = RedisRateLimiter()
    config = {"base_url": bloomreach_standin.url, "project_token": "demo-project"}
    runtime = Runtime(1, "n", {"http_backoff_seconds": 0.001}, workspace, limiter)
    action = BloomreachAction({**config, "rate_limit": 100}, PRIVATE, runtime)
    body = {"customer_ids": {"registered": "u1"}, "event_type": "view", "timestamp": 1.7e9}
    try:
        (outcome,) = action.process_batch([{"id": "1", "body": body, "headers": {}, "meta": {}}])
    finally:
        action.close()

    assert outcome.error is None  # retried after the 429
    assert bloomreach_standin.stats()["requests"] >= 1
    assert limiter.rate_factor(bucket_name(bloomreach_standin.url, workspace)) == 0.5
    assert limiter.rate_factor(bucket_name(bloomreach_standin.url, workspace + 1)) == 1.0
