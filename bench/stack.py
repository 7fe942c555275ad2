"""The services and processes of one bench run: start them, find them, stop all of them."""

from __future__ import annotations

import base64
import contextlib
import http.client
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import orjson
import requests

from bench.procs import Child, Meter, alive, start_time, tree
from bench.settings import API_KEY_ID, API_SECRET, PROJECT_TOKEN, PYTHON, ROOT, Settings
from config import services


class SinkClient:
    """The recording stand-in in its own process, and the control calls the bench makes."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._http = requests.Session()

    def _get(self, path: str) -> dict[str, Any]:
        response = self._http.get(self.url + path, timeout=30)
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    def progress(self) -> int:
        return int(self._get("/_bench/progress")["commands"])

    def report(self) -> dict[str, Any]:
        return self._get("/_bench/report")

    def reset(self) -> None:
        self._http.post(self.url + "/_reset", timeout=30).raise_for_status()


def standin_throughput(sink_url: str, command: Any, seconds: float = 1.0) -> dict[str, float]:
    """What the stand-in accepts per second: commands on the batch endpoint (50 a request)
    and requests on /sink (one command each), from 2 keep-alive client threads each. The
    client is Python too, so these are lower bounds."""
    address = urlparse(sink_url)
    auth = base64_basic(API_KEY_ID, API_SECRET)
    cases = {
        "batch_commands_per_s": (
            f"/track/v2/projects/{PROJECT_TOKEN}/batch",
            orjson.dumps({"commands": [command] * 50}),
            50,
        ),
        "sink_requests_per_s": ("/sink", orjson.dumps(command), 1),
    }
    rates: dict[str, float] = {}
    for name, (path, body, per_request) in cases.items():
        deadline = time.monotonic() + seconds
        host, port = address.hostname or "", address.port or 80
        with ThreadPoolExecutor(2) as pool:
            futures = [
                pool.submit(_hammer, host, port, path, body, auth, deadline) for _ in range(2)
            ]
            sent = [future.result() * per_request for future in futures]
            rates[name] = round(sum(sent) / seconds)
    return rates


def _hammer(host: str, port: int, path: str, body: bytes, auth: str, deadline: float) -> int:
    """POST `body` to `path` over one keep-alive connection until `deadline`; how many."""
    connection = http.client.HTTPConnection(host, port, timeout=10)
    headers = {"Content-Type": "application/json", "Authorization": auth}
    sent = 0
    try:
        while time.monotonic() < deadline:
            connection.request("POST", path, body, headers)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"the stand-in answered {response.status} on {path}")
            sent += 1
    finally:
        connection.close()
    return sent


def base64_basic(user: str, password: str) -> str:

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class Stack:
    """Every service and process of one bench run, and how to stop all of them."""

    settings: Settings
    run_id: str
    run_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    embedded: list[services.EmbeddedService] = field(default_factory=list)
    sink: Child | None = None
    workers: list[Child] = field(default_factory=list)
    runner: Child | None = None
    others: list[Child] = field(default_factory=list)
    seen: dict[int, int] = field(default_factory=dict)  # every pid we measured, for orphans
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def queue(self) -> str:
        return f"tributary-bench-{self.run_id}"

    def start_services(self) -> None:
        env = dict(os.environ)
        bootstrap = env.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
        if bootstrap:
            self.notes["kafka"] = f"KAFKA_BOOTSTRAP_SERVERS={bootstrap}"
        else:
            broker = services.start_tansu()
            self.embedded.append(broker)
            bootstrap = broker.bootstrap
            self.notes["kafka"] = f"embedded Tansu at {bootstrap}"
        redis_url = env.get("REDIS_URL", "redis://127.0.0.1:6379/0")
        if services.redis_answers(redis_url):
            self.notes["redis"] = redis_url
        else:
            redis = services.start_embedded_redis(dir=str(self.run_dir / "redis"))
            self.embedded.append(redis)
            redis_url = redis.url
            self.notes["redis"] = f"embedded redis-server at {redis_url}"
        database_url = env.get("DATABASE_URL", "").strip()
        if database_url:
            self.notes["database"] = urlparse(database_url).scheme + " (DATABASE_URL)"
        else:
            database_url = f"sqlite:///{self.run_dir / 'bench.sqlite3'}"
            self.notes["database"] = "fresh SQLite under var/bench/"
        env.update(
            KAFKA_BOOTSTRAP_SERVERS=bootstrap,
            REDIS_URL=redis_url,
            DATABASE_URL=database_url,
            # A queue and key prefix of this run only: a `make run` or a test session
            # sharing the Redis neither takes our tasks nor sees our keys.
            CELERY_QUEUE=self.queue,
            TRIBUTARY_REDIS_PREFIX=self.queue,
            TRIBUTARY_RUNNER_SYNC_SECONDS="0.5",
            DJANGO_SETTINGS_MODULE="config.settings",
            PYTHONUNBUFFERED="1",
        )
        if self.settings.profile:
            env["TRIBUTARY_PROFILE"] = "1"
        self.env = env

    def start_sink(self) -> SinkClient:
        port = services.free_port()
        argv = [PYTHON, "-m", "bench.sink", "--port", str(port)]
        self.sink = Child("sink", argv, self.env, self.run_dir)
        self.sink.wait_for_line("listening on", 30)
        return SinkClient(f"http://127.0.0.1:{port}")

    def start_platform(self, workers: int) -> None:
        """Start the trigger runner and `workers` Celery workers, all at once."""
        argv = [PYTHON, str(ROOT / "manage.py"), "run_triggers"]
        self.runner = Child("triggers", argv, self.env, self.run_dir)
        self.set_workers(workers)
        self.runner.wait_for_line("watching for running flows", 60)

    def set_workers(self, count: int) -> None:
        """Start or stop Celery workers until `count` run: each a `celery worker` with the
        default prefork pool at --concurrency 1 (a supervisor process and one pool process,
        which runs the tasks and owns the code sandbox's process)."""
        while len(self.workers) > count:
            self.forget(self.workers.pop())
        starting = []
        while len(self.workers) < count:
            index = len(self.workers)
            argv = [
                PYTHON, "-m", "celery", "-A", "config", "worker",
                "-l", "info", "--concurrency", "1", "-Q", self.queue,
                "-n", f"bench{index}-{self.run_id}@%h",
                # No chatter with other workers that share this Redis.
                "--without-gossip", "--without-mingle",
            ]  # fmt: skip
            worker = Child(f"worker{index}", argv, self.env, self.run_dir)
            self.workers.append(worker)
            starting.append(worker)
        for worker in starting:
            worker.wait_for_line(" ready.", 60)

    def broker_pids(self) -> list[int]:
        """The embedded broker's process, if there is one: measured on its own, not as the
        platform's."""
        return [s.pid for s in self.embedded if s.name == "tansu"]

    def platform_roots(self) -> list[int]:
        assert self.runner is not None
        return [w.pid for w in self.workers] + [self.runner.pid]

    def children(self) -> list[Child]:
        found = [*self.workers, *self.others]
        found += [c for c in (self.runner, self.sink) if c is not None]
        return found

    def remember(self, meter: Meter) -> None:
        self.seen.update(meter.seen)

    def forget(self, child: Child) -> None:
        for pid in tree([child.pid]):
            began = start_time(pid)
            if began is not None:
                self.seen[pid] = began
        child.stop()

    def stop(self) -> list[int]:
        """Stop everything; returns the pids still alive afterwards (should be none)."""
        children = [c for c in [*self.others, *self.workers, self.runner, self.sink] if c]
        # In parallel: a Celery worker's warm shutdown alone takes seconds.
        with ThreadPoolExecutor(max(1, len(children))) as pool:
            for future in [pool.submit(self.forget, child) for child in children]:
                with contextlib.suppress(Exception):
                    future.result()
        for service in reversed(self.embedded):
            with contextlib.suppress(Exception):
                service.stop()
        time.sleep(0.2)
        return [pid for pid, began in self.seen.items() if alive(pid, began)]

    def clean_redis(self) -> None:
        import redis

        client = redis.Redis.from_url(self.env["REDIS_URL"])
        try:
            for pattern in (f"{self.queue}*", f"_kombu.binding.{self.queue}*"):
                names = list(client.scan_iter(match=pattern, count=1000))
                for start in range(0, len(names), 500):
                    client.delete(*names[start : start + 500])
        finally:
            client.close()
