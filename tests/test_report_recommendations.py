import copy

import pytest

from book_cases import CHURN, METRICS, PARAMS, inputs, section, with_metric
from cba import report
from cba.experiment import sample_size_per_arm
from cba.schema import human_label


def test_recommendations_target_the_segments_above_the_threshold_by_revenue_at_risk():
    text = report.recommendations_markdown(inputs())
    targets = section(text, "Whom to target")

    assert (
        "holding USD 124,360 of revenue at risk. 2 of them have a mean churn probability at or above the "
        "decision threshold 0.35: target those. Start with **high risk, high value**: its 400 customers "
        "carry USD 62,320 (50%), with a mean churn probability of 38.0%. Intervention: A personal call"
        in targets
    )
    assert (
        "A personal call from the account team: resolve each open complaint with a personal service call."
        in targets
    )
    rows = [line for line in targets.splitlines() if line.startswith("| high") or line.startswith("| low")]
    assert [row.split("|")[1].strip() for row in rows] == [
        "high risk, high value",
        "low risk, high value",
        "high risk, low value",
    ]
    assert (
        "| high risk, high value | 400 | 38.0% | USD 410 | USD 62,320 | complaint raised, days since last "
        "visit |" in targets
    )


def test_recommendations_state_the_campaign_cost_benefit_and_profit_curve():
    campaign = section(report.recommendations_markdown(inputs()), "What the campaign costs and earns")

    assert "reaches 540 of the 2,000 held-out customers (27.0%)" in campaign
    assert "At USD 5.00 per contact, a value of USD 150.00 per customer kept" in campaign
    assert "it costs USD 2,700 and is expected to return USD 8,940: a profit of USD 6,240." in campaign
    assert "contacting the top 30% of customers by churn probability earns the most (USD 6,300)" in campaign
    assert "sits at that peak" in campaign
    assert "does not pay" not in campaign


def test_a_losing_campaign_is_called_one():
    metrics = copy.deepcopy(METRICS)
    metrics["churn"]["campaign"].update(expected_benefit=2000.0, expected_profit=-700.0)

    campaign = section(report.recommendations_markdown(inputs(metrics)), "What the campaign costs and earns")

    assert "a loss of USD 700." in campaign and "does not pay" in campaign


def test_the_funnel_change_follows_the_drop_off_split():
    by_device = section(report.recommendations_markdown(inputs()), "What to change in the shop")
    metrics = copy.deepcopy(METRICS)
    metrics["behaviour"]["biggest_drop_off"].update(
        by="category",
        worst="Grocery",
        best="Fashion",
        worst_pass_rate=0.48,
        best_pass_rate=0.52,
        worst_sessions=50000,
    )
    by_category = section(report.recommendations_markdown(inputs(metrics)), "What to change in the shop")

    assert "loses the most sessions at view → add_to_cart: 50.0%" in by_device
    assert "fix the view → add_to_cart step on Mobile Phone" in by_device
    assert (
        "43.3% of its sessions at that step against 60.0% for Computer, 16.7 percentage points behind"
        in by_device
    )
    assert "keep about 10,002 more sessions" in by_device
    assert "review the catalogue of Grocery" in by_category


def test_each_recommendation_gets_an_ab_test_sized_from_the_observed_rate():
    text = report.recommendations_markdown(inputs())
    tests = section(text, "How to verify each step")

    rows = [line for line in tests.splitlines() if line.startswith("| ") and "Per arm" not in line]
    assert len(rows) == 3  # the two segments above the threshold and the funnel change
    assert "low risk, high value" not in tests
    segment_size = sample_size_per_arm(0.38, 0.38 * 0.8, 0.05, 0.8)
    funnel_size = sample_size_per_arm(0.4333, 0.4333 * 1.2, 0.05, 0.8)
    assert f"| churn within 90 days | 38.0% | 30.4% | {segment_size:,} | 400 customers (too few) |" in tests
    assert f"| view → add_to_cart pass rate | 43.3% | 52.0% | {funnel_size:,} | 60,000 sessions |" in tests
    assert (
        "detect a 20% relative change of the observed rate with a two-sided test at 5% significance and "
        "80% power" in tests
    )
    assert "2 of 3 tests need more than the population observed" in tests


