"""What components tell the platform about their work, without depending on it.

Components stay plain Python: they call `count()` and `span()` here, which cost nothing until
the platform installs a `Reporter` (flows.engine.telemetry does, in every Django process).
A component harness without the platform gets the no-op defaults.

Counted events (name, labels):
- "http_retry": an HTTP request tried again in place after a transient failure.
- "sandbox_kill" (reason): a code sandbox process killed or found dead.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol


class SpanHandle(Protocol):
    def set_attribute(self, key: str, value: Any) -> None: ...


class Reporter(Protocol):
    def count(self, name: str, amount: int, labels: Mapping[str, str]) -> None: ...

    def span(
        self, name: str, attributes: Mapping[str, Any]
    ) -> AbstractContextManager[SpanHandle]: ...


class _NoSpan:
    def set_attribute(self, key: str, value: Any) -> None:
        return None


_NO_SPAN = _NoSpan()
_reporter: Reporter | None = None


def install(reporter: Reporter | None) -> None:
    """Route counts and spans to `reporter` (None: back to doing nothing)."""
    global _reporter
    _reporter = reporter


def count(name: str, amount: int = 1, **labels: str) -> None:
    """Count an event; never raises (a failing reporter must not fail the message)."""
    if _reporter is not None:
        _reporter.count(name, amount, labels)


def span(name: str, **attributes: Any) -> AbstractContextManager[SpanHandle]:
    """A tracing span around a piece of work (a request), or a no-op without a reporter."""
    if _reporter is None:
        return nullcontext(_NO_SPAN)
    return _reporter.span(name, attributes)
