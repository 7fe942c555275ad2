"""The benchmark's events: the 1,000 sample records, cycled, with fresh ids and produce times.

Each JSON event gets a new `event_id` and its `ts` set to the moment it is produced (in
milliseconds, as a string where the sample had a string), and the Kafka record carries the
same timestamp. The reference transform turns `ts` into the Bloomreach command's timestamp,
so every delivered command says when its event entered Kafka. Records that are not JSON
objects (poison, empty, invalid UTF-8) are produced unchanged, as a real topic carries them.
"""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Producer

from bench.ceiling import load_transform, transform_value

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_EVENTS = ROOT / "flows" / "demo" / "events-1k.jsonl"
TRANSFORM = ROOT / "flows" / "demo" / "transform_bloomreach.py"
# Producer buffer: when full, serve delivery callbacks until there is room again.
PRODUCE_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Template:
    key: bytes | None
    raw: bytes
    event: dict[str, Any] | None  # the parsed object, or None for a record sent as is
    string_ts: bool
    kept: bool  # whether the reference transform turns it into a command


class EventSource:
    """Produces the cycled sample events and knows how many of them the transform keeps."""

    def __init__(self, samples: Path = SAMPLE_EVENTS, transform: Path = TRANSFORM) -> None:
        run = load_transform(transform)
        self.templates: list[Template] = []
        for line in samples.read_text().splitlines():
            row = orjson.loads(line)
            if "value_b64" in row:
                raw = base64.b64decode(row["value_b64"])
            else:
                raw = (row.get("value") or "").encode()
            key = row["key"].encode() if row.get("key") is not None else None
            event: dict[str, Any] | None = None
            try:
                parsed = orjson.loads(raw)
            except orjson.JSONDecodeError:
                parsed = None
            if isinstance(parsed, dict):
                event = parsed
            string_ts = event is not None and isinstance(event.get("ts"), str)
            kept = transform_value(run, raw) is not None
            self.templates.append(Template(key, raw, event, string_ts, kept))
        self.run = run

    def expected(self, count: int) -> int:
        """How many of the first `count` events the transform turns into commands."""
        size = len(self.templates)
        return sum(self.templates[i % size].kept for i in range(count))

    def first_kept(self) -> int:
        return next(i for i, t in enumerate(self.templates) if t.kept)

    def value(self, index: int, now_ms: int) -> tuple[bytes | None, bytes]:
        """Key and value of event `index` (cycling the samples), stamped `now_ms`."""
        template = self.templates[index % len(self.templates)]
        if template.event is None:
            return template.key, template.raw
        event = dict(template.event)
        event["event_id"] = str(uuid.uuid4())
        if "ts" in event:
            event["ts"] = str(now_ms) if template.string_ts else now_ms
        return template.key, orjson.dumps(event)


class EventProducer:
    """A Kafka producer for one topic that stamps each event with its produce time."""

    def __init__(self, bootstrap: str, topic: str, source: EventSource, linger_ms: int) -> None:
        self.topic = topic
        self.source = source
        self.errors: list[str] = []
        settings = {"bootstrap.servers": bootstrap, "linger.ms": linger_ms, "log_level": 3}
        self._producer = Producer(settings)

    def _delivered(self, error: Any, message: Any) -> None:
        if error is not None:
            self.errors.append(str(error))

    def produce(self, index: int) -> None:
        now_ms = int(time.time() * 1000)
        key, value = self.source.value(index, now_ms)
        while True:
            try:
                self._producer.produce(
                    self.topic, value=value, key=key, timestamp=now_ms, on_delivery=self._delivered
                )
                return
            except BufferError:
                self._producer.poll(PRODUCE_POLL_SECONDS)

    def produce_range(self, start: int, count: int) -> None:
        for index in range(start, start + count):
            self.produce(index)
            if index % 1000 == 0:
                self._producer.poll(0)

    def produce_paced(self, start: int, rate: float, seconds: float) -> int:
        """Produce `rate` events/s for `seconds` (in 10 ms steps); returns how many."""
        total = int(rate * seconds)
        began = time.monotonic()
        produced = 0
        while produced < total:
            due = min(total, int((time.monotonic() - began) * rate) + 1)
            while produced < due:
                self.produce(start + produced)
                produced += 1
            self._producer.poll(0)
            time.sleep(0.01)  # pacing the offered load, not waiting on a condition
        return produced

    def flush(self, timeout: float) -> None:
        left = self._producer.flush(timeout)
        if left:
            raise TimeoutError(f"{left} events still unsent to {self.topic} after {timeout:.0f}s")
        if self.errors:
            raise RuntimeError(f"producing to {self.topic} failed: {self.errors[0]}")
