"""JSON Schemas for the Kafka descriptors: the `kafka` credential, the connection settings
both steps share, and each step's own settings.

The components check the same rules again when they are built (see client_config.py), so
these schemas describe the form; they are not the only guard.
"""

from __future__ import annotations

from typing import Any

from components.kafka.client_config import (
    DEFAULT_DELIVERY_TIMEOUT_MS,
    DEFAULT_SESSION_TIMEOUT_MS,
    DELIVERY_TIMEOUT_RANGE,
    SASL_MECHANISMS,
    SECURITY_PROTOCOLS,
    SESSION_TIMEOUT_RANGE,
    START_FROM,
)

VALUE_FORMATS = ("json", "text")
TOPIC_PATTERN = r"^[A-Za-z0-9._-]{1,249}$"

CONNECTION_PROPERTIES: dict[str, Any] = {
    "bootstrap_servers": {
        "type": "string",
        "title": "Bootstrap servers",
        "description": "host:port[,host:port...]. Empty: the installation's "
        "KAFKA_BOOTSTRAP_SERVERS.",
        "default": "",
    },
    "topic": {
        "type": "string",
        "title": "Topic",
        "pattern": TOPIC_PATTERN,
        "description": "Letters, digits, '.', '_' and '-'.",
    },
    "security_protocol": {
        "type": "string",
        "title": "Security protocol",
        "enum": list(SECURITY_PROTOCOLS),
        "default": "PLAINTEXT",
    },
    "sasl_mechanism": {
        "type": "string",
        "title": "SASL mechanism",
        "enum": list(SASL_MECHANISMS),
        "default": "PLAIN",
        "description": "Used with SASL_PLAINTEXT and SASL_SSL; the credential holds the "
        "username and password.",
    },
}

CREDENTIAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "username": {"type": "string", "title": "SASL username"},
        "password": {"type": "string", "title": "SASL password", "secret": True},
        "ssl_ca_pem": {
            "type": "string",
            "title": "CA certificate (PEM)",
            "description": "Empty: the system's trusted CAs.",
            "format": "textarea",
        },
        "ssl_cert_pem": {
            "type": "string",
            "title": "Client certificate (PEM)",
            "format": "textarea",
        },
        "ssl_key_pem": {
            "type": "string",
            "title": "Client private key (PEM)",
            "secret": True,
            "format": "textarea",
        },
        "ssl_key_password": {
            "type": "string",
            "title": "Private key password",
            "description": "Only for an encrypted private key.",
            "secret": True,
        },
    },
}

TRIGGER_CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["topic"],
    "properties": {
        **CONNECTION_PROPERTIES,
        "group_id": {
            "type": "string",
            "title": "Consumer group",
            "description": "Empty: tributary-flow-<flow id>. Flows sharing a group share "
            "the topic's messages.",
            "default": "",
        },
        "start_from": {
            "type": "string",
            "title": "Start from",
            "enum": list(START_FROM),
            "default": "earliest",
            "description": "Where a group without committed offsets starts.",
        },
        "value_format": {
            "type": "string",
            "title": "Value format",
            "enum": list(VALUE_FORMATS),
            "default": "json",
        },
        "batch_size": {
            "type": "integer",
            "title": "Batch size",
            "minimum": 1,
            "maximum": 10_000,
            # Large batches spread each batch's fixed costs (Celery hops, SQL statements,
            # notifications) thinner: 1,000 against 500 measured +10% events/s and -7% CPU
            # per event in `make bench`. A poll returns what came within max_wait_ms anyway.
            "default": 1000,
        },
        "max_wait_ms": {
            "type": "integer",
            "title": "Max wait (ms)",
            "description": "How long a poll waits to fill a batch.",
            "minimum": 0,
            "maximum": 60_000,
            "default": 500,
        },
        "session_timeout_ms": {
            "type": "integer",
            "title": "Session timeout (ms)",
            "description": "After this long without heartbeats the group moves this "
            "consumer's partitions elsewhere.",
            "minimum": SESSION_TIMEOUT_RANGE[0],
            "maximum": SESSION_TIMEOUT_RANGE[1],
            "default": DEFAULT_SESSION_TIMEOUT_MS,
        },
    },
}

PRODUCE_CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["topic"],
    "properties": {
        **CONNECTION_PROPERTIES,
        "key": {
            "type": "string",
            "title": "Key",
            "description": "A message field path starting with body., headers., meta. or "
            "id (e.g. body.user_id), or a literal. Empty: no key.",
            "default": "",
        },
        "delivery_timeout_ms": {
            "type": "integer",
            "title": "Delivery timeout (ms)",
            "minimum": DELIVERY_TIMEOUT_RANGE[0],
            "maximum": DELIVERY_TIMEOUT_RANGE[1],
            "default": DEFAULT_DELIVERY_TIMEOUT_MS,
        },
    },
}
