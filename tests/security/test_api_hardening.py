"""API hardening: login rate limit, request size and page size limits, security headers,
and production settings that pass `manage.py check --deploy`."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client, override_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from flows.engine import redis as engine_redis
from flows.engine.redis import get_redis, key
from flows.models import Flow, Workspace
from tests.security.test_api_permissions import clear_login_throttle

ROOT = Path(__file__).resolve().parents[2]
LOGIN_PATHS = ["/api/v1/auth/token/", "/api/v1/auth/session/"]


@pytest.fixture
def alice(settings: Any, db: Any) -> User:
    # Twenty password checks per test: MD5 takes microseconds where PBKDF2 takes 0.2 s.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return User.objects.create_user("alice", password="correct horse battery")


@pytest.fixture(autouse=True)
def _fresh_login_throttle() -> Iterator[None]:
    clear_login_throttle()
    yield
    clear_login_throttle()


def attempts(client: APIClient, path: str, count: int, **extra: str) -> list[Any]:
    return [
        client.post(path, {"username": "alice", "password": "wrong"}, format="json", **extra)
        for _ in range(count)
    ]


@pytest.mark.parametrize("path", LOGIN_PATHS)
def test_the_21st_login_attempt_within_a_minute_is_refused(alice: User, path: str) -> None:
    client = APIClient(REMOTE_ADDR="127.0.0.21")
    first = attempts(client, path, 20)
    assert [r.status_code for r in first] == [400] * 20
    refused = attempts(client, path, 1)[0]
    assert refused.status_code == 429
    assert refused["Content-Type"] == "application/json"
    payload = refused.json()
    assert "throttled" in payload["error"].lower()
    assert payload["details"] == {}
    assert 1 <= int(refused["Retry-After"]) <= 60
    # The right password does not get through either: that is the point.
    right = client.post(path, {"username": "alice", "password": "correct horse battery"})
    assert right.status_code == 429
    # Another address is not affected.
    other = APIClient(REMOTE_ADDR="127.0.0.22")
    assert attempts(other, path, 1)[0].status_code == 400


def test_the_limit_is_counted_in_redis_for_every_web_process(alice: User) -> None:
    """The counter lives in the shared Redis under this install's prefix, so a second gunicorn
    worker or machine sees the same count (a per-process cache would multiply the limit)."""
    attempts(APIClient(REMOTE_ADDR="127.0.0.23"), LOGIN_PATHS[0], 3)
    counters = list(get_redis().scan_iter(match=key("throttle", "*127.0.0.23*")))
    assert len(counters) == 1
    assert int(get_redis().get(counters[0]) or 0) == 3
    assert 0 < int(get_redis().ttl(counters[0])) <= 60


def test_token_holders_and_forged_forwarded_for_are_counted_too(alice: User) -> None:
    """A valid API token must not unlock unlimited guesses at other accounts, and a client
    cannot pick a fresh address per attempt through X-Forwarded-For (no proxy is trusted)."""
    mallory = User.objects.create_user("mallory", password="mallory password 1")
    client = APIClient(REMOTE_ADDR="127.0.0.24")
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=mallory).key}")
    codes = [
        client.post(
            "/api/v1/auth/session/",
            {"username": "alice", "password": f"guess {n}"},
            format="json",
            HTTP_X_FORWARDED_FOR=f"10.0.0.{n}",
        ).status_code
        for n in range(21)
    ]
    assert codes == [400] * 20 + [429]


@pytest.fixture
def redis_down() -> Iterator[None]:
    """Point the engine's Redis client at a closed loopback port, then back."""
    previous = settings.REDIS_URL
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    engine_redis._clients.clear()
    try:
        yield
    finally:
        settings.REDIS_URL = previous
        engine_redis._clients.clear()


def test_without_redis_logins_still_work_and_are_limited_per_process(
    alice: User, redis_down: None
) -> None:
    from django.core.cache import cache

    cache.clear()
    client = APIClient(REMOTE_ADDR="127.0.0.25")
    ok = client.post(
        LOGIN_PATHS[0], {"username": "alice", "password": "correct horse battery"}, format="json"
    )
    assert ok.status_code == 200
    codes = [r.status_code for r in attempts(client, LOGIN_PATHS[0], 20)]
    assert codes == [400] * 19 + [429]
    cache.clear()


