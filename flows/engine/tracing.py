"""Optional OpenTelemetry tracing: one trace per batch, a span per step, delivery and request.

Off unless TRIBUTARY_OTEL is on (it is when OTEL_EXPORTER_OTLP_ENDPOINT is set) and the
`otel` extra (opentelemetry-sdk, opentelemetry-exporter-otlp-proto-http) is installed; then
spans go to the OTLP/HTTP endpoint, configured by the standard OTEL_* variables. Off, every
function here is a cheap no-op. Nothing else imports opentelemetry.

A batch's trace context travels in its job as a W3C `traceparent` (job["trace"]): the trigger
runner starts the trace when it reads the batch, each step task (on any worker) continues it,
and the runner's commit ends it. So every step of a message shares the batch's trace id,
which its execution record keeps (Execution.trace_id).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.conf import settings

from components.telemetry import SpanHandle

logger = logging.getLogger(__name__)

_lock = threading.Lock()
# (pid, tracer) of this process: a forked Celery child starts its own exporter thread.
_tracer: tuple[int, Any] | None = None
_unavailable = False


class _NoSpan:
    def set_attribute(self, key: str, value: Any) -> None:
        return None


NO_SPAN = _NoSpan()


def use_provider(provider: Any) -> None:
    """Trace through this TracerProvider from now on (tests: an in-memory exporter);
    None: back to the configuration from the settings."""
    global _tracer, _unavailable
    with _lock:
        _unavailable = False
        _tracer = None if provider is None else (os.getpid(), provider.get_tracer("tributary"))


def _get_tracer() -> Any | None:
    """This process's tracer, set up on first use; None while tracing is off."""
    global _tracer, _unavailable
    current = _tracer
    if current is not None and current[0] == os.getpid():
        return current[1]
    if _unavailable or not settings.TRIBUTARY_OTEL:
        return None
    with _lock:
        if _tracer is not None and _tracer[0] == os.getpid():
            return _tracer[1]
        try:
            provider = _exporting_provider()
        except ImportError as error:
            _unavailable = True
            logger.warning(
                "tracing is on but the OpenTelemetry SDK is missing (%s): install the otel "
                "extra (pip install 'tributary[otel]'); carrying on without traces",
                error,
            )
            return None
        _tracer = (os.getpid(), provider.get_tracer("tributary"))
        return _tracer[1]


def _exporting_provider() -> Any:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over this default.
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "tributary")})
    # The sampler (OTEL_TRACES_SAMPLER) and the endpoint, headers and timeout
    # (OTEL_EXPORTER_OTLP_*) come from the environment, as in any OpenTelemetry SDK.
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def enabled() -> bool:
    return _get_tracer() is not None


def _context(parent: str | None) -> Any:
    if not parent:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator().extract({"traceparent": parent})


def _attributes(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if isinstance(v, str | bool | int | float)}


@contextmanager
def span(
    name: str,
    *,
    parent: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    start_ns: int | None = None,
) -> Iterator[SpanHandle]:
    """A span around the block, the current one for spans started inside it.

    `parent` is a traceparent (a job's "trace"): the span continues that trace, even in
    another process. Without it the span is a child of the current span, if any, or the
    root of a new trace. An exception escaping the block is recorded on the span.
    """
    tracer = _get_tracer()
    if tracer is None:
        yield NO_SPAN
        return
    with tracer.start_as_current_span(
        name,
        context=_context(parent),
        attributes=_attributes(attributes or {}),
        start_time=start_ns,
    ) as current:
        yield current


def record(
    name: str,
    start_ns: int,
    end_ns: int,
    *,
    attributes: Mapping[str, Any] | None = None,
) -> None:
    """A span for work already done (its times measured), child of the current span."""
    tracer = _get_tracer()
    if tracer is None:
        return
    done = tracer.start_span(name, attributes=_attributes(attributes or {}), start_time=start_ns)
    done.end(end_time=end_ns)


def traceparent() -> str | None:
    """The W3C traceparent of the current span, to carry to another thread or process."""
    if _get_tracer() is None:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier.get("traceparent")


def trace_id(parent: str | None) -> str:
    """The 32-hex-digit trace id of a traceparent ("" for None or a malformed one)."""
    parts = (parent or "").split("-")
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else ""
