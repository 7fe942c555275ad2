from __future__ import annotations

import os

import redis
from django.conf import settings

_clients: dict[int, redis.Redis] = {}


def key(*parts: object) -> str:
    """A Redis key under this installation's prefix."""
    return ":".join([settings.TRIBUTARY_REDIS_PREFIX, *(str(p) for p in parts)])


def get_redis() -> redis.Redis:
    """A Redis client for this process (a forked child makes its own connection pool)."""
    pid = os.getpid()
    client = _clients.get(pid)
    if client is None:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=30)
        _clients.clear()
        _clients[pid] = client
    return client
