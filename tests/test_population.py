"""Which customers the models see, which churn they predict, and what they may know at a cutoff."""

import datetime as dt

import ibis
import numpy as np
import pandas as pd
import pytest

from cba import churn, clean, features, schema
from cba.config import NearDuplicateParams
from test_features import CUTOFF, at, compute, event_log, fit

UTC = dt.UTC


def at_cutoffs(days_since_last_event: list[float], cutoffs: list[pd.Timestamp], churned: list[int]):
    return pd.DataFrame(
        {
            "customer_id": range(1, len(cutoffs) + 1),
            "cutoff": cutoffs,
            "days_since_last_event": days_since_last_event,
            "churn": churned,
        }
    )


def test_customers_silent_for_longer_than_the_active_window_are_lapsed_at_every_cutoff():
    early, late = at(0), at(100)
    table = at_cutoffs([10.0, 90.0, 90.5, 200.0, 30.0], [early, early, early, late, late], [0, 1, 1, 1, 0])
    active, lapsed = features.split_population(table, active_days=90)
    assert active["customer_id"].tolist() == [1, 2, 5]  # an event exactly 90 days before still counts
    assert lapsed["customer_id"].tolist() == [3, 4]
    assert features.population(active, lapsed, 90) == {
        "active_days": 90,
        "active": 1,
        "lapsed": 1,
        "lapsed_returned": 0,
    }


def test_a_customer_who_stopped_before_the_cutoff_is_not_an_easy_positive():
    # at day 10, customer 1 was last seen 4.5 days before, customer 2 nine days before; neither buys by day 11
    table = compute(event_log(), cutoff=CUTOFF)
    active, lapsed = features.split_population(table, active_days=5)
    assert active["customer_id"].tolist() == [1] and lapsed["customer_id"].tolist() == [2]
    assert lapsed["churn"].tolist() == [1]  # counted as churn before: a positive the model could not miss


def test_population_of_a_snapshot_is_unknown():
    snapshot = pd.DataFrame({"customer_id": [1, 2], "churn": [0, 1]})
    assert features.population(snapshot, snapshot.iloc[:0], 90) is None


def test_population_sentence_counts_the_win_back_group():
    counts = {"active_days": 90, "active": 900, "lapsed": 100, "lapsed_returned": 10}
    assert features.population_sentence(counts, 120) == (
        "Only customers with an event in the 90 days before a cutoff are at risk of churn "
        "(`churn.active_days`): 900 at the evaluation cutoff. The other 100 (10.0%) had already stopped; "
        "they are a win-back group, not churn risk (10.0% of them bought again in the horizon anyway). "
        "Today 120 customers are lapsed."
    )


def test_every_profile_attribute_is_static_or_a_snapshot():
    profile = [c for c in schema.CUSTOMERS.columns if c.name not in ("customer_id", "Churn")]
    assert {c.timing for c in profile} == {schema.STATIC, schema.SNAPSHOT}
    for name in ("DaySinceLastOrder", "OrderCount", "CouponUsed", "Complain", "CashbackAmount", "Tenure"):
        assert name in schema.SNAPSHOT_ATTRIBUTES
    for name in ("CityTier", "Gender", "MaritalStatus", "WarehouseToHome"):
        assert schema.KAGGLE_CUSTOMERS.column(name).timing == schema.STATIC


@pytest.mark.parametrize(
    ("source", "configured", "expected"),
    [
        ("synthetic", None, ["Tenure"]),
        ("kaggle", None, list(schema.SNAPSHOT_ATTRIBUTES)),
        ("events", None, list(schema.SNAPSHOT_ATTRIBUTES)),
        ("synthetic", ["Complain"], ["Complain"]),
        ("kaggle", [], []),
    ],
    ids=["generator-draws-at-signup", "kaggle", "events", "configured", "configured-none"],
)
def test_snapshot_attributes_follow_the_source_unless_configured(source, configured, expected):
    assert features.snapshot_attributes(source, configured) == expected


def test_a_snapshot_attribute_is_withheld_while_a_cutoff_precedes_its_snapshot():
    cutoffs = [dt.datetime(2024, 6, 1, tzinfo=UTC), dt.datetime(2024, 9, 1, tzinfo=UTC)]
    taken = dt.datetime(2024, 12, 31, tzinfo=UTC)
    assert features.withheld_attributes(["Complain"], taken, cutoffs) == ["Complain"]
    assert features.withheld_attributes(["Complain"], cutoffs[0], cutoffs) == []  # at the snapshot: known
    assert features.withheld_attributes([], taken, cutoffs) == []


