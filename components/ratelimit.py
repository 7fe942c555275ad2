"""Per-destination rate limits: token buckets that every sender to a host draws from.

A step with a `rate_limit` takes one token per HTTP request attempt, retries included, before
sending, so a flow stays under the rate its destination documents however many workers run
it: in any span of t seconds at most `rate * t + burst` requests start. Tokens are booked
ahead (a bucket may go into debt), so a caller learns at once how long it must wait, waiters
are served in order, and a caller that would wait longer than `max_wait` gives up without
booking anything.

A 429 means the destination disagrees with the configured rate: the bucket then runs at half
its rate (never below `MIN_FACTOR` of it), doubling back after every `RECOVERY_SECONDS` without
a 429, and pauses for the answer's Retry-After. 429s within `COOLDOWN_SECONDS` of a halving are
the same overload reported by other requests in flight and do not halve again.

Buckets are named by destination (scheme://host:port) and workspace: workspaces are walls, one
never slows another down. The engine supplies a Redis limiter shared by all workers
(`flows/engine/ratelimit.py`, the same arithmetic in Lua); without one, components use
`local_limiter()`, whose buckets live in this process only.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from components.base import StepError

if TYPE_CHECKING:
    from components.base import Runtime

MAX_WAIT_SECONDS = 60.0
RECOVERY_SECONDS = 30.0
COOLDOWN_SECONDS = 1.0
MIN_FACTOR = 0.1
# The default burst: a tenth of a second's worth of requests (at least one), so any one-second
# window sees at most 110% of the rate, yet parallel workers do not queue for every request.
DEFAULT_BURST_SECONDS = 0.1
MAX_RATE = 100_000
# Waits shorter than this are not worth a line in the step's log.
LOG_WAIT_SECONDS = 0.1
DEFAULT_PORTS = {"http": 80, "https": 443}
# The local limiter forgets idle buckets beyond this many (REST URLs may name many hosts).
MAX_LOCAL_BUCKETS = 10_000


class RateLimiter(Protocol):
    """Token buckets by name. Implementations must be safe to share between threads."""

    def acquire(self, bucket: str, rate_per_second: float, burst: int, tokens: int = 1) -> float:
        """Block until `tokens` are granted; return the seconds waited.

        Raises a retryable `StepError` naming the destination, without waiting or booking
        anything, when the tokens cannot be had within the limiter's maximum wait.
        """
        ...

    def penalise(
        self, bucket: str, rate_per_second: float, burst: int, retry_after: float | None
    ) -> None:
        """The destination answered 429: lower the bucket's rate for a while and pause it for
        `retry_after` seconds (if given). Best effort: never raises."""
        ...


def rate_limit_property(description: str) -> dict[str, Any]:
    """The `rate_limit` config field of components that send HTTP requests."""
    return {
        "title": "Rate limit (requests/s)",
        "type": "number",
        "minimum": 0,
        "maximum": MAX_RATE,
        "default": 0,
        "description": description,
    }


def rate_limit_burst_property() -> dict[str, Any]:
    """The `rate_limit_burst` config field that goes with `rate_limit_property`."""
    return {
        "title": "Rate limit burst",
        "type": "integer",
        "minimum": 0,
        "maximum": MAX_RATE,
        "default": 0,
        "description": "Requests that may start at once after a quiet spell. 0: a tenth of "
        "a second's worth of the rate limit, at least 1.",
    }


def default_burst(rate_per_second: float) -> int:
    return max(1, math.ceil(rate_per_second * DEFAULT_BURST_SECONDS))


def bucket_name(url: str, workspace_id: int | None) -> str:
    """The bucket of a request: its destination (scheme://host:port) within a workspace.

    Path, query and user:password do not matter; the host is compared case-insensitively and a
    missing port is the scheme's default.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError:  # a port that is not a number: send() will refuse the URL anyway
        port = None
    if ":" in host:
        host = f"[{host}]"  # IPv6
    destination = f"{scheme}://{host}" + (f":{port}" if port else "")
    workspace = "-" if workspace_id is None else str(workspace_id)
    return f"{workspace}/{destination}"


def destination_of(bucket: str) -> str:
    """The scheme://host:port part of a bucket name, for messages."""
    return bucket.partition("/")[2] or bucket


def too_long(bucket: str, rate_per_second: float, wait: float, max_wait: float) -> StepError:
    """The error of an acquire that would wait more than `max_wait`."""
    destination = destination_of(bucket)
    return StepError(
        f"The rate limit of {destination} ({rate_per_second:g} requests/s) has no free slot "
        f"within {max_wait:g} s (the next is {wait:.0f} s away: other requests of this "
        "workspace booked it, or the destination asked to pause). The message will be tried "
        "again later; if this persists, send less or raise rate_limit as far as the "
        "destination allows.",
        retryable=True,
        details={"destination": destination, "wait_seconds": round(wait, 3)},
    )


@dataclass(frozen=True)
class Throttle:
    """A step's rate limit bound to a limiter and a workspace: what HTTP components call."""

    limiter: RateLimiter
    rate_per_second: float
    burst: int
    workspace_id: int | None

    def take(self, url: str, logs: list[str] | None = None) -> float:
        """Wait for one request slot to `url`'s destination; log noticeable waits."""
        bucket = self._bucket(url)
        waited = self.limiter.acquire(bucket, *self._limit())
        if logs is not None and waited >= LOG_WAIT_SECONDS:
            logs.append(
                f"waited {waited:.2f} s for the rate limit of {destination_of(bucket)} "
                f"({self.rate_per_second:g} requests/s)"
            )
        return waited

    def throttled(self, url: str, retry_after: float | None) -> None:
        """Report a 429 from `url`'s destination."""
        self.limiter.penalise(self._bucket(url), *self._limit(), retry_after)

    def _bucket(self, url: str) -> str:
        return bucket_name(url, self.workspace_id)

    def _limit(self) -> tuple[float, int]:
        return self.rate_per_second, self.burst


def throttle_for(settings: dict[str, Any], runtime: Runtime) -> Throttle | None:
    """The throttle of a step from its config (defaults filled in); None when unlimited."""
    rate = float(settings.get("rate_limit") or 0)
    if rate <= 0:
        return None
    burst = int(settings.get("rate_limit_burst") or 0) or default_burst(rate)
    limiter = runtime.limiter if runtime.limiter is not None else local_limiter()
    return Throttle(limiter, rate, burst, runtime.workspace_id)


@dataclass
class _Bucket:
    """One bucket's state; times are the limiter's clock. Mirrors the Lua of the Redis one."""

    level: float  # tokens available; negative when booked ahead
    updated: float  # when `level` was true; in the future while paused
    factor: float = 1.0  # fraction of the configured rate after 429s
    penalised_at: float = -math.inf

    def factor_at(self, now: float, recovery: float) -> float:
        if self.factor >= 1:
            return 1.0
        doublings = math.floor((now - self.penalised_at) / recovery)
        return min(1.0, self.factor * 2.0**doublings)

    def refill(self, now: float, rate: float, burst: int) -> None:
        if now > self.updated:
            self.level = min(float(burst), self.level + (now - self.updated) * rate)
            self.updated = now


class LocalRateLimiter:
    """A `RateLimiter` whose buckets live in this process, for the harness and tests.

    `clock` and `sleep` are injectable so that tests can check the arithmetic exactly.
    """

    def __init__(
        self,
        *,
        max_wait: float = MAX_WAIT_SECONDS,
        recovery_seconds: float = RECOVERY_SECONDS,
        cooldown_seconds: float = COOLDOWN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.max_wait = max_wait
        self.recovery = recovery_seconds
        self.cooldown = cooldown_seconds
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}

    def acquire(self, bucket: str, rate_per_second: float, burst: int, tokens: int = 1) -> float:
        _check(rate_per_second, burst, tokens)
        with self._lock:
            now = self._clock()
            state = self._state(bucket, now, burst)
            rate = rate_per_second * state.factor_at(now, self.recovery)
            state.refill(now, rate, burst)
            level = state.level - tokens
            wait = (state.updated - now) + max(0.0, -level) / rate
            if wait > self.max_wait:
                raise too_long(bucket, rate_per_second, wait, self.max_wait)
            state.level = level
        # Sleep outside the lock: the slot is booked, others may book the following ones.
        if wait > 0:
            self._sleep(wait)
        return wait

    def penalise(
        self, bucket: str, rate_per_second: float, burst: int, retry_after: float | None
    ) -> None:
        with self._lock:
            now = self._clock()
            state = self._state(bucket, now, burst)
            factor = state.factor_at(now, self.recovery)
            state.refill(now, rate_per_second * factor, burst)
            if now - state.penalised_at >= self.cooldown:
                state.factor = max(MIN_FACTOR, factor / 2)
                state.penalised_at = now
            if retry_after is not None and retry_after > 0:
                state.level = min(state.level, 0.0)
                state.updated = max(state.updated, now + retry_after)

    def rate_factor(self, bucket: str) -> float:
        """The fraction of the configured rate the bucket runs at now (1.0: no penalty)."""
        with self._lock:
            state = self._buckets.get(bucket)
            return 1.0 if state is None else state.factor_at(self._clock(), self.recovery)

    def _state(self, bucket: str, now: float, burst: int) -> _Bucket:
        state = self._buckets.get(bucket)
        if state is None:
            if len(self._buckets) >= MAX_LOCAL_BUCKETS:
                self._forget_idle(now)
            state = self._buckets[bucket] = _Bucket(level=float(burst), updated=now)
        return state

    def _forget_idle(self, now: float) -> None:
        # A bucket untouched for long enough is full and recovered: forgetting it changes
        # nothing, since a new bucket starts full.
        idle = now - self.recovery * 4 - self.max_wait
        for name in [n for n, s in self._buckets.items() if max(s.updated, s.penalised_at) < idle]:
            del self._buckets[name]


def _check(rate_per_second: float, burst: int, tokens: int) -> None:
    if not rate_per_second > 0 or burst < 1 or tokens < 1:
        raise ValueError("a rate limit needs rate_per_second > 0, burst >= 1 and tokens >= 1")


_local = LocalRateLimiter()


def local_limiter() -> LocalRateLimiter:
    """The process-wide in-memory limiter used when the platform lends none."""
    return _local
