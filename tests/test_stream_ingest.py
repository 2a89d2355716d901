"""The ingest stage in Kafka mode gives the pipeline exactly what the batch mode gives on the same events."""

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cba.stream import ensure_topic, kafka_config, produce, read_events

ROOT = Path(__file__).resolve().parents[1]
SKIP = {
    ".git",
    ".venv",
    "datasets",
    "models",
    "report",
    "results",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
}

pytestmark = pytest.mark.e2e


def run(args: list[str], cwd: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(args)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


def project(copy: Path, ingest: dict, kafka: dict) -> Path:
    """A git copy of the project with tiny params."""
    shutil.copytree(ROOT, copy, ignore=lambda _, names: [n for n in names if n in SKIP])
    params = yaml.safe_load((copy / "params.yaml").read_text())
    params["generate"].update(num_customers=400, num_events=30_000)
    params["ingest"].update(ingest)
    params["kafka"].update(kafka)
    (copy / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    run(["git", "init", "-q"], copy)
    run(["git", "add", "-A"], copy)
    run([*git, "commit", "-q", "-m", "tiny params"], copy)
    return copy


def test_kafka_ingest_gives_the_same_tables_as_batch(tmp_path, kafka_bootstrap, params):
    topic = f"ingest-{uuid.uuid4().hex[:8]}"
    batch = project(tmp_path / "batch", {"mode": "batch"}, {})
    kafka = project(
        tmp_path / "kafka", {"mode": "kafka"}, {"bootstrap_servers": kafka_bootstrap, "topic": topic}
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
