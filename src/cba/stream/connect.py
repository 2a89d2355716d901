"""Connection settings for Kafka and Elasticsearch, from params and flags; secrets from the environment."""

from __future__ import annotations

import os
from typing import Any

from elasticsearch import Elasticsearch

from cba.config import ElasticsearchParams, KafkaParams

__all__ = ["SettingsError", "elasticsearch_client", "kafka_config", "secret"]


class SettingsError(ValueError):
    """Settings that cannot make a connection, e.g. a missing secret; the message names the key."""


def secret(env_var: str, key: str, required: bool) -> str | None:
    """The value of environment variable ``env_var`` (named by params key ``key``), or None when unset."""
    value = os.environ.get(env_var)
    if required and not value:
        raise SettingsError(f"environment variable {env_var} (named by {key} in params.yaml) is not set")
    return value or None


def kafka_config(kafka: KafkaParams, bootstrap_servers: str | None = None) -> dict[str, Any]:
    """Keyword arguments for kafka-python clients: brokers, TLS and SASL (password from the environment)."""
    config: dict[str, Any] = {
        "bootstrap_servers": (bootstrap_servers or kafka.bootstrap_servers).split(","),
        "security_protocol": kafka.security_protocol,
        "client_id": "cba",
    }
    if kafka.security_protocol in ("SSL", "SASL_SSL") and kafka.ssl_cafile:
        config["ssl_cafile"] = kafka.ssl_cafile
    if kafka.security_protocol.startswith("SASL"):
        if kafka.sasl_mechanism is None or kafka.sasl_username is None:
            raise SettingsError(
                f"kafka.security_protocol {kafka.security_protocol} needs kafka.sasl_mechanism and "
                "kafka.sasl_username in params.yaml"
            )
        config["sasl_mechanism"] = kafka.sasl_mechanism
        config["sasl_plain_username"] = kafka.sasl_username
        config["sasl_plain_password"] = secret(kafka.sasl_password_env, "kafka.sasl_password_env", True)
    return config


def elasticsearch_client(url: str, settings: ElasticsearchParams) -> Elasticsearch:
    """A client for the cluster at ``url``: TLS verification per params, an API key from the environment."""
    api_key = secret(settings.api_key_env, "elasticsearch.api_key_env", False)
    return Elasticsearch(
        url,
        api_key=api_key,
        verify_certs=settings.verify_certs,
        ca_certs=settings.ca_certs,
        request_timeout=60,
    )
