"""Which librdkafka errors need a person, and which a retry of the same message cannot fix."""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaError

from components.base import StepError

# Consumer errors that do not go away by waiting: surfaced to the runner (which retries with
# backoff) so the user sees them. Everything else that is not fatal is librdkafka reporting
# a condition it recovers from by itself (a broker restarting, a coordinator moving).
ATTENTION_ERRORS = frozenset(
    {
        KafkaError._AUTHENTICATION,
        KafkaError._SSL,
        KafkaError.SASL_AUTHENTICATION_FAILED,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.GROUP_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._UNKNOWN_TOPIC,
        KafkaError.TOPIC_EXCEPTION,
    }
)
# Delivery failures that a retry of the same message cannot fix.
PERMANENT_DELIVERY_ERRORS = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.INVALID_MSG_SIZE,
        KafkaError.INVALID_RECORD,
    }
)


def delivery_error(error: Any) -> StepError:
    """The step error for a failed produce: retryable unless the message itself is at fault."""
    if not isinstance(error, KafkaError):
        return StepError(f"Kafka delivery failed: {error}", retryable=True)
    return StepError(
        f"Kafka delivery failed: {error.str()}",
        retryable=error.code() not in PERMANENT_DELIVERY_ERRORS,
        details={"code": error.name()},
    )
