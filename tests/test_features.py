import datetime as dt
import math

import ibis
import numpy as np
import pandas as pd
import pytest

from cba import engine, features, schema

DAY0 = pd.Timestamp("2024-03-01", tz="UTC")  # a Friday
CUTOFF = (DAY0 + pd.Timedelta(days=10)).to_pydatetime()
COLUMNS = ["event_id", "customer_id", "session_id", "timestamp", "event_type", "price"]
ITEM_COLUMNS = ["product_id", "category", "device"]


def at(days: float, minutes: float = 0.0) -> pd.Timestamp:
    return DAY0 + pd.Timedelta(days=days) + pd.Timedelta(minutes=minutes)


def event_log(extra: list[tuple] = ()) -> pd.DataFrame:
    rows = [
        # customer 1: a purchase session on Friday morning, a view on Wednesday noon; buys after the cutoff
        (1, 1, 10, at(0, 600), "view", 100.0, "P1", "Fashion", "Computer"),
        (2, 1, 10, at(0, 601), "add_to_cart", 100.0, "P1", "Fashion", "Computer"),
        (3, 1, 10, at(0, 602), "purchase", 100.0, "P1", "Fashion", "Computer"),
        (4, 1, 11, at(5, 720), "view", 20.0, "P2", "Grocery", "Mobile Phone"),
        (5, 1, 12, at(12), "purchase", 30.0, "P2", "Grocery", "Mobile Phone"),
        # customer 2: carts at midnight on Saturday but never buys; one event without a device
        (6, 2, 20, at(1), "view", 50.0, "P1", "Fashion", "Tablet"),
        (7, 2, 20, at(1, 1), "add_to_cart", 50.0, "P1", "Fashion", None),
        # customer 3: active only after the cutoff, so left out
        (8, 3, 30, at(11), "purchase", 10.0, "P3", "Fashion", "Computer"),
        *extra,
    ]
    return pd.DataFrame(rows, columns=COLUMNS + ITEM_COLUMNS)


def signups(as_timestamps: bool = False) -> pd.DataFrame:
    # customer 2 "signed up" after their first event (a data fault): tenure starts at the first event
    days = [dt.date(2024, 2, 20), dt.date(2024, 3, 5), dt.date(2024, 3, 1)]
    return pd.DataFrame(
        {"customer_id": [1, 2, 3], "signup_date": pd.to_datetime(days) if as_timestamps else days}
    )


def compute(
    frame: pd.DataFrame, cutoff: dt.datetime = CUTOFF, with_signups: bool = False, as_timestamps: bool = False
) -> pd.DataFrame:
    con = engine.connect()
    joined = ibis.memtable(signups(as_timestamps)) if with_signups else None
    return con.execute(features.customer_features(ibis.memtable(frame), cutoff, 30, joined))


def test_features_match_hand_computed_values():
    expected = pd.DataFrame(
        {
            "customer_id": [1, 2],
            "cutoff": pd.to_datetime([CUTOFF] * 2).as_unit("us"),
            "tenure_days": [10 - 600 / 1440, 9.0],
            "recency_days": [10 - 602 / 1440, None],
            "frequency": [1, 0],
            "monetary": [100.0, 0.0],
            "days_since_last_event": [10 - (5 + 720 / 1440), 10 - (1 + 1 / 1440)],
            "num_sessions": [2, 1],
            "avg_session_length": [(2.0 + 0.0) / 2, 1.0],
            "events_per_session": [2.0, 2.0],
            "cart_abandon_rate": [0.0, 1.0],
            # two customers: the better one has one customer strictly behind, 1 + floor(5 * 1 / 2) = 3
            "r_score": [3, 1],
            "f_score": [3, 1],
            "m_score": [3, 1],
            "rfm_segment": ["Need attention", "Hibernating"],
            "preferred_day_part": ["morning", "night"],
            "night_share": [0.0, 1.0],
            "morning_share": [0.75, 0.0],
            "afternoon_share": [0.25, 0.0],
            "evening_share": [0.0, 0.0],
            "weekend_share": [0.0, 1.0],
            "preferred_device": ["Computer", "Tablet"],
            "events_laptop_accessory": [0, 0],
            "events_mobile_phone": [0, 0],
            "events_fashion": [3, 2],
            "events_grocery": [1, 0],
            "events_others": [0, 0],
            "share_laptop_accessory": [0.0, 0.0],
            "share_mobile_phone": [0.0, 0.0],
            "share_fashion": [0.75, 1.0],
            "share_grocery": [0.25, 0.0],
            "share_others": [0.0, 0.0],
            "churn": [0, 1],
        }
    )
    table = compute(event_log())
    assert table.columns.tolist() == schema.FEATURES.names
    pd.testing.assert_frame_equal(table, expected, check_dtype=False, atol=1e-9)


