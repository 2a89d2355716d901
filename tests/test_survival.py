import datetime as dt

import ibis
import pandas as pd
import pytest

from cba import survival


def test_kaplan_meier_on_a_known_sample():
    lives = pd.DataFrame(
        {
            "segment": ["a"] * 4 + ["b"] * 4,
            "entry": [0.0] * 8,
            "duration": [10.0, 20.0, 30.0, 40.0, 100.0, 110.0, 120.0, 130.0],
            "churned": [1, 1, 1, 1, 1, 1, 0, 0],
        }
    )
    curves, summary = survival.kaplan_meier(lives, step=25)
    # Segment a: one of four churns at 10 and 20, so S(25) = 0.5; segment b has not churned by 75.
    assert curves.set_index("time").loc[25.0, "a"] == 0.5
    assert curves.set_index("time").loc[75.0, "b"] == 1.0
    assert summary["median_lifetime"]["a"] == 20.0
    assert summary["median_lifetime"]["b"] == 110.0  # churns at 100 and 110 halve it; 120, 130 censored
    assert summary["n_churned"] == 6
    assert summary["logrank_p_value"] < 0.05
    assert summary["churn_rate_by_segment"] == {"a": 1.0, "b": 0.5}


def test_lifetimes_from_an_event_log():
    utc = pd.Timestamp("2024-01-01", tz="UTC")
    events = pd.DataFrame(
        {
            "customer_id": [1, 1, 2],
            "timestamp": [
                utc + pd.Timedelta(days=5),
                utc + pd.Timedelta(days=10),
                utc + pd.Timedelta(days=200),
            ],
        }
    )
    customers = pd.DataFrame(
        {
            "customer_id": [1, 2, 3],
            "signup_date": [dt.date(2023, 12, 2), dt.date(2024, 1, 11), dt.date(2024, 1, 1)],
            "Complain": [1, 0, 0],
        }
    )
    lives = survival.lifetimes(ibis.memtable(events), customers, 90, "Complain")
    # Observation runs from day 5 (first event) to day 200 (last event). Customer 1 signed up 30 days
    # before day 0, so enters 35 days into their life; last seen on day 10, more than 90 days before the
    # end: churned 40 days in. Customer 2 signed up on day 10 and is seen at the end: censored 190 days
    # in. Customer 3 has no events.
    assert lives["customer_id"].tolist() == [1, 2]
    assert lives["churned"].tolist() == [1, 0]
    assert lives["duration"].tolist() == [40.0, 190.0]
    assert lives["entry"].tolist() == [35.0, 0.0]


def test_lifetimes_from_tenure_use_the_snapshot_label():
    customers = pd.DataFrame(
        {"customer_id": [1, 2], "Tenure": [3.0, 0.0], "Churn": [0, 1], "Complain": [0.0, 1.0]}
    )
    lives = survival.lifetimes_from_tenure(customers, "Complain")
    assert lives[["duration", "churned", "entry"]].values.tolist() == [[3.0, 0, 0.0], [0.0, 1, 0.0]]
    assert lives["segment"].tolist() == ["0", "1"]


def test_unknown_segment_names_the_params_key():
    customers = pd.DataFrame({"customer_id": [1], "signup_date": [dt.date(2024, 1, 1)]})
    events = pd.DataFrame({"customer_id": [1], "timestamp": [pd.Timestamp("2024-01-02", tz="UTC")]})
    with pytest.raises(KeyError, match="survival.segment"):
        survival.lifetimes(ibis.memtable(events), customers, 30, "Nope")
