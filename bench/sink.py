"""The benchmark's destination: the real Bloomreach stand-in plus a per-command arrival log.

`python -m bench.sink --port N` serves everything `BloomreachStandIn` serves (the batch
endpoint the Bloomreach step and the batch ceiling post to, auth and validation included) and
adds, for the benchmark only:

- `POST /sink`: any JSON body, answered `{"success": true}` — the loopback target of the REST
  scenario and of the per-event ceiling (one request per event);
- `GET /_bench/progress`: `{"commands", "last_arrival"}`, cheap enough to poll;
- `GET /_bench/report`: the same plus `p50_ms`/`p99_ms` of the latencies.

Every accepted command (and every /sink body) is one arrival. Its latency is the arrival time
minus the event time the command carries (`data.timestamp` or `data.update_timestamp`, Unix
seconds): the benchmark writes the produce time into each event's `ts`, the reference
transform turns it into that field, so no lookup by event id is needed. `POST /_reset` (the
stand-in's own) clears the log with the counters.

It runs in its own process so that its CPU never competes with the benchmark's driver for one
interpreter lock; being outside the Tributary processes, it is not in their RSS or CPU totals.
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
from typing import Any

import orjson

from components.bloomreach.standin import BloomreachStandIn, Reply, _Stats
from components.bloomreach.standin_http import Request


def command_time(data: Any) -> float | None:
    """The event time (Unix seconds) a command's data carries, if any."""
    if not isinstance(data, dict):
        return None
    value = data.get("timestamp", data.get("update_timestamp"))
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, round(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


class _RecordingStats(_Stats):
    """The stand-in's counters plus one latency per accepted command (under the same lock)."""

    def clear(self) -> None:
        super().clear()
        self.latencies_ms: list[float] = []
        self.last_arrival = 0.0
        self.sunk = 0

    def accept(self, name: str, data: Any, now: float) -> None:
        super().accept(name, data, now)
        self.record(data, now)

    def record(self, data: Any, now: float) -> None:
        stamp = command_time(data)
        if stamp is not None:
            self.latencies_ms.append((now - stamp) * 1000.0)
        self.last_arrival = max(self.last_arrival, now)

    def progress(self) -> dict[str, Any]:
        with self.lock:
            return {"commands": self.commands + self.sunk, "last_arrival": self.last_arrival}

    def report(self) -> dict[str, Any]:
        with self.lock:
            latencies = sorted(self.latencies_ms)
            report: dict[str, Any] = {
                "commands": self.commands + self.sunk,
                "last_arrival": self.last_arrival,
            }
        report.update(
            timed=len(latencies),
            p50_ms=percentile(latencies, 0.50),
            p99_ms=percentile(latencies, 0.99),
        )
        return report


class RecordingStandIn(BloomreachStandIn):
    """`BloomreachStandIn` that also logs each arrival's latency and serves `POST /sink`."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        # The stand-in keeps its counters in one object; swapping in a recording subclass
        # reuses its locking, validation and /_reset without touching the stand-in itself.
        self._recorder = _RecordingStats()
        self._stats = self._recorder

    async def _dispatch(self, request: Request) -> Reply:
        path = request.path.split("?", 1)[0]
        if path == "/sink" and request.method == "POST":
            return self._sink(request.body)
        if path == "/_bench/progress":
            return 200, {}, self._recorder.progress()
        if path == "/_bench/report":
            return 200, {}, self._recorder.report()
        return await super()._dispatch(request)

    def _sink(self, body: bytes) -> Reply:
        now = time.time()
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            return 400, {}, {"success": False, "errors": [f"invalid JSON: {error}"]}
        # The REST step sends the transform's command as is: {"name", "data"}.
        data = payload.get("data") if isinstance(payload, dict) else None
        with self._recorder.lock:
            self._recorder.requests += 1
            self._recorder.sunk += 1
            self._recorder.record(data, now)
        return 200, {}, {"success": True}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    sink = RecordingStandIn(host=args.host, port=args.port).start()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    print(f"bench sink listening on {sink.url}", flush=True)
    while not stop.wait(0.5):
        pass
    sink.stop()


if __name__ == "__main__":
    main()
