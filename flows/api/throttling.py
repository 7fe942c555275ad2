"""Login throttling that holds across processes: the counters live in Redis."""

from __future__ import annotations

import logging

import redis
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from flows.engine.redis import get_redis, key

logger = logging.getLogger(__name__)


class LoginThrottle(SimpleRateThrottle):
    """At most the `login` rate (TRIBUTARY_LOGIN_RATE, e.g. 20/min) of password attempts per
    client address, successful or not.

    Counted in Redis, so the limit is the same whether one or ten web processes answer; the
    window is fixed and starts at the first attempt. Authenticated callers are counted too:
    a valid token must not unlock unlimited guesses at other accounts' passwords. The client
    address is REMOTE_ADDR unless TRIBUTARY_NUM_PROXIES says how many proxies in front of us
    append to X-Forwarded-For (an address a client wrote there itself is never trusted).
    When Redis does not answer, the process-local cache counts instead, so logins keep
    working with a per-process limit.
    """

    scope = "login"

    # Set by SimpleRateThrottle.__init__ from the rate; declared for the type checker.
    num_requests: int
    duration: int

    def __init__(self) -> None:
        super().__init__()
        self.redis_wait: float | None = None

    def get_cache_key(self, request: Request, view: APIView) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def allow_request(self, request: Request, view: APIView) -> bool:
        if self.rate is None:
            return True
        counter = key("throttle", self.get_cache_key(request, view))
        try:
            pipe = get_redis().pipeline(transaction=True)
            # The first attempt creates the counter with the window as its lifetime; later
            # ones only count. MULTI makes the three steps one, whichever process runs them.
            pipe.set(counter, 0, ex=self.duration, nx=True)
            pipe.incr(counter)
            pipe.ttl(counter)
            _, attempts, ttl = pipe.execute()
        except redis.RedisError as error:
            logger.warning("login throttle falls back to this process's cache: %s", error)
            return super().allow_request(request, view)
        if int(attempts) <= self.num_requests:
            return True
        self.redis_wait = float(max(int(ttl), 1))
        return False

    def wait(self) -> float | None:
        if self.redis_wait is not None:
            return self.redis_wait
        return super().wait()
