"""The event message on the topic: JSON with a schema version, keyed by customer id.

A message carries one raw event (:data:`cba.schema.RAW_EVENTS`: the timestamp is text as received, so
that cleaning can reject what does not parse, with a reason). The customer id is a whole number or any
non-empty text (UUIDs, account codes), as an own event log has it; decoded events keep integer ids as
``int64`` and hold text ids as ``string`` (:data:`TEXT_ID_EVENTS`), where an integer among text ids is
written as its decimal text. :func:`decode` accepts exactly that shape and raises
:class:`MalformedMessage` with a reason otherwise; such messages go to the dead-letter topic.
:func:`decode_many` does the same for a batch of messages at once, straight into an Arrow table.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import replace
from json.encoder import encode_basestring_ascii as _json_string
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from cba import schema

__all__ = [
    "EVENT_FIELDS",
    "SCHEMA_VERSION",
    "TEXT_ID_EVENTS",
    "MalformedMessage",
    "concat_events",
    "decode",
    "decode_many",
    "encode",
    "events_table",
]

SCHEMA_VERSION = 1
"""Version of the message layout; a consumer dead-letters versions it does not know."""

EVENT_FIELDS = tuple(schema.RAW_EVENTS.names)
"""Fields of every message besides ``schema_version``, in the order of the landed table."""

TEXT_ID_EVENTS = schema.Table(
    schema.RAW_EVENTS.name,
    tuple(
        replace(c, dtype=pa.string(), description="Customer who acted, the id as text")
        if c.name == "customer_id"
        else c
        for c in schema.RAW_EVENTS.columns
    ),
)
"""Raw events whose customer ids are text (UUIDs, account codes): the decoded shape of such messages."""

_PYTHON_TYPES = {pa.int64(): (int,), pa.float64(): (int, float), pa.string(): (str,)}
_ID_TYPES = ((int, str), "int64 or string")  # a whole number or text
_CHECKS = tuple(
    (c.name, *(_ID_TYPES if c.name == "customer_id" else (_PYTHON_TYPES[c.dtype], str(c.dtype))), c.nullable)
    for c in schema.RAW_EVENTS.columns
)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_ESCAPED = r"[^\x20-\x21\x23-\x5b\x5d-\x7e]"  # json.dumps escapes all but printable ASCII, " and \
_REQUIRED = tuple(c.name for c in schema.RAW_EVENTS.columns if not c.nullable)
_ID_SCHEMAS = (schema.RAW_EVENTS.arrow_schema, TEXT_ID_EVENTS.arrow_schema)  # integer ids, text ids
_PARSE_TOGETHER = tuple(
    pajson.ParseOptions(
        explicit_schema=pa.schema(
            [pa.field("schema_version", pa.int64())] + [field.with_nullable(True) for field in event_schema]
        ),
        unexpected_field_behavior="ignore",
        newlines_in_values=False,
    )
    for event_schema in _ID_SCHEMAS
)


class MalformedMessage(ValueError):
    """A message that is not a valid event; the message text is the reason kept in the DLQ header."""


def encode(events: pa.Table) -> Iterator[tuple[bytes, bytes]]:
    """Yield ``(key, value)`` per event row: the customer id as text, and the JSON event.

    The same bytes as ``json.dumps`` of ``{"schema_version": 1, **event}`` with compact separators,
    built column by column in Arrow; a NaN or infinite number raises ValueError, as JSON has none.
    """
    pieces: list[Any] = []
    for position, name in enumerate(("schema_version", *EVENT_FIELDS)):
        pieces.append(("{" if position == 0 else ",") + f'"{name}":')
        pieces.append(str(SCHEMA_VERSION) if position == 0 else _json_texts(events.column(name)))
    pieces += ["}", ""]  # the last argument is the separator
    values = pc.binary_join_element_wise(*pieces).cast(pa.binary()).to_pylist()
    keys = pc.cast(events.column("customer_id"), pa.string()).cast(pa.binary()).to_pylist()
    yield from zip(keys, values, strict=True)


def _json_texts(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Each value of ``column`` as JSON text (``null`` for None), as ``json.dumps`` writes it."""
    if pa.types.is_integer(column.type):
        texts = pc.cast(column, pa.string())
    elif pa.types.is_string(column.type) and not pc.any(pc.match_substring_regex(column, _ESCAPED)).as_py():
        texts = pc.binary_join_element_wise('"', column, '"', "")
    else:  # floats (Python's shortest repr) and text with characters JSON escapes
        texts = pa.chunked_array([_json_values(column.to_pylist())], pa.string())
    return pc.fill_null(texts, "null")


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
        When the value is not JSON, not an object, of an unknown schema version, lacks a field, holds
        a value of the wrong type, or has an empty customer id; the text names the field.
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
    for name, types, expected, nullable in _CHECKS:
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
            raise MalformedMessage(f"field {name!r} is {item} and does not fit in int64")
        event[name] = item
    if event["customer_id"] == "":
        raise MalformedMessage("field 'customer_id' is an empty string")
    return event


