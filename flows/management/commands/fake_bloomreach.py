"""`python manage.py fake_bloomreach`: run the local Bloomreach stand-in in the foreground."""

from __future__ import annotations

import signal
import threading
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from components.bloomreach.standin import BloomreachStandIn


class Command(BaseCommand):
    help = (
        "Serve a local stand-in of the Bloomreach tracking API (track event, update customer, "
        "batch, system time) until Ctrl-C or SIGTERM. Failure injection can be changed at run "
        "time with POST /_config; GET /_stats shows what it accepted."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8090, help="0 picks a free port")
        parser.add_argument("--project-token", default="demo-project")
        parser.add_argument("--api-key-id", default="demo-key")
        parser.add_argument("--api-secret", default="demo-secret")
        parser.add_argument("--public-token", default=None, help="accept Token auth with it")
        parser.add_argument("--rate-429", type=float, default=0.0, help="fraction answered 429")
        parser.add_argument("--retry-after", type=float, default=None, help="seconds, on 429s")
        parser.add_argument("--rate-500", type=float, default=0.0, help="fraction answered 500")
        parser.add_argument("--latency-ms", type=float, default=0, help="added to each request")

    def handle(self, *args: Any, **options: Any) -> None:
        standin = BloomreachStandIn(
            host=options["host"],
            port=options["port"],
            project_token=options["project_token"],
            api_key_id=options["api_key_id"],
            api_secret=options["api_secret"],
            public_token=options["public_token"],
        )
        try:
            standin.configure(
                rate_429=options["rate_429"],
                retry_after=options["retry_after"],
                rate_500=options["rate_500"],
                latency_ms=options["latency_ms"],
            )
            standin.start()
        except (ValueError, OSError) as error:
            raise CommandError(f"cannot start the Bloomreach stand-in: {error}") from None

        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        # The secret is not printed: the operator passed it, and logs travel.
        self.stdout.write(
            f"Bloomreach stand-in listening on {standin.url} "
            f"(project token {options['project_token']!r}, API key id "
            f"{options['api_key_id']!r}); stats at {standin.url}/_stats. Ctrl-C stops it.",
        )
        self.stdout.flush()
        while not stop.wait(0.5):
            pass
        standin.stop()
        self.stdout.write("Bloomreach stand-in stopped.")
