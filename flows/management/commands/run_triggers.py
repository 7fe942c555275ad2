from __future__ import annotations

import signal
from typing import Any

from django.core.management.base import BaseCommand

from flows.engine import collector
from flows.engine.runner import TriggerRunner


class Command(BaseCommand):
    help = "Run the trigger runner: one Kafka consumer per running flow, batches to Celery."

    def handle(self, *args: Any, **options: Any) -> None:
        collector.tune()
        runner = TriggerRunner()

        def stop(signum: int, frame: object) -> None:
            runner.stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write("trigger runner: watching for running flows")
        runner.run_forever()
        self.stdout.write("trigger runner: stopped")
