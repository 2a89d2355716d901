import datetime as dt
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pytest
from lifelines.statistics import multivariate_logrank_test

from cba import survival

KAGGLE = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "E Commerce Dataset.xlsx"


def lives_frame(duration, churned, entry=None, **attributes) -> pd.DataFrame:
    """A lifetimes table of literal values, customers numbered from 1."""
    duration = np.asarray(duration, float)
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(1, len(duration) + 1),
            "entry": np.zeros(len(duration)) if entry is None else np.asarray(entry, float),
            "duration": duration,
            "churned": np.asarray(churned, int),
        }
    )
    return frame.assign(**attributes)


def proportional_lives(n: int, seed: int, log_hazard_ratio: float, truncate: bool = False) -> pd.DataFrame:
    """Exponential lifetimes whose hazard is exp(log_hazard_ratio) times higher for ``Complain`` = 1."""
    rng = np.random.default_rng(seed)
    complain = rng.integers(0, 2, n)
    satisfaction = rng.integers(1, 6, n)
    lifetime = rng.exponential(100 / np.exp(log_hazard_ratio * complain))
    entry = rng.uniform(0, 30, n) if truncate else np.zeros(n)
    censor = entry + rng.uniform(20, 300, n)
    seen = lifetime > entry  # a customer who left before observation began is never seen
    return lives_frame(
        np.minimum(lifetime, censor)[seen],
        (lifetime <= censor)[seen],
        entry=entry[seen],
        Complain=complain[seen],
        SatisfactionScore=satisfaction[seen],
    ).assign(customer_id=lambda frame: np.arange(1, len(frame) + 1))


def test_kaplan_meier_on_a_known_sample():
    lives = lives_frame(
        [10.0, 20.0, 30.0, 40.0, 100.0, 110.0, 120.0, 130.0],
        [1, 1, 1, 1, 1, 1, 0, 0],
        segment=["a"] * 4 + ["b"] * 4,
    )
    curves, summary = survival.kaplan_meier(lives, step=25, segment="segment")
    # Segment a: one of four churns at 10 and 20, so S(25) = 0.5; segment b has not churned by 75.
    assert curves.set_index("time").loc[25.0, "a"] == 0.5
    assert curves.set_index("time").loc[75.0, "b"] == 1.0
    # Overall at 105: churns at 10, 20, 30, 40 (8 at risk, then 7, 6, 5) and 100 (4 at risk):
    # 7/8 * 6/7 * 5/6 * 4/5 * 3/4 = 3/8; the median is where the curve first falls below one half.
    assert curves.set_index("time").loc[100.0, "overall"] == 0.375
    assert summary["median_lifetime"] == {"overall": 100.0, "a": 20.0, "b": 110.0}
    assert summary["n_churned"] == 6
    assert summary["logrank_p_value"] < 0.05
    assert summary["churn_rate_by_segment"] == {"a": 1.0, "b": 0.5}


def test_kaplan_meier_without_a_segment_has_one_curve_and_no_test():
    curves, summary = survival.kaplan_meier(lives_frame([1.0, 2.0], [1, 0]), step=1)
    assert list(curves.columns) == ["time", "overall"]
    assert curves["overall"].tolist() == [1.0, 0.5, 0.5]
    assert summary["logrank_p_value"] is None


def test_logrank_matches_lifelines_without_late_entry():
    lives = proportional_lives(600, seed=1, log_hazard_ratio=0.4).assign(
        level=lambda frame: frame["SatisfactionScore"].map(
            {1: "low", 2: "low", 3: "mid", 4: "high", 5: "high"}
        )
    )
    ours = survival.logrank_test(lives, "level")
    reference = multivariate_logrank_test(lives["duration"], lives["level"], lives["churned"])
    assert ours["levels"] == 3 and ours["degrees_of_freedom"] == 2
    assert ours["statistic"] == pytest.approx(reference.test_statistic, rel=1e-9)
    assert ours["p_value"] == pytest.approx(reference.p_value, rel=1e-9)


def test_logrank_counts_late_entrants_only_from_their_entry():
    # Group a: customers 1 and 2 churn at 1 and 2. Group b: customer 3 churns at 3; customer 4 enters
    # at 2.5 and is censored at 4. Without the entry, customer 4 would be at risk at times 1 and 2.
    lives = lives_frame([1, 2, 3, 4], [1, 1, 1, 0], entry=[0, 0, 0, 2.5], group=["a", "a", "b", "b"])
    # At t=1: 3 at risk (1 of b), expected churns in a = 2/3; t=2: a 1 of 2, expected 1/2;
    # t=3: only b at risk, expected 0 in a. Observed in a: 2, expected 7/6, O - E = 5/6.
    # Variance: t=1: 1*2/3*1/3 = 2/9; t=2: 1/2*1/2 = 1/4; t=3: 0. Statistic = (5/6)^2 / (17/36) = 25/17.
    assert survival.logrank_test(lives, "group")["statistic"] == pytest.approx(25 / 17)


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
    lives = survival.lifetimes(ibis.memtable(events), customers, 90)
    # Observation runs from day 5 (first event) to day 110 (the last event, day 200, less the horizon).
    # Customer 1 signed up 30 days before day 0, so enters 35 days into their life; last seen on day 10,
    # before day 110: churned 40 days in. Customer 2 signed up on day 10 and is seen after day 110:
    # censored there, 100 days in. Customer 3 has no events.
    expected = lives_frame([40.0, 100.0], [1, 0], entry=[35.0, 0.0], Complain=[1, 0])
    pd.testing.assert_frame_equal(lives, expected)


