"""The Bloomreach tracking API's rules for commands, as the stand-in applies them (see
BLOOMREACH.md): names, customer ids, times and sizes, with the API's error messages."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import orjson

EVENT = "customers/events"
CUSTOMER = "customers"
MAX_COMMANDS = 50
MAX_DATA_BYTES = 800 * 1024
MAX_PROPERTY_BYTES = 16 * 1024


def command_problems(command: Any, body_size: int | None) -> list[str]:
    if not isinstance(command, dict):
        return ["a command must be an object with name and data"]
    name = command.get("name")
    if name not in (EVENT, CUSTOMER):
        return [f"unknown command name {name!r}: use {EVENT!r} or {CUSTOMER!r}"]
    if "command_id" in command and not isinstance(command["command_id"], str):
        return ["command_id must be a string"]
    return validate_command_data(name, command.get("data"), body_size)


def validate_command_data(name: str, data: Any, body_size: int | None = None) -> list[str]:
    """The errors the API reports for the data of a command (or a single-endpoint body).

    `body_size`, the size of the request that carried it, lets the size checks be skipped
    when no part of the request can be too big (they cost more than all the other checks).
    """
    if not isinstance(data, dict):
        return ["data must be an object"]
    problems = []
    ids = data.get("customer_ids")
    if not isinstance(ids, dict) or not ids:
        problems.append("customer_ids must be a non-empty object")
    else:
        for key, value in ids.items():
            if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "":
                problems.append(f"customer_ids.{key} must be a non-empty string")
    if name == EVENT:
        if not isinstance(data.get("event_type"), str) or not data["event_type"]:
            problems.append("event_type is required and must be a string")
        problems += _time_problems(data, "timestamp")
        if "properties" in data and not isinstance(data["properties"], dict):
            problems.append("properties must be an object")
    else:
        if not isinstance(data.get("properties"), dict) or not data["properties"]:
            problems.append("properties must be an object with at least one property")
        problems += _time_problems(data, "update_timestamp")
    if body_size is None or body_size >= MAX_PROPERTY_BYTES:
        problems += _size_problems(data)
    return problems


def _time_problems(data: dict[str, Any], key: str) -> list[str]:
    if key not in data:
        return []
    value = data[key]
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value)
            return []
        except ValueError:
            return [f"{key} must be a number of seconds or an ISO 8601 string"]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return [f"{key} must be a number of seconds or an ISO 8601 string"]
    return []


def _size_problems(data: dict[str, Any]) -> list[str]:
    problems = []
    if len(orjson.dumps(data)) >= MAX_DATA_BYTES:
        problems.append(f"the update exceeds {MAX_DATA_BYTES // 1024} KB")
    properties = data.get("properties")
    if isinstance(properties, dict):
        for key, value in properties.items():
            if (
                isinstance(value, str | dict | list)
                and len(orjson.dumps(value)) >= MAX_PROPERTY_BYTES
            ):
                problems.append(f"property {key} exceeds {MAX_PROPERTY_BYTES // 1024} KB")
    return problems
