"""Delete execution records past their retention now, as the beat task does every 10 min."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from flows.services.retention import prune_executions


class Command(BaseCommand):
    help = (
        "Delete executions (with their step records) older than each flow's retention "
        "(Flow.retention_days, else TRIBUTARY_EXECUTION_RETENTION_DAYS) or beyond the newest "
        "TRIBUTARY_EXECUTION_RETENTION_COUNT of a flow, in chunks."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        deleted = prune_executions()
        for flow_id, count in deleted.items():
            self.stdout.write(f"flow {flow_id}: {count} executions deleted")
        self.stdout.write(f"{sum(deleted.values())} executions deleted")