def test_ab_tests_follow_the_params():
    params = copy.deepcopy(PARAMS)
    params["report"]["ab_test"]["minimum_effect"] = 0.5

    tests = section(report.recommendations_markdown(inputs(params=params)), "How to verify each step")

    size = sample_size_per_arm(0.38, 0.38 * 0.5, 0.05, 0.8)
    assert f"| 38.0% | 19.0% | {size:,} |" in tests


def test_model_and_data_bullets_follow_the_numbers():
    text = section(report.recommendations_markdown(inputs()), "Model and data")
    close = copy.deepcopy(METRICS)
    close["churn"]["models"]["logistic_regression"]["cv_roc_auc"] = 0.855
    behind = copy.deepcopy(METRICS)
    behind["churn"]["models"]["logistic_regression"]["cv_roc_auc"] = 0.873
    just_under = copy.deepcopy(METRICS)
    just_under["churn"]["models"]["logistic_regression"]["cv_roc_auc"] = 0.8512

    assert "Score customers with XGBoost: its cross-validated ROC-AUC is 0.060 above" in text
    assert (
        "Fix the events feed: it loses 4.0% of its rows, mostly to the rule `exact_duplicate` (19,500 rows)"
        in text
    )
    assert "customers feed" not in text  # 0.1% rejected
    assert "the cross-validated ROC-AUC of XGBoost is 0.006 above it, less than 0.010" in (
        report.recommendations_markdown(inputs(close))
    )
    assert "the cross-validated ROC-AUC of XGBoost is 0.012 below it" in (
        report.recommendations_markdown(inputs(behind))
    )
    assert "the cross-validated ROC-AUC of XGBoost is 0.0098 above it, less than 0.0100" in (
        report.recommendations_markdown(inputs(just_under))
    )


def test_a_source_without_events_says_so_instead_of_a_funnel_change():
    metrics = {**METRICS, "behaviour": {"has_events": False}}
    params = {**PARAMS, "data": {"source": "kaggle"}}

    text = report.recommendations_markdown(inputs(metrics, params=params))

    assert "The kaggle source has no event log, so there is no funnel to improve" in text
    assert "view → add_to_cart" not in text


def test_no_segment_above_the_threshold_means_targeting_customers_not_segments():
    metrics = copy.deepcopy(METRICS)
    metrics["churn"]["campaign"]["threshold"] = 0.6

    text = report.recommendations_markdown(inputs(metrics))

    assert "No segment's mean churn probability reaches the decision threshold 0.60" in text
    assert "churn within 90 days" not in text  # no segment A/B test; the funnel test remains


def test_recommendations_without_churn_outputs_name_what_is_missing():
    text = report.recommendations_markdown(inputs({**METRICS, "churn": {}}))

    assert (
        "No risk segments to target: not available (`metrics/churn.json` → `risk_segments` is missing)"
        in text
    )
    assert "`metrics/churn.json` → `campaign` is missing" in text


def test_recommendations_name_features_as_readers_do():
    text = report.recommendations_markdown(inputs(with_metric("survival", "logrank_p_value", 0.2)))

    for segment in CHURN["risk_segments"]:
        for feature in segment["drivers"]:
            assert human_label(feature) in text
            assert feature not in text
    assert "Treat the complaint raised split with caution" in text


@pytest.mark.parametrize(
    ("significance", "cautions"), [(0.05, False), (0.001, True)], ids=["significant", "not-significant"]
)
def test_the_survival_caution_follows_the_significance_in_params(significance, cautions):
    params = copy.deepcopy(PARAMS)
    params["survival"]["significance"] = significance

    text = report.recommendations_markdown(
        inputs(with_metric("survival", "logrank_p_value", 0.01), params=params)
    )

    assert ("with caution" in text) is cautions


def test_segment_drivers_are_named_as_readers_do():
    text = report.recommendations_markdown(inputs())

    assert (
        "Send a reactivation reminder before the customer goes quiet; address days since last visit." in text
    )
    assert "days_since_last_event" not in text
