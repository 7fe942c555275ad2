from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from flows.demo import DEMO_TOPIC, SAMPLE_EVENTS
from flows.demo.producer import produce_samples


class Command(BaseCommand):
    help = "Produce the sample shop events into the demo topic, with fresh timestamps."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--topic", default=DEMO_TOPIC)
        parser.add_argument("--rate", type=float, default=20.0, help="events per second")
        parser.add_argument("--count", type=int, default=0, help="stop after N (0: forever)")

    def handle(self, *args: Any, **options: Any) -> None:
        bootstrap = settings.KAFKA_BOOTSTRAP_SERVERS
        self.stdout.write(
            f"demo producer: {options['rate']:g} events/s from {SAMPLE_EVENTS.name} "
            f"into {options['topic']!r} at {bootstrap}"
        )
        produced = produce_samples(
            bootstrap, options["topic"], rate=options["rate"], count=options["count"] or None
        )
        self.stdout.write(f"demo producer: {produced} events produced at {time.ctime()}")
