import copy

from book_cases import METRICS, PARAMS, inputs, number_rows, section, trace_key_numbers, with_metric, without
from cba import report


def test_key_numbers_are_the_five_and_each_traces_to_its_metrics_key():
    numbers = report.key_numbers(inputs())
    text = report.summary_markdown(inputs())

    assert [number.name for number in numbers] == [
        "Churn rate",
        "Revenue at risk",
        "Model quality",
        "Biggest churn driver",
        "Expected value of the recommended campaign",
    ]
    assert all(number.available for number in numbers)
    by_file = {f"metrics/{name}.json": content for name, content in METRICS.items()}
    assert trace_key_numbers(text, by_file) == 10
    rows = number_rows(text)
    assert rows["Churn rate"][0] == "16.9% of 9,990 customers"
    assert rows["Revenue at risk"][0] == "USD 123,457"
    assert rows["Model quality"][0] == "ROC-AUC 0.873 (95% interval 0.851 to 0.892)"
    assert rows["Biggest churn driver"][0] == "days since last visit (importance 0.072)"
    assert (
        rows["Expected value of the recommended campaign"][0]
        == "USD 6,240 from 540 of 2,000 held-out customers"
    )
    assert "::: {#tbl-key-numbers}" in text and "@tbl-key-numbers" in text


def test_key_numbers_follow_the_metrics():
    metrics = with_metric("churn", "revenue_at_risk", 99.4)
    metrics["features"]["churn_rate"] = 0.25

    rows = number_rows(report.summary_markdown(inputs(metrics)))

    assert rows["Revenue at risk"][0] == "USD 99"
    assert rows["Churn rate"][0].startswith("25.0%")


def test_the_campaign_on_todays_customers_is_the_key_number_when_the_churn_stage_writes_it():
    metrics = copy.deepcopy(METRICS)
    metrics["churn"]["customers_scored"] = 375
    metrics["churn"]["recommended_campaign"] = {
        "customers_targeted": 41,
        "share_targeted": 0.1093,
        "expected_cost": 205.0,
        "expected_benefit": 619.43,
        "expected_profit": 414.43,
    }

    text = report.summary_markdown(inputs(metrics))
    campaign = section(report.recommendations_markdown(inputs(metrics)), "What the campaign costs and earns")

    assert (
        number_rows(text)["Expected value of the recommended campaign"][0]
        == "USD 414 from 41 of 375 scored customers"
    )
    assert (
        trace_key_numbers(text, {f"metrics/{name}.json": content for name, content in metrics.items()}) == 10
    )
    assert (
        "Run on today's 375 scored customers, the same threshold reaches 41 of them (10.9%): an "
        "expected cost of USD 205 against an expected benefit of USD 619, a profit of USD 414." in campaign
    )


def test_a_key_number_the_pipeline_did_not_write_is_named_not_invented():
    text = report.summary_markdown(inputs(without("churn", "campaign")))

    assert "not available (`metrics/churn.json` → `campaign.expected_profit` is missing)" in text
    assert "This build lacks 1 of the five numbers (expected value of the recommended campaign)" in text


def test_the_summary_says_who_is_at_risk_how_much_value_what_to_do_and_what_it_earns():
    sentences = report.summary_sentences(inputs())

    assert sentences == [
        "**Who is at risk.** 16.9% of 9,990 customers made no purchase in the 90 days after the "
        "evaluation cutoff. Most at risk of leaving are the 400 customers in the **high risk, high value** "
        "segment, with a mean churn probability of 38.0%; the model's drivers for them are complaint "
        "raised and days since last visit.",
        "**How much value.** Customers who may leave put USD 123,457 of revenue at risk (each customer's "
        "churn probability times their value). The high risk, high value segment alone carries USD 62,320 "
        "of it.",
        "**What to do first.** Reach the high risk, high value segment with a personal call from the "
        "account team: resolve each open complaint with a personal service call. The recommendations "
        "chapter ranks every segment and gives the A/B test "
        "that checks the offer works.",
        "**What the campaign earns.** Making the retention offer to the 540 of 2,000 held-out customers "
        "whose churn probability is at least 0.35 costs USD 2,700 and is expected to bring back USD 8,940: "
        "a profit of USD 6,240.",
    ]


def test_the_summary_sentences_come_before_the_reviewers_table():
    text = report.summary_markdown(inputs())

    assert text.index("## In brief") < text.index(report.summary_sentences(inputs())[0])
    assert text.index(report.summary_sentences(inputs())[-1]) < text.index("::: {#tbl-key-numbers}")


def test_the_summary_follows_the_currency_the_campaign_and_the_threshold():
    metrics = copy.deepcopy(METRICS)
    metrics["churn"]["campaign"].update(threshold=0.6, expected_benefit=2000.0, expected_profit=-700.0)
    params = copy.deepcopy(PARAMS)
    params["report"]["currency"] = "EUR"

    who, value, first, campaign = report.summary_sentences(inputs(metrics, params=params))

    assert "No segment as a whole is likely enough to leave to target it" in who
    assert value == (
        "**How much value.** Customers who may leave put EUR 123,457 of revenue at risk (each customer's "
        "churn probability times their value)."
    )
    assert "at least 0.60, one by one" in first
    assert campaign.endswith(
        "costs EUR 2,700 and is expected to bring back EUR 2,000: a loss of EUR 700, so it "
        "does not pay at these costs."
    )


def test_the_summary_reports_the_campaign_on_todays_customers_when_there_is_one():
    metrics = copy.deepcopy(METRICS)
    metrics["churn"]["customers_scored"] = 375
    metrics["churn"]["recommended_campaign"] = {
        "customers_targeted": 41,
        "share_targeted": 0.1093,
        "expected_cost": 205.0,
        "expected_benefit": 619.43,
        "expected_profit": 414.43,
    }

    campaign = report.summary_sentences(inputs(metrics))[-1]

    assert campaign == (
        "**What the campaign earns.** Making the retention offer to the 41 of 375 scored customers whose "
        "churn probability is at least 0.35 costs USD 205 and is expected to bring back USD 619: a profit of "
        "USD 414."
    )


def test_summary_sentences_name_what_the_churn_stage_did_not_write():
    who, value, first, campaign = report.summary_sentences(inputs({**METRICS, "churn": {}}))

    assert who.endswith(
        "Which customers are most likely to leave is not available (`metrics/churn.json` → `risk_segments` "
        "is missing)."
    )
    assert "`metrics/churn.json` → `revenue_at_risk` is missing" in value
    assert "`metrics/churn.json` → `threshold` is missing" in first
    assert "`metrics/churn.json` → `campaign` is missing" in campaign
