import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from cba import clv, next_purchase

PARAMS = clv.BetaGeoParameters(r=2.0, alpha=60.0, a=1.5, b=20.0)


def log(rows: list[tuple[int, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [c for c, _ in rows],
            "timestamp": pd.to_datetime([t for _, t in rows], utc=True),
            "amount": 10.0,
        }
    )


def test_labels_of_a_literal_log():
    purchases = log(
        [
            (1, "2024-03-01T00:00Z"),  # exactly at the first cutoff: inside
            (2, "2024-02-29T23:59Z"),  # before the cutoff: outside
            (2, "2024-03-31T00:00Z"),  # exactly 30 days after: outside
            (3, "2024-03-30T23:59Z"),  # last minute of the window: inside
            (3, "2024-04-15T12:00Z"),  # inside the second cutoff's window only
            (4, "2024-04-02T01:00+02:00"),  # 1 April 23:00 UTC: inside the second window
        ]
    )
    rows = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4, 5, 3, 1],
            "cutoff": pd.to_datetime(["2024-03-01"] * 5 + ["2024-04-01"] * 2, utc=True),
        },
        index=[10, 11, 12, 13, 14, 15, 16],
    )
    labels = next_purchase.purchase_labels(rows, purchases, window_days=30)
    expected = pd.Series([1, 0, 1, 0, 0, 1, 0], index=rows.index, name=next_purchase.LABEL)
    pd.testing.assert_series_equal(labels, expected)


def test_history_uses_only_purchases_before_the_cutoff():
    purchases = log(
        [
            (1, "2024-01-01T10:00Z"),
            (1, "2024-01-11T10:00Z"),
            (1, "2024-01-21T10:00Z"),
            (2, "2024-01-25T00:00Z"),
        ]
    )
    history = next_purchase.history_at(purchases, pd.Timestamp("2024-01-21T09:00Z"))
    assert history["customer_id"].tolist() == [1]
    assert history[["frequency", "recency", "T"]].iloc[0].tolist() == [1.0, 10.0, 20.0]


def test_baseline_probability_by_hand():
    history = pd.DataFrame({"customer_id": [7], "frequency": [3.0], "recency": [50.0], "T": [80.0]})
    probability = next_purchase.baseline_probability(PARAMS, history, pd.Series([8, 7]), window_days=30)
    # customer 8 has not bought yet: counted as acquired at the cutoff
    assert probability[0] == pytest.approx(1 - (60 / 90) ** 2.0)
    assert probability[1] == pytest.approx(1 - clv.probability_no_purchase(PARAMS, history, 30)[0])


def test_bg_nbd_baseline_ranks_recent_buyers_higher():
    rng = np.random.default_rng(5)
    rows = []
    for customer in range(400):
        active_until = rng.uniform(20, 200)  # regulars who stop at different times
        days = np.sort(rng.uniform(0, active_until, rng.integers(2, 12)))
        rows += [(customer, pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=d)) for d in days]
    purchases = pd.DataFrame(rows, columns=["customer_id", "timestamp"]).assign(amount=1.0)
    cutoff = pd.Timestamp("2024-07-01", tz="UTC")
    last = purchases.groupby("customer_id")["timestamp"].max()
    probability = next_purchase.bg_nbd_baseline(purchases, pd.Series(last.index), cutoff, 30, seed=1)
    assert ((probability >= 0) & (probability < 1)).all()
    recent = (cutoff - last).dt.days.to_numpy() < 30
    assert probability[recent].mean() > probability[~recent].mean()


def test_evaluation_of_model_and_baseline():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    model = np.clip(0.5 * y + rng.uniform(0, 0.5, 500), 0, 1)
    baseline = rng.uniform(0, 1, 500)
    result = next_purchase.evaluation(
        y, {"xgboost": model, next_purchase.BASELINE: baseline}, seed=3, resamples=200
    )
    assert result["rows"] == 500 and result["buyers"] == int(y.sum())
    assert result["xgboost"]["roc_auc"] == round(roc_auc_score(y, model), 4)
    for name in ("xgboost", next_purchase.BASELINE):
        for key in ("roc_auc", "pr_auc", "brier", "ece"):
            low, high = result[name][f"{key}_ci"]
            assert low <= result[name][key] <= high, (name, key)
    assert "against BG/NBD's" in next_purchase.evaluation_sentence(result, "xgboost")
