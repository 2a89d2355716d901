"""End to end: copy the project, shrink the params, run `dvc repro`, check the book and the metrics."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
KAGGLE = ROOT.parent / "shared" / "datasets" / "E Commerce Dataset.xlsx"
SKIP = {
    ".git",
    ".venv",
    "datasets",
    "models",
    ".pytest_cache",
    ".ruff_cache",
    "__pycache__",
    "_book",
    "chapters",
    "_generated",
    "results",
    ".quarto",
    "test-artifacts",
}
STAGES = ("ingest", "eda", "clean", "features", "clv", "churn", "survival", "next_purchase", "forecast")

pytestmark = pytest.mark.e2e


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, (
        f"{' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result


def build(copy: Path, update: dict, files: dict[str, Path | pd.DataFrame] | None = None) -> Path:
    """A git copy of the project with tiny params (plus ``update``) after one `dvc repro`."""
    shutil.copytree(ROOT, copy, ignore=lambda _, names: [n for n in names if n in SKIP])
    params = yaml.safe_load((copy / "params.yaml").read_text())
    params["generate"].update(num_customers=400, num_events=30_000)
    params["churn"]["search"]["budget"] = 2
    for section, values in update.items():
        params[section].update(values)
    (copy / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for name, content in (files or {}).items():
        target = copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        content.to_csv(target, index=False) if isinstance(content, pd.DataFrame) else shutil.copy(
            content, target
        )
    for metrics in (copy / "metrics").glob("*.json"):
        metrics.unlink()
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    run(["git", "init", "-q"], copy)
    run(["git", "add", "-A"], copy)
    run([*git, "commit", "-q", "-m", "tiny params"], copy)
    run(["dvc", "repro"], copy)
    return copy


def metrics(project: Path, name: str) -> dict:
    return json.loads((project / "metrics" / f"{name}.json").read_text())


def assert_book_and_sane_metrics(project: Path) -> None:
    assert "Version" in (project / "report" / "_book" / "index.html").read_text()
    for stage in STAGES:
        assert (project / "report" / "chapters" / f"{stage}.ipynb").stat().st_size > 0
        assert (project / "report" / "_book" / f"{stage}.html").exists()
    churn = metrics(project, "churn")
    for name in ("roc_auc", "pr_auc", "precision", "recall", "f1", "brier"):
        assert 0.0 <= churn[name] <= 1.0, name
    for table, counts in metrics(project, "data_quality").items():
        assert counts["rows_in"] == counts["rows_out"] + counts["rows_rejected"], table
        assert counts["rows_rejected"] == sum(counts["rules"].values()), table
    survival = metrics(project, "survival")
    assert 0 < survival["n_churned"] < survival["n_customers"]
    assert 0.0 < metrics(project, "features")["churn_rate"] < 1.0


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("synthetic") / "repo", {})


def test_synthetic_book_and_metrics(project):
    assert_book_and_sane_metrics(project)
    churn = metrics(project, "churn")
    assert churn["roc_auc"] > 0.6 and churn["brier"] < 0.25
    assert churn["validation"] == "time-aware"
    assert churn["roc_auc_ci"][0] < churn["roc_auc"] < churn["roc_auc_ci"][1]


def test_the_saved_model_scores_the_current_customers(project):
    run(["cba", "predict", "--input", "datasets/features/current.parquet", "--output", "scores.csv"], project)
    scores = pd.read_csv(project / "scores.csv")
    assert len(scores) == metrics(project, "churn")["customers_scored"]
    assert scores["churn_probability"].between(0, 1).all()


def test_nothing_reruns_when_nothing_changed(project):
    assert "up to date" in run(["dvc", "status"], project).stdout


def test_a_rebuild_reproduces_metrics_and_plots_byte_for_byte(project):
    def committed_outputs() -> dict[str, bytes]:
        return {
            str(p.relative_to(project)): p.read_bytes()
            for d in ("metrics", "plots")
            for p in (project / d).iterdir()
        }

    before = committed_outputs()
    run(["dvc", "repro", "--force"], project)
    assert committed_outputs() == before


def test_a_param_change_reruns_only_its_dependents(project):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["survival"]["segment"] = "CityTier"
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = run(["dvc", "status", "--json"], project).stdout
    assert set(json.loads(status)) == {"survival", "report"}  # the book lists every param it was built with


def transactions(customers: int = 300, seed: int = 5) -> pd.DataFrame:
    """A transaction-only log (customer, naive local time, amount) in which some customers stop buying."""
    rng = np.random.default_rng(seed)
    rows = []
    for customer in range(1, customers + 1):
        stops = pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(rng.integers(60, 500)))
        days = np.sort(rng.integers(0, 366, rng.integers(3, 30)))
        for day in days:
            when = pd.Timestamp("2024-01-01") + pd.Timedelta(
                days=int(day), minutes=int(rng.integers(0, 1440))
            )
            if when < stops:
                rows.append((f"{customer}", when.strftime("%Y-%m-%d %H:%M:%S"), f"{rng.gamma(2, 20):.2f}"))
    rows += [
        ("7", "yesterday", "10.00"),
        ("8", "2024-05-01 10:00:00", "ten"),
        ("9", "2024-05-02 10:00:00", "-4"),
    ]
    return pd.DataFrame(rows, columns=["CustomerNo", "InvoiceDate", "Total"])


def test_an_own_transaction_log_runs_end_to_end(tmp_path):
    log = transactions()
    project = build(
        tmp_path / "repo",
        {
            "data": {
                "source": "events",
                "path": "datasets/own/transactions.csv",
                "columns": {"customer_id": "CustomerNo", "timestamp": "InvoiceDate", "amount": "Total"},
                "timezone": "Europe/London",
            },
        },
        {"datasets/own/transactions.csv": log},
    )
    assert_book_and_sane_metrics(project)
    quality = metrics(project, "data_quality")
    assert set(quality) == {"events"}
    assert quality["events"]["rows_in"] == len(log)
    assert {rule: n for rule, n in quality["events"]["rules"].items() if n} == {
        "unparsable_timestamp": 1,
        "unparsable_price": 1,
        "negative_price": 1,
    }
    customers = pd.read_parquet(project / "datasets" / "processed" / "customers.parquet")
    assert list(customers.columns) == ["customer_id", "signup_date"]
    eda = (project / "report" / "_book" / "eda.html").read_text()
    assert "carries no churn label of its own" in eda


@pytest.mark.skipif(not KAGGLE.exists(), reason=f"the real Kaggle file is not at {KAGGLE}")
def test_the_kaggle_file_runs_end_to_end(tmp_path):
    project = build(
        tmp_path / "repo",
        {"data": {"source": "kaggle", "path": "datasets/kaggle/E Commerce Dataset.xlsx"}},
        {"datasets/kaggle/E Commerce Dataset.xlsx": KAGGLE},
    )
    assert_book_and_sane_metrics(project)
    assert metrics(project, "features")["churn_rate"] == 0.1684
    quality = metrics(project, "data_quality")
    assert set(quality) == {"customers"} and quality["customers"]["rows_in"] == 5630
    assert "has no event log" in (project / "report" / "_book" / "eda.html").read_text()
    assert metrics(project, "churn")["roc_auc"] > 0.8
