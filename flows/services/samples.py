"""Sample messages for testing transform code: the latest records of a flow's topic."""

from __future__ import annotations

from typing import Any

from components.base import ConfigError, StepError
from components.validation import with_defaults
from flows.engine.instances import load_credential, runtime_settings
from flows.errors import ServiceError
from flows.graph import validate_graph
from flows.models import Flow


def fetch_trigger_samples(flow: Flow, count: int) -> list[dict[str, Any]]:
    """The last `count` messages of the draft's Kafka trigger topic, read without committing."""
    plan, errors = validate_graph(flow.graph, require_complete=False)
    if plan is None:
        reason = str(errors[0]) if errors else "add a Kafka consumer trigger first"
        raise ServiceError(f"cannot fetch samples: {reason}")
    trigger = plan.trigger
    if trigger.component != "kafka":
        raise ServiceError("samples can only be fetched from a Kafka consumer trigger")
    from components.kafka.samples import fetch_samples

    config = with_defaults(trigger.descriptor.config_schema, trigger.config)
    credential = load_credential(trigger, flow.workspace_id)
    try:
        messages = fetch_samples(config, credential, runtime_settings(), n=count, timeout=5.0)
    except (ConfigError, StepError) as error:
        raise ServiceError(f"cannot fetch samples: {error}") from None
    return [dict(m) for m in messages]
