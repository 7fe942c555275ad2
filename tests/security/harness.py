"""Running attack code through the real code step: one attacking and one benign message.

Every attack case is a program defining `attack(msg)`; `HARNESS` adds a `run(msg)` that calls
it for the attacking message and answers `{"ok": n}` for the benign one. Both messages go in
one batch to the same pool, so a case proves two things at once: the attack failed with a
readable error on its own message, and the sandbox (or its replacement) went on to process
the next message normally.
"""

from __future__ import annotations

from typing import Any

from components.base import Message, Outcome, Runtime
from components.code import SandboxLimits, limits_from_settings, run_code
from components.code.component import CodeAction

# Tight limits keep the denial-of-service cases fast.
SETTINGS = {"sandbox_cpu_seconds": 0.5, "sandbox_wall_seconds": 2.0, "sandbox_memory_mb": 128}
LIMITS = limits_from_settings(SETTINGS)
# For C code that never returns to the interpreter: the kernel's RLIMIT_CPU (0.5 s + 1 to 2 s
# of grace) must fire before this wall clock does.
SLOW_SETTINGS = {**SETTINGS, "sandbox_wall_seconds": 6.0}
SLOW_LIMITS = limits_from_settings(SLOW_SETTINGS)

HARNESS = """

def run(msg):
    if msg.body.attack:
        return attack(msg)
    return {"ok": msg.body.n}
"""
BENIGN = "def run(msg):\n    return {'ok': msg.body.n}\n"


def message(body: Any, index: int = 0) -> Message:
    return {"id": f"m{index}", "body": body, "headers": {}, "meta": {"offset": index}}


def action(code: str, *, flow_id: int = 900, settings: dict[str, Any] | None = None) -> CodeAction:
    runtime = Runtime(flow_id=flow_id, node_id="security", settings=settings or SETTINGS)
    return CodeAction({"code": code}, None, runtime)


def attack_then_benign(
    attack_code: str, *, settings: dict[str, Any] | None = None
) -> tuple[Outcome, Outcome]:
    """The outcomes of the attacking message and of the benign one after it, same batch."""
    step = action(attack_code + HARNESS, settings=settings)
    attacked, benign = step.process_batch(
        [message({"attack": True}, 0), message({"attack": False, "n": 7}, 1)]
    )
    return attacked, benign


def assert_refused(outcome: Outcome, expected: str) -> None:
    """The message failed cleanly, produced nothing, and says why."""
    assert outcome.error is not None, f"the attack was not stopped: {outcome.outputs}"
    assert outcome.outputs == []
    assert expected in outcome.error.message, outcome.error.message
    assert outcome.error.details["kind"] != "crash", outcome.error.message


def assert_benign_works(outcome: Outcome) -> None:
    assert outcome.error is None, outcome.error
    assert outcome.outputs == [{"ok": 7}]


def assert_pool_serves(limits: SandboxLimits = LIMITS) -> None:
    """A fresh benign run on the pool answers (after a kill, on a replacement process)."""
    result = run_code(BENIGN, {"body": {"n": 3}}, limits=limits)
    assert result.error is None, result.error
    assert result.outputs == [{"ok": 3}]
