import numpy as np
import pandas as pd
import pytest

from cba import churn, evaluate
from cba.config import ChurnParams, XGBoostParams

PARAMS = ChurnParams(
    horizon_days=30, test_size=0.3, xgboost=XGBoostParams(n_estimators=40, max_depth=3, learning_rate=0.2)
)


@pytest.fixture
def customers() -> pd.DataFrame:
    """Churn depends on recency and complaints; one column has blanks, one is categorical."""
    rng = np.random.default_rng(7)
    n = 600
    recency = rng.exponential(30, n)
    complain = rng.integers(0, 2, n)
    device = rng.choice(["Mobile Phone", "Computer"], n)
    logit = -2.0 + recency / 20 + 1.0 * complain
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "recency_days": np.where(rng.random(n) < 0.1, np.nan, recency),
            "Complain": complain,
            "PreferredLoginDevice": device,
            "noise": rng.normal(size=n),
            "churn": (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int),
        }
    )
    return frame


def test_feature_columns_split_numeric_and_categorical(customers):
    numeric, categorical = churn.feature_columns(customers)
    assert numeric == ["recency_days", "Complain", "noise"]
    assert categorical == ["PreferredLoginDevice"]


def test_models_learn_a_real_signal(customers):
    result = churn.train_and_evaluate(customers, PARAMS, seed=1)
    assert set(result.metrics) == set(churn.MODELS)
    assert len(result.y_test) == len(customers) // round(1 / 0.3)  # one fold of three
    for scores in result.metrics.values():
        assert scores["roc_auc"] > 0.7
        assert 0.0 <= scores["brier"] < 0.25
    assert result.best_model in churn.MODELS
    drivers = churn.top_drivers(result, seed=1)
    assert set(drivers["feature"].head(2)) == {"recency_days", "Complain"}


def test_near_duplicate_groups_never_straddle_the_split(customers):
    grouped = customers.assign(duplicate_group=pd.array(np.arange(len(customers)) // 3, dtype="Int64"))
    grouped.loc[::7, "duplicate_group"] = pd.NA
    result = churn.train_and_evaluate(grouped, PARAMS, seed=2)
    test_groups = set(grouped.loc[result.x_test.index, "duplicate_group"].dropna())
    train_groups = set(grouped.drop(index=result.x_test.index)["duplicate_group"].dropna())
    assert test_groups and train_groups and not test_groups & train_groups
    assert "duplicate_group" not in result.features


def test_customer_groups_give_loners_a_group_of_their_own():
    frame = pd.DataFrame({"duplicate_group": pd.array([5, pd.NA, 5, pd.NA], dtype="Int64")})
    groups = churn.customer_groups(frame)
    assert groups[0] == groups[2] and len(set(groups)) == 3


def test_training_is_deterministic(customers):
    first = churn.train_and_evaluate(customers, PARAMS, seed=3)
    second = churn.train_and_evaluate(customers, PARAMS, seed=3)
    assert first.metrics == second.metrics


def test_unknown_model_is_refused():
    with pytest.raises(ValueError, match="unknown model"):
        churn.build_model("forest", ["a"], [], PARAMS, 0)


def test_classification_metrics_by_hand():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.6, 0.4, 0.9])
    scores = evaluate.classification_metrics(y, p, threshold=0.5)
    assert scores["precision"] == 0.5 and scores["recall"] == 0.5 and scores["f1"] == 0.5
    assert scores["roc_auc"] == 0.75
    assert scores["brier"] == pytest.approx((0.01 + 0.36 + 0.36 + 0.01) / 4)


def test_best_f1_threshold_separates_a_clean_split():
    y = np.array([0, 0, 0, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.7, 0.8])
    assert evaluate.best_f1_threshold(y, p) == 0.7


def test_curves_are_small_monotone_grids():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p = np.clip(y * 0.3 + rng.random(500) * 0.7, 0, 1)
    roc = evaluate.roc_curve(y, p)
    pr = evaluate.pr_curve(y, p)
    assert len(roc) == len(pr) == 101
    assert roc["tpr"].is_monotonic_increasing and roc["tpr"].iloc[-1] == 1.0
    assert pr["precision"].is_monotonic_decreasing
