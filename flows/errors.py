from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """A request the domain refuses, with a message for the user (HTTP 400 in the API)."""

    status_code = 400

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class Forbidden(ServiceError):
    status_code = 403


class Conflict(ServiceError):
    status_code = 409
