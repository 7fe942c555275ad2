"""Credentials at rest: a list of keys (first encrypts, all decrypt) and key rotation."""

from __future__ import annotations

import base64
from io import StringIO
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.test import override_settings
from rest_framework.test import APIClient

from flows.crypto import CredentialDecryptError, decrypt_fields, encrypt_fields
from flows.models import Credential, Workspace
from flows.services.credentials import create_credential

OLD = Fernet.generate_key().decode()
NEW = Fernet.generate_key().decode()
FOREIGN = Fernet.generate_key().decode()

FIELDS = [
    {"auth_type": "bearer", "token": "first-token-value"},
    {"auth_type": "basic", "username": "svc", "password": "second-password"},
    {"auth_type": "api_key", "header_name": "X-Key", "api_key": "third-api-key"},
]


def make_credentials(workspace: Workspace) -> list[Credential]:
    return [
        create_credential(workspace, f"credential {index}", "http_auth", fields)
        for index, fields in enumerate(FIELDS)
    ]


def tokens() -> dict[int, str]:
    return dict(Credential.objects.values_list("id", "encrypted"))


def rotate(new_key: str) -> str:
    out = StringIO()
    # As the operator guide writes it: a key may begin with "-" (see below).
    call_command("rotate_credentials_key", f"--new-key={new_key}", stdout=out)
    return out.getvalue()


def test_rotation_re_encrypts_every_credential_with_the_new_key(workspace: Workspace) -> None:
    with override_settings(TRIBUTARY_CREDENTIALS_KEY=OLD):
        credentials = make_credentials(workspace)
        before = tokens()
        output = rotate(NEW)
    assert "Re-encrypted 3 credential(s)" in output
    assert NEW not in output and OLD not in output
    after = tokens()
    assert all(after[id_] != before[id_] for id_ in before)
    with override_settings(TRIBUTARY_CREDENTIALS_KEY=NEW):
        assert [decrypt_fields(after[c.id]) for c in credentials] == FIELDS
    with override_settings(TRIBUTARY_CREDENTIALS_KEY=OLD), pytest.raises(CredentialDecryptError):
        decrypt_fields(after[credentials[0].id])


def test_the_first_key_encrypts_and_every_key_decrypts(workspace: Workspace) -> None:
    with override_settings(TRIBUTARY_CREDENTIALS_KEY=OLD):
        old_token = encrypt_fields({"token": "before"})
    # Mid-rotation: the new key first, the old one still listed (spaces tolerated).
    with override_settings(TRIBUTARY_CREDENTIALS_KEY=f"{NEW}, {OLD}"):
        assert decrypt_fields(old_token) == {"token": "before"}
        new_token = encrypt_fields({"token": "after"})
    with override_settings(TRIBUTARY_CREDENTIALS_KEY=NEW):
        assert decrypt_fields(new_token) == {"token": "after"}
    with override_settings(TRIBUTARY_CREDENTIALS_KEY=OLD), pytest.raises(CredentialDecryptError):
        decrypt_fields(new_token)


def test_a_new_key_beginning_with_a_dash_is_taken(workspace: Workspace) -> None:
    """One Fernet key in 64 begins with "-" (urlsafe base64): given as `--new-key=KEY`, as the
    operator guide shows, it is the key, not an unknown option."""
    dashed = base64.urlsafe_b64encode(b"\xf8" + bytes(31)).decode()
    assert dashed.startswith("-")
    with override_settings(TRIBUTARY_CREDENTIALS_KEY=OLD):
        make_credentials(workspace)
        assert "Re-encrypted 3 credential(s)" in rotate(dashed)
    with override_settings(TRIBUTARY_CREDENTIALS_KEY=dashed):
        assert [decrypt_fields(c.encrypted) for c in Credential.objects.order_by("id")] == FIELDS


