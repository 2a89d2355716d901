import datetime as dt

import ibis
import pandas as pd
import pytest

from cba import engine, features

DAY0 = pd.Timestamp("2024-03-01", tz="UTC")
CUTOFF = (DAY0 + pd.Timedelta(days=10)).to_pydatetime()


def at(days: float, minutes: float = 0.0) -> pd.Timestamp:
    return DAY0 + pd.Timedelta(days=days) + pd.Timedelta(minutes=minutes)


def event_log(extra: list[tuple] = ()) -> pd.DataFrame:
    rows = [
        # customer 1: a purchase session, then a single view; buys again after the cutoff
        (1, 1, 10, at(0, 600), "view", 100.0),
        (2, 1, 10, at(0, 601), "add_to_cart", 100.0),
        (3, 1, 10, at(0, 602), "purchase", 100.0),
        (4, 1, 11, at(5, 720), "view", 20.0),
        (5, 1, 12, at(12), "purchase", 30.0),
        # customer 2: carts but never buys
        (6, 2, 20, at(1), "view", 50.0),
        (7, 2, 20, at(1, 1), "add_to_cart", 50.0),
        # customer 3: active only after the cutoff, so left out
        (8, 3, 30, at(11), "purchase", 10.0),
        *extra,
    ]
    frame = pd.DataFrame(
        rows, columns=["event_id", "customer_id", "session_id", "timestamp", "event_type", "price"]
    )
    return frame.assign(product_id="P", category="Fashion", device="Computer")


def compute(frame: pd.DataFrame) -> pd.DataFrame:
    con = engine.connect()
    return con.execute(features.customer_features(ibis.memtable(frame), CUTOFF, horizon_days=30))


def test_features_match_hand_computed_values():
    expected = pd.DataFrame(
        {
            "customer_id": [1, 2],
            "recency_days": [10 - 602 / 1440, None],
            "frequency": [1, 0],
            "monetary": [100.0, 0.0],
            "days_since_last_event": [10 - (5 + 720 / 1440), 10 - (1 + 1 / 1440)],
            "num_sessions": [2, 1],
            "avg_session_length": [(2.0 + 0.0) / 2, 1.0],
            "events_per_session": [2.0, 2.0],
            "cart_abandon_rate": [0.0, 1.0],
            "churn": [0, 1],
        }
    )
    pd.testing.assert_frame_equal(compute(event_log()), expected, check_dtype=False, atol=1e-9)


def test_events_after_the_cutoff_change_only_the_label():
    before = compute(event_log())
    after = compute(event_log([(9, 2, 21, at(15), "purchase", 500.0), (10, 2, 21, at(15, 1), "view", 5.0)]))
    feature_columns = before.columns.drop("churn")
    pd.testing.assert_frame_equal(before[feature_columns], after[feature_columns])
    assert before.set_index("customer_id").loc[2, "churn"] == 1
    assert after.set_index("customer_id").loc[2, "churn"] == 0


def test_purchases_after_the_horizon_do_not_count():
    late = compute(event_log([(9, 2, 21, at(10 + 30, 1), "purchase", 500.0)]))
    assert late.set_index("customer_id").loc[2, "churn"] == 1


def test_cutoff_is_last_event_minus_horizon():
    events = ibis.memtable(event_log())
    assert features.churn_cutoff(events, 5) == (at(12) - pd.Timedelta(days=5)).to_pydatetime()


def test_profile_is_joined_without_the_dataset_label():
    behaviour = compute(event_log())
    customers = pd.DataFrame(
        {
            "customer_id": [1, 2, 3],
            "Churn": [1, 0, 0],
            "signup_date": [dt.date(2024, 1, 1)] * 3,
            "Tenure": [3.0, 5.0, 1.0],
        }
    )
    table = features.with_profile(behaviour, customers)
    assert "Churn" not in table and "signup_date" not in table
    assert table["Tenure"].tolist() == [3.0, 5.0]
    assert table.columns[-1] == "churn"


def test_a_snapshot_keeps_its_own_label_last():
    customers = pd.DataFrame({"customer_id": [1, 2], "Churn": [1, 0], "Tenure": [3.0, 5.0]})
    expected = pd.DataFrame({"customer_id": [1, 2], "Tenure": [3.0, 5.0], "churn": [1, 0]})
    pd.testing.assert_frame_equal(features.from_snapshot(customers), expected)


def test_profile_with_duplicate_customers_is_refused():
    behaviour = compute(event_log())
    customers = pd.DataFrame({"customer_id": [1, 1, 2], "Tenure": [3.0, 3.0, 5.0]})
    with pytest.raises(pd.errors.MergeError):
        features.with_profile(behaviour, customers)
