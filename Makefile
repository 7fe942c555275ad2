# Everyday commands. `make run` and `make test` set everything up first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export DJANGO_SETTINGS_MODULE := config.settings

.PHONY: setup run test lint typecheck pytest pytest-postgres migrate clean test-tools

setup: $(VENV)/.installed migrate

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv
	$(VENV)/bin/uv pip install --quiet --python $(PY) -r pyproject.toml --extra dev
	touch $@

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

pytest: setup
	$(PY) -m pytest $(PYTEST_ARGS)

# The same tests on PostgreSQL (the production database) when a server answers at
# TEST_POSTGRES_URL; on a laptop without one this step says so and passes.
TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test
pytest-postgres: setup
	@if $(PY) -c 'import psycopg, sys; psycopg.connect(sys.argv[1], connect_timeout=2).close()' \
	    '$(TEST_POSTGRES_URL)' 2>/dev/null; then \
	  DATABASE_URL='$(TEST_POSTGRES_URL)' $(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS); \
	else echo "no PostgreSQL at $(TEST_POSTGRES_URL): skipping the PostgreSQL run"; fi

# Tools the tests use from the system: the compose checker (Debian's docker-compose), where
# apt is available and we are root; elsewhere those tests are skipped.
test-tools:
	@command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -q --no-install-recommends docker-compose >/dev/null; } ; } || \
	  echo "docker-compose unavailable: compose checks will be skipped"

test: setup test-tools lint typecheck pytest pytest-postgres

clean:
	rm -rf $(VENV) var staticfiles .mypy_cache .ruff_cache .pytest_cache
