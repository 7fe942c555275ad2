"""Encryption of credential fields at rest (Fernet: AES-128-CBC + HMAC-SHA256).

TRIBUTARY_CREDENTIALS_KEY is a comma-separated list of Fernet keys: the first encrypts, every
one decrypts. That is what key rotation needs: put the new key first, run
`python manage.py rotate_credentials_key --new-key=NEW`, then drop the old key.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class CredentialDecryptError(Exception):
    pass


def derived_key() -> str:
    """The key used while TRIBUTARY_CREDENTIALS_KEY is unset: derived from SECRET_KEY, so a
    laptop needs no extra setting. Production sets its own key."""
    digest = hashlib.sha256(("tributary-credentials:" + settings.SECRET_KEY).encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


def parse_key(key: str, name: str = "the key") -> Fernet:
    """A Fernet for `key`; ImproperlyConfigured naming `name` (never the key) if malformed."""
    try:
        return Fernet(key.strip().encode())
    except (ValueError, TypeError):
        raise ImproperlyConfigured(
            f"{name} is not a Fernet key (urlsafe base64 of 32 bytes); generate one with "
            'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key()'
            '.decode())"'
        ) from None


def configured_keys() -> list[Fernet]:
    """The keys of TRIBUTARY_CREDENTIALS_KEY in order (the derived key when it is unset)."""
    raw = settings.TRIBUTARY_CREDENTIALS_KEY or ""
    keys = [part for part in raw.split(",") if part.strip()]
    if not keys:
        return [parse_key(derived_key())]
    return [
        parse_key(key, f"TRIBUTARY_CREDENTIALS_KEY (key {index} of {len(keys)})")
        for index, key in enumerate(keys, start=1)
    ]


def _fernet() -> MultiFernet:
    return MultiFernet(configured_keys())


def encrypt_fields(fields: dict[str, Any], fernet: MultiFernet | Fernet | None = None) -> str:
    """The token of `fields`, encrypted with the first configured key (or `fernet`)."""
    return (fernet or _fernet()).encrypt(orjson.dumps(fields)).decode()


def decrypt_fields(token: str) -> dict[str, Any]:
    """The fields of a token made with any configured key; CredentialDecryptError if none fits."""
    try:
        data: dict[str, Any] = orjson.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        raise CredentialDecryptError(
            "credential cannot be decrypted: none of the keys in TRIBUTARY_CREDENTIALS_KEY is "
            "the key it was saved with"
        ) from None
    return data
