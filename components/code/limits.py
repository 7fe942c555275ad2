"""The limits a code sandbox process runs a message under, as the settings give them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SandboxLimits:
    """Per-message limits. Frozen: a pool's processes are started (and confined) with them."""

    cpu_seconds: float = 1.0
    memory_mb: int = 256
    wall_seconds: float = 5.0
    max_output_bytes: int = 1_000_000


def limits_from_settings(settings: Mapping[str, Any]) -> SandboxLimits:
    """Limits from Runtime.settings keys sandbox_cpu_seconds, _memory_mb and _wall_seconds."""
    defaults = SandboxLimits()

    def read(key: str, default: float) -> float:
        value: Any = settings.get(key)
        return default if value in (None, "") else float(value)

    return SandboxLimits(
        cpu_seconds=read("sandbox_cpu_seconds", defaults.cpu_seconds),
        memory_mb=int(read("sandbox_memory_mb", defaults.memory_mb)),
        wall_seconds=read("sandbox_wall_seconds", defaults.wall_seconds),
        max_output_bytes=defaults.max_output_bytes,
    )
