"""The money behind the executive summary: campaign economics, segments, value, on hand-worked cases."""

import numpy as np
import pandas as pd
import pytest

from cba import retention
from cba.config import BusinessParams
from cba.schema import MissingFeaturesError

BUSINESS = BusinessParams(
    contact_cost=2.0, retained_value=50.0, offer_success_rate=0.4, high_value_quantile=0.5
)
"""Each contact costs 2; each churner reached is kept 40% of the time and is then worth 50: 20 expected."""


def test_campaign_economics_by_hand_for_one_and_for_many_campaigns():
    money = retention.campaign_economics(3, 2, BUSINESS)
    assert (money.cost, money.benefit, money.profit) == (6.0, 40.0, 34.0)
    ranked = retention.campaign_economics(np.arange(3), np.array([0, 1, 1]), BUSINESS)
    assert ranked.profit.tolist() == [0.0, 18.0, 16.0]


def test_held_out_campaign_counts_the_churners_it_reaches():
    y = np.array([1, 0, 1, 0, 1])
    p = np.array([0.9, 0.7, 0.6, 0.2, 0.1])
    # the three at or above 0.6 are contacted (cost 6); two of them churn (benefit 2 * 20 = 40)
    assert retention.campaign(y, p, 0.6, BUSINESS) == {
        "contact_cost": 2.0,
        "retained_value": 50.0,
        "offer_success_rate": 0.4,
        "threshold": 0.6,
        "customers_targeted": 3,
        "share_targeted": 0.6,
        "expected_cost": 6.0,
        "expected_benefit": 40.0,
        "expected_profit": 34.0,
    }


def test_todays_campaign_counts_expected_churners_among_the_high_risk():
    scores = pd.DataFrame(
        {
            "risk_segment": [
                "high risk, high value",
                "high risk, low value",
                "low risk, high value",
                "low risk, low value",
            ],
            "churn_probability": [0.8, 0.5, 0.1, 0.05],
        }
    )
    # two contacted (cost 4), 0.8 + 0.5 = 1.3 expected churners (benefit 1.3 * 20 = 26)
    assert retention.recommended_campaign(scores, BUSINESS) == {
        "customers_targeted": 2,
        "share_targeted": 0.5,
        "expected_cost": 4.0,
        "expected_benefit": 26.0,
        "expected_profit": 22.0,
    }


def scores() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4],
            "churn_probability": [0.8, 0.6, 0.1, 0.2],
            "risk_segment": [
                "high risk, high value",
                "high risk, high value",
                "low risk, high value",
                "low risk, low value",
            ],
            "value": [100.0, 50.0, 200.0, 10.0],
        }
    )


def test_segment_table_by_hand():
    table = retention.segment_table(scores(), {"high risk, high value": ["r_score", "Complain"]})
    expected = pd.DataFrame(
        {
            "segment": ["high risk, high value", "low risk, low value", "low risk, high value"],
            "customers": [2, 1, 1],
            "mean_probability": [0.7, 0.2, 0.1],
            "mean_value": [75.0, 10.0, 200.0],
            "revenue_at_risk": [110.0, 2.0, 20.0],  # 0.8 * 100 + 0.6 * 50; 0.2 * 10; 0.1 * 200
            "drivers": [["r_score", "Complain"], [], []],
            "intervention": [
                "a personal call from the account team: address recency; "
                "resolve each open complaint with a personal service call",
                "no retention contact: monitor their risk score",
                "no retention contact: monitor their risk score",
            ],
        }
    )
    pd.testing.assert_frame_equal(table, expected)
    assert retention.revenue_at_risk(scores()).sum() == pytest.approx(132.0)


def test_segment_sentence_names_the_riskiest_segment_and_its_action():
    table = retention.segment_table(scores(), {"high risk, high value": ["Complain"]})
    assert retention.segment_sentence(table, 4, 132.0, "revenue to date") == (
        "Scoring all 4 current customers puts 132 of value (revenue to date) at risk. The riskiest segment, "
        "*high risk, high value* (2 customers, mean churn probability 70%), is driven by Complain: a "
        "personal call from the account team: resolve each open complaint with a personal service call."
    )


