"""The whole pipeline's cost curve: every stage's seconds and peak memory at growing sizes.

    python benchmarks/pipeline.py [--events 1000000 10000000] [--huge] [--events-per-customer 20]
                                  [--memory-limit 8GB] [--scratch DIR]
    python benchmarks/pipeline.py --resume SCRATCH/cba-pipeline-XXXX/project

For each size, a scratch copy of the project (its tracked files, in a fresh git repository so that DVC and
the book's provenance work as in a clone) gets ``generate.num_events`` = N and ``generate.num_customers`` =
N / 20, and runs ``dvc repro -f --single-item <stage>`` for every stage of ``dvc.yaml`` in order (each after
the stages whose outputs it reads): the same commands ``dvc repro -f`` runs, one at a time, so each can be
timed. A stage's seconds are the wall time of its ``dvc`` command (the stage itself plus DVC hashing and
caching its outputs); its peak memory is the largest sum of resident memory over the command's whole process
tree (papermill, the kernel, worker processes), sampled every 0.2 s with psutil. ``--huge`` adds 100 million
events (2 million customers at ``--events-per-customer 50``); ``--memory-limit`` sets
``engine.memory_limit``. A scratch copy is removed after its run, and kept for a look when a stage fails.
The run is recorded after every stage (``complete`` false until the last), with the commit the copy was
made from (``+changes`` when the checkout had uncommitted changes outside the results and metrics);
``--resume`` runs the stages a kept copy's record lacks.

The growth exponent of a stage between two sizes is log(t2 / t1) / log(n2 / n1): 1 is linear, below 1
better than linear (fixed costs, bounded samples), above 1 worse.

Results from earlier runs at other sizes are kept, so sizes can be measured one at a time. Writes
``benchmarks/results/pipeline.json`` and prints a short table. Timings never go to ``metrics/``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "pipeline.json"
HUGE = 100_000_000
SAMPLE_SECONDS = 0.2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--huge", action="store_true", help=f"also run {HUGE:,} events")
    parser.add_argument("--events-per-customer", type=int, default=20)
    parser.add_argument(
        "--scratch", type=Path, help="folder for the scratch copies (default: a temporary one)"
    )
    parser.add_argument("--memory-limit", help="engine.memory_limit of the runs, e.g. 8GB (default: params)")
    parser.add_argument(
        "--resume",
        type=Path,
        help="a kept scratch project: run the stages its size's record lacks, then stop",
    )
    args = parser.parse_args()
    if args.resume:
        resume_pipeline(args.resume)
        return
    sizes = sorted(set(args.events) | ({HUGE} if args.huge else set()))
    for events in sizes:
        scratch = Path(tempfile.mkdtemp(prefix="cba-pipeline-", dir=args.scratch))
        run_pipeline(scratch / "project", events, events // args.events_per_customer, args.memory_limit)
        shutil.rmtree(scratch)  # kept when a stage fails, to look into and resume
    print_table(json.loads(RESULTS.read_text()))
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")


def resume_pipeline(project: Path) -> None:
    """The stages of a kept scratch copy that its size's record in the results file lacks, in order."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    events = params["generate"]["num_events"]
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"runs": {}}
    recorded = results["runs"].get(str(events), {})
    run_pipeline(
        project,
        events,
        params["generate"]["num_customers"],
        params["engine"].get("memory_limit"),
        measured=dict(recorded.get("stages", {})),
        load_at_start=recorded.get("load_average_1_5_15_min_at_start"),
    )


def run_pipeline(
    project: Path,
    events: int,
    customers: int,
    memory_limit: str | None,
    measured: dict | None = None,
    load_at_start: list[float] | None = None,
) -> None:
    """Every stage of a scratch copy at ``events`` events, in order; seconds and peak memory per stage.

    The run is recorded after every stage (``complete`` false until the last), so a long run that is
    stopped keeps what it measured. With ``measured`` stages, the copy exists and those are not run again.
    """
    if measured is None:
        copy_project(project, events, customers, memory_limit)
    measured = measured or {}
    environment = {
        **os.environ,
        "PYTHONPATH": str(project / "src"),
        "PATH": f"{Path(sys.executable).parent}:",
    }
    environment["PATH"] += os.environ.get("PATH", "")
    stages = stage_order(yaml.safe_load((project / "dvc.yaml").read_text())["stages"])
    load_at_start = load_at_start or [round(load, 2) for load in os.getloadavg()]
    commit = code_version(project)
    for stage in (stage for stage in stages if stage not in measured):
        seconds, peak = measure(["dvc", "repro", "-f", "--single-item", stage], project, environment)
        measured[stage] = {"seconds": round(seconds, 2), "peak_memory_mb": round(peak / 2**20, 1)}
        print(f"{events:>12,} {stage:<16} {seconds:8.1f} s {peak / 2**30:6.2f} GB", flush=True)
        churn_metrics = project / "metrics" / "churn.json"
        record(
            {
                "events": events,
                "customers": customers,
                "engine_memory_limit": memory_limit,
                "complete": len(measured) == len(stages),
                "stages": {stage: measured[stage] for stage in stages if stage in measured},
                "seconds": round(sum(s["seconds"] for s in measured.values()), 2),
                "peak_memory_mb": max(s["peak_memory_mb"] for s in measured.values()),
                "raw_bytes": folder_size(project / "datasets" / "raw"),
                "churn_test_roc_auc": (
                    json.loads(churn_metrics.read_text()).get("roc_auc") if churn_metrics.exists() else None
                ),
                "date": dt.date.today().isoformat(),
                "commit": commit,
                "load_average_1_5_15_min_at_start": load_at_start,
            }
        )


