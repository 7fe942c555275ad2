"""The production deployment files: docker-compose.yml, Dockerfile and .env.example.

Needs no database and no Docker engine. `docker compose config` (or docker-compose 1.29's)
validates the compose file when a compose implementation is installed; the structural
promises are checked with PyYAML either way.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
SETTINGS = ROOT / "config" / "settings.py"
DOCKERFILE = ROOT / "Dockerfile"

APP_SERVICES = ("web", "worker", "triggers")
INFRA_SERVICES = ("kafka", "postgres", "redis")
SCALED_SERVICES = ("worker", "triggers")
REQUIRED_VARIABLES = ("DJANGO_SECRET_KEY", "TRIBUTARY_CREDENTIALS_KEY", "POSTGRES_PASSWORD")

ENV_READ = re.compile(r"""\benv_(?:str|int|float|bool|list)\(\s*["']([A-Z][A-Z0-9_]*)["']""")
ENV_EXAMPLE_ENTRY = re.compile(r"^\s*#?\s*([A-Z][A-Z0-9_]*)=", re.MULTILINE)


def compose_command() -> list[str] | None:
    """`docker compose` when the plugin answers, else a `docker-compose` binary, else None."""
    if shutil.which("docker"):
        probe = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, check=False, timeout=30
        )
        if probe.returncode == 0:
            return ["docker", "compose"]
    binary = shutil.which("docker-compose")
    return [binary] if binary else None


def dummy_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """An environment with the required variables set and a stray .env kept out of play."""
    env = {key: value for key, value in os.environ.items() if key not in REQUIRED_VARIABLES}
    env.update(
        {
            "DJANGO_SECRET_KEY": "test-secret-key",
            "TRIBUTARY_CREDENTIALS_KEY": "dGVzdC1jcmVkZW50aWFscy1rZXktMzItYnl0ZXMhISE=",
            "POSTGRES_PASSWORD": "test-password",
            "COMPOSE_PROJECT_NAME": "tributary-test",
        }
    )
    env.update(overrides)
    return env


def run_compose(
    command: list[str], tmp_path: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    # An empty --env-file keeps a developer's own .env from changing the outcome.
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("", encoding="utf-8")
    return subprocess.run(
        [*command, "-f", str(COMPOSE_FILE), "--env-file", str(empty_env_file), "config", "-q"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
        timeout=120,
    )


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict), "docker-compose.yml must be a mapping"
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result = compose.get("services")
    assert isinstance(result, dict), "docker-compose.yml has no services"
    return result


def settings_env_names() -> set[str]:
    names = set(ENV_READ.findall(SETTINGS.read_text(encoding="utf-8")))
    assert names, "found no env_*() reads in config/settings.py; did the helpers change?"
    return names


def test_compose_config_is_valid(tmp_path: Path) -> None:
    command = compose_command()
    if command is None:
        pytest.skip("no compose implementation (docker compose plugin or docker-compose)")
    result = run_compose(command, tmp_path, dummy_env(tmp_path))
    assert result.returncode == 0, f"{' '.join(command)} config failed:\n{result.stderr}"


def test_compose_config_refuses_to_run_without_the_secrets(tmp_path: Path) -> None:
    command = compose_command()
    if command is None:
        pytest.skip("no compose implementation (docker compose plugin or docker-compose)")
    env = dummy_env(tmp_path)
    del env["DJANGO_SECRET_KEY"]
    result = run_compose(command, tmp_path, env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_compose_has_no_version_key(compose: dict[str, Any]) -> None:
    # Compose v2 warns that `version` is obsolete; docker-compose 1.29 needs it absent to
    # accept the compose-spec format (depends_on conditions).
    assert "version" not in compose


def test_every_service_exists(services: dict[str, dict[str, Any]]) -> None:
    missing = {*INFRA_SERVICES, *APP_SERVICES} - set(services)
    assert not missing, f"missing services: {sorted(missing)}"


@pytest.mark.parametrize("name", [*APP_SERVICES, *INFRA_SERVICES])
def test_long_running_services_restart(services: dict[str, dict[str, Any]], name: str) -> None:
    assert services[name].get("restart") in {"unless-stopped", "always"}


@pytest.mark.parametrize("name", INFRA_SERVICES)
def test_infrastructure_has_healthchecks(services: dict[str, dict[str, Any]], name: str) -> None:
    healthcheck = services[name].get("healthcheck")
    assert isinstance(healthcheck, dict) and healthcheck.get("test"), f"{name}: no healthcheck"


def test_web_healthcheck_hits_healthz(services: dict[str, dict[str, Any]]) -> None:
    test = services["web"].get("healthcheck", {}).get("test")
    assert test, "web: no healthcheck"
    assert "/healthz" in " ".join(test if isinstance(test, list) else [test])


def test_kafka_runs_kraft_single_node(services: dict[str, dict[str, Any]]) -> None:
    kafka = services["kafka"]
    assert kafka["image"] == "apache/kafka:3.9.0"
    environment = kafka["environment"]
    assert set(str(environment["KAFKA_PROCESS_ROLES"]).split(",")) == {"broker", "controller"}
    assert "PLAINTEXT://kafka:9092" in environment["KAFKA_ADVERTISED_LISTENERS"]
    assert str(environment["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"]) == "1"


def test_stateful_services_keep_their_data(compose: dict[str, Any]) -> None:
    services = compose["services"]
    declared = set(compose.get("volumes") or {})
    for name in INFRA_SERVICES:
        named = {str(volume).split(":", 1)[0] for volume in services[name].get("volumes", [])}
        assert named & declared, f"{name}: no named volume"
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    assert "appendonly" in " ".join(services["redis"]["command"])


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_start_after_migrations(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    migrate = services.get("migrate")
    assert migrate is not None, "no migrate service"
    assert "migrate" in " ".join(migrate["command"])
    assert migrate.get("restart", "no") == "no", "a one-shot must not be restarted"
    depends_on = services[name].get("depends_on")
    assert isinstance(depends_on, dict), f"{name}: depends_on must use conditions"
    assert depends_on["migrate"]["condition"] == "service_completed_successfully"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_app_commands(services: dict[str, dict[str, Any]]) -> None:
    def command(name: str) -> str:
        value = services[name]["command"]
        return " ".join(value) if isinstance(value, list) else str(value)

    assert "gunicorn" in command("web") and "config.wsgi" in command("web")
    assert "celery -A config worker" in command("worker")
    assert "run_triggers" in command("triggers")


@pytest.mark.parametrize("name", SCALED_SERVICES)
def test_scaled_services_can_scale(services: dict[str, dict[str, Any]], name: str) -> None:
    service = services[name]
    assert "container_name" not in service, f"{name}: container_name prevents --scale"
    assert not service.get("ports"), f"{name}: a fixed host port prevents --scale"


@pytest.mark.parametrize("name", [*APP_SERVICES, "migrate"])
def test_app_environment(services: dict[str, dict[str, Any]], name: str) -> None:
    environment = services[name]["environment"]
    assert isinstance(environment, dict)
    assert str(environment["DATABASE_URL"]).startswith("postgres://")
    assert "@postgres:5432/" in environment["DATABASE_URL"]
    assert environment["REDIS_URL"].startswith("redis://redis:")
    assert "kafka:9092" in environment["KAFKA_BOOTSTRAP_SERVERS"]
    for variable in ("DJANGO_SECRET_KEY", "TRIBUTARY_CREDENTIALS_KEY"):
        assert f"${{{variable}:?" in environment[variable], f"{variable} must be required"
    assert "DJANGO_ALLOWED_HOSTS" in environment["DJANGO_ALLOWED_HOSTS"]
    # Every setting reaches the container: set here or passed through from .env / the shell.
    missing = settings_env_names() - set(environment)
    assert not missing, f"{name}: settings not passed to the container: {sorted(missing)}"


def test_env_example_lists_every_setting() -> None:
    listed = set(ENV_EXAMPLE_ENTRY.findall(ENV_EXAMPLE.read_text(encoding="utf-8")))
    missing = settings_env_names() - listed
    assert not missing, f".env.example lacks: {sorted(missing)}"


def test_env_example_lists_every_variable_compose_interpolates() -> None:
    listed = set(ENV_EXAMPLE_ENTRY.findall(ENV_EXAMPLE.read_text(encoding="utf-8")))
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", COMPOSE_FILE.read_text(encoding="utf-8")))
    missing = used - listed
    assert not missing, f".env.example lacks compose variables: {sorted(missing)}"


def test_env_example_leaves_the_secrets_empty() -> None:
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    for variable in REQUIRED_VARIABLES:
        assert re.search(rf"^{variable}=$", text, re.MULTILINE), f"{variable} must be empty"


def test_dockerfile_shape() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    active = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert re.search(r"^FROM python:3\.11-slim\b", active, re.MULTILINE)
    assert "uv pip install --system -r pyproject.toml" in active
    assert "collectstatic" in active
    assert re.search(r"^USER (?!root\b)\S+", active, re.MULTILINE), "must run as non-root"
    assert re.search(r"^EXPOSE 8000\b", active, re.MULTILINE)
    # The front-end stage is there to enable, and stays off until frontend/package.json exists.
    frontend_enabled = "FROM node:20" in active
    assert "FROM node:20" in text
    assert frontend_enabled == (ROOT / "frontend" / "package.json").exists()
