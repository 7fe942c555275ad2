"""The component contract: a descriptor plus one class that processes messages.

Components are plain Python (they never import Django) so that each can be exercised with a
small harness. The engine hands an action a batch of messages and gets back one `Outcome` per
input message: a list of output bodies (empty = filtered, one = mapped, several = split) or an
error that says whether retrying could help.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypedDict

if TYPE_CHECKING:
    from components.ratelimit import RateLimiter

JSON = Any
ComponentKind = Literal["trigger", "action"]


class Message(TypedDict):
    """What flows between steps. `meta` carries the Kafka coordinates of the trigger message."""

    id: str
    body: JSON
    headers: dict[str, str]
    meta: dict[str, Any]


@dataclass(frozen=True)
class Descriptor:
    name: str
    kind: ComponentKind
    title: str
    description: str
    config_schema: dict[str, Any]
    credential_type: str | None = None
    # JSON Schema of the credential's fields; properties marked "secret": true are write-only.
    credential_schema: dict[str, Any] | None = None
    sample_config: dict[str, Any] = field(default_factory=dict)
    # True for steps that send data out of the system: the engine keeps a delivery ledger for
    # them so a retried batch does not send again what already went out.
    delivers: bool = False
    # For delivering steps: how many messages the engine hands over at a time, recording each
    # chunk in the ledger as soon as it returns. A crash then re-sends at most one chunk.
    delivery_chunk: int = 50
    # True for steps that only hand each message on as JSON (the code step, to its sandbox):
    # a trigger's message may then reach them with its body still encoded, an orjson.Fragment
    # they never read (flows.engine.jobs.BODY_ENCODED).
    passes_bodies_through: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "title": self.title,
            "description": self.description,
            "config_schema": self.config_schema,
            "credential_type": self.credential_type,
            "credential_schema": self.credential_schema,
            "sample_config": self.sample_config,
            "delivers": self.delivers,
        }


class StepError(Exception):
    """A failure of one message in one step, with a user-facing message.

    `retryable` says whether trying again later could succeed (timeouts, 429, 5xx) as opposed
    to a permanent problem with the message or the configuration.
    """

    def __init__(
        self, message: str, *, retryable: bool = False, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.details = details or {}

    def as_dict(self) -> dict[str, Any]:
        return {"message": self.message, "retryable": self.retryable, "details": self.details}


class ConfigError(Exception):
    """The component cannot be built from this configuration (names the field)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass
class Outcome:
    """The result of one input message through one step."""

    outputs: list[JSON] = field(default_factory=list)
    error: StepError | None = None
    logs: list[str] = field(default_factory=list)
    duration_ms: float | None = None
    # Set by the engine when the delivery ledger shows this message already went out.
    skipped: bool = False

    @classmethod
    def failed(cls, error: StepError, logs: list[str] | None = None) -> Outcome:
        return cls(outputs=[], error=error, logs=logs or [])


@dataclass(frozen=True)
class Runtime:
    """What the platform lends a component: where it runs and installation-wide settings."""

    flow_id: int
    node_id: str
    settings: dict[str, Any] = field(default_factory=dict)
    # The flow's workspace: rate-limit buckets are per workspace, which never share one.
    workspace_id: int | None = None
    # Rate-limit buckets shared by all workers; None: components use an in-process limiter.
    limiter: RateLimiter | None = None


class Action:
    """Base class of action components. Override `process` or, for batching, `process_batch`."""

    descriptor: ClassVar[Descriptor]

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> list[ConfigError]:
        """Problems the JSON Schema cannot express (e.g. code that does not compile), found
        without connecting anywhere. Checked before a flow is published."""
        return []

    def __init__(
        self, config: dict[str, Any], credential: dict[str, Any] | None, runtime: Runtime
    ) -> None:
        self.config = config
        self.credential = credential
        self.runtime = runtime

    def process(self, message: Message) -> Outcome:
        raise NotImplementedError

    def process_batch(self, messages: list[Message]) -> list[Outcome]:
        """One outcome per message, in order. A failure of one message never fails the others."""
        outcomes = []
        for message in messages:
            try:
                outcomes.append(self.process(message))
            except StepError as error:
                outcomes.append(Outcome.failed(error))
        return outcomes

    def close(self) -> None:
        """Release connections and processes; the engine calls it when the flow version retires."""


@dataclass(frozen=True)
class PartitionLag:
    """How far a trigger is behind on one partition of its source: `lag` records past the
    committed position (read but unfinished ones included), as Kafka tools count it."""

    topic: str
    partition: int
    lag: int


@dataclass
class TriggerRecord:
    """One record read by a trigger: a message, or a decode error naming what was wrong."""

    message: Message
    error: StepError | None = None


class Trigger:
    """Base class of trigger components: a source polled by the trigger runner."""

    descriptor: ClassVar[Descriptor]

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> list[ConfigError]:
        """See `Action.check_config`."""
        return []

    def __init__(
        self, config: dict[str, Any], credential: dict[str, Any] | None, runtime: Runtime
    ) -> None:
        self.config = config
        self.credential = credential
        self.runtime = runtime

    def open(self) -> None:
        raise NotImplementedError

    def poll_batch(self) -> list[TriggerRecord]:
        """Wait up to the configured time for up to the configured number of records."""
        raise NotImplementedError

    def commit(self, records: list[TriggerRecord]) -> list[tuple[str, int, int]]:
        """Mark these records done at the source. Called only once all reached a final state.
        Returns what was committed: (topic, partition, next offset) per partition."""
        raise NotImplementedError

    def keep_alive(self) -> None:
        """Called every few seconds while the platform holds a batch (a slow or failing step):
        keep the connection to the source alive without reading further. Default: nothing."""

    def lag(self) -> list[PartitionLag]:
        """The lag of each partition this trigger reads now, for monitoring; called every few
        seconds. Best effort: an empty list when unknown. Default: nothing to report."""
        return []

    def close(self) -> None:
        raise NotImplementedError
