"""Scenario 10 of issue 5: the database (PostgreSQL) unreachable for a few seconds mid-run.

A loopback TCP proxy in the test stands between the worker and runner subprocesses and
PostgreSQL; cutting it closes every connection and refuses new ones, as a database restart
or a network partition would. Only meaningful on PostgreSQL (SQLite is a local file):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
        .venv/bin/pytest tests/faults/test_database.py
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from components.bloomreach.standin import BloomreachStandIn
from config.services import free_port
from tests.faults.harness import (
    Processes,
    Timeline,
    event_ids,
    flow_status,
    make_flow,
    new_topic,
    on_postgres,
    produce,
    report,
    tally,
    valid_events,
    wait_delivered,
    wait_settled,
)
from tests.fixtures.stack import wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(not on_postgres(), reason="needs PostgreSQL: set DATABASE_URL"),
]

CUT_SECONDS = 5.0


class CuttableProxy:
    """Forwards 127.0.0.1:<port> to the database; `cut()` drops every connection and refuses
    new ones until `restore()`. Plain threads: one accepting, two pumping per connection."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.connections = 0
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would not.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def restore(self) -> None:
        self.start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:  # cut meanwhile
                    client.close()
                    server.close()
                    continue
                self._sockets.update((client, server))
                self.connections += 1
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def database_proxy() -> Iterator[CuttableProxy]:
    db = connection.settings_dict
    proxy = CuttableProxy((db.get("HOST") or "127.0.0.1", int(db.get("PORT") or 5432)))
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.cut()


def proxied_url(port: int) -> str:
    db = connection.settings_dict
    auth = db["USER"] or ""
    if db.get("PASSWORD"):
        auth += f":{db['PASSWORD']}"
    return f"postgres://{auth}@127.0.0.1:{port}/{db['NAME']}"


def test_the_database_cut_for_seconds_mid_run_loses_nothing_and_sends_nothing_twice(
    fault_api: APIClient,
    kafka_broker: Any,
    bloomreach_standin: BloomreachStandIn,
    processes: Processes,
    database_proxy: CuttableProxy,
) -> None:
    bootstrap = kafka_broker.bootstrap
    topic = new_topic(bootstrap, "db-cut", partitions=2)
    events = valid_events(300, "d")
    ids = event_ids(events)
    bloomreach_standin.configure(latency_ms=50)
    flow_id = make_flow(
        fault_api, bootstrap, topic, bloomreach_standin.url, bloomreach={"batch_size": 10}
    )
    processes.start(DATABASE_URL=proxied_url(database_proxy.port), TRIBUTARY_BATCH_TIMEOUT="5")
    timeline = Timeline()
    ends = produce(bootstrap, topic, events).ends

    wait_for(lambda: tally(bloomreach_standin, ids).delivered > 80, 60, "the first deliveries")
    assert database_proxy.connections > 0, "the processes do not go through the proxy"
    database_proxy.cut()
    timeline.mark_fault()
    before = tally(bloomreach_standin, ids).delivered
    assert before < len(ids), "the cut came too late to prove anything"
    cut_until = time.monotonic() + CUT_SECONDS
    # The cut lasts its time, whatever happens meanwhile: this is the fault, not a wait.
    wait_for(lambda: time.monotonic() >= cut_until, CUT_SECONDS + 1, "the end of the cut")
    during = tally(bloomreach_standin, ids).delivered - before
    database_proxy.restore()
    timeline.mark_restored()

    wait_delivered(bloomreach_standin, ids, 90, "every event after the database is back", flow_id)
    timeline.mark_complete()
    executions = wait_settled(fault_api, flow_id, len(events), bootstrap, topic, ends, 2)
    result = tally(bloomreach_standin, ids)
    report(
        "database cut 5 s",
        len(events),
        result,
        timeline,
        delivered_before_cut=before,
        delivered_during_cut=during,
    )
    assert result.complete and not result.unexpected
    assert result.duplicates == 0
    assert {e["status"] for e in executions} == {"succeeded"}
    assert flow_status(flow_id)[0] == "running"


def test_workers_and_runners_keep_their_database_connections_from_step_to_step(
    fault_api: APIClient,
    kafka_broker: Any,
    bloomreach_standin: BloomreachStandIn,
    processes: Processes,
    database_proxy: CuttableProxy,
) -> None:
    """Celery's Django fix-up closes every connection around each task unless told not to:
    on PostgreSQL that is a reconnect, and a server process forked, for every step."""
    bootstrap = kafka_broker.bootstrap
    topic = new_topic(bootstrap, "db-reuse")
    events = valid_events(13, "r")
    ids = event_ids(events)
    # One event per batch, so that 12 batches run one after another.
    flow_id = make_flow(fault_api, bootstrap, topic, bloomreach_standin.url, batch_size=1)
    processes.start(DATABASE_URL=proxied_url(database_proxy.port))
    first = produce(bootstrap, topic, events[:1]).ends
    wait_delivered(bloomreach_standin, ids[:1], 60, "the first event", flow_id)
    wait_settled(fault_api, flow_id, 1, bootstrap, topic, first, 1)
    opened = database_proxy.connections
    assert opened > 0, "the processes do not go through the proxy"

    ends = produce(bootstrap, topic, events[1:]).ends
    wait_delivered(bloomreach_standin, ids, 60, "every event", flow_id)
    wait_settled(fault_api, flow_id, len(events), bootstrap, topic, ends, 1)

    # A connection per task was 12 more here (measured), at least one per batch.
    assert database_proxy.connections - opened <= 2
