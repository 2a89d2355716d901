"""End-to-end guard on the real Kaggle file: the grouped split must not leak through near-duplicate twins.

On this file rows that differ in a few attributes share the churn label, so a grouped ROC-AUC above
:data:`LEAK_CEILING` means twins sit on both sides of the split. The run makes the library calls of the
pipeline with ``data.source: kaggle`` (load, clean with near-duplicate linking, snapshot features, churn
training), skipped when the file is absent.
"""

from pathlib import Path

import pytest

from cba import churn, clean, evaluate, features, sources

pytestmark = pytest.mark.e2e

KAGGLE = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "E Commerce Dataset.xlsx"
LEAK_CEILING = 0.97
FLOORS = {"roc_auc": 0.949, "pr_auc": 0.83}
"""Floors for the pipeline's own split (``seed``, first fold; measured: ROC-AUC 0.960, PR-AUC 0.864).

One fold of this file moves a lot: `cba churn-splits --repeats 2` (ten held-out folds) gives ROC-AUC
0.931-0.969 (mean 0.951) and PR-AUC 0.759-0.891 (mean 0.833), so these floors hold on average and for
this split, not for every fold."""
MAX_ECE = 0.035
"""A regression bound for this split (measured: 0.026), looser than the 0.03 the figures keep on average:
over the same ten folds the ECE runs 0.016-0.038 (mean 0.026), above the 95th percentile of what chance
gives a perfectly calibrated model (0.026-0.027) on five. A likely cause: the final model, fitted on every
training row, can rank more sharply than the fold models whose out-of-fold scores fitted its calibration."""


@pytest.fixture(scope="module")
def result(params) -> churn.ChurnResult:
    if not KAGGLE.exists():
        pytest.skip(f"{KAGGLE} is absent")
    customers = sources.load_kaggle(KAGGLE, params.data.sheet).to_pandas()
    accepted, _ = clean.clean_customers(customers, params.clean.near_duplicates)
    return churn.train_and_evaluate(features.from_snapshot(accepted), params.churn, params.seed)


def test_grouped_split_does_not_leak_and_the_naive_split_does(result):
    best = result.metrics[result.best_model]

    assert result.split.validation == "grouped-stratified"
    assert best["roc_auc"] <= LEAK_CEILING
    assert result.naive["roc_auc"] > best["roc_auc"]


def test_the_chosen_model_keeps_its_scores_and_calibration(result):
    best = result.metrics[result.best_model]

    assert best["roc_auc"] >= FLOORS["roc_auc"]
    assert best["pr_auc"] >= FLOORS["pr_auc"]
    assert best["ece"] <= MAX_ECE
    assert best["ece"] == pytest.approx(
        evaluate.expected_calibration_error(result.y_test, result.test_probability[result.best_model])
    )
