"""confluent-kafka client settings from a Kafka step's config and credential.

`build_client_config` is a pure function: no I/O, no client. It checks the security settings
against the credential and raises ConfigError naming the field at fault; error messages name
fields, never their values, because the values may be secrets. PEM material is returned
apart from the properties (librdkafka reads certificates most reliably from files); the
caller writes it with `PemFiles` only when a client is actually made.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from components.base import ConfigError

ClientT = TypeVar("ClientT")

# librdkafka's own log lines go through Python logging instead of raw stderr.
librdkafka_logger = logging.getLogger("components.kafka.librdkafka")

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
START_FROM = ("earliest", "latest")

# Tansu (the embedded broker) holds every fetch for the full fetch.wait.max.ms even when data
# is waiting; Apache Kafka answers as soon as data is there. Low keeps both fast.
FETCH_WAIT_MAX_MS = 100
# Kafka's default is 45 s. Tansu makes a joining consumer wait about half the session timeout
# before it gets partitions, and a dead trigger runner's partitions move only after it;
# 10 s keeps both short while leaving heartbeats (a librdkafka thread) ample slack.
DEFAULT_SESSION_TIMEOUT_MS = 10_000
# Brokers refuse less than group.min.session.timeout.ms (6 s by default); librdkafka refuses
# more than max.poll.interval.ms (5 min by default).
SESSION_TIMEOUT_RANGE = (6_000, 300_000)
DEFAULT_DELIVERY_TIMEOUT_MS = 30_000
DELIVERY_TIMEOUT_RANGE = (1_000, 300_000)

# Credential field -> the librdkafka property that takes a PEM file's path.
PEM_LOCATIONS = {
    "ssl_ca_pem": "ssl.ca.location",
    "ssl_cert_pem": "ssl.certificate.location",
    "ssl_key_pem": "ssl.key.location",
}
# Properties that hold secrets, for `redacted`.
SECRET_PROPERTIES = frozenset({"sasl.password", "ssl.key.password"})


@dataclass(frozen=True)
class ClientConfig:
    """Properties for a confluent-kafka client, plus the PEM texts it needs as files.

    `pems` maps a librdkafka `*.location` property to the PEM text to put in that file.
    """

    properties: dict[str, Any]
    pems: dict[str, str] = field(default_factory=dict)


def _text(config: Mapping[str, Any], key: str) -> str:
    value = config.get(key)
    return value.strip() if isinstance(value, str) else ""


def choice(config: Mapping[str, Any], key: str, choices: tuple[str, ...], default: str) -> str:
    """`config[key]` if it is one of `choices`, `default` when absent; else ConfigError."""
    value = config.get(key)
    if value in (None, ""):
        return default
    if value not in choices:
        raise ConfigError(key, f"must be one of {', '.join(choices)}")
    return str(value)


def int_setting(config: Mapping[str, Any], key: str, low: int, high: int, default: int) -> int:
    """`config[key]` as a whole number within [low, high], `default` when absent."""
    value = config.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(key, "must be a whole number")
    if not low <= value <= high:
        raise ConfigError(key, f"must be between {low} and {high}")
    return value


def resolve_bootstrap(config: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
    """The step's `bootstrap_servers`, or the installation's when the step leaves it empty."""
    servers = _text(config, "bootstrap_servers") or _text(settings, "kafka_bootstrap_servers")
    if not servers:
        raise ConfigError(
            "bootstrap_servers",
            "no Kafka bootstrap servers: set this field or KAFKA_BOOTSTRAP_SERVERS",
        )
    return servers


def resolve_topic(config: Mapping[str, Any]) -> str:
    """The step's topic; ConfigError when it is missing or breaks Kafka's naming rule."""
    topic = _text(config, "topic")
    if not topic:
        raise ConfigError("topic", "this field is required")
    # Kafka's own rule. It also keeps a "^" out: librdkafka would read that as a regex.
    if len(topic) > 249 or not all(c.isascii() and (c.isalnum() or c in "._-") for c in topic):
        raise ConfigError("topic", "may hold only letters, digits, '.', '_' and '-'")
    return topic


def unique_client_id(role: str, flow_id: int, node_id: str) -> str:
    """A `client.id` unique per client, so broker logs and quotas tell trigger runners apart."""
    return f"tributary-{role}-{flow_id}-{node_id}-{uuid.uuid4().hex[:8]}"


def _require_secret(credential: Mapping[str, Any], key: str, why: str) -> str:
    value = credential.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"credential.{key}", f"required {why}")
    return value


def _sasl_properties(
    config: Mapping[str, Any], credential: Mapping[str, Any] | None, protocol: str
) -> dict[str, Any]:
    mechanism = choice(config, "sasl_mechanism", SASL_MECHANISMS, "PLAIN")
    if not credential:
        raise ConfigError(
            "credential",
            f"security_protocol {protocol} needs a credential of type kafka "
            "with a username and a password",
        )
    why = f"when security_protocol is {protocol}"
    return {
        "sasl.mechanism": mechanism,
        "sasl.username": _require_secret(credential, "username", why),
        "sasl.password": _require_secret(credential, "password", why),
    }


def _ssl_material(credential: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, str]]:
    """SSL properties and PEM files; without a CA PEM the system trust store is used."""
    credential = credential or {}
    pems = {
        PEM_LOCATIONS[key]: credential[key].strip() + "\n"
        for key in PEM_LOCATIONS
        if isinstance(credential.get(key), str) and credential[key].strip()
    }
    has_cert = "ssl.certificate.location" in pems
    has_key = "ssl.key.location" in pems
    if has_cert != has_key:
        missing = "ssl_key_pem" if has_cert else "ssl_cert_pem"
        raise ConfigError(
            f"credential.{missing}",
            "a client certificate needs both ssl_cert_pem and ssl_key_pem",
        )
    properties: dict[str, Any] = {}
    key_password = credential.get("ssl_key_password")
    if has_key and isinstance(key_password, str) and key_password:
        properties["ssl.key.password"] = key_password
    return properties, pems


def build_client_config(
    config: Mapping[str, Any],
    credential: Mapping[str, Any] | None,
    settings: Mapping[str, Any],
) -> ClientConfig:
    """Connection and security properties shared by consumers, producers and admin clients.

    Raises ConfigError naming the field when the settings are inconsistent, e.g. SASL without
    a credential or a client certificate without its key. A credential given with PLAINTEXT
    is ignored: nothing in it would be used.
    """
    protocol = choice(config, "security_protocol", SECURITY_PROTOCOLS, "PLAINTEXT")
    properties: dict[str, Any] = {
        "bootstrap.servers": resolve_bootstrap(config, settings),
        "security.protocol": protocol,
    }
    pems: dict[str, str] = {}
    if protocol.startswith("SASL_"):
        properties.update(_sasl_properties(config, credential, protocol))
    if protocol.endswith("SSL"):
        ssl_properties, pems = _ssl_material(credential)
        properties.update(ssl_properties)
    return ClientConfig(properties, pems)


def consumer_config(
    config: Mapping[str, Any],
    credential: Mapping[str, Any] | None,
    settings: Mapping[str, Any],
    *,
    group_id: str,
    client_id: str,
) -> ClientConfig:
    """A consumer that commits only what the caller commits, explicitly, per partition.

    Auto-commit and the automatic offset store are off: the platform commits a batch only
    after every message in it reached a final state (at-least-once).
    """
    base = build_client_config(config, credential, settings)
    session_timeout = int_setting(
        config, "session_timeout_ms", *SESSION_TIMEOUT_RANGE, DEFAULT_SESSION_TIMEOUT_MS
    )
    properties = {
        **base.properties,
        "group.id": group_id,
        "client.id": client_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": choice(config, "start_from", START_FROM, "earliest"),
        "fetch.wait.max.ms": FETCH_WAIT_MAX_MS,
        "session.timeout.ms": session_timeout,
    }
    return ClientConfig(properties, base.pems)


def producer_config(
    config: Mapping[str, Any],
    credential: Mapping[str, Any] | None,
    settings: Mapping[str, Any],
    *,
    client_id: str,
) -> ClientConfig:
    """An idempotent producer: librdkafka's own retries can neither duplicate nor reorder."""
    base = build_client_config(config, credential, settings)
    delivery_timeout = int_setting(
        config, "delivery_timeout_ms", *DELIVERY_TIMEOUT_RANGE, DEFAULT_DELIVERY_TIMEOUT_MS
    )
    properties = {
        **base.properties,
        "client.id": client_id,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "message.timeout.ms": delivery_timeout,
    }
    return ClientConfig(properties, base.pems)


