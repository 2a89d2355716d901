import numpy as np
import pandas as pd
import pytest
from sklearn import metrics

from cba import evaluate

Y_TRUE = np.array([1, 0, 1, 1, 0, 0, 1, 0, 0, 0])
SCORES = np.array([0.9, 0.8, 0.7, 0.6, 0.55, 0.5, 0.4, 0.3, 0.2, 0.1])


def test_pr_curve_is_the_upper_envelope_of_scikit_learns_curve():
    precision, recall, _ = metrics.precision_recall_curve(Y_TRUE, SCORES)
    curve = evaluate.pr_curve(Y_TRUE, SCORES, points=11)

    expected = [precision[recall >= r - 1e-12].max() for r in curve["recall"]]
    np.testing.assert_allclose(curve["precision"], np.round(expected, 4))


def test_pr_curve_by_hand():
    # Ranked labels 1 0 1 1 0 0 1 ...: precision 1 up to recall 1/4, 3/4 at recall 3/4, 4/7 at recall 1.
    curve = evaluate.pr_curve(Y_TRUE, SCORES, points=5).set_index("recall")["precision"]

    assert curve.to_dict() == pytest.approx({0.0: 1.0, 0.25: 1.0, 0.5: 0.75, 0.75: 0.75, 1.0: 0.5714})


def test_pr_curve_is_not_flat_at_one():
    curve = evaluate.pr_curve(Y_TRUE, SCORES)

    assert curve["precision"].iloc[-1] < 1.0
    assert curve["precision"].is_monotonic_decreasing


def test_roc_curve_matches_scikit_learn_at_its_own_points():
    fpr, tpr, _ = metrics.roc_curve(Y_TRUE, SCORES, drop_intermediate=False)
    curve = evaluate.roc_curve(Y_TRUE, SCORES, points=7)  # grid 0, 1/6, ..., 1: the negatives' steps

    at_steps = pd.Series(tpr, index=np.round(fpr, 4)).groupby(level=0).max()
    np.testing.assert_allclose(curve["tpr"], at_steps.reindex(curve["fpr"].round(4)).to_numpy(), atol=1e-4)


def test_grouped_bootstrap_resamples_whole_groups():
    # Every customer twice (a near-duplicate pair with the same label and score): resampling the pairs
    # whole draws the same customers as resampling single rows of the deduplicated table, and doubling
    # every row leaves ROC-AUC unchanged, so both intervals are equal.
    rng = np.random.default_rng(1)
    y, p = rng.integers(0, 2, 80), rng.random(80)
    single = evaluate.bootstrap_interval(y, p, metrics.roc_auc_score, seed=4, resamples=300)
    doubled = evaluate.bootstrap_interval(
        np.repeat(y, 2),
        np.repeat(p, 2),
        metrics.roc_auc_score,
        seed=4,
        resamples=300,
        groups=np.repeat(np.arange(80), 2),
    )
    assert doubled == single
    by_row = evaluate.bootstrap_interval(
        np.repeat(y, 2), np.repeat(p, 2), metrics.roc_auc_score, seed=4, resamples=300
    )
    assert by_row[1] - by_row[0] < single[1] - single[0]  # ignoring the pairs overstates the evidence
