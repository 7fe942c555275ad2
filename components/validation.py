"""Config validation against a component's JSON Schema, with errors that name the field."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator

from components.base import Descriptor


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


def _path(error_path: Any) -> str:
    return ".".join(str(part) for part in error_path)


def validate_config(descriptor: Descriptor, config: Any) -> list[FieldError]:
    """All problems with `config`, each naming its field ("" for the config as a whole)."""
    if not isinstance(config, dict):
        return [FieldError("", "config must be a JSON object")]
    validator = Draft202012Validator(descriptor.config_schema)
    errors = []
    for error in sorted(validator.iter_errors(config), key=lambda e: list(e.path)):
        field = _path(error.path)
        if error.validator == "required":
            # jsonschema reports a missing key on the parent; name the missing key itself.
            missing = error.message.split("'")[1] if "'" in error.message else ""
            field = ".".join(part for part in (field, missing) if part)
            errors.append(FieldError(field, "this field is required"))
        elif error.validator == "additionalProperties":
            errors.append(FieldError(field, error.message))
        else:
            errors.append(FieldError(field, error.message))
    return errors


def with_defaults(schema: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """A copy of `config` with top-level schema defaults filled in for absent keys."""
    result = copy.deepcopy(config)
    for key, prop in schema.get("properties", {}).items():
        if key not in result and "default" in prop:
            result[key] = copy.deepcopy(prop["default"])
    return result
