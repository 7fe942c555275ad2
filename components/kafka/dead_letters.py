"""Producing failed messages to a dead-letter topic on the trigger's own cluster.

The dead letter's value is the message as it reached the failing step (JSON), its key the
original record's key, and headers name the flow, the step, the error and where the record
came from, so a consumer of the dead-letter topic can route, inspect or replay it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka import Message as KafkaMessage

from components.base import StepError
from components.kafka.client_config import (
    create_client,
    kafka_reason,
    producer_config,
    with_properties,
)

HEADER_PREFIX = "tributary-"
MAX_ERROR_HEADER_CHARS = 1000


@dataclass(frozen=True)
class DeadLetter:
    key: bytes | None
    value: bytes
    headers: dict[str, str]

    def kafka_headers(self) -> list[tuple[str, str | bytes | None]]:
        return [(HEADER_PREFIX + name, value.encode()) for name, value in self.headers.items()]


class DeadLetterProducer:
    """An idempotent, acks=all producer for one dead-letter topic; `send` waits for the acks."""

    def __init__(
        self,
        trigger_config: Mapping[str, Any],
        credential: Mapping[str, Any] | None,
        settings: Mapping[str, Any],
        *,
        topic: str,
        client_id: str,
    ) -> None:
        self.topic = topic
        self.client_config = producer_config(
            trigger_config, credential, settings, client_id=client_id
        )
        self.timeout_seconds = int(self.client_config.properties["message.timeout.ms"]) / 1000
        self._producer: Producer | None = None

    def send(self, letters: list[DeadLetter]) -> None:
        """Produce every letter; raise a retryable StepError unless all were acknowledged."""
        if not letters:
            return
        producer = self._client()
        failures: list[str] = []

        def report(error: KafkaError | None, _: KafkaMessage) -> None:
            if error is not None:
                failures.append(error.str())

        try:
            for letter in letters:
                producer.produce(
                    self.topic,
                    value=letter.value,
                    key=letter.key,
                    headers=letter.kafka_headers(),
                    on_delivery=report,
                )
                producer.poll(0)
        except (KafkaException, BufferError) as error:
            failures.append(kafka_reason(error))
        remaining = producer.flush(self.timeout_seconds + 5)
        if remaining:
            failures.append(f"{remaining} dead letters not acknowledged in time")
        if failures:
            raise StepError(
                f"dead-letter topic {self.topic!r}: {failures[0]}",
                retryable=True,
                details={"failures": len(failures)},
            )

    def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.flush(self.timeout_seconds)

    def _client(self) -> Producer:
        if self._producer is None:
            self._producer = create_client(Producer, with_properties(self.client_config))
        return self._producer


def error_header(message: str) -> str:
    return message[:MAX_ERROR_HEADER_CHARS]