def test_lifetimes_from_tenure_use_the_snapshot_label_and_leave_out_unknown_tenure():
    customers = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4],
            "Tenure": [3.0, 0.0, np.nan, 9.0],
            "Churn": [0, 1, 1, 0],
            "Complain": [0.0, 1.0, 1.0, 0.0],
            "Tenure_missing": [0, 0, 0, 1],
        }
    )
    lives = survival.lifetimes_from_tenure(customers)
    expected = lives_frame([3.0, 0.0], [0, 1], Complain=[0.0, 1.0])
    pd.testing.assert_frame_equal(lives, expected)


def test_unknown_attribute_names_the_params_key():
    lives = lives_frame([1.0], [1], Complain=[1])
    with pytest.raises(KeyError, match="survival.other_segments: 'Nope'"):
        survival.require_attributes(lives, ["Complain", "Nope"], "survival.other_segments")


def test_median_times_on_a_hand_computed_hazard():
    # Churns at 1, 2 and 3 among 4 customers: Nelson-Aalen H = 1/4, then 1/4 + 1/3, then + 1/2.
    lives = lives_frame([1, 2, 3, 5, 0.5, 1.5], [1, 1, 1, 0, 0, 0], entry=[0, 0, 0, 0, 0, 0])
    hazard = pd.Series([0.25, 0.25 + 1 / 3, 0.25 + 1 / 3 + 0.5], index=[1.0, 2.0, 3.0])
    times = survival.median_times_to_churn(lives, hazard, np.array([1, 1, 1, 1, 1, 4.0]))
    # Customer 5 (relative hazard 1, active at 0.5): ln 2 = 0.69 is first exceeded at 3 (H = 1.08): 2.5.
    # Customer 6 (relative hazard 4, active at 1.5, H(1.5) = 0.25): needs H >= 0.25 + 0.17, reached at 2.
    # Customer 4 (active at 5): no churn time after 5, so the median lies beyond the data.
    expected = pd.DataFrame(
        {
            "customer_id": np.arange(1, 7, dtype="int64"),
            "churned": np.array([1, 1, 1, 0, 0, 0], dtype="int64"),
            "observed_lifetime": [1, 2, 3, 5, 0.5, 1.5],
            "median_time_to_churn": [np.nan, np.nan, np.nan, np.inf, 2.5, 0.5],
        }
    )
    pd.testing.assert_frame_equal(times, expected)


def test_without_covariates_the_times_come_from_nelson_aalen():
    lives = lives_frame([1, 2, 3, 0.5], [1, 1, 0, 0])
    times = survival.survival_times(lives, None)
    # Customer 4 leaves the risk set at 0.5, so H = 1/3 at 1 and 1/3 + 1/2 = 0.83 >= ln 2 at 2: customer 4
    # (active at 0.5) has 1.5 to go; customer 3 (active at 3) is past the last churn time.
    assert times["median_time_to_churn"].tolist()[2:] == [np.inf, 1.5]


def test_sentences_state_the_computed_figures():
    logrank = pd.DataFrame({"segment": ["Complain", "CityTier"], "p_value": [0.001, 0.2]})
    assert survival.logrank_sentence(logrank, 0.05) == (
        "Lifetimes differ between the levels of Complain (p = 0.001); no difference is shown for "
        "CityTier (p = 0.2) (log-rank tests at the 5% level)."
    )
    times = pd.DataFrame({"churned": [1, 0, 0, 0], "median_time_to_churn": [np.nan, 10.0, 30.0, np.inf]})
    assert survival.survival_times_sentence(times, "months") == (
        "Of 3 customers still active, 1 (33%) have a predicted median time to churn beyond the longest "
        "lifetime the data cover (written as infinite); across all of them the median is 30 months."
    )


def test_logrank_counts_each_near_duplicate_group_once():
    lives = proportional_lives(300, seed=3, log_hazard_ratio=0.4)
    copies = lives.iloc[:100].assign(customer_id=lambda frame: frame["customer_id"] + 1000)
    twins = pd.concat([lives, copies], ignore_index=True)
    groups = pd.array(list(range(100)) + [None] * 200 + list(range(100)), dtype="Int64")
    grouped = twins.assign(duplicate_group=groups)
    reference = multivariate_logrank_test(lives["duration"], lives["Complain"], lives["churned"])
    assert survival.logrank_test(grouped, "Complain")["statistic"] == pytest.approx(reference.test_statistic)
    # Counted as independent, the copies inflate the evidence.
    assert survival.logrank_test(twins, "Complain")["statistic"] > 1.2 * reference.test_statistic
    assert survival.duplicate_groups_sentence(grouped) == (
        "200 of the 400 customers share 100 groups of near-duplicate records (one customer entered under "
        "several ids). The log-rank tests count each group once (its first customer), and the Cox model's "
        "intervals and p-values treat each group as one cluster (robust variance)."
    )
    alone = survival.duplicate_groups_sentence(grouped.iloc[:300])
    assert alone.startswith("No two of the 300 customers share a group")
    assert survival.duplicate_groups_sentence(lives) is None
