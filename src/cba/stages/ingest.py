"""The ingest stage: read the source (files, or a bounded read of the Kafka topic) and land it as Parquet."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from cba import sources, stream
from cba.config import Params, Paths
from cba.stream import TopicRead

__all__ = ["IngestResult", "landed_sentence", "run", "topic_sentence"]


@dataclass(frozen=True)
class IngestResult:
    """The landed tables, their sizes, and the topic read when the events came from Kafka."""

    tables: dict[str, pa.Table]
    summary: pd.DataFrame
    topic_read: TopicRead | None

    @property
    def preview(self) -> pd.DataFrame:
        """The first rows of the customers table, or of the events when there are no customers."""
        return self.tables["customers" if "customers" in self.tables else "events"].slice(0, 5).to_pandas()


def run(params: Params, paths: Paths) -> IngestResult:
    """Land the source's tables in ``datasets/interim/landed`` (and malformed topic messages beside them)."""
    if params.ingest.mode == "kafka":
        tables, topic_read = stream.load_from_topic(params.data, params.kafka)
        sources.land({"events_malformed": topic_read.malformed}, paths.landed)
    else:
        tables, topic_read = sources.load(params.data), None
    sources.land(tables, paths.landed)
    summary = pd.DataFrame(
        {
            "table": list(tables),
            "rows": [t.num_rows for t in tables.values()],
            "columns": [t.num_columns for t in tables.values()],
        }
    )
    return IngestResult(tables, summary, topic_read)


def landed_sentence(result: IngestResult, params: Params) -> str:
    """What was landed from where, and what a missing table means for the following chapters."""
    note = ""
    if "customers" not in result.tables:
        note = (
            " This source has no customers table: customers are derived from the events when they are "
            "cleaned."
        )
    elif "events" not in result.tables:
        note = (
            " This source has no event log: the analyses that need events are skipped in the following "
            "chapters."
        )
    if sources.CUSTOMER_IDS in result.tables:
        keyed = result.tables[sources.CUSTOMER_IDS].num_rows
        note += (
            f" The customer ids are not all whole numbers: each of the {keyed:,} ids got an integer key for "
            "the pipeline, and every score and prediction carries the original id "
            f"(`{sources.CUSTOMER_IDS}.parquet` maps one to the other)."
        )
    landed = ", ".join(f"{row.rows:,} {row.table}" for row in result.summary.itertuples())
    return (
        f"Landed {len(result.tables)} table(s) from `{params.data.path}` ({params.data.source} source): "
        f"{landed}.{note}"
    )


def topic_sentence(topic_read: TopicRead, params: Params) -> str:
    """Which offsets of the topic were read, and how many messages were landed or kept as malformed."""
    messages = topic_read.events.num_rows + topic_read.malformed.num_rows
    return (
        f"Read topic `{params.kafka.topic}` at {params.kafka.bootstrap_servers} from the beginning to the "
        f"end offsets {topic_read.end_offsets} (partition: offset): {messages:,} messages, of which "
        f"{topic_read.events.num_rows:,} events were landed and {topic_read.malformed.num_rows:,} malformed "
        "messages kept with their reason in `datasets/interim/landed/events_malformed.parquet`."
    )
