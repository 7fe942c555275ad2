"""The rate limiter of the workers: token buckets in Redis, shared by every worker process.

Each acquire is one EVALSHA of a Lua script, atomic in Redis, that refills the bucket, books
the tokens and answers how long to wait; the caller then sleeps that long. Time is Redis's
(`TIME`), so the clocks of the workers' machines do not matter. The arithmetic is that of
`components.ratelimit.LocalRateLimiter`; see that module for the rules (booking ahead, the
maximum wait, the 429 penalty and its recovery).

A bucket is one hash under `key("ratelimit", <bucket>)` that expires once it would be full and
its penalty recovered, when a fresh bucket behaves the same; idle destinations leave nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import redis
from redis.commands.core import Script

from components.base import StepError
from components.ratelimit import (
    COOLDOWN_SECONDS,
    MAX_WAIT_SECONDS,
    MIN_FACTOR,
    RECOVERY_SECONDS,
    destination_of,
    too_long,
)
from flows.engine.redis import get_redis, key

logger = logging.getLogger(__name__)

# Shared by both scripts. State fields: level (tokens; negative when booked ahead), updated
# (when level was true; in the future while paused), factor and penalised_at (the 429 penalty).
# Numbers are stored with %.6f: Lua's tostring keeps 14 digits, too few for microseconds.
_PRELUDE = """
local key = KEYS[1]
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local recovery, keep = tonumber(ARGV[3]), tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local s = redis.call('HMGET', key, 'level', 'updated', 'factor', 'penalised_at')
local level = tonumber(s[1]) or burst
local updated = tonumber(s[2]) or now
local factor = tonumber(s[3]) or 1
local penalised_at = tonumber(s[4]) or -1e18

local function factor_at(at)
  if factor >= 1 then return 1 end
  return math.min(1, factor * 2 ^ math.floor((at - penalised_at) / recovery))
end

local function refill(r)
  if now > updated then
    level = math.min(burst, level + (now - updated) * r)
    updated = now
  end
end

local function save()
  local f = function(x) return string.format('%.6f', x) end
  redis.call('HSET', key, 'level', f(level), 'updated', f(updated),
             'factor', f(factor), 'penalised_at', f(math.max(penalised_at, -1e12)))
  -- Keep the bucket until it would be full and its penalty gone (plus a margin for the 429
  -- of a request still in flight); a missing bucket is then the same as the stored one.
  local ttl = (updated - now) + (burst - level) / (rate * factor_at(now))
  if factor < 1 then
    local doublings = math.ceil(math.log(1 / factor) / math.log(2))
    ttl = math.max(ttl, penalised_at + recovery * doublings - now)
  end
  redis.call('PEXPIRE', key, math.ceil((math.max(ttl, 0) + keep) * 1000))
end
"""

# ARGV: rate, burst, recovery, keep, tokens, max_wait -> {granted (0/1), wait seconds}.
_ACQUIRE = (
    _PRELUDE
    + """
local tokens, max_wait = tonumber(ARGV[5]), tonumber(ARGV[6])
local r = rate * factor_at(now)
refill(r)
local booked = level - tokens
local wait = (updated - now) + math.max(0, -booked) / r
if wait > max_wait then
  return {0, string.format('%.6f', wait)}
end
level = booked
save()
return {1, string.format('%.6f', wait)}
"""
)

# ARGV: rate, burst, recovery, keep, cooldown, floor, retry_after (negative: none).
_PENALISE = (
    _PRELUDE
    + """
local cooldown, floor, retry_after = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local current = factor_at(now)
refill(rate * current)
if now - penalised_at >= cooldown then
  factor = math.max(floor, current / 2)
  penalised_at = now
end
if retry_after > 0 then
  level = math.min(level, 0)
  updated = math.max(updated, now + retry_after)
end
save()
return 1
"""
)

# After a bucket is full: time for the 429 of a request sent just before to find its state.
KEEP_SECONDS = 60.0


class RedisRateLimiter:
    """A `components.ratelimit.RateLimiter` whose buckets are in Redis, one EVALSHA a call.

    A Redis that does not answer fails the acquire with a retryable `StepError` (sending
    unthrottled could break the destination's limit); a failed penalty is logged and dropped.
    """

    def __init__(
        self,
        *,
        max_wait: float = MAX_WAIT_SECONDS,
        recovery_seconds: float = RECOVERY_SECONDS,
        cooldown_seconds: float = COOLDOWN_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        client: Callable[[], redis.Redis] = get_redis,
    ) -> None:
        self.max_wait = max_wait
        self.recovery = recovery_seconds
        self.cooldown = cooldown_seconds
        self._sleep = sleep
        self._client = client
        # Scripts are bound to no client: each call passes this process's (fork-safe) one.
        # (Given as bytes, a Script needs no client to compute its SHA.)
        self._acquire = Script(None, _ACQUIRE.encode())  # type: ignore[arg-type]
        self._penalise = Script(None, _PENALISE.encode())  # type: ignore[arg-type]

    def acquire(self, bucket: str, rate_per_second: float, burst: int, tokens: int = 1) -> float:
        if not rate_per_second > 0 or burst < 1 or tokens < 1:
            raise ValueError("a rate limit needs rate_per_second > 0, burst >= 1 and tokens >= 1")
        args = [*self._common(rate_per_second, burst), tokens, self.max_wait]
        try:
            granted, wait_text = self._acquire(
                keys=[bucket_key(bucket)], args=args, client=self._client()
            )
        except redis.RedisError as error:
            raise StepError(
                f"The rate limit of {destination_of(bucket)} could not be checked: Redis did "
                f"not answer ({type(error).__name__}). The message will be tried again later.",
                retryable=True,
                details={"destination": destination_of(bucket)},
            ) from None
        wait = float(wait_text)
        if not int(granted):
            raise too_long(bucket, rate_per_second, wait, self.max_wait)
        if wait > 0:
            self._sleep(wait)
        return wait

    def penalise(
        self, bucket: str, rate_per_second: float, burst: int, retry_after: float | None
    ) -> None:
        after = -1.0 if retry_after is None else retry_after
        args = [*self._common(rate_per_second, burst), self.cooldown, MIN_FACTOR, after]
        try:
            self._penalise(keys=[bucket_key(bucket)], args=args, client=self._client())
        except redis.RedisError:
            logger.warning("could not record a 429 of %s in Redis", destination_of(bucket))

    def rate_factor(self, bucket: str) -> float:
        """The fraction of the configured rate the bucket runs at now (1.0: no penalty)."""
        client = self._client()
        factor, penalised_at = client.hmget(bucket_key(bucket), ["factor", "penalised_at"])
        if factor is None or float(factor) >= 1:
            return 1.0
        seconds, micros = client.time()
        elapsed = seconds + micros / 1e6 - float(penalised_at or 0)
        return min(1.0, float(factor) * 2.0 ** (elapsed // self.recovery))

    def _common(self, rate_per_second: float, burst: int) -> list[Any]:
        return [rate_per_second, burst, self.recovery, KEEP_SECONDS]


def bucket_key(bucket: str) -> str:
    """The Redis key of a bucket, under this installation's prefix."""
    return key("ratelimit", bucket)


_shared = RedisRateLimiter()


def redis_limiter() -> RedisRateLimiter:
    """The limiter the engine lends to components (stateless: safe across forks)."""
    return _shared
