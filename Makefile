# Everyday commands. `make run` and `make test` set everything up first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export DJANGO_SETTINGS_MODULE := config.settings

.PHONY: setup run test lint typecheck pytest pytest-postgres migrate clean test-tools frontend frontend-test bench

setup: $(VENV)/.installed frontend migrate

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv
	$(VENV)/bin/uv pip install --quiet --python $(PY) -r pyproject.toml --extra dev
	touch $@

# The single-page app, built with Vite into frontend/dist (served by Django).
FRONTEND_SOURCES := $(shell find frontend/src frontend/index.html frontend/package.json frontend/package-lock.json frontend/vite.config.ts -type f 2>/dev/null)
frontend: $(if $(wildcard frontend/package.json),frontend/dist/index.html,)
frontend/dist/index.html: $(FRONTEND_SOURCES)
	@command -v npm >/dev/null || { echo "npm (Node.js 20+) is needed to build the web UI"; exit 1; }
	cd frontend && npm ci --no-audit --no-fund --loglevel=error && npm run build
	@touch $@

migrate: $(VENV)/.installed
	$(PY) manage.py migrate --noinput -v 0
	$(PY) manage.py collectstatic --noinput -v 0

run: setup
	$(PY) -m config.supervisor

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy .

# Three lanes at once, each pytest session with its own database, Redis key prefix, Celery
# queue and broker: the main suite on SQLite in front; beside it the fault-injection suite
# (it mostly waits: outages, slow answers, group joins) and the PostgreSQL pass. One after the
# other, the last two took longer than the main suite (3 + 8 minutes against 9 on a slow
# 2-core machine). Their output is shown when all are done. The fault lane stays light: with
# the main suite's two longest tests moved into it (the API contract check, the bench at tiny
# N), three lanes competed for two cores and two timing tests of the main suite failed (a
# sandbox's CPU limit reached after its wall-clock one; requests bunched on arrival).
FAULTS_LOG := var/test-logs/faults-lane.log
POSTGRES_LOG := var/test-logs/postgres-lane.log
pytest: setup
	@mkdir -p var/test-logs
	@$(PY) -m pytest -p no:cacheprovider $(SLOW_TESTS) $(PYTEST_ARGS) > $(FAULTS_LOG) 2>&1 & faults=$$!; \
	{ $(POSTGRES_PASS); } > $(POSTGRES_LOG) 2>&1 & postgres=$$!; \
	$(PY) -m pytest $(addprefix --ignore=,$(SLOW_TESTS)) $(PYTEST_ARGS); main=$$?; \
	wait $$faults; faults=$$?; wait $$postgres; postgres=$$?; \
	echo "----- fault injection (SQLite) -----"; cat $(FAULTS_LOG); \
	echo "----- PostgreSQL -----"; cat $(POSTGRES_LOG); \
	echo "main lane exit $$main, faults lane exit $$faults, PostgreSQL lane exit $$postgres"; \
	test $$main = 0 && test $$faults = 0 && test $$postgres = 0
SLOW_TESTS := tests/faults

# The suite again on PostgreSQL (the production database) when a server answers at
# TEST_POSTGRES_URL; on a laptop without one this step says so and passes. Every test that
# uses the database runs in both passes. Left out: the tests that never touch it
# (components, sandbox attacks, deployment files; pytest-django refuses them a connection,
# so they would run identically twice) and the benchmark smoke test, which runs once.
TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test
DB_FREE_TESTS := tests/components tests/test_services.py tests/test_deploy.py \
	tests/security/test_attacks.py tests/security/test_inner_walls.py tests/security/test_policy.py \
	tests/test_bench.py
POSTGRES_PASS = if $(PY) -c 'import psycopg, sys; psycopg.connect(sys.argv[1], connect_timeout=2).close()' \
	    '$(TEST_POSTGRES_URL)' 2>/dev/null; then \
	  DATABASE_URL='$(TEST_POSTGRES_URL)' $(PY) -m pytest -p no:cacheprovider \
	    $(addprefix --ignore=,$(DB_FREE_TESTS)) $(PYTEST_ARGS); \
	else echo "no PostgreSQL at $(TEST_POSTGRES_URL): skipping the PostgreSQL run"; fi
pytest-postgres: setup
	@$(POSTGRES_PASS)

# Tools the tests use from the system, installed from Debian's packages where apt is there
# and we are root: Chromium for the browser tests (driven by Playwright, never downloaded by
# it) and the compose checker. Elsewhere the tests that need them are skipped.
SYSTEM_TOOLS := $(if $(wildcard /usr/bin/chromium),,chromium) \
	$(if $(shell command -v docker-compose 2>/dev/null),,docker-compose)
test-tools:
	@if [ -n "$(strip $(SYSTEM_TOOLS))" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing $(strip $(SYSTEM_TOOLS)) from Debian's packages"; \
	    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -q --no-install-recommends $(SYSTEM_TOOLS) >/dev/null; \
	  else echo "missing $(strip $(SYSTEM_TOOLS)): the tests needing them will be skipped"; fi; \
	fi

frontend-test: frontend
	$(if $(wildcard frontend/package.json),cd frontend && npm test,@echo "no front end yet")

test: setup test-tools lint typecheck frontend-test pytest

# Throughput, latency and cost of the platform against a no-platform ceiling; see
# bench/README.md. `make bench N=5000`; WORKERS, BENCH_WORKERS=1,2, BENCH_ROUNDS, SCENARIOS, STEADY_RATE,
# STEADY_SECONDS and PROFILE=1 (TRIBUTARY_PROFILE=1 in every Tributary process) pass through.
N ?= 100000
WORKERS ?= 2
bench: $(VENV)/.installed
	N=$(N) WORKERS=$(WORKERS) $(PY) -m bench.run

clean:
	rm -rf $(VENV) var staticfiles .mypy_cache .ruff_cache .pytest_cache
