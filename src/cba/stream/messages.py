"""The event message on the topic: JSON with a schema version, keyed by customer id.

A message carries one raw event (:data:`cba.schema.RAW_EVENTS`: the timestamp is text as received, so
that cleaning can reject what does not parse, with a reason). :func:`decode` accepts exactly that shape
and raises :class:`MalformedMessage` with a reason otherwise; such messages go to the dead-letter topic.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
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
    """Yield ``(key, value)`` per event row: the customer id as text, and the JSON event."""
    columns = [events.column(name).to_pylist() for name in EVENT_FIELDS]
    customer = EVENT_FIELDS.index("customer_id")
    dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
    for row in zip(*columns, strict=True):
        message = {"schema_version": SCHEMA_VERSION, **dict(zip(EVENT_FIELDS, row, strict=True))}
        yield str(row[customer]).encode(), dumps(message).encode()


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
