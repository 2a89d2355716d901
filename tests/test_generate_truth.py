"""The generator's truth: each customer's no-purchase probability, the oracle of the churn label."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from cba.generate import generate
from cba.generate.truth import TRUTH_COLUMNS, no_purchase_probability


@pytest.fixture(scope="module")
def data(params):
    return generate(params.generate.model_copy(update={"num_customers": 2000, "num_events": 60_000}), 5)


def no_purchase_in(data, start: dt.datetime, days: int) -> pd.Series:
    """1 for every customer without an order in ``[start, start + days)``, by customer_id."""
    orders = data.orders.to_pandas()
    at = pd.Timestamp(start)
    inside = orders[
        (orders["order_timestamp"] >= at) & (orders["order_timestamp"] < at + pd.Timedelta(days=days))
    ]
    ids = data.truth.column("customer_id").to_numpy()
    return pd.Series((~np.isin(ids, inside["customer_id"])).astype(int), index=ids)


def test_truth_has_one_row_per_customer_and_is_deterministic(data, params):
    truth = data.truth.to_pandas()
    assert tuple(truth.columns) == TRUTH_COLUMNS
    assert truth["customer_id"].is_unique
    again = generate(params.generate.model_copy(update={"num_customers": 2000, "num_events": 60_000}), 5)
    assert again.truth.equals(data.truth)


@pytest.mark.parametrize(
    "start", [dt.datetime(2024, 4, 1, tzinfo=dt.UTC), dt.datetime(2024, 9, 1, tzinfo=dt.UTC)]
)
def test_no_purchase_probability_matches_the_simulated_share_and_ranks_well(data, start):
    truth = data.truth.to_pandas()
    probability = no_purchase_probability(truth, start, 90)
    observed = no_purchase_in(data, start, 90).reindex(probability.index)

    spread = np.sqrt((probability * (1 - probability)).sum()) / len(probability)
    assert probability.mean() == pytest.approx(observed.mean(), abs=4 * spread + 0.005)
    assert roc_auc_score(observed, probability) > 0.8
