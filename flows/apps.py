from django.apps import AppConfig


class FlowsConfig(AppConfig):
    name = "flows"
    verbose_name = "Flows"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Components report retries, sandbox kills and request spans through this.
        from flows.engine import telemetry

        telemetry.install()
