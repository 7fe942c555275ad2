"""The scenarios: a ceiling process or a flow, a warm-up event, then the measured run."""

from __future__ import annotations

import contextlib
import json
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.events import EventProducer, EventSource
from bench.procs import Child, Meter
from bench.settings import (
    API_KEY_ID,
    API_SECRET,
    PARTITIONS,
    PROJECT_TOKEN,
    PYTHON,
    ROOT,
    Settings,
    say,
)
from bench.stack import SinkClient, Stack
from config import services
from flows.engine import profiling

WARMUP_TIMEOUT = 120.0
PACED = ("steady", "soak")  # fed at a set rate, not in one burst
DRIFT_WINDOW = 60.0
QUIET_CPU_SECONDS = 0.15  # per second, summed over the measured processes: idle enough
QUIET_WINDOW = 0.5


class ScenarioFailed(RuntimeError):
    def __init__(self, scenario: str, reason: str) -> None:
        super().__init__(f"scenario {scenario!r} did not complete: {reason}")
        self.scenario = scenario
        self.reason = reason


class Bench:
    def __init__(self, settings: Settings, stack: Stack, sink: SinkClient) -> None:
        self.settings = settings
        self.stack = stack
        self.sink = sink
        self.source = EventSource()
        self.bootstrap = stack.env["KAFKA_BOOTSTRAP_SERVERS"]
        self.results: list[dict[str, Any]] = []
        self._setup_django_objects()

    def _setup_django_objects(self) -> None:
        self.user, self.workspace, self.credential = bench_workspace(self.stack.run_id)

    # -- waiting -------------------------------------------------------------------------

    def wait(self, scenario: str, what: str, condition: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            for child in self.stack.children():
                if not child.running():
                    raise ScenarioFailed(
                        scenario,
                        f"{child.name} exited with {child.process.returncode} "
                        f"(log: {child.log_path})",
                    )
            if time.monotonic() > deadline:
                raise ScenarioFailed(scenario, f"timed out after {timeout:.0f}s waiting for {what}")
            time.sleep(0.2)

    def quiesce(self, roots: list[int], timeout: float = 60.0) -> None:
        """Wait until the processes are idle (the previous scenario's tail is done)."""
        deadline = time.monotonic() + timeout
        with Meter(roots) as meter:
            previous = 0.0
            while time.monotonic() < deadline:
                time.sleep(QUIET_WINDOW)
                used = meter.usage().cpu_seconds
                if used - previous < QUIET_CPU_SECONDS * QUIET_WINDOW:
                    return
                previous = used
        say(f"processes still busy after {timeout:.0f}s; going on")

    # -- the measured part, common to every scenario ---------------------------------------

    def measure(
        self,
        scenario: str,
        topic: str,
        roots: list[int],
        count: int,
        produce: Callable[[EventProducer], None],
    ) -> dict[str, Any]:
        """Warm up with one event, then produce `count` events and wait for every command
        the transform makes of them to arrive at the stand-in."""
        producer = EventProducer(
            self.bootstrap, topic, self.source, self.settings.producer_linger_ms
        )
        self.sink.reset()
        # One event first, and the clock starts once it arrived: the consumer group's join
        # (Tansu: half the session timeout), the runner noticing the flow and cold caches
        # are fixed costs, not throughput.
        producer.produce(self.source.first_kept())
        producer.flush(30)
        self.wait(scenario, "the warm-up event", lambda: self.sink.progress() >= 1, WARMUP_TIMEOUT)
        self.quiesce(roots, timeout=10)
        self.sink.reset()
        expected = self.source.expected(count)
        say(f"{scenario}: producing {count} events ({expected} expected at the stand-in)")
        if self.settings.profile:
            profiling.reset()
        with Meter(roots, watched=self.stack.broker_pids()) as meter:
            started = time.time()
            produce(producer)
            producer.flush(60)
            done = self.sink.progress
            try:
                self.wait(
                    scenario,
                    f"{expected} commands at the stand-in",
                    lambda: done() >= expected,
                    self.settings.timeout,
                )
            except ScenarioFailed as error:
                arrived = f"{done()} of {expected} had arrived"
                raise ScenarioFailed(scenario, f"{error.reason}; {arrived}") from None
            usage = meter.usage()
        self.stack.remember(meter)
        drift = (
            {**rss_drift(meter.timeline), **broker_drift(meter.watched_timeline)}
            if scenario == "soak"
            else {}
        )
        report = self.sink.report()
        seconds = max(report["last_arrival"] - started, 1e-6)
        result = {
            "scenario": scenario,
            "events": count,
            "expected": expected,
            "delivered": report["commands"],
            "seconds": round(seconds, 3),
            "events_per_s": round(count / seconds, 1),
            "p50_latency_ms": _round(report["p50_ms"]),
            "p99_latency_ms": _round(report["p99_ms"]),
            "peak_rss_mb_total": usage.peak_rss_mb,
            "cpu_seconds": usage.cpu_seconds,
            "machine_cpu_busy": usage.machine_busy,
            # Not the platform's: the embedded broker (None with KAFKA_BOOTSTRAP_SERVERS).
            "broker_cpu_seconds": usage.watched_cpu_seconds,
            **drift,
        }
        if self.settings.profile and not scenario.startswith("ceiling"):
            result["profile"] = profile_per_event(count)
            say(f"{scenario}: where the time goes (ms per event, all processes):")
            for name, cost in result["profile"].items():
                say(f"  {name:<22} {cost['ms_per_event']:>8.3f} ms  ({cost['calls']:.0f} calls)")
        return result

    def burst(self, count: int) -> Callable[[EventProducer], None]:
        return lambda producer: producer.produce_range(0, count)

    def emit(self, result: dict[str, Any], results_file: Path) -> None:
        line = json.dumps(result)
        print(line, flush=True)
        with results_file.open("a") as out:
            out.write(line + "\n")
        self.results.append(result)

    # -- scenarios -------------------------------------------------------------------------

    def new_topic(self, scenario: str) -> str:
        topic = f"bench-{scenario}-{self.stack.run_id}-{uuid.uuid4().hex[:6]}"
        services.create_topic(self.bootstrap, topic, partitions=PARTITIONS)
        return topic

    def ceiling(self, scenario: str) -> dict[str, Any]:
        topic = self.new_topic(scenario)
        mode = "batch" if scenario == "ceiling-batch" else "per-event"
        url = (
            f"{self.sink.url}/track/v2/projects/{PROJECT_TOKEN}/batch"
            if mode == "batch"
            else f"{self.sink.url}/sink"
        )
        argv = [
            PYTHON, str(ROOT / "bench" / "ceiling.py"),
            "--bootstrap", self.bootstrap, "--topic", topic, "--group", f"{topic}-group",
            "--url", url, "--mode", mode, "--batch-size", str(self.settings.batch_size),
            "--session-timeout-ms", str(self.settings.session_timeout_ms),
        ]  # fmt: skip
        process = Child(scenario, argv, self.stack.env, self.stack.run_dir)
        self.stack.others.append(process)
        try:
            result = self.measure(
                scenario,
                topic,
                [process.pid],
                self.settings.events,
                self.burst(self.settings.events),
            )
        finally:
            self.stack.others.remove(process)
            self.stack.forget(process)
        return {**result, "workers": 0}

    def flow_graph(self, scenario: str, topic: str) -> dict[str, Any]:
        trigger = {
            "topic": topic,
            "bootstrap_servers": self.bootstrap,
            "start_from": "earliest",
            "batch_size": self.settings.batch_size,
            "max_wait_ms": self.settings.max_wait_ms,
            "session_timeout_ms": self.settings.session_timeout_ms,
        }
        if scenario in PACED:
            trigger["max_wait_ms"] = self.settings.steady_max_wait_ms
        if scenario == "soak":
            trigger["batch_size"] = self.settings.soak_batch_size
        action: dict[str, Any]
        if scenario == "rest":
            action = {
                "id": "rest",
                "component": "rest",
                "config": {"method": "POST", "url": f"{self.sink.url}/sink", "rate_limit": 0},
                "credential": None,
            }
        else:
            action = bloomreach_action(self.sink.url, self.credential.id)
        return transform_graph(trigger, action)

    @contextlib.contextmanager
    def running_flow(self, scenario: str, topic: str) -> Iterator[int]:
        """A new flow created, published and started through the services, like the demo's;
        stopped afterwards, once the runner let go of it."""
        from flows.engine.redis import get_redis
        from flows.engine.runner import consumers_key
        from flows.models import Flow
        from flows.services.flows import create_flow, publish_flow, start_flow, stop_flow

        graph = self.flow_graph(scenario, topic)
        flow = create_flow(self.workspace, f"bench {scenario} {topic}", graph, self.user)
        publish_flow(flow, self.user)
        flow.refresh_from_db()
        start_flow(flow)
        try:
            yield flow.id
        finally:
            stop_flow(Flow.objects.get(id=flow.id))
            with contextlib.suppress(ScenarioFailed):
                self.wait(
                    scenario,
                    "the runner to let go of the flow",
                    lambda: not get_redis().hexists(consumers_key(), str(flow.id)),
                    30,
                )

    def platform(self, scenario: str, workers: int) -> dict[str, Any]:
        self.stack.set_workers(workers)
        topic = self.new_topic(scenario)
        roots = self.stack.platform_roots()
        self.quiesce(roots)
        with self.running_flow(scenario, topic):
            if scenario in PACED:
                rate, seconds = (
                    (self.settings.steady_rate, self.settings.steady_seconds)
                    if scenario == "steady"
                    else (self.settings.soak_rate, self.settings.soak_seconds)
                )
                count = int(rate * seconds)

                def paced(producer: EventProducer) -> None:
                    producer.produce_paced(0, rate, seconds)

                result = self.measure(scenario, topic, roots, count, paced)
                result["offered_per_s"] = rate
            else:
                count = self.settings.events
                result = self.measure(scenario, topic, roots, count, self.burst(count))
        return {**result, "workers": workers}


def bench_workspace(name: str) -> tuple[Any, Any, Any]:
    """A user, their workspace and a credential for the stand-in, all named after `name`."""
    from django.contrib.auth.models import User

    from flows.services.credentials import create_credential
    from flows.services.workspaces import create_workspace

    user = User.objects.create_user(f"bench-{name}")
    workspace = create_workspace(f"Bench {name}", user)
    fields = {"auth": "private", "api_key_id": API_KEY_ID, "api_secret": API_SECRET}
    return user, workspace, create_credential(workspace, "Bench stand-in", "bloomreach", fields)


def bloomreach_action(base_url: str, credential_id: int) -> dict[str, Any]:
    """The Bloomreach step of the bench's flows, sending to the stand-in at `base_url`."""
    return {
        "id": "bloomreach",
        "component": "bloomreach",
        "config": {
            "base_url": base_url,
            "project_token": PROJECT_TOKEN,
            "batch_size": 50,
            "rate_limit": 0,  # measure the engine, not Bloomreach's 100 requests/s
        },
        "credential": credential_id,
    }


def transform_graph(trigger: dict[str, Any], action: dict[str, Any]) -> dict[str, Any]:
    """Kafka (`trigger`, its config) → the reference transform → `action`, as a flow graph."""
    from flows.demo import TRANSFORM

    nodes: list[dict[str, Any]] = [
        {"id": "kafka", "component": "kafka", "config": trigger, "credential": None},
        {
            "id": "transform",
            "component": "code",
            "config": {"code": TRANSFORM.read_text()},
            "credential": None,
        },
        action,
    ]
    for x, node in enumerate(nodes):
        node["position"] = {"x": 320 * x, "y": 0}
    return {
        "nodes": nodes,
        "edges": [
            {"source": "kafka", "target": "transform"},
            {"source": "transform", "target": action["id"]},
        ],
    }


def rss_drift(timeline: list[tuple[float, int]]) -> dict[str, float | None]:
    """How the summed RSS moved over a long run: the median of its second minute (the first
    is warm-up: sandbox pools, caches, connections) against the median of its last minute,
    and the least-squares slope in between. Growth near zero means no leak."""
    if len(timeline) < 2 or timeline[-1][0] - timeline[0][0] < 3 * DRIFT_WINDOW:
        return {"rss_mb_minute_2": None, "rss_mb_last_minute": None, "rss_growth_mb": None}
    began, ended = timeline[0][0], timeline[-1][0]
    settled = [(t, rss / 2**20) for t, rss in timeline if t >= began + DRIFT_WINDOW]
    second = [mb for t, mb in settled if t < began + 2 * DRIFT_WINDOW]
    last = [mb for t, mb in settled if t >= ended - DRIFT_WINDOW]
    mean_t = statistics.fmean(t for t, _ in settled)
    mean_mb = statistics.fmean(mb for _, mb in settled)
    spread = sum((t - mean_t) ** 2 for t, _ in settled)
    slope = sum((t - mean_t) * (mb - mean_mb) for t, mb in settled) / spread
    return {
        "rss_mb_minute_2": round(statistics.median(second), 1),
        "rss_mb_last_minute": round(statistics.median(last), 1),
        "rss_growth_mb": round(statistics.median(last) - statistics.median(second), 1),
        "rss_slope_mb_per_min": round(slope * 60, 2),
    }


def broker_drift(timeline: list[tuple[float, float]]) -> dict[str, float | None]:
    """The cores the embedded broker kept busy in the soak's second minute and in its last.

    Tansu (memory storage) spends CPU on each fetch in proportion to what the topic holds:
    measured alone at 1,000 events/s with one consumer, 0.23 cores in the first 20 s and a
    whole core after a minute (producing alone: a flat 0.1). On two cores that is half the
    machine taken from the platform, and fetches answered late: latency that is the broker's.
    """
    if len(timeline) < 2 or timeline[-1][0] - timeline[0][0] < 3 * DRIFT_WINDOW:
        return {"broker_cores_minute_2": None, "broker_cores_last_minute": None}

    def cores(start: float, end: float) -> float:
        inside = [(t, cpu) for t, cpu in timeline if start <= t <= end]
        if len(inside) < 2:
            return 0.0
        (t0, cpu0), (t1, cpu1) = inside[0], inside[-1]
        return round((cpu1 - cpu0) / max(t1 - t0, 1e-6), 2)

    began, ended = timeline[0][0], timeline[-1][0]
    return {
        "broker_cores_minute_2": cores(began + DRIFT_WINDOW, began + 2 * DRIFT_WINDOW),
        "broker_cores_last_minute": cores(ended - DRIFT_WINDOW, ended),
    }


def profile_per_event(events: int) -> dict[str, dict[str, float]]:
    """The engine's phase totals (TRIBUTARY_PROFILE=1) per event of the scenario."""
    return {
        name: {"ms_per_event": round(cost["seconds"] * 1000 / max(events, 1), 4), **cost}
        for name, cost in profiling.report().items()
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
