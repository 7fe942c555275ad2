"""components.ratelimit: the bucket arithmetic, the config fields, bucket names, the wiring."""

from __future__ import annotations

import threading

import pytest

from components.base import Runtime, StepError
from components.bloomreach.component import BloomreachAction
from components.bloomreach.standin import BloomreachStandIn
from components.ratelimit import (
    LocalRateLimiter,
    bucket_name,
    default_burst,
    rate_limit_property,
    throttle_for,
)
from components.rest.component import RestAction
from components.validation import validate_config
from tests.fixtures.standin import ScriptedServer

pytest_plugins = ["tests.fixtures.standin"]

BUCKET = "1/https://api.example.com:443"
PRIVATE = {"auth": "private", "api_key_id": "demo-key", "api_secret": "demo-secret"}


class FakeTime:
    """A clock that moves only when told to, and a sleep that records instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


@pytest.fixture
def limiter(fake: FakeTime) -> LocalRateLimiter:
    return LocalRateLimiter(clock=fake.clock, sleep=fake.sleep)


class Recording:
    """A limiter that grants at once and remembers every call."""

    def __init__(self) -> None:
        self.acquired: list[tuple[str, float, int]] = []
        self.penalised: list[tuple[str, float | None]] = []

    def acquire(self, bucket: str, rate_per_second: float, burst: int, tokens: int = 1) -> float:
        self.acquired.append((bucket, rate_per_second, burst))
        return 0.0

    def penalise(
        self, bucket: str, rate_per_second: float, burst: int, retry_after: float | None
    ) -> None:
        self.penalised.append((bucket, retry_after))


# The bucket arithmetic -------------------------------------------------------------------


def test_a_full_bucket_grants_the_burst_at_once_then_one_token_per_interval(
    limiter: LocalRateLimiter,
) -> None:
    waits = [limiter.acquire(BUCKET, 10, 3) for _ in range(6)]

    assert waits == pytest.approx([0, 0, 0, 0.1, 0.2, 0.3])


def test_tokens_refill_with_time_but_never_beyond_the_burst(
    limiter: LocalRateLimiter, fake: FakeTime
) -> None:
    for _ in range(3):
        limiter.acquire(BUCKET, 10, 3)
    fake.now += 0.2  # two tokens back
    assert [limiter.acquire(BUCKET, 10, 3) for _ in range(3)] == pytest.approx([0, 0, 0.1])
    fake.now += 3600
    assert [limiter.acquire(BUCKET, 10, 3) for _ in range(4)] == pytest.approx([0, 0, 0, 0.1])


def test_threads_sharing_a_bucket_each_get_a_distinct_slot(
    limiter: LocalRateLimiter, fake: FakeTime
) -> None:
    # With the clock standing still, the waits must be exactly the slots 0, 0, ..., 1/r, 2/r...
    # whatever the interleaving: two threads never get the same slot.
    def work() -> None:
        for _ in range(25):
            limiter.acquire(BUCKET, 100, 5)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(fake.slept) == pytest.approx([n / 100 for n in range(1, 196)])


def test_a_wait_beyond_the_maximum_fails_retryably_naming_the_destination_and_books_nothing(
    fake: FakeTime,
) -> None:
    limiter = LocalRateLimiter(max_wait=1.0, clock=fake.clock, sleep=fake.sleep)
    for _ in range(11):  # the burst, then slots up to exactly 1 s away
        limiter.acquire(BUCKET, 10, 1)

    with pytest.raises(StepError) as caught:
        limiter.acquire(BUCKET, 10, 1)

    assert caught.value.retryable
    assert "https://api.example.com:443" in caught.value.message
    assert "10 requests/s" in caught.value.message
    fake.now += 0.1  # one slot freed: the refused call did not book one
    assert limiter.acquire(BUCKET, 10, 1) == pytest.approx(1.0)


def test_a_429_halves_the_rate_and_later_429s_in_the_cooldown_do_not_halve_again(
    limiter: LocalRateLimiter, fake: FakeTime
) -> None:
    limiter.acquire(BUCKET, 10, 1)
    for _ in range(5):
        limiter.penalise(BUCKET, 10, 1, None)

    assert limiter.rate_factor(BUCKET) == 0.5
    assert limiter.acquire(BUCKET, 10, 1) == pytest.approx(0.2)  # one per 1/(10 * 0.5) s


def test_repeated_429s_lower_the_rate_to_a_tenth_at_most(
    limiter: LocalRateLimiter, fake: FakeTime
) -> None:
    factors = []
    for _ in range(6):
        limiter.penalise(BUCKET, 10, 1, None)
        factors.append(limiter.rate_factor(BUCKET))
        fake.now += 1.0  # past the cooldown

    assert factors == [0.5, 0.25, 0.125, 0.1, 0.1, 0.1]


def test_the_rate_doubles_back_after_each_window_without_a_429(
    limiter: LocalRateLimiter, fake: FakeTime
) -> None:
    for _ in range(4):
        limiter.penalise(BUCKET, 10, 1, None)
        fake.now += 1.0
    fake.now -= 1.0  # the last 429 was now
    seen = []
    for _ in range(5):
        seen.append(limiter.rate_factor(BUCKET))
        fake.now += 30.0

    assert seen == [0.1, 0.2, 0.4, 0.8, 1.0]


def test_retry_after_pauses_the_bucket_then_it_resumes_at_the_lowered_rate(
    limiter: LocalRateLimiter, fake: FakeTime
) -> None:
    limiter.acquire(BUCKET, 10, 5)
    limiter.penalise(BUCKET, 10, 5, 3.0)

    assert limiter.acquire(BUCKET, 10, 5) == pytest.approx(3.2)  # pause + one slot at 5/s
    assert limiter.acquire(BUCKET, 10, 5) == pytest.approx(3.4)


@pytest.mark.parametrize(
    ("rate", "burst", "tokens"), [(0, 1, 1), (-1, 1, 1), (10, 0, 1), (10, 1, 0)]
)
def test_a_nonsensical_limit_is_refused(
    limiter: LocalRateLimiter, rate: float, burst: int, tokens: int
) -> None:
    with pytest.raises(ValueError):
        limiter.acquire(BUCKET, rate, burst, tokens)


# Config and bucket names -------------------------------------------------------------------


def test_the_rate_limit_field_defaults_to_unlimited_and_takes_fractions_not_negatives() -> None:
    prop = rate_limit_property("why")

    assert prop["type"] == "number" and prop["default"] == 0 and prop["minimum"] == 0
    for cls in (RestAction, BloomreachAction):
        schema = cls.descriptor.config_schema["properties"]
        assert schema["rate_limit"]["title"] == "Rate limit (requests/s)"
        assert schema["rate_limit_burst"]["type"] == "integer"
    config = {"url": "https://x.example", "rate_limit": 0.5}
    assert validate_config(RestAction.descriptor, config) == []
    (problem,) = validate_config(RestAction.descriptor, {**config, "rate_limit": -1})
    assert problem.field == "rate_limit"


def test_new_bloomreach_steps_start_at_the_documented_100_requests_per_second() -> None:
    assert BloomreachAction.descriptor.sample_config["rate_limit"] == 100


def test_unlimited_means_no_throttle_and_the_burst_defaults_to_a_tenth_of_a_second() -> None:
    runtime = Runtime(flow_id=1, node_id="n", workspace_id=4)

    assert throttle_for({"rate_limit": 0, "rate_limit_burst": 0}, runtime) is None
    throttle = throttle_for({"rate_limit": 100, "rate_limit_burst": 0}, runtime)
    assert throttle is not None and (throttle.burst, throttle.workspace_id) == (10, 4)
    assert [default_burst(r) for r in (0.5, 1, 20, 100, 1000)] == [1, 1, 2, 10, 100]
    explicit = throttle_for({"rate_limit": 100, "rate_limit_burst": 7}, runtime)
    assert explicit is not None and explicit.burst == 7


def test_a_bucket_is_the_destination_host_and_port_within_a_workspace() -> None:
    same = [
        "https://api.example.com/track/v2/projects/p/batch",
        "https://API.Example.com:443/other?q=1",
        "https://user:secret@api.example.com",
    ]
    assert {bucket_name(url, 7) for url in same} == {"7/https://api.example.com:443"}
    assert bucket_name("http://api.example.com/x", 7) == "7/http://api.example.com:80"
    assert bucket_name("http://127.0.0.1:8001/x", 7) == "7/http://127.0.0.1:8001"
    assert bucket_name("http://[::1]:81/", 7) == "7/http://[::1]:81"
    assert bucket_name("https://api.example.com", None) == "-/https://api.example.com:443"


def test_two_workspaces_never_share_a_bucket(limiter: LocalRateLimiter) -> None:
    url = "https://api.example.com/x"
    first, second = bucket_name(url, 1), bucket_name(url, 2)
    assert first != second

    assert limiter.acquire(first, 1, 1) == 0
    assert limiter.acquire(first, 1, 1) == pytest.approx(1.0)
    assert limiter.acquire(second, 1, 1) == 0  # workspace 2 is not slowed by workspace 1


# Wiring in the HTTP components ----------------------------------------------------------------


def test_rest_takes_a_token_per_attempt_and_reports_a_429_with_its_retry_after(
    scripted_server: ScriptedServer,
) -> None:
    scripted_server.script([(429, {"Retry-After": "0"}, "slow down"), (200, {}, {"ok": 1})])
    recording = Recording()
    runtime = Runtime(1, "n", {"http_backoff_seconds": 0.001}, workspace_id=3, limiter=recording)
    action = RestAction({"url": scripted_server.url + "/a", "rate_limit": 20}, None, runtime)
    try:
        outcome = action.process({"id": "m", "body": {}, "headers": {}, "meta": {}})
    finally:
        action.close()

    assert outcome.error is None
    bucket = bucket_name(scripted_server.url, 3)
    assert recording.acquired == [(bucket, 20.0, 2), (bucket, 20.0, 2)]
    assert recording.penalised == [(bucket, 0.0)]


def test_an_unlimited_step_never_asks_the_limiter(scripted_server: ScriptedServer) -> None:
    recording = Recording()
    action = RestAction({"url": scripted_server.url}, None, Runtime(1, "n", limiter=recording))
    try:
        action.process({"id": "m", "body": {}, "headers": {}, "meta": {}})
    finally:
        action.close()

    assert recording.acquired == [] and len(scripted_server.requests) == 1


def test_bloomreach_takes_one_token_per_batch_request_not_per_command(
    bloomreach_standin: BloomreachStandIn,
) -> None:
    standin = bloomreach_standin
    recording = Recording()
    config = {"base_url": standin.url, "project_token": "demo-project", "rate_limit": 100}
    action = BloomreachAction(config, PRIVATE, Runtime(1, "n", workspace_id=5, limiter=recording))
    bodies = [
        {"customer_ids": {"registered": f"u{n}"}, "event_type": "view", "timestamp": 1.7e9}
        for n in range(120)
    ]
    try:
        outcomes = action.process_batch(
            [{"id": str(n), "body": b, "headers": {}, "meta": {}} for n, b in enumerate(bodies)]
        )
    finally:
        action.close()

    assert [o.error for o in outcomes] == [None] * 120
    assert recording.acquired == [(bucket_name(standin.url, 5), 100.0, 10)] * 3


def test_rest_steps_sharing_a_local_limiter_never_outrun_the_rate(
    scripted_server: ScriptedServer,
) -> None:
    rate, burst, count, workers = 20.0, 2, 30, 3
    runtime = Runtime(1, "n", workspace_id=1, limiter=LocalRateLimiter())
    actions = [
        RestAction({"url": scripted_server.url, "rate_limit": rate}, None, runtime)
        for _ in range(workers)
    ]

    def work(action: RestAction) -> None:
        for _ in range(count // workers):
            action.process({"id": "m", "body": {}, "headers": {}, "meta": {}})

    threads = [threading.Thread(target=work, args=(a,)) for a in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for action in actions:
        action.close()

    assert_within_rate([r.arrived for r in scripted_server.requests], rate, burst, count)


def assert_within_rate(
    times: list[float], rate: float, burst: int, count: int, jitter: float = 0.02
) -> None:
    """No span of arrivals holds more than `rate * span + burst`, allowing `jitter` seconds
    between being granted a slot and arriving; and the whole run was not slower than half
    the rate (the limiter does not throttle for nothing)."""
    times = sorted(times)
    assert len(times) == count
    for i in range(count):
        for j in range(i + 1, count):
            allowed = rate * (times[j] - times[i] + jitter) + burst
            assert j - i + 1 <= allowed, f"{j - i + 1} requests in {times[j] - times[i]:.3f} s"
    assert times[-1] - times[0] >= (count - burst - 1) / rate - max(0.05, jitter)
    assert count / (times[-1] - times[0]) >= rate / 2