def test_withheld_attributes_and_their_indicators_never_join_the_features():
    behaviour = compute(event_log())
    customers = pd.DataFrame(
        {
            "customer_id": [1, 2, 3],
            "CityTier": [1, 3, 2],
            "OrderCount": [2.0, None, 1.0],
            "OrderCount_missing": [0, 1, 0],
        }
    )
    table = features.with_profile(behaviour, customers, withheld=["OrderCount"])
    assert "OrderCount" not in table and "OrderCount_missing" not in table
    assert table["CityTier"].tolist() == [1, 3]


def test_model_features_of_a_customer_do_not_depend_on_other_customers():
    # the RFM scores rank a customer among everyone at the cutoff (test customers included): described only
    newcomer = [(9, 4, 40, at(3), "purchase", 500.0, "P1", "Fashion", "Computer")]
    affinity = fit(event_log())
    alone = features.labelled_features(ibis.memtable(event_log()), [CUTOFF], 30, affinity)
    crowded = features.labelled_features(ibis.memtable(event_log(newcomer)), [CUTOFF], 30, affinity)
    assert alone.loc[0, "r_score"] != crowded.loc[0, "r_score"]
    pd.testing.assert_frame_equal(
        features.model_features(alone), features.model_features(crowded).iloc[:2], check_dtype=False
    )
    assert not set(features.MODEL_EXCLUDED) & set(features.model_features(alone).columns)


def test_blanks_reach_the_model_and_take_the_median_of_the_training_rows_only():
    raw = pd.DataFrame(
        {"customer_id": [1, 2, 3, 4, 5], "Tenure": [1.0, 2.0, 3.0, None, 100.0], "Churn": [0, 1, 0, 1, 1]}
    )
    accepted, _ = clean.clean_customers(raw, NearDuplicateParams(max_differences=0, max_group_size=10))
    train, test = accepted.iloc[:4], accepted.iloc[4:].assign(Tenure=np.nan, Tenure_missing=1)
    columns = ["Tenure", "Tenure_missing"]
    model = churn.build_model("random_forest", columns, [], {}, seed=0)
    fitted = model.fit(train[columns], train["Churn"]).named_steps["preprocess"]
    # the training rows' median (1, 2, 3: 2), not the all-rows median (1, 2, 3, 100: 2.5)
    assert fitted.transform(test[columns])[0, 0] == 2.0
    assert fitted.transform(test[columns])[0, 1] == 1  # the indicator stays


def test_the_three_churn_definitions_side_by_side():
    definitions = features.churn_definitions(
        pd.Series([1, 0, 0, 0]), pd.Series([1, 1, 0]), pd.Series([0, 0, 0, 0, 1])
    )
    assert definitions[["definition", "customers", "churned", "churn_rate"]].to_dict("list") == {
        "definition": ["source flag", "model label", "survival event"],
        "customers": [4, 3, 5],
        "churned": [1, 2, 1],
        "churn_rate": [0.25, 0.6667, 0.2],
    }
    assert features.churn_definitions_sentence(definitions) == (
        "Three things are called churn here, with different rates: source flag 25.0% of 4, model label "
        "66.7% of 3, survival event 20.0% of 5. The models predict the model label; the EDA's churn by "
        "segment describes the source flag and survival uses its own event."
    )
    snapshot = features.churn_definitions(pd.Series([1, 0, 0, 0]), None, None)
    sentence = features.churn_definitions_sentence(snapshot)
    assert sentence.startswith("Churn here is the source's own flag, 25.0%")


@pytest.mark.parametrize(
    ("source", "snapshots", "withheld", "ending"),
    [
        ("synthetic", ["Tenure"], ["Tenure"], "are snapshots (`data.snapshot_attributes`)."),
        ("events", ["Complain"], ["Complain"], "Withheld from the models: Complain."),
        ("events", ["Complain"], [], "so every attribute joins the features."),
    ],
    ids=["generator", "withheld", "snapshot-before-every-cutoff"],
)
def test_snapshot_sentence_says_which_attributes_the_models_see(source, snapshots, withheld, ending):
    sentence = features.snapshot_attributes_sentence(source, snapshots, withheld)
    assert sentence.endswith(ending)
    if source == "synthetic":
        assert "The generator draws every profile attribute at signup" in sentence
        assert ", ".join(schema.SNAPSHOT_ATTRIBUTES) in sentence
        assert "Tenure is its one snapshot, withheld from the models here" in sentence