def code_version(project: Path) -> str:
    """The commit a scratch copy was made from, as its own commit message records it."""
    message = subprocess.run(["git", "log", "-1", "--format=%s"], cwd=project, capture_output=True, text=True)
    return message.stdout.strip().removeprefix(_COPY_MESSAGE)


def stage_order(stages: dict) -> list[str]:
    """The stages of ``dvc.yaml`` in their order there, each moved after the stages whose outputs it reads."""
    outputs = {
        stage: [next(iter(out)) if isinstance(out, dict) else out for out in spec.get("outs", [])]
        for stage, spec in stages.items()
    }
    graph = {
        stage: {
            producer
            for dep in spec.get("deps", [])
            for producer, outs in outputs.items()
            if producer != stage and any(dep == out or dep.startswith(f"{out}/") for out in outs)
        }
        for stage, spec in stages.items()
    }
    order: list[str] = []
    while len(order) < len(graph):  # the first stage of dvc.yaml whose inputs are made, each time
        order.append(next(stage for stage in graph if stage not in order and graph[stage] <= set(order)))
    return order


def record(run: dict) -> None:
    """Write ``run`` into the results file, keeping the other sizes' runs as the file holds them now."""
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"runs": {}}
    results["runs"][str(run["events"])] = run
    write(results)


def copy_project(project: Path, events: int, customers: int, memory_limit: str | None) -> None:
    """The tracked files of this checkout (as they are now), the size set in params, one git commit.

    The metrics files are left out, so every metric in the copy is written by its own run.
    """
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in tracked.decode().split("\0"):
        if name and (ROOT / name).is_file() and not name.startswith("metrics/"):
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, project / name)
    params_file = project / "params.yaml"
    params = yaml.safe_load(params_file.read_text())
    params["generate"].update(num_events=events, num_customers=customers)
    if memory_limit:
        params["engine"]["memory_limit"] = memory_limit
    params["report"]["compare_to"] = None  # the scratch repository has one commit
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    # The results file (written by the sizes run before this one) and the metrics (not copied) are no code.
    code = [".", ":(exclude)benchmarks/results", ":(exclude)metrics"]
    changed = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", *code], cwd=ROOT).returncode != 0
    message = _COPY_MESSAGE + head.stdout.strip() + ("+changes" if changed else "")
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", message]):
        subprocess.run(command, cwd=project, check=True, env=os.environ | _GIT_IDENTITY)


_COPY_MESSAGE = "scratch copy of "
_GIT_IDENTITY = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhost"}
_GIT_IDENTITY |= {"GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@localhost"}


def measure(command: list[str], cwd: Path, environment: dict) -> tuple[float, int]:
    """Run ``command``; its wall seconds and the peak of its process tree's summed resident memory."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=environment, stdout=subprocess.DEVNULL)
    root = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None:
        peak = max(peak, tree_memory(root))
        time.sleep(SAMPLE_SECONDS)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed with exit code {process.returncode} in {cwd}")
    return seconds, peak


def tree_memory(root: psutil.Process) -> int:
    """Resident bytes of ``root`` and all its descendants (those that exit between reads count zero)."""
    total = 0
    try:
        members = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for member in members:
        try:
            total += member.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def folder_size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def growth(runs: dict) -> dict:
    """Growth exponents of every stage's seconds and peak memory between consecutive sizes."""
    ordered = sorted(runs.values(), key=lambda run: run["events"])
    exponents = {}
    for small, large in zip(ordered, ordered[1:], strict=False):
        ratio = math.log(large["events"] / small["events"])
        steps = {
            stage: {
                key: round(math.log(large["stages"][stage][key] / small["stages"][stage][key]) / ratio, 2)
                for key in ("seconds", "peak_memory_mb")
            }
            for stage in small["stages"]
            if stage in large["stages"]
        }
        if small.get("complete", True) and large.get("complete", True):
            steps["pipeline"] = {
                key: round(math.log(large[key] / small[key]) / ratio, 2)
                for key in ("seconds", "peak_memory_mb")
            }
        exponents[f"{small['events']}->{large['events']}"] = steps
    return exponents


def write(results: dict) -> None:
    results = {
        "benchmark": "pipeline",
        "runs": dict(sorted(results["runs"].items(), key=lambda item: int(item[0]))),
        "growth_exponents": growth(results["runs"]),
        "environment": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


def print_table(results: dict) -> None:
    runs = list(results["runs"].values())
    print(f"\n{'stage':<16}" + "".join(f"{run['events']:>24,}" for run in runs))
    for stage in runs[0]["stages"]:
        cells = [run["stages"].get(stage) for run in runs]
        print(
            f"{stage:<16}"
            + "".join(
                f"{c['seconds']:>12.1f} s {c['peak_memory_mb'] / 1024:>6.2f} GB" if c else " " * 24
                for c in cells
            )
        )
    print(
        f"{'pipeline':<16}"
        + "".join(f"{r['seconds']:>12.1f} s {r['peak_memory_mb'] / 1024:>6.2f} GB" for r in runs)
    )
    for between, steps in results["growth_exponents"].items():
        print(f"growth {between}: " + ", ".join(f"{k} {v['seconds']}" for k, v in steps.items()))


if __name__ == "__main__":
    main()