@pytest.mark.parametrize("as_timestamps", [False, True], ids=["signup-date", "signup-timestamp"])
def test_tenure_starts_at_signup_or_an_earlier_first_event(as_timestamps: bool):
    table = compute(event_log(), with_signups=True, as_timestamps=as_timestamps).set_index("customer_id")
    assert table.loc[1, "tenure_days"] == 20.0  # 2024-02-20 to 2024-03-11 (a leap year)
    assert table.loc[2, "tenure_days"] == 9.0  # signed up on 2024-03-05, first event on 2024-03-02


def test_quintile_scores_rank_ties_together_and_the_best_score_five():
    # customer k buys in k sessions; customer 6 ties with customer 5
    rows = [
        (100 * k + s, k, 10 * k + s, at(s), "purchase", 10.0, "P1", "Fashion", "Computer")
        for k in range(1, 7)
        for s in range(min(k, 5))
    ]
    table = compute(pd.DataFrame(rows, columns=COLUMNS + ITEM_COLUMNS))
    # customers strictly behind: 0, 1, 2, 3, 4, 4 of 6; score = 1 + floor(5 * behind / 6)
    assert table["f_score"].tolist() == [1, 1, 2, 3, 4, 4]
    assert table["m_score"].tolist() == [1, 1, 2, 3, 4, 4]
    # last purchases on days 0, 1, 2, 3, 4, 4: the same ranking for recency
    assert table["r_score"].tolist() == [1, 1, 2, 3, 4, 4]
    assert table["rfm_segment"].tolist() == [
        "Hibernating", "Hibernating", "Hibernating", "Need attention", "Loyal", "Loyal"
    ]  # fmt: skip


def test_rfm_segments_cover_every_score_pair_once():
    for r in range(1, 6):
        for f in range(1, 6):
            matches = [name for name, rs, fs in features.RFM_SEGMENTS if r in rs and f in fs]
            assert len(matches) == 1, (r, f, matches)


def test_ties_go_to_the_earlier_day_part_and_the_first_device_by_name():
    rows = [
        (1, 1, 10, at(0, 60), "view", 5.0, "P1", "Other stuff", "Mobile Phone"),  # night
        (2, 1, 10, at(0, 19 * 60), "view", 5.0, "P1", "Books", "Computer"),  # evening
    ]
    table = compute(pd.DataFrame(rows, columns=COLUMNS + ITEM_COLUMNS)).iloc[0]
    assert table["preferred_day_part"] == "night"
    assert table["preferred_device"] == "Computer"
    # categories outside the vocabulary count as Others
    assert (table["events_others"], table["share_others"]) == (2, 1.0)


def test_a_customer_without_known_devices_or_categories_has_none():
    rows = [(1, 1, 10, at(0), "view", 5.0, None, None, None)]
    frame = pd.DataFrame(rows, columns=COLUMNS + ITEM_COLUMNS).astype(dict.fromkeys(ITEM_COLUMNS, "string"))
    table = compute(frame).iloc[0]
    assert table["preferred_device"] is None
    assert table["events_fashion"] == 0 and math.isnan(table["share_fashion"])


