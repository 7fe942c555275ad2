from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from config.env import env_int, env_str
from flows.services.demo import setup_demo


class Command(BaseCommand):
    help = "Create the admin user and the running demo flow (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        port = env_int("FAKE_BLOOMREACH_PORT", 8001)
        parser.add_argument("--bloomreach-url", default=f"http://127.0.0.1:{port}")

    def handle(self, *args: Any, **options: Any) -> None:
        username = env_str("TRIBUTARY_ADMIN_USER", "admin")
        password = env_str("TRIBUTARY_ADMIN_PASSWORD", "admin")
        flow = setup_demo(username, password, options["bloomreach_url"])
        self.stdout.write(f"demo flow #{flow.id} {flow.name!r} is {flow.status}")