def test_rotation_from_the_derived_laptop_key(workspace: Workspace) -> None:
    """An install that never set TRIBUTARY_CREDENTIALS_KEY moves to a real key the same way."""
    with override_settings(TRIBUTARY_CREDENTIALS_KEY=""):
        credentials = make_credentials(workspace)
        rotate(NEW)
    with override_settings(TRIBUTARY_CREDENTIALS_KEY=NEW):
        assert [decrypt_fields(c.encrypted) for c in Credential.objects.order_by("id")] == FIELDS
    with override_settings(TRIBUTARY_CREDENTIALS_KEY=""), pytest.raises(CredentialDecryptError):
        decrypt_fields(Credential.objects.get(id=credentials[0].id).encrypted)


def test_rotation_is_all_or_nothing(workspace: Workspace) -> None:
    """One credential saved with a key nobody configured stops the rotation before any
    credential changes: a half-rotated table would need both keys forever."""
    with override_settings(TRIBUTARY_CREDENTIALS_KEY=OLD):
        credentials = make_credentials(workspace)
    stray = Credential.objects.create(
        workspace=workspace,
        name="saved elsewhere",
        type="http_auth",
        encrypted=Fernet(FOREIGN.encode()).encrypt(b'{"auth_type": "none"}').decode(),
    )
    before = tokens()
    with override_settings(TRIBUTARY_CREDENTIALS_KEY=OLD), pytest.raises(CommandError) as error:
        rotate(NEW)
    assert f"credential {stray.id}" in str(error.value)
    assert "nothing was changed" in str(error.value)
    assert tokens() == before
    with override_settings(TRIBUTARY_CREDENTIALS_KEY=OLD):
        assert decrypt_fields(Credential.objects.get(id=credentials[1].id).encrypted) == FIELDS[1]
    # With the stray key listed too, the rotation goes through.
    with override_settings(TRIBUTARY_CREDENTIALS_KEY=f"{OLD},{FOREIGN}"):
        rotate(NEW)
    with override_settings(TRIBUTARY_CREDENTIALS_KEY=NEW):
        assert decrypt_fields(Credential.objects.get(id=stray.id).encrypted) == {
            "auth_type": "none"
        }


@pytest.mark.parametrize("bad", ["not-a-key", "", "c2hvcnQ="])
def test_a_malformed_new_key_changes_nothing_and_is_not_echoed(
    workspace: Workspace, bad: str
) -> None:
    with override_settings(TRIBUTARY_CREDENTIALS_KEY=OLD):
        make_credentials(workspace)
        before = tokens()
        with pytest.raises(CommandError) as error:
            rotate(bad)
    assert "--new-key is not a Fernet key" in str(error.value)
    if bad:
        assert bad not in str(error.value)
    assert tokens() == before


def test_a_malformed_configured_key_is_named_by_position_not_value(db: Any) -> None:
    broken = "this-is-not-a-fernet-key"
    with (
        override_settings(TRIBUTARY_CREDENTIALS_KEY=f"{NEW},{broken}"),
        pytest.raises(ImproperlyConfigured) as error,
    ):
        encrypt_fields({})
    assert "key 2 of 2" in str(error.value)
    assert broken not in str(error.value)


def test_the_api_keeps_working_across_a_rotation(api: APIClient, workspace: Workspace) -> None:
    """Processes still running with the old list read the new tokens once the new key is
    listed; secrets stay write-only throughout."""
    with override_settings(TRIBUTARY_CREDENTIALS_KEY=OLD):
        created = api.post(
            "/api/v1/credentials/",
            {"name": "api", "type": "http_auth", "fields": FIELDS[0]},
            format="json",
        ).json()
        rotate(NEW)
    with override_settings(TRIBUTARY_CREDENTIALS_KEY=f"{NEW},{OLD}"):
        shown = api.get(f"/api/v1/credentials/{created['id']}/")
    assert shown.status_code == 200
    assert shown.json()["public"] == {"fields": {"auth_type": "bearer"}, "secrets_set": ["token"]}
    assert "first-token-value" not in shown.content.decode()
