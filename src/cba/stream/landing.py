"""The ingest stage's Kafka mode: the source's tables, with the events read from the topic."""

from __future__ import annotations

import pyarrow as pa

from cba import sources
from cba.config import DataParams, KafkaParams
from cba.stream.connect import kafka_config
from cba.stream.consumer import TopicRead, read_topic

__all__ = ["load_from_topic"]


def load_from_topic(data: DataParams, kafka: KafkaParams) -> tuple[dict[str, pa.Table], TopicRead]:
    """The tables to land: events from a bounded read of ``kafka.topic``, the rest from ``data``.

    With the synthetic source, customers, sessions and orders come from ``data.path`` as in batch mode;
    an own event log (``data.source: events``) is replaced by the topic altogether, and its events are
    landed as the batch mode lands the log's: event names and compact dates written alike
    (:func:`cba.sources.canonical_event_values`), and text customer ids given the same integer keys and
    the same :data:`cba.sources.CUSTOMER_IDS` mapping (:func:`cba.sources.event_log_tables`).
    """
    read = read_topic(kafka_config(kafka), kafka.topic)
    if data.source == "events":
        events = sources.canonical_event_values(read.events, data.event_types)
        return sources.event_log_tables(events), read
    tables = sources.load_synthetic(data.path) if data.source == "synthetic" else {}
    return {**tables, "events": read.events}, read
