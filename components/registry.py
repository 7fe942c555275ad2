"""The explicit list of installed components. Adding a component = one package + one line here."""

from __future__ import annotations

import importlib
from functools import cache

from components.base import Action, Descriptor, Trigger

# name -> "package.module:Class". Imported lazily so that, e.g., the web process never loads
# the Kafka client just to list the catalog.
COMPONENTS: dict[str, str] = {
    "kafka": "components.kafka.component:KafkaTrigger",
    "kafka_produce": "components.kafka.component:KafkaProduce",
    "code": "components.code.component:CodeAction",
    "rest": "components.rest.component:RestAction",
    "bloomreach": "components.bloomreach.component:BloomreachAction",
}


class UnknownComponent(KeyError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        known = ", ".join(sorted(COMPONENTS))
        return f"unknown component {self.name!r} (known: {known})"


@cache
def component_class(name: str) -> type[Action] | type[Trigger]:
    try:
        target = COMPONENTS[name]
    except KeyError:
        raise UnknownComponent(name) from None
    module_name, _, class_name = target.partition(":")
    cls: type[Action] | type[Trigger] = getattr(importlib.import_module(module_name), class_name)
    return cls


def descriptor(name: str) -> Descriptor:
    return component_class(name).descriptor


def all_descriptors() -> list[Descriptor]:
    return [descriptor(name) for name in COMPONENTS]
