import datetime as dt

import ibis
import numpy as np
import pandas as pd
import pytest

from cba import clean, engine, schema
from cba.config import NearDuplicateParams

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
    accepted, rejected = clean.clean_customers(customers(), EXACT)
    assert rejected.empty
    assert accepted["PreferredLoginDevice"].tolist() == ["Mobile Phone", "Mobile Phone", "Computer"]
    assert accepted["PreferredPaymentMode"].tolist() == ["Credit Card", "Cash on Delivery", "UPI"]
    assert accepted["PreferedOrderCat"].tolist() == ["Mobile Phone", "Fashion", "Mobile Phone"]


def test_blanks_stay_blank_beside_an_indicator():
    # a median filled here would be computed over every customer, test customers included
    accepted, _ = clean.clean_customers(customers(), EXACT)
    assert accepted["Tenure"].tolist()[:2] == [3.0, 5.0]
    assert np.isnan(accepted["Tenure"].iloc[2])
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
    accepted, rejected = clean.clean_customers(customers(**overrides), EXACT)
    assert len(accepted) == 2 and len(rejected) == 1
    assert rejected.loc[0, clean.REJECTION_RULE] == rule
    assert (rejected.loc[0, clean.REJECTION_DETAIL] if detail else None) == detail or pd.isna(
        rejected.loc[0, clean.REJECTION_DETAIL]
    )
    assert rejected.loc[0, "PreferredLoginDevice"] == "Mobile Phone"  # kept as received


def test_exact_duplicate_customers_are_rejected():
    frame = pd.concat([customers(), customers().iloc[[0]]], ignore_index=True)
    accepted, rejected = clean.clean_customers(frame, EXACT)
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
    accepted, _ = clean.clean_customers(frame, EXACT)
    groups = accepted["duplicate_group"]
    assert groups[0] == groups[1] and pd.isna(groups[2])


def test_clean_customers_does_not_change_its_input():
    frame = customers()
    before = frame.copy()
    clean.clean_customers(frame, EXACT)
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


# --- near-duplicate customers ---------------------------------------------------------------------------

EXACT = NearDuplicateParams(max_differences=0, max_group_size=10)


def duplicate_customers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4, 5, 6],
            "Gender": ["F", "M", "F", "M", "M", "F"],
            "Tenure": [10.0, 20.0, 10.0, 20.0, 20.0, 30.0],
            "CouponUsed": [None, 1.0, None, 2.0, 1.0, 3.0],  # blanks compare as equal
        },
        index=range(10, 16),
    )


def test_exact_near_duplicate_groups():
    groups = clean.near_duplicate_groups(duplicate_customers())
    expected = pd.Series([0, 1, 0, None, 1, None], index=range(10, 16), dtype="Int64", name="duplicate_group")
    pd.testing.assert_series_equal(groups, expected)


def test_near_duplicates_table_and_sentence():
    frame = duplicate_customers().assign(Churn=[1, 0, 1, 0, 1, 0])
    table = clean.near_duplicates(frame, EXACT)
    expected = pd.DataFrame(
        {"duplicate_group": [0, 1], "size": [2, 2], "ids": [[1, 3], [2, 5]], "mixed_labels": [False, True]}
    )
    pd.testing.assert_frame_equal(table, expected)
    assert clean.near_duplicates_sentence(table, len(frame), EXACT) == (
        "4 of 6 records (66.7%) are linked as near-duplicates (equal on every attribute but their id), in 2 "
        "groups: 2 of 2 (groups of at most 10, `clean.near_duplicates.max_group_size`). 1 groups mix churned "
        "and retained records. Each group stays on one side of every split and is resampled whole in the "
        "intervals."
    )


def test_near_duplicates_without_attributes():
    ids_only = pd.DataFrame({"customer_id": [1, 2, 3]})
    assert clean.near_duplicate_groups(ids_only).isna().all()
    table = clean.near_duplicates(ids_only, EXACT)
    assert table.empty and list(table.columns) == ["duplicate_group", "size", "ids", "mixed_labels"]
    assert clean.near_duplicates_sentence(table, 3, EXACT).startswith(
        "No two of the 3 records are near-duplicates"
    )


def twins(differences: int) -> pd.DataFrame:
    """Ten unrelated customers on 12 attributes, then a twin of the first differing in ``differences``."""
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(rng.integers(0, 1000, (10, 12)), columns=[f"a{k}" for k in range(12)])
    twin = frame.iloc[[0]].copy()
    twin.iloc[0, :differences] += 1  # drift in the first attributes
    frame = pd.concat([frame, twin], ignore_index=True)
    return frame.assign(customer_id=range(1, 12))


