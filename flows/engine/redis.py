from __future__ import annotations

import os
from typing import Any

import hiredis
import redis
from django.conf import settings
from redis.connection import Encoder, HiredisRespSerializer, PythonRespSerializer

_clients: dict[int, redis.Redis] = {}

# Arguments longer than this are sent by the pure-Python packer.
LARGE_ARGUMENT = 16_384
# A large argument comes with few others (a job: SET name value EX ttl). Commands of more
# arguments (a ledger chunk's HSET: a hundred) are not scanned for one, argument by argument.
FEW_ARGUMENTS = 8


class CommandPacker:
    """hiredis packs small commands fastest, but copies a large argument into the command
    slowly: 1.8 ms for the 1 MB job of a 500-message batch, paid at every step. The Python
    packer sends such an argument as a chunk of its own, not copied (6 µs)."""

    def __init__(self) -> None:
        self._small = HiredisRespSerializer()
        self._large = PythonRespSerializer(6000, Encoder("utf-8", "strict", False).encode)

    def pack(self, *args: Any) -> list[bytes]:
        if len(args) <= FEW_ARGUMENTS:
            for arg in args:
                if isinstance(arg, bytes | str) and len(arg) > LARGE_ARGUMENT:
                    return self._large.pack(*args)
        command = args[0]
        if isinstance(command, str) and " " not in command:
            # What redis-py's own hiredis packer does first is walk the arguments in Python
            # for the odd bytearray or memoryview: hiredis refuses those, and they go its way.
            try:
                return [hiredis.pack_command(args)]
            except TypeError:
                pass
        return self._small.pack(*args)


def key(*parts: object) -> str:
    """A Redis key under this installation's prefix."""
    return ":".join([settings.TRIBUTARY_REDIS_PREFIX, *(str(p) for p in parts)])


def get_redis() -> redis.Redis:
    """A Redis client for this process (a forked child makes its own connection pool)."""
    pid = os.getpid()
    client = _clients.get(pid)
    if client is None:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=30, command_packer=CommandPacker()
        )
        _clients.clear()
        _clients[pid] = client
    return client
