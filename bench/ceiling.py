"""The ceiling: the same job as the Bloomreach flow with no platform at all.

A plain Python consumer reads a batch from Kafka (confluent-kafka, its own consumer group),
runs the reference transform on each event (plain `exec` of transform_bloomreach.py, no
sandbox), sends the commands to the Bloomreach stand-in and commits the batch's offsets only
after every request succeeded — at-least-once, like the platform, without the execution
records, Celery hops, sandbox IPC or delivery ledger.

  --mode batch      one request per 50 commands to the batch endpoint, one at a time
  --mode per-event  one request per command to --url, 32 in flight over 32 keep-alive
                    connections (threads, one requests.Session each)

It runs until SIGTERM/SIGINT or until it has read --count messages. No Django, no Tributary
imports: `python bench/ceiling.py --help`.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import requests
from confluent_kafka import Consumer, KafkaError, Message

BATCH_COMMANDS = 50
DEFAULT_TRANSFORM = Path(__file__).resolve().parent.parent / "flows/demo/transform_bloomreach.py"
ATTEMPTS = 3


class AttrDict(dict[str, Any]):
    """Plain-Python version of the sandbox's attribute access to message fields."""

    def __getattr__(self, name: str) -> Any:
        value = self.get(name)
        return AttrDict(value) if isinstance(value, dict) else value


def load_transform(path: Path) -> Callable[[Any], Any]:
    """The transform's `run(msg)`, compiled from the file with plain `exec`."""
    namespace: dict[str, Any] = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # noqa: S102 (our own file)
    run: Callable[[Any], Any] = namespace["run"]
    return run


def transform_value(run: Callable[[Any], Any], value: bytes | None) -> Any:
    """The command the transform makes of a raw value, or None (not JSON, filtered, raised)."""
    try:
        body = json.loads(value or b"")
    except ValueError:  # UnicodeDecodeError included
        return None
    if not isinstance(body, dict):
        return None
    try:
        return run(AttrDict(body=AttrDict(body)))
    except Exception:  # the platform fails such a message; the ceiling skips it
        return None


class Sender:
    """Posts commands with retries on connection errors and 5xx; raises when they run out."""

    def __init__(self, url: str, auth: tuple[str, str] | None) -> None:
        self.url = url
        self.auth = auth
        self._local = threading.local()

    def session(self) -> requests.Session:
        """This thread's session: one keep-alive connection per sending thread."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=1)
            session.mount("http://", adapter)
            session.auth = self.auth
            self._local.session = session
        return session

    def post(self, payload: Any) -> Any:
        body = orjson.dumps(payload)
        headers = {"Content-Type": "application/json"}
        error = ""
        for attempt in range(ATTEMPTS):
            try:
                response = self.session().post(self.url, data=body, headers=headers, timeout=10)
            except requests.RequestException as exc:
                error = str(exc)
            else:
                if response.status_code == 200:
                    return response.json()
                error = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code < 500 and response.status_code != 429:
                    break
            time.sleep(0.1 * 2**attempt)
        raise RuntimeError(f"POST {self.url} failed: {error}")


def send_batches(sender: Sender, commands: list[Any]) -> None:
    for start in range(0, len(commands), BATCH_COMMANDS):
        chunk = commands[start : start + BATCH_COMMANDS]
        answer = sender.post({"commands": chunk})
        failed = [r for r in answer.get("results", []) if not r.get("success")]
        if len(answer.get("results", [])) != len(chunk) or failed:
            raise RuntimeError(f"the batch endpoint refused commands: {failed[:1]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Kafka -> transform -> stand-in, no platform.")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--url", required=True, help="batch endpoint, or the per-event target")
    parser.add_argument("--mode", choices=("batch", "per-event"), default="batch")
    parser.add_argument("--transform", type=Path, default=DEFAULT_TRANSFORM)
    parser.add_argument("--batch-size", type=int, default=500, help="messages per consume()")
    parser.add_argument("--in-flight", type=int, default=32, help="per-event concurrency")
    parser.add_argument("--session-timeout-ms", type=int, default=10_000)
    parser.add_argument("--count", type=int, default=0, help="stop after this many (0: never)")
    parser.add_argument("--key-id", default="demo-key")
    parser.add_argument("--secret", default="demo-secret")
    args = parser.parse_args(argv)

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    run = load_transform(args.transform)
    in_flight = args.in_flight if args.mode == "per-event" else 1
    sender = Sender(args.url, (args.key_id, args.secret))
    pool = ThreadPoolExecutor(in_flight, thread_name_prefix="send")
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": args.group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            # Tansu holds every fetch for the full wait even when data is there.
            "fetch.wait.max.ms": 100,
            # Tansu holds a new member about half the session timeout before its first
            # assignment (librdkafka's 45 s default: ~23 s); 10 s is the platform's default.
            "session.timeout.ms": args.session_timeout_ms,
            "log_level": 3,
        }
    )
    consumer.subscribe([args.topic])
    print(f"ceiling ({args.mode}): consuming {args.topic} as {args.group}", flush=True)
    seen = 0
    try:
        while not stop.is_set() and not (args.count and seen >= args.count):
            messages: list[Message] = consumer.consume(args.batch_size, timeout=0.5)
            if not messages:
                continue
            commands = []
            for message in messages:
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise RuntimeError(f"consume failed: {error}")
                seen += 1
                command = transform_value(run, message.value())
                if command is not None:
                    commands.append(command)
            if args.mode == "batch":
                send_batches(sender, commands)
            else:
                # map() keeps `in_flight` requests going; list() re-raises the first failure.
                list(pool.map(sender.post, commands))
            consumer.commit(asynchronous=False)
    except RuntimeError as error:
        print(f"ceiling: {error}", file=sys.stderr, flush=True)
        return 1
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        consumer.close()
    print(f"ceiling ({args.mode}): stopped after {seen} messages", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
