"""The ingest stage in Kafka mode gives the pipeline exactly what the batch mode gives on the same events."""

import json
import uuid

import pandas as pd
import pytest

from cba.stream import ensure_topic, kafka_config, produce, read_events
from conftest import copy_project, run

pytestmark = pytest.mark.e2e


def test_kafka_ingest_gives_the_same_tables_as_batch(tmp_path, kafka_bootstrap, params):
    topic = f"ingest-{uuid.uuid4().hex[:8]}"
    batch = copy_project(tmp_path / "batch", {"ingest": {"mode": "batch"}})
    kafka = copy_project(
        tmp_path / "kafka",
        {"ingest": {"mode": "kafka"}, "kafka": {"bootstrap_servers": kafka_bootstrap, "topic": topic}},
    )
    run(["dvc", "repro", "generate"], kafka)
    config = kafka_config(params.kafka, kafka_bootstrap)
    ensure_topic(config, topic, 3, 1)
    # One record per batch: the stand-in broker reports a partition's end offset as its last batch's
    # first offset + 1, which is the true end only when batches hold one record.
    produced = produce(
        read_events(kafka / "datasets" / "raw" / "synthetic" / "events"), config, topic, batch_bytes=1
    )

    for copy in (batch, kafka):
        run(["dvc", "repro", "features"], copy)

    landed = {
        c: pd.read_parquet(c / "datasets" / "interim" / "landed" / "events.parquet") for c in (batch, kafka)
    }
    assert len(landed[kafka]) == len(landed[batch]) == produced
    assert len(pd.read_parquet(kafka / "datasets" / "interim" / "landed" / "events_malformed.parquet")) == 0
    for table in ("processed/events.parquet", "processed/customers.parquet", "features/customers.parquet"):
        expected = pd.read_parquet(batch / "datasets" / table)
        pd.testing.assert_frame_equal(pd.read_parquet(kafka / "datasets" / table), expected, obj=table)
    quality = [json.loads((c / "metrics" / "data_quality.json").read_text()) for c in (batch, kafka)]
    assert quality[0] == quality[1]
