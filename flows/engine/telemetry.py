"""The platform's side of components.telemetry: components' counts and spans, routed to the
step tally, the sandbox kill counter and tracing. Installed once per process (FlowsConfig)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

from components import telemetry
from components.telemetry import SpanHandle
from flows.engine import tally, tracing

logger = logging.getLogger(__name__)


class EngineReporter:
    def count(self, name: str, amount: int, labels: Mapping[str, str]) -> None:
        if name == "http_retry":
            step = tally.current()
            if step is not None:
                step.counts.retried("request", amount)
        elif name == "sandbox_kill":
            tally.record_kill(labels.get("reason", "unknown"))
        else:
            logger.debug("unknown telemetry count %r", name)

    def span(self, name: str, attributes: Mapping[str, Any]) -> AbstractContextManager[SpanHandle]:
        return tracing.span(name, attributes=attributes)


def install() -> None:
    telemetry.install(EngineReporter())
