"""flows.engine.redis: the engine's Redis client, against the test Redis."""

from __future__ import annotations

import uuid

from flows.engine.redis import LARGE_ARGUMENT, CommandPacker, get_redis, key


def test_a_large_value_is_sent_as_it_is_not_copied_into_the_command() -> None:
    job = b'{"items": "' + b"x" * (LARGE_ARGUMENT * 4) + b'"}'

    packed = CommandPacker().pack("SET", "job", job)

    assert any(chunk is job for chunk in packed)


def test_small_commands_are_packed_whole() -> None:
    assert CommandPacker().pack("SET", "k", b"v") == [b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"]


def test_large_and_small_values_round_trip_alone_and_in_a_pipeline() -> None:
    client = get_redis()
    large, small = key("packer", uuid.uuid4().hex), key("packer", uuid.uuid4().hex)
    job = ("é" * LARGE_ARGUMENT * 2).encode()
    try:
        client.set(large, job, ex=60)
        assert client.get(large) == job

        pipe = client.pipeline(transaction=False)
        pipe.set(small, "1", ex=60)
        pipe.set(large, job + b"!", ex=60)
        pipe.get(large)
        pipe.get(small)
        assert pipe.execute()[2:] == [job + b"!", b"1"]
    finally:
        client.delete(large, small)


def test_every_kind_of_command_packs_as_redis_py_packs_it() -> None:
    """Commands of many arguments skip the scan for a large one; what hiredis refuses
    (bytearray, memoryview) and multi-word commands still go redis-py's own way."""
    from redis.connection import HiredisRespSerializer

    fields = [item for n in range(60) for item in (f"t:0:{n}@5", b'[{"sent": 1}]')]
    commands: list[tuple[object, ...]] = [
        ("HSET", "ledger", *fields),
        ("SET", "k", bytearray(b"v"), "EX", 60),
        ("HMGET", "ledger", *fields[::2], memoryview(b"last")),
        ("CLIENT SETNAME", "worker"),
        ("INCRBYFLOAT", "n", 1.5),
    ]
    for command in commands:
        assert b"".join(CommandPacker().pack(*command)) == b"".join(
            HiredisRespSerializer().pack(*command)
        )


def test_many_arguments_with_odd_types_reach_redis_intact() -> None:
    client = get_redis()
    name = key("packer", uuid.uuid4().hex)
    mapping = {f"f{n}": bytearray(b"v%d" % n) if n % 2 else f"é{n}" for n in range(40)}
    try:
        client.hset(name, mapping=mapping)
        assert client.hgetall(name) == {
            k.encode(): bytes(v) if isinstance(v, bytearray) else v.encode()
            for k, v in mapping.items()
        }
    finally:
        client.delete(name)
