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


def run(frame: pd.DataFrame, timezone: str = "UTC", timeout: int = 30) -> tuple[pd.DataFrame, pd.DataFrame]:
    con = engine.connect(timezone)
    raw = con.create_table("raw_events", frame)
    accepted, rejected = clean.clean_events(raw, EARLIEST, LATEST, timeout)
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


def test_text_values_that_do_not_parse_are_rejected_not_coerced():
    frame = raw_events([(1, "2024-05-01T10:00:00Z", 5.0)] * 4).astype(
        {"price": object, "customer_id": object}
    )
    frame["event_id"] = [1, 2, 3, 4]
    frame.loc[1, "price"] = "five"
    frame.loc[2, "customer_id"] = "C-9"
    frame.loc[3, "event_type"] = "wishlist"
    accepted, rejected = run(frame.astype({"price": str, "customer_id": str}))
    assert accepted["event_id"].tolist() == [1]
    assert accepted["price"].tolist() == [5.0] and accepted["customer_id"].tolist() == [1]
    assert rejected[clean.REJECTION_RULE].tolist() == [
        "unparsable_price",
        "unparsable_customer_id",
        "unknown_event_type",
    ]


def test_exact_duplicates_keep_one_copy_and_reject_the_rest():
    row = (7, "2024-05-01T10:00:00Z", 5.0)
    accepted, rejected = run(raw_events([row, row, row, (8, "2024-05-01T10:00:00Z", 6.0)]))
    assert accepted["event_id"].tolist() == [7, 8]
    assert rejected[clean.REJECTION_RULE].tolist() == ["exact_duplicate", "exact_duplicate"]


def test_rows_sharing_an_id_are_duplicates_only_when_every_column_matches():
    row = (7, "2024-05-01T10:00:00Z", 5.0)
    frame = raw_events([row, (7, "2024-05-01T10:00:00Z", 6.0), row, (8, None, 1.0), (8, None, 1.0)])
    frame.loc[4, "device"] = None  # a blank makes the second id-8 row differ from the first
    accepted, rejected = run(frame)
    assert sorted(accepted["price"].tolist()) == [5.0, 6.0]
    assert rejected[["event_id", clean.REJECTION_RULE]].values.tolist() == [
        [7, "exact_duplicate"],
        [8, "unparsable_timestamp"],
        [8, "unparsable_timestamp"],
    ]


def test_blank_columns_count_as_equal_when_rows_are_compared():
    row = (None, "2024-05-01T10:00:00Z", None)
    frame = raw_events([row, row, (None, "2024-05-01T10:00:00Z", 2.0)]).astype({"event_id": "Int64"})
    accepted, rejected = run(frame)
    assert sorted(accepted["price"].fillna(0.0).tolist()) == [0.0, 2.0]
    assert rejected[clean.REJECTION_RULE].tolist() == ["exact_duplicate"]


def test_a_resent_row_of_an_own_log_is_a_duplicate_despite_its_new_row_number():
    frame = raw_events([(1, "2024-05-01T10:00:00Z", 5.0), (2, "2024-05-01T10:00:00Z", 5.0)])
    con = engine.connect()
    raw = con.create_table("log", frame)
    _, as_log = clean.clean_events(raw, EARLIEST, LATEST, 30, ids_are_row_numbers=True)
    _, with_ids = clean.clean_events(raw, EARLIEST, LATEST, 30)
    assert con.execute(as_log)[["event_id", clean.REJECTION_RULE]].values.tolist() == [[2, "exact_duplicate"]]
    assert con.execute(with_ids).empty  # distinct ids: two events that look alike


def test_local_offsets_become_utc():
    accepted, _ = run(raw_events([(1, "2024-05-01T15:30:00+05:30", 5.0), (2, "2024-05-01T10:00:01Z", 5.0)]))
    assert accepted["timestamp"].tolist() == [
        pd.Timestamp("2024-05-01T10:00:00Z"),
        pd.Timestamp("2024-05-01T10:00:01Z"),
    ]
    assert str(accepted["timestamp"].dt.tz) == "UTC"


def test_naive_timestamps_are_read_in_the_configured_zone():
    accepted, _ = run(raw_events([(1, "2024-05-01 12:00:00", 5.0)]), timezone="Asia/Kolkata")
    assert accepted["timestamp"].tolist() == [pd.Timestamp("2024-05-01T06:30:00Z")]


def test_rejected_rows_keep_the_raw_values():
    _, rejected = run(raw_events([(1, "31/02/2024", 5.0)]))
    assert rejected.loc[0, "timestamp"] == "31/02/2024"
    assert list(rejected.columns) == schema.RAW_EVENTS.names + [clean.REJECTION_RULE]


