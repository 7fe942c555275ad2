"""Error handling a flow's author configures: a retry policy per step, and what the flow does
with a message that finally fails or a destination that is down.

Both live in the flow's graph, so they are versioned and published with it:
`node["retry"] = {"attempts", "backoff_seconds", "max_delay_seconds"}` on action nodes and
`graph["settings"] = {"dead_letter_topic", "on_outage"}`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

OnOutage = Literal["pause", "fail"]
ON_OUTAGE_CHOICES: tuple[OnOutage, ...] = ("pause", "fail")
# Kafka's own rule for topic names.
TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")

# (field, message) pairs; flows.graph turns them into GraphErrors naming the node.
Problems = list[tuple[str, str]]


@dataclass(frozen=True)
class StepRetry:
    """How the engine retries a step's transient failures (timeouts, 429, 5xx, broker errors)
    before it fails the message — or, with `on_outage="pause"`, holds the batch.

    This is on top of a component's own quick in-request retries: the engine waits between
    attempts without holding a worker, and the whole batch's consumption waits with it.
    """

    attempts: int = 3
    backoff_seconds: float = 2.0
    max_delay_seconds: float = 60.0

    def delay(self, failed_attempt: int) -> float:
        """Seconds before attempt `failed_attempt + 1`: exponential, capped."""
        exponent = min(max(failed_attempt - 1, 0), 30)
        return min(self.backoff_seconds * 2**exponent, self.max_delay_seconds)

    def as_dict(self) -> dict[str, Any]:
        return {
            "attempts": self.attempts,
            "backoff_seconds": self.backoff_seconds,
            "max_delay_seconds": self.max_delay_seconds,
        }


@dataclass(frozen=True)
class FlowSettings:
    # A topic on the trigger's cluster that receives every message that finally fails.
    dead_letter_topic: str = ""
    # "pause": a destination failing every attempt holds consumption until it recovers;
    # "fail": such messages fail (and are dead-lettered) like any other failure.
    on_outage: OnOutage = "pause"


RETRY_LIMITS = {
    "attempts": (1, 20),
    "backoff_seconds": (0, 600),
    "max_delay_seconds": (0, 3600),
}


def parse_retry(raw: Any) -> tuple[StepRetry, Problems]:
    if raw is None:
        return StepRetry(), []
    if not isinstance(raw, dict):
        return StepRetry(), [("retry", "must be an object with attempts, backoff_seconds, ...")]
    problems: Problems = []
    unknown = set(raw) - set(RETRY_LIMITS)
    if unknown:
        problems.append(("retry", f"unknown keys: {', '.join(sorted(map(str, unknown)))}"))
    values: dict[str, Any] = {}
    for name, (low, high) in RETRY_LIMITS.items():
        value = raw.get(name)
        if value is None:
            continue
        whole = name == "attempts"
        kinds = (int,) if whole else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            problems.append((f"retry.{name}", "must be a whole number" if whole else "a number"))
        elif not low <= value <= high:
            problems.append((f"retry.{name}", f"must be between {low} and {high}"))
        else:
            values[name] = value
    return StepRetry(**values), problems


def parse_settings(raw: Any) -> tuple[FlowSettings, Problems]:
    if raw is None:
        return FlowSettings(), []
    if not isinstance(raw, dict):
        return FlowSettings(), [("settings", "must be an object")]
    problems: Problems = []
    unknown = set(raw) - {"dead_letter_topic", "on_outage"}
    if unknown:
        problems.append(("settings", f"unknown keys: {', '.join(sorted(map(str, unknown)))}"))
    topic = raw.get("dead_letter_topic") or ""
    if not isinstance(topic, str):
        problems.append(("settings.dead_letter_topic", "must be a topic name"))
        topic = ""
    topic = topic.strip()
    if topic and not TOPIC_NAME.match(topic):
        problems.append(
            (
                "settings.dead_letter_topic",
                "a topic name is 1-249 letters, digits, '.', '_' or '-'",
            )
        )
    on_outage: OnOutage = "pause"
    chosen = raw.get("on_outage") or "pause"
    if chosen == "fail":
        on_outage = "fail"
    elif chosen != "pause":
        problems.append(("settings.on_outage", "must be 'pause' or 'fail'"))
    return FlowSettings(dead_letter_topic=topic, on_outage=on_outage), problems
