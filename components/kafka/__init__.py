"""Kafka components: the `kafka` trigger (consume) and the `kafka_produce` action.

Nothing is imported here on purpose: the registry loads `components.kafka.component` only
when a Kafka step is built, so processes that merely list the catalog skip the client.
"""
