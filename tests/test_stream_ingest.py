"""The ingest stage in Kafka mode gives the pipeline exactly what the batch mode gives on the same events."""

import json
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cba import generate, schema
from cba.stream import ensure_topic, kafka_config, produce, read_events
from conftest import copy_project, run

pytestmark = pytest.mark.e2e

PROCESSED = ("processed/events.parquet", "processed/customers.parquet", "features/customers.parquet")
"""The tables after cleaning and features, which both modes must give alike."""


def landed(copy: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(copy / "datasets" / "interim" / "landed" / f"{name}.parquet")


def assert_same_downstream_tables(batch: Path, kafka: Path) -> None:
    assert len(landed(kafka, "events_malformed")) == 0
    for table in PROCESSED:
        expected = pd.read_parquet(batch / "datasets" / table)
        pd.testing.assert_frame_equal(pd.read_parquet(kafka / "datasets" / table), expected, obj=table)
    quality = [json.loads((c / "metrics" / "data_quality.json").read_text()) for c in (batch, kafka)]
    assert quality[0] == quality[1]


def produce_to_new_topic(events_path: Path, bootstrap: str, params, topic: str) -> int:
    config = kafka_config(params.kafka, bootstrap)
    ensure_topic(config, topic, 3, 1)
    # One record per batch: the stand-in broker reports a partition's end offset as its last batch's
    # first offset + 1, which is the true end only when batches hold one record.
    return produce(read_events(events_path), config, topic, batch_bytes=1)


def test_kafka_ingest_gives_the_same_tables_as_batch(tmp_path, kafka_bootstrap, params):
    topic = f"ingest-{uuid.uuid4().hex[:8]}"
    batch = copy_project(tmp_path / "batch", {"ingest": {"mode": "batch"}})
    kafka = copy_project(
        tmp_path / "kafka",
        {"ingest": {"mode": "kafka"}, "kafka": {"bootstrap_servers": kafka_bootstrap, "topic": topic}},
    )
    run(["dvc", "repro", "generate"], kafka)
    produced = produce_to_new_topic(
        kafka / "datasets" / "raw" / "synthetic" / "events", kafka_bootstrap, params, topic
    )

    for copy in (batch, kafka):
        run(["dvc", "repro", "features"], copy)

    assert len(landed(kafka, "events")) == len(landed(batch, "events")) == produced
    assert_same_downstream_tables(batch, kafka)


def text_id_log(params, customers: int = 300, events: int = 20_000, seed: int = 17) -> pd.DataFrame:
    """The generator's events as an own log would have them: every raw event column, rows numbered in
    file order, and customer ids that are UUIDs, account codes or zero-padded numbers (as text)."""
    settings = params.generate.model_copy(update={"num_customers": customers, "num_events": events})
    log = generate.generate(settings, params.seed).events.select(schema.RAW_EVENTS.names).to_pandas()
    rng = np.random.default_rng(seed)
    ids = {}
    for number in sorted(log["customer_id"].unique()):
        kind = number % 3
        if kind == 0:
            ids[number] = str(uuid.UUID(int=int(rng.integers(0, 2**63)) << 64 | int(rng.integers(0, 2**63))))
        else:
            ids[number] = f"acct-{number:05d}" if kind == 1 else f"{number:06d}"
    return log.assign(event_id=np.arange(1, len(log) + 1), customer_id=log["customer_id"].map(ids))


def test_kafka_ingest_of_an_own_log_with_text_ids_gives_the_batch_keys_and_tables(
    tmp_path, kafka_bootstrap, params
):
    topic = f"own-{uuid.uuid4().hex[:8]}"
    log = text_id_log(params)
    columns = {name: name for name in schema.RAW_EVENTS.names if name not in ("event_id", "price")}
    source = {"source": "events", "path": "datasets/own/events.csv", "columns": columns | {"amount": "price"}}
    batch = copy_project(tmp_path / "batch", {"data": source}, {source["path"]: log})
    kafka = copy_project(
        tmp_path / "kafka",
        {
            "data": source,
            "ingest": {"mode": "kafka"},
            "kafka": {"bootstrap_servers": kafka_bootstrap, "topic": topic},
        },
        {source["path"]: log},
    )
    produced = produce_to_new_topic(kafka / source["path"], kafka_bootstrap, params, topic)

    for copy in (batch, kafka):
        run(["dvc", "repro", "features"], copy)

    assert produced == len(log)
    mapping = landed(kafka, "customer_ids")
    pd.testing.assert_frame_equal(mapping, landed(batch, "customer_ids"))
    assert mapping["original_id"].tolist() == sorted(log["customer_id"].unique())
    assert mapping["customer_id"].tolist() == list(range(1, len(mapping) + 1))
    keys = {c: landed(c, "events").set_index("event_id")["customer_id"].sort_index() for c in (batch, kafka)}
    assert keys[kafka].dtype == keys[batch].dtype == "int64"
    pd.testing.assert_series_equal(keys[kafka], keys[batch])
    assert_same_downstream_tables(batch, kafka)