def test_sessions_are_derived_with_the_inactivity_timeout():
    log = pd.DataFrame(
        {
            "event_id": [1, 2, 3, 4, 5],
            "customer_id": ["1", "1", "1", "2", "2"],
            "timestamp": [
                "2024-03-01 10:00",
                "2024-03-01 10:20",
                "2024-03-01 11:00",
                "2024-03-01 10:05",
                "2024-03-01 10:06",
            ],
            "event_type": ["purchase"] * 5,
            "price": ["1", "2", "3", "4", "5"],
        }
    )
    con = engine.connect()
    raw = con.create_table("raw_events", log)
    accepted, _ = clean.clean_events(raw, EARLIEST, LATEST, session_timeout_minutes=30)
    sessions = con.execute(accepted).set_index("event_id")["session_id"]
    # customer 1: 10:00 and 10:20 together, 11:00 after a 40-minute gap; customer 2: one session
    assert sessions.loc[1] == sessions.loc[2] != sessions.loc[3]
    assert sessions.loc[4] == sessions.loc[5]
    assert sessions.nunique() == 3


def customers(**overrides) -> pd.DataFrame:
    base = {
        "customer_id": [1, 2, 3],
        "Tenure": [3.0, 5.0, None],
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


def test_blanks_are_imputed_by_the_declared_rule_with_an_indicator():
    accepted, _ = clean.clean_customers(customers())
    assert accepted["Tenure"].tolist() == [3.0, 5.0, 4.0]  # the median
    assert accepted["Tenure_missing"].tolist() == [0, 0, 1]


@pytest.mark.parametrize(
    ("overrides", "rule", "detail"),
    [
        ({"Tenure": [3.0, -1.0, 1.0]}, "impossible_value", "Tenure=-1.0"),
        ({"Tenure": [3.0, "ten", 1.0]}, "unparsable_value", "Tenure=ten"),
        ({"customer_id": [1, 1, 3]}, "duplicate_customer_id", None),
        ({"customer_id": [1, None, 3]}, "missing_customer_id", None),
        ({"customer_id": [1, 2.5, 3]}, "unparsable_value", "customer_id=2.5"),
    ],
    ids=["negative-tenure", "text-tenure", "repeated-id", "missing-id", "fractional-id"],
)
def test_customer_rules_reject_the_second_row(overrides, rule, detail):
    accepted, rejected = clean.clean_customers(customers(**overrides))
    assert len(accepted) == 2 and len(rejected) == 1
    assert rejected.loc[0, clean.REJECTION_RULE] == rule
    assert (rejected.loc[0, clean.REJECTION_DETAIL] if detail else None) == detail or pd.isna(
        rejected.loc[0, clean.REJECTION_DETAIL]
    )
    assert rejected.loc[0, "PreferredLoginDevice"] == "Mobile Phone"  # kept as received


def test_exact_duplicate_customers_are_rejected():
    frame = pd.concat([customers(), customers().iloc[[0]]], ignore_index=True)
    accepted, rejected = clean.clean_customers(frame)
    assert accepted["customer_id"].tolist() == [1, 2, 3]
    assert rejected[clean.REJECTION_RULE].tolist() == ["exact_duplicate"]


def test_near_duplicates_share_a_group():
    frame = customers(
        customer_id=[1, 2, 3],
        Tenure=[3.0, 3.0, 9.0],
        PreferredLoginDevice=["Phone", "Mobile Phone", "Computer"],
        PreferredPaymentMode=["UPI", "UPI", "UPI"],
        PreferedOrderCat=["Fashion", "Fashion", "Fashion"],
    )
    accepted, _ = clean.clean_customers(frame)
    groups = accepted["duplicate_group"]
    assert groups[0] == groups[1] and pd.isna(groups[2])


def test_clean_customers_does_not_change_its_input():
    frame = customers()
    before = frame.copy()
    clean.clean_customers(frame)
    pd.testing.assert_frame_equal(frame, before)


def test_customers_are_derived_from_events():
    events = pd.DataFrame(
        {
            "customer_id": [2, 1, 2],
            "timestamp": pd.to_datetime(["2024-03-02", "2024-03-05", "2024-03-01"], utc=True),
        }
    )
    derived = engine.connect().execute(clean.customers_from_events(ibis.memtable(events)))
    assert derived["customer_id"].tolist() == [1, 2]
    assert pd.to_datetime(derived["signup_date"]).dt.strftime("%Y-%m-%d").tolist() == [
        "2024-03-05",
        "2024-03-01",
    ]


def test_quality_summary_reconciles():
    rules = pd.Series(["exact_duplicate", "negative_price", "exact_duplicate"])
    summary = clean.quality_summary(10, rules, clean.EVENT_RULES)
    assert summary["rows_in"] == summary["rows_out"] + summary["rows_rejected"] == 10
    assert summary["rules"]["exact_duplicate"] == 2 and summary["rules"]["negative_price"] == 1


def test_quality_summary_refuses_undeclared_rules():
    with pytest.raises(ValueError, match="not declared"):
        clean.quality_summary(3, pd.Series(["made_up"]), clean.EVENT_RULES)
