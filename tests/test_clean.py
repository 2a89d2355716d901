import datetime as dt

import ibis
import pandas as pd
import pytest

from cba import clean, engine, schema

EARLIEST, LATEST = dt.date(2024, 1, 1), dt.date(2025, 1, 1)


def raw_events(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["event_id", "timestamp", "price"])
    return frame.assign(
        customer_id=1, session_id=1, event_type="view", product_id="P", category="Fashion", device="Computer"
    )[schema.RAW_EVENTS.names]


def run(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    con = engine.connect()
    accepted, rejected = clean.clean_events(ibis.memtable(frame), EARLIEST, LATEST)
    return con.execute(accepted), con.execute(rejected)


@pytest.mark.parametrize(
    ("timestamp", "price", "rule"),
    [
        ("not a timestamp", 1.0, "unparsable_timestamp"),
        (None, 1.0, "unparsable_timestamp"),
        ("1970-01-01T00:00:00Z", 1.0, "timestamp_before_start"),
        ("2099-05-01T10:00:00Z", 1.0, "timestamp_in_future"),
        ("2025-01-01T00:00:00Z", 1.0, "timestamp_in_future"),
        ("2024-05-01T10:00:00Z", -3.0, "negative_price"),
    ],
    ids=["garbage", "missing", "epoch", "far-future", "first-day-after", "negative-price"],
)
def test_each_event_rule_rejects_with_its_name(timestamp, price, rule):
    accepted, rejected = run(raw_events([(1, "2024-05-01T10:00:00Z", 5.0), (2, timestamp, price)]))
    assert accepted["event_id"].tolist() == [1]
    assert rejected[["event_id", clean.REJECTION_RULE]].values.tolist() == [[2, rule]]


def test_exact_duplicates_keep_one_copy_and_reject_the_rest():
    row = (7, "2024-05-01T10:00:00Z", 5.0)
    accepted, rejected = run(raw_events([row, row, row, (8, "2024-05-01T10:00:00Z", 6.0)]))
    assert accepted["event_id"].tolist() == [7, 8]
    assert rejected[clean.REJECTION_RULE].tolist() == ["exact_duplicate", "exact_duplicate"]


def test_local_offsets_become_utc():
    accepted, _ = run(raw_events([(1, "2024-05-01T15:30:00+05:30", 5.0), (2, "2024-05-01T10:00:01Z", 5.0)]))
    assert accepted["timestamp"].tolist() == [
        pd.Timestamp("2024-05-01T10:00:00Z"),
        pd.Timestamp("2024-05-01T10:00:01Z"),
    ]
    assert str(accepted["timestamp"].dt.tz) == "UTC"


def test_rejected_rows_keep_the_raw_values():
    _, rejected = run(raw_events([(1, "31/02/2024", 5.0)]))
    assert rejected.loc[0, "timestamp"] == "31/02/2024"
    assert list(rejected.columns) == schema.RAW_EVENTS.names + [clean.REJECTION_RULE]


def customers(**overrides) -> pd.DataFrame:
    base = {
        "customer_id": [1, 2, 3],
        "Tenure": [3.0, 5.0, 1.0],
        "PreferredLoginDevice": ["Phone", "Mobile Phone", "Computer"],
        "PreferredPaymentMode": ["CC", "COD", "UPI"],
        "PreferedOrderCat": ["Mobile", "Fashion", "Mobile Phone"],
    }
    return pd.DataFrame(base | overrides)


def test_customer_labels_are_made_canonical():
    accepted, rejected = clean.clean_customers(customers())
    assert rejected.empty
    assert accepted["PreferredLoginDevice"].tolist() == ["Mobile Phone", "Mobile Phone", "Computer"]
    assert accepted["PreferredPaymentMode"].tolist() == ["Credit Card", "Cash on Delivery", "UPI"]
    assert accepted["PreferedOrderCat"].tolist() == ["Mobile Phone", "Fashion", "Mobile Phone"]


def test_customer_rules_reject_duplicates_and_negative_tenure():
    frame = pd.concat([customers(Tenure=[3.0, -1.0, 1.0]), customers().iloc[[0]]], ignore_index=True)
    accepted, rejected = clean.clean_customers(frame)
    assert accepted["customer_id"].tolist() == [1, 3]
    assert rejected[["customer_id", clean.REJECTION_RULE]].values.tolist() == [
        [2, "negative_tenure"],
        [1, "exact_duplicate"],
    ]


def test_clean_customers_does_not_change_its_input():
    frame = customers()
    before = frame.copy()
    clean.clean_customers(frame)
    pd.testing.assert_frame_equal(frame, before)


def test_quality_summary_reconciles():
    rules = pd.Series(["exact_duplicate", "negative_price", "exact_duplicate"])
    summary = clean.quality_summary(10, rules, clean.EVENT_RULES)
    assert summary["rows_in"] == summary["rows_out"] + summary["rows_rejected"] == 10
    assert summary["rules"]["exact_duplicate"] == 2 and summary["rules"]["negative_price"] == 1


def test_quality_summary_refuses_undeclared_rules():
    with pytest.raises(ValueError, match="not declared"):
        clean.quality_summary(3, pd.Series(["made_up"]), clean.EVENT_RULES)
