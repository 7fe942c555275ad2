"""The `code` component: the user's Python transform `run(msg)`, run in sandbox processes."""

from __future__ import annotations

from components.code.limits import SandboxLimits, limits_from_settings
from components.code.restricted import CodeProblem, check_code
from components.code.sandbox import CodeRunResult, run_code

__all__ = [
    "CodeProblem",
    "CodeRunResult",
    "SandboxLimits",
    "check_code",
    "limits_from_settings",
    "run_code",
]