def test_events_after_the_cutoff_change_only_the_label():
    later = [
        (9, 2, 21, at(15), "purchase", 500.0, "P3", "Grocery", "Mobile Phone"),
        (10, 2, 21, at(15, 1), "view", 5.0, "P3", "Grocery", "Mobile Phone"),
        (11, 4, 40, at(16), "purchase", 900.0, "P2", "Others", "Computer"),  # a new customer
    ]
    before, after = event_log(), event_log(later)
    affinity = fit(before, dimensions=2)
    tables = [
        features.labelled_features(ibis.memtable(log), [CUTOFF], 30, affinity, ibis.memtable(signups()))
        for log in (before, after)
    ]
    feature_columns = tables[0].columns.drop("churn")
    pd.testing.assert_frame_equal(tables[0][feature_columns], tables[1][feature_columns])
    assert tables[0].set_index("customer_id").loc[2, "churn"] == 1
    assert tables[1].set_index("customer_id").loc[2, "churn"] == 0


def test_purchases_after_the_horizon_do_not_count():
    late = compute(event_log([(9, 2, 21, at(10 + 30, 1), "purchase", 500.0, "P1", "Fashion", "Tablet")]))
    assert late.set_index("customer_id").loc[2, "churn"] == 1


def test_cutoff_is_last_event_minus_horizon():
    events = ibis.memtable(event_log())
    assert features.churn_cutoff(events, 5) == (at(12) - pd.Timedelta(days=5)).to_pydatetime()


@pytest.mark.parametrize(
    ("cutoff", "training_cutoffs", "expected"),
    [
        (None, 1, [at(12 - 10), at(12 - 5)]),
        (dt.date(2024, 3, 8), 1, [at(2), at(7)]),
        (dt.date(2024, 3, 8), 0, [at(7)]),
    ],
    ids=["last-event-minus-horizon", "given-date", "no-training-cutoffs"],
)
def test_label_cutoffs_step_back_one_horizon_at_a_time(cutoff, training_cutoffs, expected):
    cutoffs = features.label_cutoffs(ibis.memtable(event_log()), 5, cutoff, training_cutoffs)
    assert cutoffs == [stamp.to_pydatetime() for stamp in expected]


def test_a_cutoff_whose_label_window_is_not_observed_is_refused():
    with pytest.raises(ValueError, match="churn.cutoff 2024-03-10"):
        features.label_cutoffs(ibis.memtable(event_log()), 5, dt.date(2024, 3, 10), 1)


def test_a_cutoff_before_the_first_event_is_refused():
    with pytest.raises(ValueError, match="churn.training_cutoffs 3"):
        features.label_cutoffs(ibis.memtable(event_log()), 5, None, 3)


def test_cutoffs_stack_with_their_own_customers_labels_and_scores():
    first_cutoff = at(0.5).to_pydatetime()  # noon of day 0: only customer 1 has been active
    table = features.labelled_features(
        ibis.memtable(event_log()), [first_cutoff, CUTOFF], 30, fit(event_log())
    )
    assert table["cutoff"].tolist() == [at(0.5), at(10), at(10)]
    assert table["customer_id"].tolist() == [1, 1, 2]
    first = table.iloc[0]
    assert first["churn"] == 0 and first["frequency"] == 1  # buys again on day 12, within 30 days
    assert first["days_since_last_event"] == pytest.approx(0.5 - 602 / 1440)
    # scores rank among the cutoff's own customers: customer 1 has nobody behind at the first cutoff ...
    assert first["r_score"] == 1
    # ... and customer 2 behind at the second
    assert table[table["cutoff"] == at(10)].set_index("customer_id").loc[1, "r_score"] == 3
    assert table.columns[-1] == "churn"
    assert str(table["cutoff"].dtype) == "datetime64[us, UTC]"


