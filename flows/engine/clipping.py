"""What a step record keeps of a value: secrets masked, size cut to a setting."""

from __future__ import annotations

from typing import Any

import orjson
from django.conf import settings

MASK = "••••••"


def clip(value: Any, secrets: list[str] | tuple[str, ...] = ()) -> Any:
    """`value` as stored in a record: secrets masked, cut to TRIBUTARY_RECORD_MAX_BYTES."""
    if value is None:
        return None
    text = orjson.dumps(value, default=str).decode()
    masked = False
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
            masked = True
    limit = settings.TRIBUTARY_RECORD_MAX_BYTES
    if len(text) > limit:
        return {"truncated": True, "size": len(text), "preview": text[:limit]}
    return orjson.loads(text) if masked else value


def mask_text(text: str, secrets: list[str] | tuple[str, ...] = ()) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text