def decode_many(values: Sequence[bytes | None]) -> tuple[pa.Table, list[tuple[int, str]]]:
    """Decode message values at once, as :func:`decode` would one by one.

    Returns the valid events as a table, in the given order (text ids when any id is text, see
    :func:`events_table`), and ``(position, reason)`` of each malformed value. The values are parsed
    together as newline-delimited JSON and checked column by column; only when that finds a fault (or
    a value that is not one single-line JSON document) is each value decoded on its own, to name the
    malformed ones.
    """
    together = _parse_together(values)
    if together is not None:
        return together, []
    events, malformed = [], []
    for position, value in enumerate(values):
        try:
            events.append(decode(value))
        except MalformedMessage as reason:
            malformed.append((position, str(reason)))
    return events_table(events), malformed


def _parse_together(values: Sequence[bytes | None]) -> pa.Table | None:
    """The events of ``values`` when every one is a valid single-line event message, else None."""
    # A line holds exactly one document unless it is blank (no row) or has several (several rows):
    # with no blank line, one row per line is the same as as many rows as values.
    if not values or not all(value and not value.isspace() for value in values):
        return None
    joined = b"\n".join(values)
    if joined.count(b"\n") != len(values) - 1 or b"\r" in joined:
        return None
    for options, event_schema in zip(_PARSE_TOGETHER, _ID_SCHEMAS, strict=True):
        try:  # integer ids first, then text ids; ids of both kinds fail both
            table = pajson.read_json(io.BytesIO(joined), parse_options=options)
        except (pa.ArrowException, ValueError):  # not JSON, a wrong type, an int beyond int64
            continue
        if table.num_rows != len(values):
            return None
        version = table.column("schema_version")
        if version.null_count or not pc.all(pc.equal(version, SCHEMA_VERSION)).as_py():
            return None
        if any(table.column(name).null_count for name in _REQUIRED):
            return None
        ids = table.column("customer_id")
        if pa.types.is_string(ids.type) and pc.any(pc.equal(ids, "")).as_py():
            return None
        return pa.table([table.column(name) for name in EVENT_FIELDS], schema=event_schema)
    return None


def events_table(events: list[dict[str, Any]]) -> pa.Table:
    """The decoded events as a table, in the given order.

    Of the raw event schema when every customer id is a whole number, else of :data:`TEXT_ID_EVENTS`
    with each whole-number id written as its decimal text.
    """
    columns = {name: [event[name] for event in events] for name in EVENT_FIELDS}
    if not any(type(customer_id) is str for customer_id in columns["customer_id"]):
        return pa.table(columns, schema=schema.RAW_EVENTS.arrow_schema)
    columns["customer_id"] = [str(customer_id) for customer_id in columns["customer_id"]]
    return pa.table(columns, schema=TEXT_ID_EVENTS.arrow_schema)


def concat_events(tables: Sequence[pa.Table]) -> pa.Table:
    """Decoded event tables as one, in the given order; when any has text ids, every id is text."""
    if any(pa.types.is_string(table.schema.field("customer_id").type) for table in tables):
        tables = [table.cast(TEXT_ID_EVENTS.arrow_schema) for table in tables]
    return pa.concat_tables(tables)
