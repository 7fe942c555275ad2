"""Tributary settings. Every value comes from the environment (see `.env.example`)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_float, env_int, env_list, env_str

# Lets admin and DRF generics be subscripted at run time, as the type stubs declare them.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("TRIBUTARY_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DJANGO_DEBUG", False)
DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me-in-production"
SECRET_KEY = env_str("DJANGO_SECRET_KEY", DEV_SECRET_KEY)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

# --- HTTPS and security headers ------------------------------------------------------------
# Users reach the site over HTTPS (directly or through a TLS-terminating proxy): cookies only
# over HTTPS, HSTS, and plain http redirected. Off by default because `make run` serves plain
# http on 127.0.0.1, where secure cookies would make logging in impossible.
HTTPS = env_bool("DJANGO_HTTPS", False)
if HTTPS and SECRET_KEY == DEV_SECRET_KEY:
    raise ImproperlyConfigured("DJANGO_HTTPS is on but DJANGO_SECRET_KEY is unset: set a key")
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", HTTPS)
# The container health checks and a Prometheus scrape come over plain http from inside.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)
# Behind a TLS-terminating proxy: the header it sets to "https" (e.g. HTTP_X_FORWARDED_PROTO),
# without which every request looks like plain http and is redirected forever.
_proxy_ssl_header = env_str("DJANGO_SECURE_PROXY_SSL_HEADER")
SECURE_PROXY_SSL_HEADER = (_proxy_ssl_header, "https") if _proxy_ssl_header else None
# Django's defaults, stated because the deployment relies on them.
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# The front end reads the CSRF cookie to send it back as X-CSRFToken, so it cannot be
# HttpOnly. HSTS preload is a commitment for the whole domain that only its owner can make
# (DJANGO_HSTS_PRELOAD); `check --deploy` would otherwise warn about it on every install.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
# Largest request body accepted (413 above it); bodies are JSON, so 5 MB is generous.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("TRIBUTARY_MAX_REQUEST_BYTES", 5 * 1024 * 1024)
# Password attempts per client address (POST auth/token/ and auth/session/), e.g. 20/min.
LOGIN_RATE = env_str("TRIBUTARY_LOGIN_RATE", "20/min")
if not re.fullmatch(r"\d+/(s|sec|second|m|min|minute|h|hour|d|day)", LOGIN_RATE):
    raise ImproperlyConfigured(f"TRIBUTARY_LOGIN_RATE must look like 20/min, got {LOGIN_RATE!r}")
# How many proxies in front of the web server append to X-Forwarded-For; 0 trusts no such
# header, so a client cannot pick the address the login limit counts.
NUM_PROXIES = env_int("TRIBUTARY_NUM_PROXIES", 0)
# Bearer token that GET /metrics requires; unset: /metrics is open (keep it off the Internet).
TRIBUTARY_METRICS_TOKEN = env_str("TRIBUTARY_METRICS_TOKEN")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "components",
    "flows",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "flows.api.middleware.RequestBodyLimit",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'tributary.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server, the workers and the trigger runner read while one writes;
    # IMMEDIATE transactions avoid "database is locked" on lock upgrades. 16 KiB pages (set
    # when the file is created; a no-op later): an execution row with its step records is a
    # few KiB, and at SQLite's default 4 KiB a page held one, so a batch's write was a page and
    # two system calls per message (32 ms for a batch of 500 messages against 17 ms).
    DATABASES["default"]["OPTIONS"] = {
        "init_command": (
            "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    # Tests share the database with real worker processes, so it must be a file; one per test
    # session, so that test runs side by side on one machine do not share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
else:
    # The same for a server database: one test database per session.
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# The built single-page app: `frontend/dist/assets/*` is served at /static/assets/*.
FRONTEND_DIST = BASE_DIR / "frontend" / "dist"
STATICFILES_DIRS = [FRONTEND_DIST] if FRONTEND_DIST.exists() else []
LOGIN_URL = "/admin/login/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "flows.api.pagination.Pagination",
    # The API speaks JSON only; form and multipart parsing is surface nobody uses.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_THROTTLE_RATES": {"login": LOGIN_RATE},
    "NUM_PROXIES": NUM_PROXIES,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "flows.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tributary API",
    "DESCRIPTION": "Build, publish, run and observe Kafka -> code -> REST/Bloomreach flows.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI served from our own static files: no CDN needed.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Separate request and response components, so the schema can say what a request must
    # carry (non-blank names, no read-only fields) and what a response always has.
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "flows.api.schema.add_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "ExecutionStatusEnum": "flows.choices.ExecutionStatus",
        "StepStatusEnum": "flows.choices.StepStatus",
        "FlowStatusEnum": "flows.choices.FlowStatus",
    },
}

# "text" for people reading a terminal, "json" (one object per line) for a log shipper.
LOG_FORMAT = env_str("TRIBUTARY_LOG_FORMAT", "text")
if LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured(f"TRIBUTARY_LOG_FORMAT must be text or json, got {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "config.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Redis and Celery ----------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", REDIS_URL)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "tributary")
# A step task is acknowledged only when it finished, and given back to the queue when its
# worker dies, so a crashed worker loses no batch; the delivery ledger absorbs the re-run.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Steps are long compared with dispatch; prefetching more would park batches behind a busy
# worker while another sits idle.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Must exceed the longest step, or Redis hands a running task to a second worker.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 600),
}
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery's Django fix-up closes every database connection before and after each task unless
# this is set: a reconnect per step, 0.5 ms on SQLite and 4.5 ms on PostgreSQL (a server
# process forked each time). Connections now live across tasks, recycled every 1,000 tasks,
# and config.celery drops one that is broken or older than CONN_MAX_AGE, as Django does
# around each web request.
CELERY_DB_REUSE_MAX = 1000

# --- Tributary ------------------------------------------------------------------------------
KAFKA_BOOTSTRAP_SERVERS = env_str("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
# Key for credentials at rest (Fernet, urlsafe base64 of 32 bytes). Derived from SECRET_KEY
# when unset, which is fine for a laptop and wrong for production.
TRIBUTARY_CREDENTIALS_KEY = env_str("TRIBUTARY_CREDENTIALS_KEY")
# Inputs, outputs and logs kept in step records are cut to this many bytes each.
TRIBUTARY_RECORD_MAX_BYTES = env_int("TRIBUTARY_RECORD_MAX_BYTES", 16_384)
# Seconds the trigger runner waits for a batch before dispatching it again (the ledger keeps
# the second run from sending twice).
TRIBUTARY_BATCH_TIMEOUT = env_float("TRIBUTARY_BATCH_TIMEOUT", 300.0)
# Batches of one flow being processed at once (by several workers); offsets are committed in
# order regardless. 1 keeps a partition's messages strictly in order at the destination.
TRIBUTARY_BATCHES_IN_FLIGHT = env_int("TRIBUTARY_BATCHES_IN_FLIGHT", 4)
# Chunks of a delivering step (a Bloomreach request of 50, 10 REST requests) sent at once by
# one worker.
TRIBUTARY_DELIVERY_CONCURRENCY = env_int("TRIBUTARY_DELIVERY_CONCURRENCY", 8)
# A batch's next step goes to the queue of the worker that ran its last step, which keeps the
# job in memory (flows.engine.affinity); off, every step goes through the shared queue.
TRIBUTARY_STEP_AFFINITY = env_bool("TRIBUTARY_STEP_AFFINITY", True)
TRIBUTARY_RUNNER_SYNC_SECONDS = env_float("TRIBUTARY_RUNNER_SYNC_SECONDS", 1.0)
# Prefix of every Redis key Tributary writes (several installs may share one Redis).
TRIBUTARY_REDIS_PREFIX = env_str("TRIBUTARY_REDIS_PREFIX", "tributary")
TRIBUTARY_LEDGER_TTL_SECONDS = env_int("TRIBUTARY_LEDGER_TTL_SECONDS", 7 * 24 * 3600)
TRIBUTARY_SANDBOX_CPU_SECONDS = env_float("TRIBUTARY_SANDBOX_CPU_SECONDS", 1.0)
TRIBUTARY_SANDBOX_MEMORY_MB = env_int("TRIBUTARY_SANDBOX_MEMORY_MB", 256)
TRIBUTARY_SANDBOX_WALL_SECONDS = env_float("TRIBUTARY_SANDBOX_WALL_SECONDS", 5.0)
# Execution records (with their step records) older than this many days are deleted every
# 10 minutes by the `flows.prune_executions` beat task; a flow's `retention_days` overrides it.
TRIBUTARY_EXECUTION_RETENTION_DAYS = env_int("TRIBUTARY_EXECUTION_RETENTION_DAYS", 14)
# ...and beyond this many per flow (the newest are kept), so a busy flow cannot fill the disk.
TRIBUTARY_EXECUTION_RETENTION_COUNT = env_int("TRIBUTARY_EXECUTION_RETENTION_COUNT", 1_000_000)
# Seconds between a trigger runner's reports of its partitions' consumer lag (/metrics,
# /stats/); each costs the broker a round trip per partition.
TRIBUTARY_LAG_SECONDS = env_float("TRIBUTARY_LAG_SECONDS", 10.0)
# Allocations between young garbage collections in workers and trigger runners
# (flows/engine/collector.py); 0 keeps CPython's default (700).
TRIBUTARY_GC_THRESHOLD = env_int("TRIBUTARY_GC_THRESHOLD", 50_000)
# OpenTelemetry tracing (flows.engine.tracing, docs/observability.md): on with TRIBUTARY_OTEL=1
# or when an OTLP endpoint is set; needs the `otel` extra. The OTEL_* variables configure it.
TRIBUTARY_OTEL = env_bool(
    "TRIBUTARY_OTEL",
    bool(env_str("OTEL_EXPORTER_OTLP_ENDPOINT") or env_str("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")),
)
