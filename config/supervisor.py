"""`make run`: start the whole stack in the foreground and stop all of it on Ctrl-C.

Starts an embedded Redis when none answers at REDIS_URL and a Tansu broker when
KAFKA_BOOTSTRAP_SERVERS is unset, then the web server, a Celery worker, celery beat, the
trigger runner, the Bloomreach stand-in, the demo flow and a demo producer. Each child's
output is prefixed with its name; a child that dies is restarted with backoff.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from config import services

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
# Children that feed work in: stopped before those that do it.
STOP_FIRST = frozenset({"producer", "triggers"})
COLORS = ["36", "32", "35", "33", "34", "31", "96"]


@dataclass
class Child:
    name: str
    argv: list[str]
    color: str
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    pump: threading.Thread | None = field(default=None, repr=False)


def say(name: str, line: str, color: str = "1") -> None:
    sys.stdout.write(f"\033[{color}m{name:>10} |\033[0m {line}\n")
    sys.stdout.flush()


class Supervisor:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.children: list[Child] = []
        self.stopping = threading.Event()

    def add(self, name: str, argv: list[str]) -> None:
        self.children.append(Child(name, argv, COLORS[len(self.children) % len(COLORS)]))

    def _spawn(self, child: Child) -> None:
        child.process = subprocess.Popen(
            child.argv,
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so we can stop it whole
        )
        child.started_at = time.monotonic()
        child.pump = threading.Thread(target=self._pump, args=(child, child.process), daemon=True)
        child.pump.start()

    def _pump(self, child: Child, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for raw in iter(process.stdout.readline, b""):
            say(child.name, raw.decode(errors="replace").rstrip(), child.color)

    def run(self) -> int:
        for child in self.children:
            self._spawn(child)
        while not self.stopping.wait(0.5):
            for child in self.children:
                assert child.process is not None
                code = child.process.poll()
                if code is None:
                    continue
                if child.name == "producer" and code == 0:
                    continue  # a producer with --count finishes by design
                # Restart with backoff; a child that ran a while starts over at 1 s.
                if time.monotonic() - child.started_at > 60:
                    child.restarts = 0
                delay = min(30, 2**child.restarts)
                child.restarts += 1
                say("supervisor", f"{child.name} exited with {code}; restarting in {delay} s")
                if self.stopping.wait(delay):
                    break
                self._spawn(child)
        return 0

    def stop(self) -> None:
        """Stop the sources first (producer, trigger runner), so that the runner can let its
        batches in flight finish on the still running workers and commit them; then the rest.
        """
        self.stopping.set()
        first = [c for c in self.children if c.name in STOP_FIRST]
        self._terminate(first, seconds=15)
        self._terminate([c for c in self.children if c.name not in STOP_FIRST], seconds=15)

    def _terminate(self, children: list[Child], seconds: float) -> None:
        for child in children:
            if child.process and child.process.poll() is None:
                os.killpg(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + seconds
        for child in children:
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.process.pid, signal.SIGKILL)


def manage(*args: str) -> list[str]:
    return [PYTHON, str(ROOT / "manage.py"), *args]


def main() -> int:
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    port = env.get("PORT", "8000")
    bloomreach_port = env.get("FAKE_BLOOMREACH_PORT", "8001")
    embedded: list[services.EmbeddedService] = []

    redis_url = env.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    if not services.redis_answers(redis_url):
        redis_port = urlparse(redis_url).port or 6379
        say("supervisor", f"no Redis at {redis_url}: starting the embedded one on {redis_port}")
        embedded.append(services.start_embedded_redis(redis_port, str(ROOT / "var" / "redis")))
    env["REDIS_URL"] = redis_url

    if not env.get("KAFKA_BOOTSTRAP_SERVERS"):
        say("supervisor", "KAFKA_BOOTSTRAP_SERVERS unset: starting the Tansu broker on 9092")
        broker = services.start_tansu(9092)
        embedded.append(broker)
        env["KAFKA_BOOTSTRAP_SERVERS"] = broker.bootstrap
    from flows.demo import DEMO_TOPIC

    services.create_topic(env["KAFKA_BOOTSTRAP_SERVERS"], DEMO_TOPIC, partitions=3)

    supervisor = Supervisor(env)

    def on_signal(signum: int, frame: object) -> None:
        supervisor.stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    bloomreach_url = f"http://127.0.0.1:{bloomreach_port}"
    for step in (
        manage("migrate", "--noinput", "-v", "0"),
        manage("setup_demo", "--bloomreach-url", bloomreach_url),
    ):
        done = subprocess.run(step, env=env, cwd=ROOT, check=False)
        if done.returncode != 0:
            say("supervisor", f"{' '.join(step[2:])} failed; see above")
            for service in embedded:
                service.stop()
            return done.returncode

    bind = env.get("BIND_HOST", "127.0.0.1")
    supervisor.add(
        "web",
        [
            PYTHON,
            "-m",
            "gunicorn",
            "config.wsgi",
            "-b",
            f"{bind}:{port}",
            "-w",
            "2",
            "--access-logfile",
            "-",
        ],
    )
    supervisor.add(
        "worker",
        [
            PYTHON,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-l",
            "info",
            "--concurrency",
            env.get("WORKER_CONCURRENCY", "2"),
        ],
    )
    # Periodic tasks (execution retention); exactly one beat, or they are sent twice.
    supervisor.add(
        "beat",
        [
            PYTHON,
            "-m",
            "celery",
            "-A",
            "config",
            "beat",
            "-l",
            "info",
            "--schedule",
            str(ROOT / "var" / "celerybeat-schedule"),
        ],
    )
    supervisor.add("triggers", manage("run_triggers"))
    supervisor.add("bloomreach", manage("fake_bloomreach", "--port", bloomreach_port))
    supervisor.add("producer", manage("demo_producer", "--rate", env.get("DEMO_RATE", "20")))

    user = env.get("TRIBUTARY_ADMIN_USER", "admin")
    password = env.get("TRIBUTARY_ADMIN_PASSWORD", "admin")
    say("supervisor", f"Tributary: http://127.0.0.1:{port}/  (login {user} / {password})")
    say("supervisor", f"API docs:  http://127.0.0.1:{port}/api/docs/")
    say("supervisor", f"Bloomreach stand-in stats: {bloomreach_url}/_stats")
    say("supervisor", "Ctrl-C stops everything")
    try:
        supervisor.run()
    finally:
        say("supervisor", "stopping")
        supervisor.stop()
        for service in embedded:
            service.stop()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.exit(main())