@pytest.mark.parametrize(
    ("segment", "drivers", "expected"),
    [
        ("high risk, high value", ["Complain"], "a personal call from the account team: resolve each open"),
        ("high risk, low value", ["cart_abandon_rate"], "an automated email: send abandoned-cart reminders"),
        ("high risk, low value", ["m_score"], "an automated email: address spend score"),
        ("high risk, low value", ["PreferredPaymentMode_UPI"], "an automated email: promote the smoothest"),
        (
            "high risk, high value",
            [],
            "a personal call from the account team with the standard retention offer",
        ),
        ("low risk, high value", ["Complain"], "no retention contact"),
    ],
    ids=["complaint", "cart", "readers-words", "one-hot-level", "no-driver", "low-risk"],
)
def test_interventions_follow_from_segment_and_drivers(segment, drivers, expected):
    assert retention.intervention(segment, drivers).startswith(expected)


def test_risk_segments_cut_at_threshold_and_value_cut():
    segments = retention.risk_segments(np.array([0.9, 0.5, 0.1]), np.array([10.0, 1.0, 5.0]), 0.5, 5.0)
    assert segments.tolist() == ["high risk, high value", "high risk, low value", "low risk, high value"]


def test_value_of_prefers_revenue_then_cashback_and_names_what_is_missing():
    value, basis = retention.value_of(
        pd.DataFrame({"monetary": [10.0, np.nan], "CashbackAmount": [1.0, 2.0]})
    )
    assert (value.tolist(), basis) == ([10.0, 0.0], "revenue to date")
    value, basis = retention.value_of(pd.DataFrame({"CashbackAmount": [1, 2]}))
    assert (value.tolist(), basis) == ([1.0, 2.0], "average monthly cashback")
    with pytest.raises(MissingFeaturesError, match="monetary.*CashbackAmount"):
        retention.value_of(pd.DataFrame({"x": [1]}))


@pytest.mark.parametrize(("quantile", "cut"), [(0.5, 2.5), (0.75, 3.25)], ids=["median", "upper-quartile"])
def test_value_cut_is_the_chosen_quantile(quantile, cut):
    assert retention.value_cut(pd.Series([4.0, 1.0, 3.0, 2.0]), quantile) == cut


def test_revenue_at_risk_weighs_lifetime_value_where_scored_with_it():
    valued = scores().assign(clv=[300.0, 0.0, 50.0, 20.0])
    assert retention.revenue_at_risk(valued).tolist() == pytest.approx([240.0, 0.0, 5.0, 4.0])
    assert retention.revenue_at_risk_to_date(valued).tolist() == pytest.approx([80.0, 30.0, 20.0, 2.0])
    assert retention.revenue_at_risk(scores()).tolist() == pytest.approx([80.0, 30.0, 20.0, 2.0])


def test_revenue_at_risk_values_a_customer_as_if_kept():
    # clv 300 at P(alive) 0.5 is worth 600 if kept; 0.8 of it is at risk. Unknown P(alive) keeps the clv.
    valued = scores().assign(clv=[300.0, 0.0, 50.0, 20.0], probability_alive=[0.5, 0.0, 1.0, None])
    assert retention.revenue_at_risk(valued).tolist() == pytest.approx([480.0, 0.0, 5.0, 4.0])


def test_segments_show_lifetime_value_and_revenue_at_risk_to_date_beside_it():
    valued = scores().assign(clv=[300.0, 0.0, 50.0, 20.0])
    table = retention.segment_table(valued, {}).set_index("segment")
    high = table.loc["high risk, high value"]
    assert high["mean_clv"] == pytest.approx(150.0)
    assert high["revenue_at_risk"] == pytest.approx(240.0)  # 0.8 * 300 + 0.6 * 0
    assert high["revenue_at_risk_to_date"] == pytest.approx(110.0)  # 0.8 * 100 + 0.6 * 50
    assert "mean_clv" not in retention.segment_table(scores(), {}).columns
