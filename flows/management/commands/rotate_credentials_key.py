"""Re-encrypt every stored credential with a new key, all or nothing."""

from __future__ import annotations

from typing import Any

from cryptography.fernet import InvalidToken, MultiFernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from flows.crypto import configured_keys, parse_key
from flows.models import Credential


class Command(BaseCommand):
    help = (
        "Re-encrypt every credential with NEW_KEY, in one transaction. The keys in "
        "TRIBUTARY_CREDENTIALS_KEY must decrypt them all (else nothing changes). Afterwards "
        "set TRIBUTARY_CREDENTIALS_KEY=NEW_KEY,OLD_KEY for the processes still running, then "
        "NEW_KEY alone once they all restarted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--new-key",
            required=True,
            # One key in 64 begins with "-", which a separate argument would be taken for an
            # option: `--new-key=KEY` always works.
            help="the new Fernet key (urlsafe base64 of 32 bytes), as --new-key=KEY",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            new = parse_key(options["new_key"], "--new-key")
            current = configured_keys()
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from None
        # rotate(): decrypt with any key of the list, encrypt with its first (the new one).
        rotation = MultiFernet([new, *current])
        count = 0
        with transaction.atomic():
            # Locked, so an edit made while this runs cannot be overwritten with stale fields.
            for credential in Credential.objects.select_for_update().order_by("id"):
                try:
                    token = rotation.rotate(credential.encrypted.encode()).decode()
                except InvalidToken:
                    # Raising rolls every credential back: a half-rotated table would need
                    # two keys forever, and this one would stay unreadable either way.
                    raise CommandError(
                        f"credential {credential.id} ({credential.name!r}) cannot be decrypted "
                        "with TRIBUTARY_CREDENTIALS_KEY; nothing was changed. Add the key it "
                        "was saved with to TRIBUTARY_CREDENTIALS_KEY and run this again."
                    ) from None
                Credential.objects.filter(id=credential.id).update(encrypted=token)
                count += 1
        self.stdout.write(
            f"Re-encrypted {count} credential(s) with the new key. Now set "
            "TRIBUTARY_CREDENTIALS_KEY to the new key, followed by the old one(s) until every "
            "process has restarted, e.g. TRIBUTARY_CREDENTIALS_KEY=<new>,<old>."
        )
