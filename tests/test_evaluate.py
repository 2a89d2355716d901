import numpy as np
import pandas as pd
import pytest
from sklearn import metrics

from cba import evaluate
from cba.config import BusinessParams

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


# --- ties: one rule, by hand --------------------------------------------------------------------------


def test_expected_churners_share_a_tied_block_whatever_the_row_order():
    # Ranked: 0.9 (churner), then a block tied at 0.5 holding one churner in two, then 0.1 (loyal).
    y, ranking = np.array([1, 0, 1, 0]), np.array([0.9, 0.5, 0.5, 0.1])
    swapped = [0, 2, 1, 3]

    expected = [0.0, 1.0, 1.5, 2.0, 2.0]
    np.testing.assert_allclose(evaluate.expected_churners(y, ranking), expected)
    np.testing.assert_allclose(evaluate.expected_churners(y[swapped], ranking[swapped]), expected)


def test_ranking_metrics_break_calibration_ties_by_the_raw_score():
    # Calibration ties the top three at 0.5; the raw scores put both churners first: ROC-AUC 1, not 0.75.
    y = np.array([1, 0, 1, 0])
    raw = np.array([0.9, 0.8, 0.85, 0.1])
    calibrated = np.array([0.5, 0.5, 0.5, 0.1])

    scores = evaluate.classification_metrics(y, calibrated, 0.3, ranking=raw)

    assert scores["roc_auc"] == 1.0
    assert scores["pr_auc"] == 1.0
    assert evaluate.classification_metrics(y, calibrated, 0.3)["roc_auc"] == 0.75


def test_profit_and_gains_curves_do_not_depend_on_row_order_within_ties():
    business = BusinessParams(
        contact_cost=1.0, retained_value=10.0, offer_success_rate=0.5, high_value_quantile=0.5
    )
    y, ranking = np.array([0, 1, 1, 0]), np.array([0.7, 0.7, 0.2, 0.2])
    # Each contact costs 1, each churner contacted earns 5. The top two (one churner) earn 5 - 2 = 3; the
    # first one alone is half a churner: 2.5 - 1 = 1.5; three contacts earn 7.5 - 3 = 4.5; all four 6.
    profit = evaluate.profit_curve(y, ranking, business, points=5)
    flipped = evaluate.profit_curve(y[::-1], ranking[::-1], business, points=5)

    assert profit["expected_profit"].tolist() == [0.0, 1.5, 3.0, 4.5, 6.0]
    pd.testing.assert_frame_equal(profit, flipped)
    gains = evaluate.gains_table(y, ranking, groups=2)
    assert gains["churn_rate"].tolist() == [0.5, 0.5]
    pd.testing.assert_frame_equal(gains, evaluate.gains_table(y[::-1], ranking[::-1], groups=2))
