# syntax=docker/dockerfile:1
# The Tributary image: web server, Celery worker and trigger runner all run from it; the
# command picks the role (see docker-compose.yml). Build: docker build -t tributary .

# --- Front end ------------------------------------------------------------------------------
# Vite writes frontend/dist/, which Django serves (index.html as is, dist/assets through
# collectstatic).
FROM node:20-slim AS frontend
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build

# --- App ------------------------------------------------------------------------------------
FROM python:3.11-slim AS app

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    UV_NO_CACHE=1 \
    DJANGO_SETTINGS_MODULE=config.settings \
    TRIBUTARY_VAR_DIR=/app/var

WORKDIR /app

# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml ./
# The otel extra: tracing is off until OTEL_EXPORTER_OTLP_ENDPOINT is set.
RUN pip install uv && uv pip install --system -r pyproject.toml --extra otel

# The code, listed explicitly so local state (.venv, var/, staticfiles/, node_modules, .git)
# never ends up in the image.
COPY manage.py ./
COPY config/ config/
COPY components/ components/
COPY flows/ flows/
COPY frontend/placeholder/ frontend/placeholder/
COPY --from=frontend /src/frontend/dist/ frontend/dist/

# Static files are collected at build time (into /app/staticfiles, served by WhiteNoise);
# the settings need no database or secret for it. Byte-compile the code while we can write.
RUN python manage.py collectstatic --noinput -v 0 \
    && python -m compileall -q config components flows

# Run as an unprivileged user; only var/ (TRIBUTARY_VAR_DIR) is writable by it.
RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home tributary \
    && mkdir -p /app/var \
    && chown tributary:tributary /app/var
USER tributary

EXPOSE 8000
CMD ["gunicorn", "config.wsgi", "--bind=0.0.0.0:8000", "--workers=2", \
     "--worker-tmp-dir=/dev/shm", "--access-logfile=-"]
