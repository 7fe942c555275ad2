"""Operating Tributary: readiness, JSON logs, the extra metrics and execution retention."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from config.logging import JsonFormatter

ROOT = Path(__file__).resolve().parent.parent

# --- /readyz -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_readyz_is_ready_when_database_redis_and_broker_answer() -> None:
    response = APIClient().get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "redis": "ok", "broker": "ok"},
    }


@pytest.mark.django_db
def test_readyz_answers_503_naming_redis_when_redis_does_not_answer() -> None:
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        response = APIClient().get("/readyz")
    assert response.status_code == 503
    payload = response.json()
    assert payload["status"] == "unavailable"
    assert payload["checks"]["redis"].startswith("failed:")
    assert payload["checks"]["database"] == "ok"
    assert payload["details"] == {"failed": ["redis"]}
    assert "redis" in payload["error"]


@pytest.mark.django_db
def test_readyz_is_exempt_from_the_https_redirect() -> None:
    with override_settings(SECURE_SSL_REDIRECT=True):
        assert APIClient().get("/readyz").status_code == 200
        assert APIClient().get("/api/v1/flows/").status_code == 301


# --- JSON logs -----------------------------------------------------------------------------


def _log_json(emit: Any) -> dict[str, Any]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tributary.test.json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        emit(logger)
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1, f"one line per record, got {lines!r}"
    parsed: dict[str, Any] = json.loads(lines[0])
    return parsed


def test_json_formatter_writes_one_object_with_the_standard_fields() -> None:
    entry = _log_json(lambda log: log.warning("batch %s of %d", "b-1", 3))
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "tributary.test.json"
    assert entry["message"] == "batch b-1 of 3"
    assert isinstance(entry["process"], int)
    assert entry["time"].endswith("+00:00") and "T" in entry["time"]
    assert "exception" not in entry
    assert "args" not in entry and "msg" not in entry


def test_json_formatter_adds_extra_fields_and_strings_what_json_cannot_encode() -> None:
    marker = object()
    entry = _log_json(
        lambda log: log.info("done", extra={"flow_id": 7, "batch_id": "b-9", "odd": marker})
    )
    assert entry["flow_id"] == 7
    assert entry["batch_id"] == "b-9"
    assert entry["odd"] == str(marker)


def test_json_formatter_writes_the_exception_as_a_string_on_the_same_line() -> None:
    def emit(log: logging.Logger) -> None:
        try:
            raise ValueError("bad\nvalue")
        except ValueError:
            log.exception("step failed")

    entry = _log_json(emit)
    assert entry["level"] == "ERROR"
    assert isinstance(entry["exception"], str)
    assert "Traceback" in entry["exception"] and "ValueError: bad" in entry["exception"]


def _run_logging_with(log_format: str) -> subprocess.CompletedProcess[str]:
    code = (
        "import django, logging; django.setup(); "
        "logging.getLogger('tributary.probe').info('hello', extra={'flow_id': 3})"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    env["TRIBUTARY_LOG_FORMAT"] = log_format
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_log_format_json_switches_the_root_logger_to_json_lines() -> None:
    done = _run_logging_with("json")
    assert done.returncode == 0, done.stderr
    entry = json.loads(done.stderr.strip().splitlines()[-1])
    assert entry["message"] == "hello" and entry["flow_id"] == 3
    assert entry["logger"] == "tributary.probe"


def test_an_unknown_log_format_is_refused_at_start() -> None:
    done = _run_logging_with("xml")
    assert done.returncode != 0
    assert "TRIBUTARY_LOG_FORMAT must be text or json" in done.stderr
