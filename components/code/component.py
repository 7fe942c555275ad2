"""The `code` action: each message through the user's `run(msg)` in the sandbox."""

from __future__ import annotations

from typing import Any

from components.base import Action, ConfigError, Descriptor, Message, Outcome, Runtime, StepError
from components.code.restricted import ALLOWED_MODULES, check_code
from components.code.sandbox import (
    DEFAULT_POOL_SIZE,
    MessageResult,
    SandboxUnavailable,
    get_pool,
    limits_from_settings,
)

SAMPLE_CODE = """\
def run(msg):
    b = msg.body                      # dict keys read as attributes
    if not b.get("user_id"):
        return None                   # None: drop the message
    log("tracking", b.user_id)
    return {"customer_ids": {"registered": b.user_id},
            "event_type": b.type,
            "timestamp": b.ts / 1000}
"""


class CodeAction(Action):
    """Runs a whole batch through one sandbox round trip; one Outcome per input message."""

    descriptor = Descriptor(
        name="code",
        kind="action",
        title="Code",
        description=(
            "Transform each message with Python: define run(msg) and return a dict (one "
            "message), a list (one message per item) or None (drop it). print() and log() "
            "lines go to the step log. Runs sandboxed with CPU, memory and time limits."
        ),
        passes_bodies_through=True,
        config_schema={
            "type": "object",
            "properties": {
                "code": {
                    "type": "string",
                    "title": "Python code",
                    "description": (
                        "Define run(msg). msg.body, msg.headers and msg.meta read like "
                        "JavaScript objects (msg.body.user_id). Importable modules: "
                        + ", ".join(ALLOWED_MODULES)
                        + "."
                    ),
                    "format": "python",
                    "minLength": 1,
                }
            },
            "required": ["code"],
            "additionalProperties": False,
        },
        sample_config={"code": SAMPLE_CODE},
    )

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> list[ConfigError]:
        code = config.get("code")
        if not isinstance(code, str):
            return []  # the schema reports it
        return [ConfigError("code", str(problem)) for problem in check_code(code)]

    def __init__(
        self, config: dict[str, Any], credential: dict[str, Any] | None, runtime: Runtime
    ) -> None:
        super().__init__(config, credential, runtime)
        code = config.get("code")
        if not isinstance(code, str):
            raise ConfigError("code", "must be a string of Python code")
        problems = check_code(code)
        if problems:
            raise ConfigError("code", str(problems[0]))
        self.code = code
        self.limits = limits_from_settings(runtime.settings)
        self.pool_size = int(runtime.settings.get("sandbox_processes") or DEFAULT_POOL_SIZE)
        # Module-level state belongs to this flow's step: the same code in another flow gets
        # its own copy.
        self.scope = f"flow:{runtime.flow_id}/node:{runtime.node_id}"

    def process(self, message: Message) -> Outcome:
        return self.process_batch([message])[0]

    def process_batch(self, messages: list[Message]) -> list[Outcome]:
        if not messages:
            return []
        try:
            pool = get_pool(self.limits, self.pool_size)
            results = pool.run_batch(self.code, list(messages), scope=self.scope)
        except SandboxUnavailable as error:
            failure = StepError(f"the code sandbox is unavailable: {error}", retryable=True)
            return [Outcome.failed(failure) for _ in messages]
        return [_outcome(result) for result in results]


def _outcome(result: MessageResult) -> Outcome:
    error = None
    if result.error is not None:
        # The code itself failed: retrying the same message with the same code cannot help.
        details = {"line": result.line, "kind": result.kind}
        error = StepError(result.error, retryable=False, details=details)
    return Outcome(
        outputs=result.outputs if error is None else [],
        error=error,
        logs=result.logs,
        duration_ms=result.duration_ms,
    )