def with_properties(client: ClientConfig, **extra: Any) -> ClientConfig:
    """`client` plus callbacks or properties that are not part of the step's settings.

    Every client logs through `librdkafka_logger`; `extra` may add or override properties.
    """
    return ClientConfig({**client.properties, "logger": librdkafka_logger, **extra}, client.pems)


def redacted(properties: Mapping[str, Any]) -> dict[str, Any]:
    """A copy safe to log: secret values replaced."""
    return {key: "***" if key in SECRET_PROPERTIES else value for key, value in properties.items()}


class PemFiles:
    """PEM texts written to files in a private directory, removed by `cleanup()`.

    librdkafka loads certificates and keys when the client is created, so callers remove the
    files right after that: the secrets stay on disk for milliseconds, readable by the owner
    only.
    """

    def __init__(self, pems: Mapping[str, str]) -> None:
        self.directory: str | None = None
        self.locations: dict[str, str] = {}
        if not pems:
            return
        self.directory = tempfile.mkdtemp(prefix="tributary-kafka-")  # mode 0700
        for location_key, text in pems.items():
            path = os.path.join(self.directory, location_key.replace(".", "-") + ".pem")
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(text)
            self.locations[location_key] = path

    def properties(self, client: ClientConfig) -> dict[str, Any]:
        """The client's properties with the PEM file paths filled in."""
        return {**client.properties, **self.locations}

    def cleanup(self) -> None:
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None


def create_client(factory: Callable[[dict[str, Any]], ClientT], client: ClientConfig) -> ClientT:
    """Make a confluent-kafka client; PEM files exist only while it is being made.

    A property librdkafka rejects (e.g. a key that does not match its certificate) becomes
    a ConfigError; librdkafka's message names the property, never its value.
    """
    from confluent_kafka import KafkaException

    files = PemFiles(client.pems)
    try:
        return factory(files.properties(client))
    except KafkaException as error:
        field = "credential" if client.pems else ""
        raise ConfigError(
            field, f"the Kafka client rejected its settings: {kafka_reason(error)}"
        ) from None
    finally:
        files.cleanup()


def kafka_reason(error: BaseException) -> str:
    """librdkafka's own words for a KafkaException, without the class wrapper."""
    first = error.args[0] if error.args else None
    describe = getattr(first, "str", None)
    return str(describe()) if callable(describe) else str(error)
