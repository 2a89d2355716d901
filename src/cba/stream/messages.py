"""The event message on the topic: JSON with a schema version, keyed by customer id.

A message carries one raw event (:data:`cba.schema.RAW_EVENTS`: the timestamp is text as received, so
that cleaning can reject what does not parse, with a reason). :func:`decode` accepts exactly that shape
and raises :class:`MalformedMessage` with a reason otherwise; such messages go to the dead-letter topic.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from json.encoder import encode_basestring_ascii as _json_string
from typing import Any

import pyarrow as pa

from cba import schema

__all__ = [
    "EVENT_FIELDS",
    "SCHEMA_VERSION",
    "MalformedMessage",
    "decode",
    "encode",
    "events_table",
]

SCHEMA_VERSION = 1
"""Version of the message layout; a consumer dead-letters versions it does not know."""

EVENT_FIELDS = tuple(schema.RAW_EVENTS.names)
"""Fields of every message besides ``schema_version``, in the order of the landed table."""

_PYTHON_TYPES = {pa.int64(): (int,), pa.float64(): (int, float), pa.string(): (str,)}
_CHECKS = tuple((c.name, _PYTHON_TYPES[c.dtype], c.nullable, str(c.dtype)) for c in schema.RAW_EVENTS.columns)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class MalformedMessage(ValueError):
    """A message that is not a valid event; the message text is the reason kept in the DLQ header."""


def encode(events: pa.Table) -> Iterator[tuple[bytes, bytes]]:
    """Yield ``(key, value)`` per event row: the customer id as text, and the JSON event.

    The same bytes as ``json.dumps`` of ``{"schema_version": 1, **event}`` with compact separators,
    built column by column; a NaN or infinite number raises ValueError, as JSON has none.
    """
    template = "{" + ",".join(f'"{name}":%s' for name in ("schema_version", *EVENT_FIELDS)) + "}"
    columns = [_json_values(events.column(name).to_pylist()) for name in EVENT_FIELDS]
    keys = [str(customer).encode() for customer in events.column("customer_id").to_pylist()]
    for key, row in zip(keys, zip(*columns, strict=True), strict=True):
        yield key, (template % (SCHEMA_VERSION, *row)).encode()


def _json_values(values: list[Any]) -> list[str]:
    """Each value as JSON text (``null`` for None), as ``json.dumps`` writes it."""
    out = []
    for value in values:
        if value is None:
            out.append("null")
        elif type(value) is str:
            out.append(_json_string(value))
        elif type(value) is float:
            if not math.isfinite(value):
                raise ValueError(f"{value} cannot be written as JSON")
            out.append(float.__repr__(value))
        else:
            out.append(int.__repr__(value))
    return out


def decode(value: bytes | None) -> dict[str, Any]:
    """Parse and check one message value; return the event fields.

    Raises
    ------
    MalformedMessage
        When the value is not JSON, not an object, of an unknown schema version, lacks a field, or
        holds a value of the wrong type; the text names the field.
    """
    if value is None:
        raise MalformedMessage("empty message (no value)")
    try:
        message = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise MalformedMessage(f"not JSON: {err}") from None
    if not isinstance(message, dict):
        raise MalformedMessage(f"not a JSON object but {type(message).__name__}")
    version = message.get("schema_version")
    if version != SCHEMA_VERSION:
        raise MalformedMessage(f"schema_version {version!r} is not {SCHEMA_VERSION}")
    event = {}
    for name, types, nullable, expected in _CHECKS:
        if name not in message:
            raise MalformedMessage(f"missing field {name!r}")
        item = message[name]
        if item is None:
            if not nullable:
                raise MalformedMessage(f"field {name!r} is null")
        elif type(item) not in types:
            raise MalformedMessage(
                f"field {name!r} is {type(item).__name__} {item!r:.40}, expected {expected}"
            )
        elif type(item) is int and not _INT64_MIN <= item <= _INT64_MAX:
            raise MalformedMessage(f"field {name!r} is {item} and does not fit in {expected}")
        event[name] = item
    return event


def events_table(events: list[dict[str, Any]]) -> pa.Table:
    """The decoded events as a table of the raw event schema, in the given order."""
    return pa.table(
        {name: [event[name] for event in events] for name in EVENT_FIELDS},
        schema=schema.RAW_EVENTS.arrow_schema,
    )
