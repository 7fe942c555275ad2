"""Encryption of credential fields at rest (Fernet: AES-128-CBC + HMAC-SHA256)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


class CredentialDecryptError(Exception):
    pass


def _fernet() -> Fernet:
    key = settings.TRIBUTARY_CREDENTIALS_KEY
    if not key:
        # Derived so a laptop needs no extra setting; production sets its own key.
        digest = hashlib.sha256(("tributary-credentials:" + settings.SECRET_KEY).encode()).digest()
        key = base64.urlsafe_b64encode(digest).decode()
    return Fernet(key.encode() if isinstance(key, str) else key)


def encrypt_fields(fields: dict[str, Any]) -> str:
    return _fernet().encrypt(orjson.dumps(fields)).decode()


def decrypt_fields(token: str) -> dict[str, Any]:
    try:
        data: dict[str, Any] = orjson.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        raise CredentialDecryptError(
            "credential cannot be decrypted: TRIBUTARY_CREDENTIALS_KEY differs from the key "
            "it was saved with"
        ) from None
    return data
