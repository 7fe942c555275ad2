"""What a step record keeps of a value: secrets masked, size cut to a setting."""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

MASK = "••••••"


# Components cut long texts (e.g. a response body in an error) and end them with this.
ELLIPSIS = "…"
# Shorter leftovers of a cut secret say too little to be worth masking (and would mask noise).
MIN_CUT_PREFIX = 4


def _mask(text: str, secrets: list[str] | tuple[str, ...]) -> str:
    """Replace every secret, and a secret's beginning left where a text was cut short."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    if ELLIPSIS in text:
        for secret in secrets:
            for length in range(len(secret) - 1, MIN_CUT_PREFIX - 1, -1):
                cut = secret[:length] + ELLIPSIS
                if cut in text:
                    text = text.replace(cut, MASK + ELLIPSIS)
    return text


def clip_json(value: Any, secrets: list[str] | tuple[str, ...] = ()) -> str | None:
    """`value` as stored in a record, as JSON text: secrets masked, cut to
    TRIBUTARY_RECORD_MAX_BYTES. Text, because that is how it travels in the job and goes into
    the database: a record is encoded once here and never decoded by the engine."""
    return clip_json_whole(value, secrets)[0]


def clip_json_whole(
    value: Any, secrets: list[str] | tuple[str, ...] = ()
) -> tuple[str | None, bool]:
    """clip_json, and whether the text is `value`'s own encoding, whole: nothing masked, nothing
    cut (a reader can then take parts of it for what they were)."""
    if value is None:
        return None, True
    return clip_text(orjson.dumps(value, default=str).decode(), secrets)


def clip_text(original: str, secrets: list[str] | tuple[str, ...] = ()) -> tuple[str, bool]:
    """clip_json_whole of a value already encoded as `original`."""
    text = _mask(original, secrets) if secrets else original
    masked = text != original  # `_mask` hands `original` back when nothing matched: no scan
    if masked and not _is_json(text):
        # A secret spanning quotes or commas was cut out of the JSON's structure: keep the
        # masked text as a string rather than store what no reader can parse.
        text = orjson.dumps(text).decode()
    limit = record_max_bytes()
    if len(text) > limit:
        cut = {"truncated": True, "size": len(text), "preview": text[:limit]}
        return orjson.dumps(cut).decode(), False
    return text, not masked


@cache
def record_max_bytes() -> int:
    """TRIBUTARY_RECORD_MAX_BYTES, read once: a lookup in Django's settings costs as much as
    clipping a small record, and a step clips two per message."""
    return int(settings.TRIBUTARY_RECORD_MAX_BYTES)


@receiver(setting_changed)
def _forget_limit(setting: str, **_: Any) -> None:
    """A test changed the setting (override_settings)."""
    if setting == "TRIBUTARY_RECORD_MAX_BYTES":
        record_max_bytes.cache_clear()


def _is_json(text: str) -> bool:
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return True


def mask_text(text: str, secrets: list[str] | tuple[str, ...] = ()) -> str:
    return _mask(text, secrets)