@pytest.mark.parametrize("differences", [1, 2, 3], ids=["one", "two", "three"])
def test_twins_that_differ_in_a_few_attributes_are_linked(differences):
    linking = NearDuplicateParams(max_differences=3, max_group_size=10)
    groups = clean.near_duplicate_groups(twins(differences), "customer_id", None, linking.max_differences, 10)
    assert groups.notna().tolist() == [True] + [False] * 9 + [True]
    assert groups.iloc[0] == groups.iloc[10]


def test_twins_that_differ_in_more_attributes_than_allowed_stay_apart():
    groups = clean.near_duplicate_groups(twins(4), "customer_id", None, 3, 10)
    assert groups.isna().all()


def test_linking_matches_brute_force_pairs():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.integers(0, 3, (60, 6)), columns=list("abcdef"))
    groups = clean.near_duplicate_groups(frame, "customer_id", None, 2, 60)
    values = frame.to_numpy()
    for i in range(len(frame)):
        for j in range(i + 1, len(frame)):
            if (values[i] == values[j]).sum() >= 4:
                assert groups.iloc[i] == groups.iloc[j], (i, j)


def test_a_chain_of_look_alikes_stops_at_the_largest_group():
    # each record differs from the next in one attribute: one long chain when linked without a bound
    chain = pd.DataFrame(
        {
            "a": [0, 1, 1, 1, 1, 1],
            "b": [0, 0, 1, 1, 1, 1],
            "c": [0, 0, 0, 1, 1, 1],
            "d": [0, 0, 0, 0, 1, 1],
            "e": [0, 0, 0, 0, 0, 1],
        }
    )
    unbounded = clean.near_duplicate_groups(chain, "customer_id", None, 1, 100)
    bounded = clean.near_duplicate_groups(chain, "customer_id", None, 1, 2)
    assert unbounded.nunique() == 1
    assert bounded.value_counts().max() == 2
    assert bounded.notna().all()


def test_a_set_of_twins_split_by_the_group_size_bound_is_counted():
    chain = pd.DataFrame(
        {
            "a": [0, 1, 1, 1, 1, 1, 7, 7],
            "b": [0, 0, 1, 1, 1, 1, 7, 7],
            "c": [0, 0, 0, 1, 1, 1, 7, 8],
            "d": [0, 0, 0, 0, 1, 1, 7, 8],
            "e": [0, 0, 0, 0, 0, 1, 7, 8],
        }
    )
    # The first six records are one chain of twins; the last two differ in three attributes, so they are
    # twins only when three differences are allowed, and then a pair that fits any bound of 2 or more.
    assert clean.split_twin_sets(chain, "customer_id", None, 1, 100) == 0
    assert clean.split_twin_sets(chain, "customer_id", None, 1, 6) == 0
    assert clean.split_twin_sets(chain, "customer_id", None, 1, 5) == 1
    assert clean.split_twin_sets(chain, "customer_id", None, 3, 2) == 1
    assert clean.split_twin_sets(chain, "customer_id", None, 3, 6) == 0
    linking = NearDuplicateParams(max_differences=1, max_group_size=5)
    assert clean.split_twin_sets_sentence(1, linking) == (
        "1 connected sets of near-duplicate records hold more than 5 records and were split into several "
        "groups (`clean.near_duplicates.max_group_size`)."
    )
    assert clean.split_twin_sets_sentence(0, linking) is None


def test_crowded_blocks_are_split_without_losing_a_twin(monkeypatch):
    # Low-cardinality attributes crowd every block; splitting the crowds further must find exactly the
    # twins that comparing every pair finds, including a crowd of identical records.
    rng = np.random.default_rng(11)
    customers = pd.DataFrame({f"a{i}": rng.integers(0, 3, 400) for i in range(8)})
    customers = pd.concat([customers, customers.iloc[[0] * 30]], ignore_index=True)
    customers.insert(0, "customer_id", np.arange(len(customers)))
    codes = customers.drop(columns="customer_id").to_numpy()
    first, second = np.triu_indices(len(codes), k=1)
    shared = (codes[first] == codes[second]).sum(axis=1)
    every_pair = {(int(a), int(b)) for a, b in zip(first[shared >= 6], second[shared >= 6], strict=True)}
    monkeypatch.setattr(clean, "_MAX_BLOCK_ROWS", 12)
    found_first, found_second, found_shared = clean._twin_pairs(customers, "customer_id", None, 2)
    found = set(zip(found_first.tolist(), found_second.tolist(), strict=True))
    identical = set(range(400, 430)) | {0}
    chained = {(a, b) for a, b in every_pair if a in identical and b in identical}
    assert found - chained == every_pair - chained
    np.testing.assert_array_equal(found_shared, (codes[found_first] == codes[found_second]).sum(axis=1))
    grouped = clean.near_duplicate_groups(customers, max_differences=2, max_group_size=1000)
    monkeypatch.setattr(clean, "_MAX_BLOCK_ROWS", 10_000)
    np.testing.assert_array_equal(
        grouped, clean.near_duplicate_groups(customers, max_differences=2, max_group_size=1000)
    )
