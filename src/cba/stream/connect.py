"""Connection settings for Kafka and Elasticsearch, from params and flags; secrets from the environment.

Every Elasticsearch request carries the media type that ``elasticsearch.compatibility`` names, pinned
at the transport layer by :class:`MediaTypeNode`: ``8`` or ``9`` send
``application/vnd.elasticsearch+json; compatible-with=<major>`` (``+x-ndjson`` for bulk bodies), which
Elasticsearch clusters of that major and the next accept; ``json`` sends plain ``application/json`` and
``application/x-ndjson``, for servers that speak the REST API without its versioned media types. Null
means the installed client's major, the media type the client sends on its own.
"""

from __future__ import annotations

import functools
import os
import re
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import elasticsearch
from elastic_transport import HttpHeaders, Urllib3HttpNode
from elastic_transport.client_utils import DEFAULT, DefaultType
from elasticsearch import Elasticsearch

from cba.config import ElasticsearchParams, KafkaParams

if TYPE_CHECKING:
    from elastic_transport._node import NodeApiResponse

__all__ = [
    "CLIENT_MAJOR",
    "MediaTypeNode",
    "MediaTypeRejected",
    "SettingsError",
    "elasticsearch_client",
    "kafka_config",
    "media_type",
    "secret",
]

CLIENT_MAJOR: int = elasticsearch.__version__[0]
"""Major version of the installed elasticsearch client: what ``elasticsearch.compatibility: null`` means."""

_VERSIONED_MEDIA_TYPE = re.compile(
    r"application/vnd\.elasticsearch\+([\w.-]+)(?:\s*;\s*compatible-with=\d+)?"
)


class SettingsError(ValueError):
    """Settings that cannot make a connection, e.g. a missing secret; the message names the key."""


class MediaTypeRejected(SettingsError):
    """The server refused the media type of a request: ``elasticsearch.compatibility`` does not fit it."""


def media_type(compatibility: Literal[8, 9, "json"] | None, subtype: str = "json") -> str:
    """The media type of a ``subtype`` body (``json``, ``x-ndjson``) under ``compatibility``."""
    chosen = CLIENT_MAJOR if compatibility is None else compatibility
    if chosen == "json":
        return f"application/{subtype}"
    return f"application/vnd.elasticsearch+{subtype}; compatible-with={chosen}"


class MediaTypeNode(Urllib3HttpNode):
    """An HTTP node that sends every request in the media type of :attr:`compatibility`.

    The client sets ``Accept`` and ``Content-Type`` to its own major's versioned media type; this node
    rewrites them to the chosen one and turns the server's refusal of a media type (HTTP 406, or 400
    ``media_type_header_exception``) into :class:`MediaTypeRejected`.
    """

    compatibility: ClassVar[Literal[8, 9, "json"] | None] = None

    def perform_request(
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        headers: HttpHeaders | None = None,
        request_timeout: DefaultType | float | None = DEFAULT,
    ) -> NodeApiResponse:
        """Send the request with the chosen media type; raise :class:`MediaTypeRejected` if refused."""
        if headers:
            headers = headers.copy()
            for name in ("accept", "content-type"):
                if name in headers:
                    headers[name] = _VERSIONED_MEDIA_TYPE.sub(
                        lambda match: media_type(self.compatibility, match[1]), headers[name]
                    )
        response = super().perform_request(method, target, body, headers, request_timeout)
        status = response.meta.status
        if status == 406 or (status == 400 and b"media_type_header_exception" in (response.body or b"")):
            raise MediaTypeRejected(self._refusal(status))
        return response

    def _refusal(self, status: int) -> str:
        origin = (
            f"elasticsearch.compatibility is null: the installed client's major, {CLIENT_MAJOR}"
            if self.compatibility is None
            else f"elasticsearch.compatibility is {self.compatibility}"
        )
        return (
            f"{self.base_url} refused the media type {media_type(self.compatibility)} "
            f"(HTTP {status}; {origin}); set elasticsearch.compatibility in params.yaml or "
            "--es-compatibility to the cluster's major (8 for Elasticsearch 8.x, 9 for 9.x) or to json for "
            "servers without versioned media types"
        )


@functools.cache
def _node_class(compatibility: Literal[8, 9, "json"] | None) -> type[MediaTypeNode]:
    return type(f"MediaTypeNode_{compatibility}", (MediaTypeNode,), {"compatibility": compatibility})


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
    """A client for the cluster at ``url``: TLS verification per params, an API key from the environment.

    Every request it makes carries the media type of ``settings.compatibility`` (see :class:`MediaTypeNode`).
    """
    api_key = secret(settings.api_key_env, "elasticsearch.api_key_env", False)
    return Elasticsearch(
        url,
        api_key=api_key,
        verify_certs=settings.verify_certs,
        ca_certs=settings.ca_certs,
        request_timeout=60,
        node_class=_node_class(settings.compatibility),
    )
