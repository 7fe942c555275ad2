"""`/readyz`: can this process serve? The database, Redis and the Celery broker all answer.

`/healthz` only says the process is up (a container restarts when it fails); `/readyz` says
whether its dependencies answer too, so a load balancer or an operator can tell "up but
cut off" from "ready". Each check has a short timeout, so a dead dependency makes the answer
slow by seconds, not by the clients' 30 s defaults.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

# Seconds each dependency has to answer.
CHECK_TIMEOUT = 2.0


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_redis() -> None:
    # A client of its own rather than the engine's shared one: that one waits up to 30 s.
    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=CHECK_TIMEOUT, socket_connect_timeout=CHECK_TIMEOUT
    )
    try:
        client.ping()
    finally:
        client.close()


def check_broker() -> None:
    from config.celery import app

    with app.connection_for_write(connect_timeout=CHECK_TIMEOUT) as conn:
        # One attempt: a broker that is down must fail the check now, not after retries.
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=int(CHECK_TIMEOUT))


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "redis": check_redis,
    "broker": check_broker,
}


def readyz(request: HttpRequest) -> HttpResponse:
    """200 `{"status": "ready", "checks": {...: "ok"}}` when every dependency answers, else
    503 `{"status": "unavailable", "checks": {name: "ok" | "failed: <reason>"}, "error"}`."""
    results: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as exc:  # any failure means "not ready"; the reason is reported
            logger.warning("readiness check %s failed: %s", name, exc)
            results[name] = f"failed: {type(exc).__name__}: {exc}"[:300]
        else:
            results[name] = "ok"
    failed = [name for name, result in results.items() if result != "ok"]
    if not failed:
        return JsonResponse({"status": "ready", "checks": results})
    return JsonResponse(
        {
            "status": "unavailable",
            "checks": results,
            "error": f"not ready: {', '.join(failed)} did not answer",
            "details": {"failed": failed},
        },
        status=503,
    )
