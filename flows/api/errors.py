"""Every API error is JSON `{"error": "...", "details": {...}}`, never an HTML page or a 500."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from flows.errors import ServiceError


def _first_message(detail: Any, prefix: str = "") -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = key if key != "non_field_errors" else ""
            return _first_message(value, f"{prefix}.{name}" if prefix and name else name or prefix)
    if isinstance(detail, list) and detail:
        return _first_message(detail[0], prefix)
    return f"{prefix}: {detail}" if prefix else str(detail)


def _details(detail: Any) -> dict[str, Any]:
    """Always an object, so clients can look fields up: a bare list goes under
    `non_field_errors`, as DRF names errors that belong to no one field."""
    if isinstance(detail, dict):
        return detail
    if isinstance(detail, list):
        return {"non_field_errors": detail}
    return {}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ServiceError):
        return Response({"error": exc.message, "details": exc.details}, status=exc.status_code)
    if isinstance(exc, RequestDataTooBig):
        # Normally stopped earlier by flows.api.middleware.RequestBodyLimit.
        return Response(
            {"error": f"request body too large: {exc}", "details": {}},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.ValidationError):
        return Response(
            {"error": _first_message(exc.detail), "details": _details(exc.detail)},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, exceptions.APIException):
        headers = {}
        if auth_header := getattr(exc, "auth_header", None):
            # A 401 names the scheme to use (RFC 9110); DRF sets it, its default handler sends it.
            headers["WWW-Authenticate"] = auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))  # type: ignore[attr-defined]
        detail = exc.detail
        message = str(detail) if not isinstance(detail, dict | list) else _first_message(detail)
        return Response(
            {"error": message, "details": _details(detail)},
            status=exc.status_code,
            headers=headers,
        )
    return None
