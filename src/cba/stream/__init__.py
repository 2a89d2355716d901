"""The live path: events into Kafka, out of Kafka into the Parquet landing and Elasticsearch.

``cba stream produce`` sends events as JSON messages keyed by customer id; ``cba stream consume`` reads
them at least once into idempotent sinks (the effect is exactly once) and dead-letters malformed
messages to ``<topic>.dlq``; the ingest stage's Kafka mode is a bounded read of the same topic.
"""

from cba.stream.connect import MediaTypeRejected, SettingsError, elasticsearch_client, kafka_config
from cba.stream.consumer import ConsumeReport, StreamError, TopicRead, consume, dead_letter_topic, read_topic
from cba.stream.elasticsearch import (
    BulkError,
    BulkReport,
    ElasticsearchSink,
    FailureLog,
    bulk_index,
    index_scores,
)
from cba.stream.landing import load_from_topic
from cba.stream.messages import SCHEMA_VERSION, MalformedMessage, decode, decode_many, encode
from cba.stream.parquet import ParquetSink, read_parquet_sink
from cba.stream.producer import ProduceError, ensure_topic, produce, read_events

__all__ = [
    "SCHEMA_VERSION",
    "BulkError",
    "BulkReport",
    "ConsumeReport",
    "ElasticsearchSink",
    "FailureLog",
    "MalformedMessage",
    "MediaTypeRejected",
    "ParquetSink",
    "ProduceError",
    "SettingsError",
    "StreamError",
    "TopicRead",
    "bulk_index",
    "consume",
    "dead_letter_topic",
    "decode",
    "decode_many",
    "elasticsearch_client",
    "encode",
    "ensure_topic",
    "index_scores",
    "kafka_config",
    "load_from_topic",
    "produce",
    "read_events",
    "read_parquet_sink",
    "read_topic",
]
