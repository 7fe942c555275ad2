from django.apps import AppConfig


class ComponentsConfig(AppConfig):
    """Registers `components` with Django; the components themselves never import Django."""

    name = "components"
    verbose_name = "Components"
