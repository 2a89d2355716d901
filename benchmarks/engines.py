"""Clean and features on DuckDB, Spark ``local[2]`` and a local Spark standalone cluster; pandas as reference.

    python benchmarks/engines.py [--events 1000000] [--large]

The data: ``cba.generate`` of N events (20 per customer), landed by the ingest stage's runner, each in a
subprocess of its own; not timed. Then, for each engine, a fresh subprocess runs the clean and the features
stages' runners (``cba.stages.clean.run``, ``cba.stages.features.run``) on its own copy of the landed
tables with ``engine.name`` and ``engine.spark_master`` set: the same ibis expressions everywhere. The
cluster is a master and two workers (one core, 1 GB each) on 127.0.0.1 from ``engine.local_spark_cluster``,
started before its run and not timed. The pandas reference is the vectorised clean stage of
``benchmarks/clean_eda.py`` (there is no pandas twin of the features stage); its seconds are its whole
subprocess's, Python's start and imports included, so they flatter the engines slightly.

Seconds are each stage's wall time inside the subprocess; peak memory is the largest sum of resident memory
over the subprocess's tree (for Spark the driver's JVM too, but not the cluster's executors, which belong to
the workers), sampled every 0.2 s. The outputs are checked: the features files (written by pandas from
each engine's results) byte for byte, the cleaned events (written by each engine) value for value, and the
rows per rejection rule against the pandas reference. ``--large`` runs 10 million events.

Writes ``benchmarks/results/engines.json`` and prints a short table. Timings never go to ``metrics/``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "engines.json"
EVENTS_PER_CUSTOMER = 20
ENGINES = {"duckdb": "duckdb", "spark_local": "local[2]", "spark_cluster": None}
FEATURE_FILES = ("datasets/features/customers.parquet", "datasets/features/current.parquet")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--large", action="store_true", help="10 million events")
    parser.add_argument("--child", choices=("prepare", "stages"), help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--raw", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--master", help=argparse.SUPPRESS)
    args = parser.parse_args()
    events = 10_000_000 if args.large else args.events
    if args.child == "prepare":
        child_prepare(args.root, args.raw, events)
        return
    if args.child == "stages":
        child_stages(args.root, args.raw, events, args.engine, args.master)
        return

    from cba import engine
    from pipeline import measure

    load_at_start = [round(load, 2) for load in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="cba-engines-") as tmp:
        tmp = Path(tmp)
        raw, landed_root = tmp / "raw", tmp / "landed"
        child = [sys.executable, __file__, "--events", str(events), "--raw", str(raw)]
        subprocess.run([*child, "--child", "prepare", "--root", str(landed_root)], check=True)
        runs = {}
        for name, master in ENGINES.items():
            root = tmp / name
            shutil.copytree(landed_root / "datasets", root / "datasets")
            command = [*child, "--child", "stages", "--root", str(root), "--engine", name]
            if master is None:
                with engine.local_spark_cluster(tmp / "cluster") as url:
                    _, peak = measure([*command, "--master", url], ROOT, dict(os.environ))
            else:
                _, peak = measure([*command, "--master", master], ROOT, dict(os.environ))
            runs[name] = json.loads((root / "timings.json").read_text()) | {
                "peak_memory_mb": round(peak / 2**20)
            }
            print(f"{name:<14} {runs[name]}", flush=True)
        reference = run_pandas_reference(tmp, landed_root, events)
        agreement = compare(tmp, reference)
    duckdb_seconds = runs["duckdb"]["seconds"]
    result = {
        "benchmark": "engines",
        "events": events,
        "customers": events // EVENTS_PER_CUSTOMER,
        "engines": runs,
        "pandas_reference": reference["timings"],
        "times_duckdb": {name: round(run["seconds"] / duckdb_seconds, 2) for name, run in runs.items()},
        "outputs_agree": all(agreement.values()),
        "agreement": agreement,
        "environment": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_1_5_15_min_at_start": load_at_start,
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    for name, run in runs.items():
        print(f"{name:<14} clean {run['clean_seconds']:7.1f} s  features {run['features_seconds']:7.1f} s")
    print(f"{'pandas clean':<14} {reference['timings']['clean_seconds']:7.1f} s")
    print(f"outputs agree: {result['outputs_agree']}\nwritten to {RESULTS.relative_to(ROOT)}")


def _params(root: Path | None, raw: Path, events: int, engine_name: str = "duckdb", master: str = "local[2]"):
    from cba.config import load_params

    params = load_params(ROOT / "params.yaml")
    size = {"num_events": events, "num_customers": events // EVENTS_PER_CUSTOMER}
    on = {"name": "duckdb" if engine_name == "duckdb" else "spark", "spark_master": master}
    return params.model_copy(
        update={
            "generate": params.generate.model_copy(update=size),
            "data": params.data.model_copy(update={"path": str(raw)}),
            "engine": params.engine.model_copy(update=on),
        }
    )


def child_prepare(root: Path, raw: Path, events: int) -> None:
    from cba.config import Paths
    from cba.generate import generate, write
    from cba.stages import ingest

    params = _params(root, raw, events)
    write(generate(params.generate, params.seed), raw)
    ingest.run(params, Paths(root))


def child_stages(root: Path, raw: Path, events: int, engine_name: str, master: str) -> None:
    from cba.config import Paths
    from cba.stages import clean, features

    params = _params(root, raw, events, engine_name, master)
    paths = Paths(root)
    timings = {}
    for stage, runner in (("clean", clean.run), ("features", features.run)):
        started = time.perf_counter()
        runner(params, paths)
        timings[f"{stage}_seconds"] = round(time.perf_counter() - started, 2)
    timings["seconds"] = round(sum(timings.values()), 2)
    (root / "timings.json").write_text(json.dumps(timings))


def run_pandas_reference(tmp: Path, landed_root: Path, events: int) -> dict:
    """The vectorised pandas clean of ``benchmarks/clean_eda.py`` on the same landed tables."""
    work = tmp / "pandas"
    work.mkdir()
    (work / "landed").symlink_to(landed_root / "datasets" / "interim" / "landed")
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "clean_eda.py"),
        "--child",
        "pandas",
        "--stage",
        "clean",
    ]
    command += ["--events", str(events), "--data", str(tmp / "raw"), "--work", str(work)]
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT)
    return {"timings": {"clean_seconds": round(time.perf_counter() - started, 2)}, "work": work}


def compare(tmp: Path, reference: dict) -> dict:
    """Each Spark run against DuckDB's, and every engine's rows per rejection rule against pandas'."""
    import pandas as pd

    checks = {}
    duckdb_root = tmp / "duckdb"
    expected = pd.read_parquet(duckdb_root / "datasets" / "processed" / "events.parquet")
    key = list(expected.columns)
    expected = expected.sort_values(key, ignore_index=True)
    for name in ENGINES:
        root = tmp / name
        for file in FEATURE_FILES:
            checks[f"{name}:{file}:bytes"] = (root / file).read_bytes() == (duckdb_root / file).read_bytes()
        events = pd.read_parquet(root / "datasets" / "processed" / "events.parquet")[key]
        try:
            pd.testing.assert_frame_equal(events.sort_values(key, ignore_index=True), expected)
            checks[f"{name}:processed/events:values"] = True
        except AssertionError:
            checks[f"{name}:processed/events:values"] = False
        quality = json.loads((root / "metrics" / "data_quality.json").read_text())["events"]
        pandas_rules = pd.read_pickle(reference["work"] / "clean.pkl")["event_rules"]
        checks[f"{name}:rules_vs_pandas"] = _rule_counts(quality) == pandas_rules
    return checks


def _rule_counts(quality: dict) -> dict:
    """Rows per rejection rule (and accepted rows) from a ``data_quality.json`` events section."""
    return {rule: int(rows) for rule, rows in quality["rules"].items()} | {"accepted": quality["rows_out"]}


if __name__ == "__main__":
    main()
