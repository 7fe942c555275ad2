"""OpenAPI schema additions: the error answers every operation can give, documented once."""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every 4xx answer of the API.",
    "properties": {
        "error": {"type": "string", "description": "What happened and what to do."},
        "details": {
            "type": "object",
            "additionalProperties": {},
            "description": "What was wrong, field by field, where it applies.",
        },
    },
    "required": ["error", "details"],
}

ERRORS = {
    "400": "Malformed input (body or query parameter), or a request the domain refuses "
    "(e.g. starting a flow that was never published).",
    "401": "Not authenticated: log in (session) or send `Authorization: Token <key>`.",
    "403": "Authenticated but not allowed: a viewer asking for a change, or a session "
    "request without its CSRF token.",
    "404": "No such object among the caller's workspaces (or no such page of a list).",
    "409": "The object is in use and cannot be deleted.",
    "413": "The request body is larger than TRIBUTARY_MAX_REQUEST_BYTES.",
    "415": "The body is not sent as application/json.",
    "429": "Too many attempts from this address; retry after `Retry-After` seconds.",
}

WRITE_METHODS = {"post", "put", "patch", "delete"}


def _codes(method: str, operation: dict[str, Any]) -> set[str]:
    """The error codes an operation can answer with, from what the operation takes."""
    codes: set[str] = set()
    parameters = operation.get("parameters", [])
    security = operation.get("security") or [{}]
    if security != [{}]:
        # Any authenticated operation: a missing or bad token (401), a role or CSRF refusal.
        codes |= {"401", "403"}
    if any(p["in"] == "path" for p in parameters):
        codes.add("404")
    if any(p["name"] == "page" for p in parameters):
        codes.add("404")  # a page past the end
    if "requestBody" in operation:
        codes |= {"400", "413", "415"}
    if method in WRITE_METHODS or any(p["in"] == "query" for p in parameters):
        codes.add("400")
    if method == "delete":
        codes.discard("400")
    return codes


def add_error_responses(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: the shared Error schema and, on every operation,
    the 4xx answers it can give (those a view declares itself are kept)."""
    components = result.setdefault("components", {})
    components.setdefault("schemas", {}).setdefault("Error", ERROR_SCHEMA)
    reference = {"$ref": "#/components/schemas/Error"}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            responses = operation.setdefault("responses", {})
            for code in sorted(_codes(method, operation)):
                responses.setdefault(
                    code,
                    {
                        "description": ERRORS[code],
                        "content": {"application/json": {"schema": reference}},
                    },
                )
    return result
