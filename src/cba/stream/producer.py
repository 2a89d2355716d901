"""Stream events into a Kafka topic: JSON messages keyed by customer id, every send acknowledged."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError
from kafka.partitioner.default import murmur2

from cba import schema
from cba.stream.messages import EVENT_FIELDS, TEXT_ID_EVENTS, encode

__all__ = ["ProduceError", "ensure_topic", "produce", "read_events"]


class ProduceError(RuntimeError):
    """Events could not be read or not every send was acknowledged."""


def read_events(path: str | Path) -> pa.Table:
    """Read raw events (:data:`cba.schema.RAW_EVENTS`) from Parquet or CSV, one file or a folder.

    A folder may be date-partitioned (``event_date=.../part-0.parquet``, as the generator writes); the
    partition keys are dropped. Customer ids are whole numbers or text (:data:`TEXT_ID_EVENTS`); in a
    CSV file they are read as whole numbers when every one is, else as text. Raises
    :class:`cba.schema.SchemaError` naming the file and the column.
    """
    path = Path(path)
    if not path.exists():
        raise ProduceError(f"{path}: not found")
    csv = path.suffix.lower() == ".csv" or (path.is_dir() and any(path.rglob("*.csv")))
    if csv:
        column_types = TEXT_ID_EVENTS.arrow_schema  # the ids as text, then as numbers where they all are
        as_types = pacsv.ConvertOptions(column_types=column_types, strings_can_be_null=True)
        files = sorted(path.rglob("*.csv")) if path.is_dir() else [path]
        table = pa.concat_tables([pacsv.read_csv(f, convert_options=as_types) for f in files])
        table = _whole_number_ids(table)
    else:
        table = ds.dataset(path, format="parquet", partitioning="hive").to_table()
    ids = table.schema.field("customer_id").type if "customer_id" in table.column_names else None
    schema.validate(table, TEXT_ID_EVENTS if ids == pa.string() else schema.RAW_EVENTS, path)
    return table.select(list(EVENT_FIELDS))


def _whole_number_ids(events: pa.Table) -> pa.Table:
    """``events`` with integer customer ids when every id (read as text) is a whole number."""
    if "customer_id" not in events.column_names:
        return events
    try:
        ids = pc.cast(events.column("customer_id"), pa.int64())
    except pa.ArrowInvalid:  # text ids (UUIDs, account codes), or numbers beyond int64
        return events
    return events.set_column(events.column_names.index("customer_id"), "customer_id", ids)


def ensure_topic(config: dict[str, Any], topic: str, partitions: int, replication_factor: int) -> bool:
    """Create ``topic`` when the cluster does not have it; True when it was created."""
    admin = KafkaAdminClient(**config)
    try:
        if topic in admin.list_topics():
            return False
        try:
            admin.create_topics([NewTopic(topic, partitions, replication_factor)])
        except TopicAlreadyExistsError:
            return False
        return True
    finally:
        admin.close()


def produce(
    events: pa.Table,
    config: dict[str, Any],
    topic: str,
    rate: float | None = None,
    on_sent: Callable[[int], None] | None = None,
    batch_bytes: int = 256 * 1024,
) -> int:
    """Send every event row to ``topic``; return how many the brokers acknowledged.

    Each message is keyed by its customer id, so a customer's events stay in one partition, in order.
    ``rate`` (events per second) replays at a steady pace; None sends as fast as possible. ``on_sent``
    is called with the number of events handed to the client since its last call; ``batch_bytes`` caps
    the size of a record batch per partition. Waits for every send
    to be acknowledged (``acks=all``) and raises :class:`ProduceError` when any failed.

    The partition of a key is the default partitioner's (murmur2 of the key over the topic's
    partitions, as the Java client does), worked out once per customer rather than once per event.
    """
    producer = KafkaProducer(acks="all", linger_ms=20, batch_size=batch_bytes, **config)
    failures: list[BaseException] = []
    sent = 0
    try:
        partitions = sorted(producer.partitions_for(topic))
        partition_of: dict[bytes, int] = {}
        start = time.monotonic()
        for sent, (key, value) in enumerate(encode(events), start=1):
            partition = partition_of.get(key)
            if partition is None:
                partition = partition_of[key] = partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)]
            send = producer.send(topic, key=key, value=value, partition=partition)
            send.add_errback(failures.append)
            if rate is not None:
                ahead = start + sent / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            if on_sent is not None and sent % 1000 == 0:
                on_sent(1000)
        producer.flush()
    finally:
        producer.close()
    if on_sent is not None and sent % 1000:
        on_sent(sent % 1000)
    if failures:
        raise ProduceError(f"{len(failures)} of {sent} sends to {topic} failed; first: {failures[0]!r}")
    return sent
