"""Credentials: secrets for components, encrypted at rest and never returned."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

import orjson
from jsonschema import Draft202012Validator

from components.registry import all_descriptors
from flows.crypto import CredentialDecryptError, decrypt_fields, encrypt_fields
from flows.errors import Conflict, ServiceError
from flows.models import Credential, Flow, Workspace

MASK = "••••••"


def credential_schemas() -> dict[str, dict[str, Any]]:
    """Credential type -> JSON Schema of its fields, from the installed components."""
    schemas: dict[str, dict[str, Any]] = {}
    for desc in all_descriptors():
        if desc.credential_type and desc.credential_schema:
            schemas.setdefault(desc.credential_type, desc.credential_schema)
    return schemas


def secret_field_names(credential_type: str) -> set[str]:
    schema = credential_schemas().get(credential_type, {})
    return {name for name, prop in schema.get("properties", {}).items() if prop.get("secret")}


def _validated(credential_type: str, fields: Any) -> dict[str, Any]:
    schemas = credential_schemas()
    if credential_type not in schemas:
        known = ", ".join(sorted(schemas))
        raise ServiceError(
            f"unknown credential type {credential_type!r} (known: {known})",
            {"type": "unknown"},
        )
    if not isinstance(fields, dict):
        raise ServiceError("fields must be a JSON object", {"fields": "not an object"})
    try:
        orjson.dumps(fields)
    except orjson.JSONEncodeError:
        # What encryption would fail on: numbers beyond 64 bits, for one.
        raise ServiceError(
            "fields hold a value that cannot be stored (numbers must fit in 64 bits)",
            {"fields": "not storable"},
        ) from None
    problems = {}
    for error in Draft202012Validator(schemas[credential_type]).iter_errors(fields):
        name = ".".join(str(p) for p in error.path) or "fields"
        # Never echo a secret value back in an error message.
        problems[name] = (
            error.message
            if name not in secret_field_names(credential_type)
            else (f"invalid value ({error.validator})")
        )
    if problems:
        raise ServiceError("invalid credential fields", problems)
    return fields


def create_credential(
    workspace: Workspace, name: str, credential_type: str, fields: Any
) -> Credential:
    if Credential.objects.filter(workspace=workspace, name=name).exists():
        raise ServiceError(f"a credential named {name!r} exists already", {"name": "taken"})
    fields = _validated(credential_type, fields)
    return Credential.objects.create(
        workspace=workspace, name=name, type=credential_type, encrypted=encrypt_fields(fields)
    )


def update_credential(
    credential: Credential, *, name: str | None = None, fields: dict[str, Any] | None = None
) -> Credential:
    """Rename and/or merge fields; absent secret fields keep their stored value."""
    update = ["updated_at"]
    if name is not None and name != credential.name:
        taken = Credential.objects.filter(workspace_id=credential.workspace_id, name=name)
        if taken.exclude(id=credential.id).exists():
            raise ServiceError(f"a credential named {name!r} exists already", {"name": "taken"})
        credential.name = name
        update.append("name")
    if fields is not None:
        if not isinstance(fields, dict):
            raise ServiceError("fields must be a JSON object", {"fields": "not an object"})
        merged = {**decrypt_fields(credential.encrypted), **fields}
        credential.encrypted = encrypt_fields(_validated(credential.type, merged))
        update.append("encrypted")
    credential.save(update_fields=update)
    return credential


def delete_credential(credential: Credential) -> None:
    """Delete a credential no flow draft or running version refers to."""
    users = [
        flow.name
        for flow in Flow.objects.filter(workspace_id=credential.workspace_id).select_related(
            "active_version"
        )
        for graph in (flow.graph, flow.active_version.graph if flow.active_version else None)
        if graph and any(n.get("credential") == credential.id for n in graph.get("nodes", []))
    ]
    if users:
        names = ", ".join(sorted(set(users)))
        raise Conflict(
            f"credential {credential.name!r} is used by: {names}; change those flows first",
            {"flows": sorted(set(users))},
        )
    credential.delete()


def credential_fields(credential: Credential) -> dict[str, Any]:
    """The decrypted fields, for the engine only. Never serialise this."""
    return decrypt_fields(credential.encrypted)


def public_view(credential: Credential) -> dict[str, Any]:
    """Non-secret fields with their values; secret fields only as set / not set.

    A credential saved under a key that is no longer configured shows no fields (the list
    must still render); using it in a flow fails with the reason.
    """
    try:
        fields = decrypt_fields(credential.encrypted)
    except CredentialDecryptError:
        return {"fields": {}, "secrets_set": []}
    secrets = secret_field_names(credential.type)
    return {
        "fields": {k: v for k, v in fields.items() if k not in secrets},
        "secrets_set": sorted(k for k in fields if k in secrets and fields[k] not in ("", None)),
    }


def secret_values(credential_fields: dict[str, Any], credential_type: str) -> list[str]:
    """The strings to mask wherever a credential's secrets could appear in a record.

    Each secret as stored, and as it travels: JSON-escaped (records are masked as JSON
    text), percent-encoded, and inside an HTTP Basic `Authorization` header, i.e.
    base64("<user>:<secret>") for every non-secret value that may be the user name (an
    echoed header then shows no decodable secret). Longest first, so a secret that
    contains another is masked whole.
    """
    names = secret_field_names(credential_type)
    secrets = [
        v for k, v in credential_fields.items() if k in names and isinstance(v, str) and len(v) >= 4
    ]
    users = [""] + [
        v for k, v in credential_fields.items() if k not in names and isinstance(v, str)
    ]
    values: set[str] = set()
    for secret in secrets:
        values |= {secret, orjson.dumps(secret).decode()[1:-1], quote(secret, safe="")}
        values |= {base64.b64encode(f"{user}:{secret}".encode()).decode() for user in users}
    return sorted(values, key=lambda value: (-len(value), value))
