from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flows.engine.instances import runtime_settings

if TYPE_CHECKING:
    from components.code import CodeRunResult


def run_user_code(code: str, message: dict[str, Any]) -> CodeRunResult:
    """Test-run transform code on one message, in a sandbox process with the flow limits."""
    # Imported here so the web process starts its sandbox machinery only when first asked.
    from components.code import limits_from_settings, run_code

    full = {
        "id": "test",
        "body": message["body"],
        "headers": message.get("headers") or {},
        "meta": message.get("meta") or {},
    }
    return run_code(code, full, limits=limits_from_settings(runtime_settings()))


def check_user_code(code: str) -> list[dict[str, Any]]:
    """Compile-time problems of transform code, each with its line; nothing is executed."""
    from components.code import check_code

    return [{"line": problem.line, "message": problem.message} for problem in check_code(code)]