def test_a_401_names_the_authentication_scheme() -> None:
    response = APIClient().get("/api/v1/flows/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["error"]


def test_an_oversized_body_is_a_413_json_error(api: APIClient) -> None:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert limit == 5 * 1024 * 1024  # the default of TRIBUTARY_MAX_REQUEST_BYTES
    body = '{"name": "big", "graph": {"nodes": [], "edges": [], "pad": "' + "x" * limit + '"}}'
    for path in ["/api/v1/flows/", "/api/v1/auth/token/", "/api/v1/code/run/", "/admin/login/"]:
        response = api.post(path, body, content_type="application/json")
        assert response.status_code == 413, (path, response.status_code)
        assert response["Content-Type"] == "application/json"
        assert "too large" in response.json()["error"]
    assert not Flow.objects.filter(name="big").exists()


def test_the_body_limit_is_configurable_and_inclusive(api: APIClient) -> None:
    body = '{"name": "' + "n" * 80 + '"}'
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=len(body)):
        assert api.post("/api/v1/flows/", body, content_type="application/json").status_code == 201
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=len(body) - 1):
        response = api.post("/api/v1/flows/", body, content_type="application/json")
        assert response.status_code == 413
        assert response.json()["details"] == {"size": len(body), "limit": len(body) - 1}


def test_the_api_takes_json_only(api: APIClient) -> None:
    form = api.post("/api/v1/flows/", {"name": "form"}, format="multipart")
    assert form.status_code == 415
    assert "Unsupported media type" in form.json()["error"]
    garbled = api.post("/api/v1/flows/", "{nope", content_type="application/json")
    assert garbled.status_code == 400
    assert "JSON parse error" in garbled.json()["error"]


def test_page_sizes_are_capped(api: APIClient, workspace: Workspace) -> None:
    Flow.objects.bulk_create(
        [Flow(workspace=workspace, name=f"flow {n}", graph={}) for n in range(520)]
    )
    everything = api.get("/api/v1/flows/", {"page_size": 100_000}).json()
    assert everything["count"] == 520
    assert len(everything["results"]) == 500
    assert everything["next"] is not None
    assert len(api.get("/api/v1/flows/").json()["results"]) == 50
    for bad in ("lots", "0", "-5", "1.5", ""):
        refused = api.get("/api/v1/flows/", {"page_size": bad})
        assert refused.status_code == 400, bad
        assert refused.json()["details"] == {"page_size": "must be a whole number from 1 to 500"}
    past_the_end = api.get("/api/v1/flows/", {"page": 99})
    assert past_the_end.status_code == 404
    assert "Invalid page" in past_the_end.json()["error"]


def test_security_headers_are_sent(api: APIClient) -> None:
    response = api.get("/api/v1/flows/")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    page = Client().get("/")
    assert page["X-Frame-Options"] == "DENY"


def manage(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """Run manage.py in a fresh process with only the given Django/Tributary settings."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "TRIBUTARY_", "DATABASE_URL"))
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


PRODUCTION = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
    "DJANGO_HTTPS": "true",
    "DJANGO_ALLOWED_HOSTS": "example.com",
}

SHOW = (
    "from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
    "s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SECURE_PROXY_SSL_HEADER)"
)


def test_production_settings_pass_the_deploy_check() -> None:
    result = manage(["check", "--deploy", "--fail-level", "WARNING"], **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    shown = manage(["shell", "-v", "0", "-c", SHOW], **PRODUCTION)
    assert shown.stdout.split() == ["True", "True", "True", "31536000", "None"], shown.stderr
    behind_proxy = {**PRODUCTION, "DJANGO_SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO"}
    proxied = manage(["shell", "-v", "0", "-c", SHOW], **behind_proxy)
    assert "('HTTP_X_FORWARDED_PROTO', 'https')" in proxied.stdout, proxied.stderr


def test_plain_http_stays_usable_without_the_https_flag() -> None:
    """`make run` serves http://127.0.0.1: secure cookies there would break logging in."""
    shown = manage(["shell", "-v", "0", "-c", SHOW], DJANGO_DEBUG="false")
    assert shown.stdout.split() == ["False", "False", "False", "0", "None"], shown.stderr
    # ...and the deploy check says so, instead of passing a plain-http setup.
    check = manage(["check", "--deploy", "--fail-level", "WARNING"], DJANGO_DEBUG="false")
    assert check.returncode != 0
    assert "SESSION_COOKIE_SECURE" in check.stderr + check.stdout


def test_https_without_a_secret_key_refuses_to_start() -> None:
    result = manage(["check"], DJANGO_HTTPS="true")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is unset" in result.stderr


def test_a_malformed_login_rate_refuses_to_start() -> None:
    result = manage(["check"], TRIBUTARY_LOGIN_RATE="twenty a minute")
    assert result.returncode != 0
    assert "TRIBUTARY_LOGIN_RATE must look like 20/min" in result.stderr
