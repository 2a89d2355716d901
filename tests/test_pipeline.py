"""End to end: copy the project, shrink the params, run `dvc repro`, check the book and the metrics."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import ROOT, copy_build, copy_project, run

KAGGLE = ROOT.parent / "shared" / "datasets" / "E Commerce Dataset.xlsx"
STAGES = ("ingest", "eda", "clean", "features", "clv", "churn", "survival", "next_purchase", "forecast")

pytestmark = pytest.mark.e2e


def build(copy: Path, update: dict, files: dict[str, Path | pd.DataFrame] | None = None) -> Path:
    """A committed tiny copy of the project (see :func:`conftest.copy_project`) after one `dvc repro`."""
    copy_project(copy, update, files)
    run(["dvc", "repro"], copy)
    return copy


def metrics(project: Path, name: str) -> dict:
    return json.loads((project / "metrics" / f"{name}.json").read_text())


def assert_churn_metrics_match_their_counts_and_curves(project: Path) -> None:
    """Each churn score agrees with the confusion matrix, ROC curve or calibration table it summarises."""
    churn = metrics(project, "churn")
    confusion = churn["confusion_matrix"]
    tp, fp, fn = confusion["true_positive"], confusion["false_positive"], confusion["false_negative"]
    assert sum(confusion.values()) == churn["n_test"]
    assert churn["test_churn_rate"] == pytest.approx((tp + fn) / churn["n_test"], abs=1e-4)
    assert churn["precision"] == pytest.approx(tp / (tp + fp), abs=1e-4)
    assert churn["recall"] == pytest.approx(tp / (tp + fn), abs=1e-4)
    assert churn["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn), abs=1e-4)
    roc = pd.read_csv(project / "plots" / "churn_roc.csv")
    # the curve is sampled every 0.01 of false-positive rate: the area moves by at most half a step
    assert churn["roc_auc"] == pytest.approx(np.trapezoid(roc["tpr"], roc["fpr"]), abs=0.0051)
    calibration = pd.read_csv(project / "plots" / "churn_calibration.csv")
    assert calibration["customers"].sum() == churn["n_test"]
    gap = (calibration["predicted"] - calibration["observed"]).abs()
    assert churn["ece"] == pytest.approx(np.average(gap, weights=calibration["customers"]), abs=2e-4)


def assert_features_metrics_match_the_tables(project: Path) -> None:
    summary = metrics(project, "features")
    table = pd.read_parquet(project / "datasets" / "features" / "customers.parquet")
    current = pd.read_parquet(project / "datasets" / "features" / "current.parquet")
    assert summary["current_customers"] == len(current)
    if "cutoff" in table.columns:
        table = table[table["cutoff"] == table["cutoff"].max()]
    assert summary["customers"] == len(table)
    assert summary["churn_rate"] == round(float(table["churn"].mean()), 4)


def assert_book_and_consistent_metrics(project: Path) -> None:
    assert "Version" in (project / "report" / "_book" / "index.html").read_text()
    for stage in STAGES:
        assert (project / "report" / "chapters" / f"{stage}.ipynb").stat().st_size > 0
        assert (project / "report" / "_book" / f"{stage}.html").exists()
    assert_churn_metrics_match_their_counts_and_curves(project)
    assert_features_metrics_match_the_tables(project)
    for table, counts in metrics(project, "data_quality").items():
        assert counts["rows_in"] == counts["rows_out"] + counts["rows_rejected"], table
        assert counts["rows_rejected"] == sum(counts["rules"].values()), table
    survival = metrics(project, "survival")
    times = pd.read_parquet(project / "datasets" / "scores" / "survival_times.parquet")
    assert survival["n_customers"] == len(times)
    assert survival["n_churned"] == times["churned"].sum()
    assert survival["median_time_to_churn"]["active_customers"] == (times["churned"] == 0).sum()
    assert 0 < survival["n_churned"] < survival["n_customers"]


@pytest.fixture(scope="module")
def project(tiny_build, tmp_path_factory) -> Path:
    return copy_build(tiny_build, tmp_path_factory.mktemp("synthetic") / "repo")


def test_synthetic_book_and_metrics(project):
    assert_book_and_consistent_metrics(project)
    churn = metrics(project, "churn")
    assert churn["roc_auc"] > 0.6
    # better than no information: a random ranking's expected average precision is the churn rate, and
    # forecasting 0.5 for every customer scores 0.25
    assert churn["pr_auc"] > churn["test_churn_rate"]
    assert churn["brier"] < 0.25
    assert churn["validation"] == "time-aware"
    assert churn["roc_auc_ci"][0] < churn["roc_auc"] < churn["roc_auc_ci"][1]


def test_the_saved_model_scores_the_current_customers(project):
    current = "datasets/features/current.parquet"
    run(["cba", "predict", "--input", current, "--output", "scores.parquet"], project)
    scores = pd.read_parquet(project / "scores.parquet")
    assert len(scores) == metrics(project, "churn")["customers_scored"]
    # the churn stage scored the same customers with the same model: exactly the same scores
    stage_scores = pd.read_parquet(project / "datasets" / "scores" / "churn_scores.parquet")
    pd.testing.assert_frame_equal(scores, stage_scores[list(scores.columns)], check_exact=True)


def test_nothing_reruns_when_nothing_changed(project):
    assert "up to date" in run(["dvc", "status"], project).stdout


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
    assert_book_and_consistent_metrics(project)
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
    assert_book_and_consistent_metrics(project)
    assert metrics(project, "features")["churn_rate"] == 0.1684
    quality = metrics(project, "data_quality")
    assert set(quality) == {"customers"} and quality["customers"]["rows_in"] == 5630
    assert "has no event log" in (project / "report" / "_book" / "eda.html").read_text()
    assert metrics(project, "churn")["roc_auc"] > 0.8