def test_current_features_cover_every_customer_at_the_last_event():
    events = ibis.memtable(event_log())
    current = features.current_features(events, fit(event_log()), ibis.memtable(signups()))
    assert "churn" not in current.columns
    assert current["customer_id"].tolist() == [1, 2, 3]
    assert (current["cutoff"] == at(12) + pd.Timedelta(seconds=1)).all()
    one = current.set_index("customer_id").loc[1]
    assert (one["frequency"], one["monetary"]) == (2, 130.0)
    assert one["recency_days"] == pytest.approx(1 / 86_400)
    assert one["tenure_days"] == pytest.approx(22 + 1 / 86_400)


def fit(log: pd.DataFrame, dimensions: int = 2) -> features.ProductAffinity:
    interactions = features.product_interactions(ibis.memtable(log), CUTOFF).to_pandas()
    return features.fit_product_affinity(interactions, dimensions, seed=7)


def interactions(rows: list[tuple[int, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["customer_id", "product_id", "interactions"])


def test_product_interactions_count_events_per_product_before_the_cutoff():
    expected = interactions([(1, "P1", 3), (1, "P2", 1), (2, "P1", 2)])
    pd.testing.assert_frame_equal(
        features.product_interactions(ibis.memtable(event_log()), CUTOFF).to_pandas(),
        expected,
        check_dtype=False,
    )


def test_affinity_of_customers_who_each_favour_one_product():
    # rows e1, e2, e1 (P3 never seen): X'X = diag(2, 1, 0), so the components are P1, then P2
    seen = interactions([(1, "P1", 4), (2, "P2", 1), (3, "P1", 1)])
    affinity = features.fit_product_affinity(seen, dimensions=3, seed=7)
    np.testing.assert_allclose(np.abs(affinity.components[:2]), [[1, 0], [0, 1]], atol=1e-9)
    assert (affinity.components[2] == 0).all()  # more dimensions than the data hold: zeros
    vectors = affinity.transform(seen, [1, 2, 3, 4])
    assert vectors.columns.tolist() == schema.affinity_columns(3)
    np.testing.assert_allclose(vectors.to_numpy(), [[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 0]], atol=1e-9)


def test_affinity_projects_log_counts_of_known_products_scaled_to_unit_length():
    basis = features.ProductAffinity(("P1", "P2"), np.array([[1.0, 0.0], [0.6, 0.8]]))
    vectors = basis.transform(interactions([(5, "P1", 2), (5, "P2", 1), (5, "P9", 50)]), [5])
    length = math.hypot(math.log(3), math.log(2))
    expected = [math.log(3) / length, (0.6 * math.log(3) + 0.8 * math.log(2)) / length]
    np.testing.assert_allclose(vectors.iloc[0], np.round(expected, 6))


def test_affinity_is_seeded_and_deterministic():
    rng = np.random.default_rng(0)
    rows = [(c, f"P{p}", int(rng.integers(1, 5))) for c in range(40) for p in range(12) if rng.random() < 0.3]
    seen = interactions(rows)
    first, second = (features.fit_product_affinity(seen, 3, seed=11) for _ in range(2))
    assert first.products == second.products
    assert first.components.tobytes() == second.components.tobytes()


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
    stacked = features.with_profile(pd.concat([behaviour, behaviour.drop(columns="churn")]), customers)
    assert stacked["Tenure"].tolist() == [3.0, 5.0, 3.0, 5.0]


def test_a_snapshot_keeps_its_own_label_last():
    customers = pd.DataFrame({"customer_id": [1, 2], "Churn": [1, 0], "Tenure": [3.0, 5.0]})
    expected = pd.DataFrame({"customer_id": [1, 2], "Tenure": [3.0, 5.0], "churn": [1, 0]})
    pd.testing.assert_frame_equal(features.from_snapshot(customers), expected)


def test_profile_with_duplicate_customers_is_refused():
    behaviour = compute(event_log())
    customers = pd.DataFrame({"customer_id": [1, 1, 2], "Tenure": [3.0, 3.0, 5.0]})
    with pytest.raises(pd.errors.MergeError):
        features.with_profile(behaviour, customers)


def labelled_literal() -> pd.DataFrame:
    early, late = pd.Timestamp("2024-04-01T12:00", tz="UTC"), pd.Timestamp("2024-06-30T12:00", tz="UTC")
    return pd.DataFrame(
        {
            "customer_id": [1, 2, 1, 2, 3, 4],
            "cutoff": [early, early, late, late, late, late],
            "rfm_segment": ["Champions", "Hibernating", "Champions", "Champions", "Hibernating", "At risk"],
            "recency_days": [1.0, None, 2.0, 4.0, 30.0, 50.0],
            "frequency": [3, 0, 4, 2, 1, 1],
            "monetary": [30.0, 0.0, 40.0, 20.0, 5.0, 15.0],
            "churn": [0, 1, 0, 1, 1, 1],
        }
    )


def test_metrics_give_the_evaluation_cutoff_and_each_cutoff():
    table = labelled_literal()
    metrics = features.features_metrics(table, table.drop(columns="churn").head(3), horizon_days=90)
    assert metrics == {
        "customers": 4,
        "churn_rate": 0.75,
        "horizon_days": 90,
        "cutoff": "2024-06-30",
        "cutoffs": [
            {"cutoff": "2024-04-01T12:00:00+00:00", "customers": 2, "churned": 1, "churn_rate": 0.5},
            {"cutoff": "2024-06-30T12:00:00+00:00", "customers": 4, "churned": 3, "churn_rate": 0.75},
        ],
        "current_customers": 3,
    }


def test_metrics_of_a_snapshot_have_no_cutoff():
    table = pd.DataFrame({"customer_id": [1, 2, 3], "churn": [1, 0, 0]})
    metrics = features.features_metrics(table, table.drop(columns="churn"), horizon_days=None)
    assert metrics == {
        "customers": 3,
        "churn_rate": 0.3333,
        "horizon_days": None,
        "cutoff": None,
        "cutoffs": [],
        "current_customers": 3,
    }


def test_rfm_segment_table_and_sentence():
    table = labelled_literal()
    segments = features.rfm_segments(table[table["cutoff"] == table["cutoff"].max()])
    expected = pd.DataFrame(
        {
            "rfm_segment": ["Champions", "At risk", "Hibernating"],
            "customers": [2, 1, 1],
            "share": [0.5, 0.25, 0.25],
            "churn_rate": [0.5, 1.0, 1.0],
            "median_recency_days": [3.0, 50.0, 30.0],
            "mean_frequency": [3.0, 1.0, 1.0],
            "mean_monetary": [30.0, 15.0, 5.0],
        }
    )
    pd.testing.assert_frame_equal(segments, expected)
    assert features.rfm_segment_sentence(segments) == (
        "At risk churn most (100.0% of 1 customers), Champions least (50.0% of 2); "
        "the largest segment is Champions (50.0% of customers)."
    )
    assert len(features.rfm_segment_figure(segments).data[0].x) == 3


def test_a_transaction_only_log_gets_zero_affinity():
    log = event_log().assign(event_type="purchase", product_id=None, category=None, device=None)
    log = log.astype(dict.fromkeys(ITEM_COLUMNS, "string"))
    events = ibis.memtable(log)
    affinity = features.fit_product_affinity(features.product_interactions(events, CUTOFF).to_pandas(), 3, 1)
    table = features.labelled_features(events, [CUTOFF], 30, affinity)
    assert (table[schema.affinity_columns(3)] == 0).all().all()
    assert table["preferred_device"].isna().all() and (table["events_others"] == 0).all()
