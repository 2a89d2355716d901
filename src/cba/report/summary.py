"""The executive summary on the book's first page: what a manager should know and do, then the key numbers.

The sentences say who is at risk, how much value they hold, what to do first and what the retention
campaign earns; below them, for reviewers, a table of the five key numbers names the metrics file and key
every number is read from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cba.report.inputs import BookInputs, Missing
from cba.report.markdown import and_list, float_div, money, sentence, table
from cba.report.recommendations import decision_threshold, targeted_segments
from cba.schema import human_label


@dataclass(frozen=True)
class KeyNumber:
    """One number of the executive summary, with where every figure in its text comes from.

    ``sources`` lists ``(file, key path, value)`` for every number shown in ``text``, in order.
    """

    name: str
    text: str
    meaning: str
    sources: tuple[tuple[str, str, Any], ...]

    @property
    def available(self) -> bool:
        """False when a value it needs was not written by the pipeline."""
        return not any(isinstance(value, Missing) for _, _, value in self.sources)


def _first_missing(*values: Any) -> Missing | None:
    return next((value for value in values if isinstance(value, Missing)), None)


def _campaign_keys(inputs: BookInputs) -> tuple[str, str, str]:
    """The campaign the summary reports: its metrics key, the population key and what the population is.

    The campaign on today's scored customers when the churn stage wrote it, else the held-out customers'.
    """
    if "recommended_campaign" in inputs.metrics.get("churn", {}):
        return "recommended_campaign", "customers_scored", "scored customers"
    return "campaign", "n_test", "held-out customers"


def key_numbers(inputs: BookInputs) -> list[KeyNumber]:
    """The five numbers that matter, each computed from a metrics file.

    Churn rate (``features.json``), revenue at risk, model quality with its interval, the biggest churn
    driver and the expected profit of the recommended campaign (``churn.json``).
    """

    def traced(name: str, path: str) -> tuple[str, str, Any]:
        return (f"metrics/{name}.json", path, inputs.get(name, path))

    def first_missing(*sources: tuple[str, str, Any]) -> str | None:
        missing = _first_missing(*(value for _, _, value in sources))
        return None if missing is None else str(missing)

    currency = inputs.currency
    churn_rate = traced("features", "churn_rate")
    customers = traced("features", "customers")
    at_risk = traced("churn", "revenue_at_risk")
    roc_auc, low, high = (traced("churn", p) for p in ("roc_auc", "roc_auc_ci.0", "roc_auc_ci.1"))
    driver, importance = traced("churn", "drivers.0.feature"), traced("churn", "drivers.0.importance")
    campaign, population_key, who = _campaign_keys(inputs)
    profit = traced("churn", f"{campaign}.expected_profit")
    targeted = traced("churn", f"{campaign}.customers_targeted")
    population = traced("churn", population_key)
    return [
        KeyNumber(
            "Churn rate",
            first_missing(churn_rate, customers) or f"{churn_rate[2]:.1%} of {customers[2]:,} customers",
            "Customers who made no purchase within the horizon after the evaluation cutoff."
            if inputs.metrics.get("features", {}).get("cutoff")
            else "Customers the dataset itself flags as churned.",
            (churn_rate, customers),
        ),
        KeyNumber(
            "Revenue at risk",
            first_missing(at_risk) or money(at_risk[2], currency),
            "Sum over every scored customer of churn probability × customer value"
            + f" ({inputs.metrics.get('churn', {}).get('value_basis', 'value')}).",
            (at_risk,),
        ),
        KeyNumber(
            "Model quality",
            first_missing(roc_auc, low, high)
            or f"ROC-AUC {roc_auc[2]:.3f} (95% interval {low[2]:.3f} to {high[2]:.3f})",
            "How well the churn model ranks churners above loyal customers on held-out customers "
            "(0.5 is chance, 1 is perfect).",
            (roc_auc, low, high),
        ),
        KeyNumber(
            "Biggest churn driver",
            first_missing(driver, importance) or f"{human_label(driver[2])} (importance {importance[2]:.3f})",
            "The feature whose shuffling costs the model the most.",
            (driver, importance),
        ),
        KeyNumber(
            "Expected value of the recommended campaign",
            first_missing(profit, targeted, population)
            or f"{money(profit[2], currency)} from {targeted[2]:,} of {population[2]:,} {who}",
            "Expected profit of making the retention offer to the customers above the decision threshold.",
            (profit, targeted, population),
        ),
    ]


def summary_sentences(inputs: BookInputs) -> list[str]:
    """What a manager should know and do, one paragraph each, computed from the metrics.

    Who is at risk, how much value they hold, what to do first and what the retention campaign earns; a
    value the pipeline did not write is named instead.
    """
    return [_who_is_at_risk(inputs), _value_at_risk(inputs), _what_to_do_first(inputs), _campaign(inputs)]


def _who_is_at_risk(inputs: BookInputs) -> str:
    churn_rate, customers = inputs.get("features", "churn_rate"), inputs.get("features", "customers")
    horizon = inputs.get("features", "horizon_days")
    missing = _first_missing(churn_rate, customers)
    if missing:
        churned = f"**Who is at risk.** The churn rate is {missing}."
    elif inputs.metrics.get("features", {}).get("cutoff") and not isinstance(horizon, Missing):
        churned = (
            f"**Who is at risk.** {churn_rate:.1%} of {customers:,} customers made no purchase in the "
            f"{horizon:,} days after the evaluation cutoff."
        )
    else:
        churned = f"**Who is at risk.** {churn_rate:.1%} of {customers:,} customers are flagged as churned."
    targeted = targeted_segments(inputs)
    if isinstance(targeted, Missing):
        return f"{churned} Which customers are most likely to leave is {targeted}."
    if not targeted:
        return (
            f"{churned} No segment as a whole is likely enough to leave to target it: the risk lies with "
            "individual customers above the decision threshold."
        )
    top = targeted[0]
    drivers = [human_label(feature) for feature in top["drivers"]]
    return (
        f"{churned} Most at risk of leaving are the {top['customers']:,} customers in the "
        f"**{top['segment']}** segment, with a mean churn probability of {top['mean_probability']:.1%}"
        + (f"; the model's drivers for them are {and_list(drivers)}." if drivers else ".")
    )


def _value_at_risk(inputs: BookInputs) -> str:
    at_risk = inputs.get("churn", "revenue_at_risk")
    if isinstance(at_risk, Missing):
        return f"**How much value.** The revenue at risk is {at_risk}."
    text = (
        f"**How much value.** Customers who may leave put {money(at_risk, inputs.currency)} of revenue at "
        "risk (each customer's churn probability times their value)."
    )
    targeted = targeted_segments(inputs)
    if isinstance(targeted, Missing) or not targeted:
        return text
    top = targeted[0]
    return (
        f"{text} The {top['segment']} segment alone carries {money(top['revenue_at_risk'], inputs.currency)}"
        f" of it."
    )


def _what_to_do_first(inputs: BookInputs) -> str:
    targeted = targeted_segments(inputs)
    threshold = decision_threshold(inputs)
    if isinstance(targeted, Missing) or not targeted:
        if isinstance(threshold, Missing):
            return f"**What to do first.** The decision threshold is {threshold}."
        return (
            "**What to do first.** Make the retention offer to the customers whose churn probability is at "
            f"least {threshold:.2f}, one by one (see the recommendations chapter)."
        )
    top = targeted[0]
    action = sentence(f"reach the {top['segment']} segment with {top['intervention']}")
    return (
        f"**What to do first.** {action} The "
        "recommendations chapter ranks every segment and gives the A/B test that checks the offer works."
    )


def _campaign(inputs: BookInputs) -> str:
    campaign_key, population_key, who = _campaign_keys(inputs)
    campaign = inputs.get("churn", campaign_key)
    population = inputs.get("churn", population_key)
    threshold = decision_threshold(inputs)
    missing = _first_missing(campaign, population, threshold)
    if missing:
        return f"**What the campaign earns.** The campaign's cost and benefit are {missing}."
    currency = inputs.currency
    profit = campaign["expected_profit"]
    outcome = (
        f"a profit of {money(profit, currency)}."
        if profit > 0
        else f"a loss of {money(abs(profit), currency)}, so it does not pay at these costs."
    )
    return (
        f"**What the campaign earns.** Making the retention offer to the {campaign['customers_targeted']:,} "
        f"of {population:,} {who} whose churn probability is at least {threshold:.2f} costs "
        f"{money(campaign['expected_cost'], currency)} and is expected to bring back "
        f"{money(campaign['expected_benefit'], currency)}: {outcome}"
    )


def outlook_sentence(inputs: BookInputs) -> str:
    """The forecast revenue of the coming days with its range, and the lifetime value at risk.

    Read from ``forecast.json`` (``outlook.revenue``) and ``churn.json`` (revenue at risk, valued by CLV
    when the clv stage ran, beside the revenue at risk to date); a stage that was skipped says why.
    """
    currency = inputs.currency
    skipped = inputs.metrics.get("forecast", {}).get("skipped")
    revenue = inputs.get("forecast", "outlook.revenue")
    if skipped:
        ahead = f"There is no sales forecast: {skipped}."
    elif isinstance(revenue, Missing):
        ahead = f"The sales forecast is {revenue}."
    else:
        ahead = (
            f"Revenue over the next {revenue['days']} days ({revenue['first_day']} to {revenue['last_day']}) "
            f"is forecast at {money(revenue['total'], currency)} ({revenue['model']}; 95% range "
            f"{money(revenue['total_lo_95'], currency)} to {money(revenue['total_hi_95'], currency)}, "
            "the sum of the daily intervals)."
        )
    clv_skipped = inputs.metrics.get("clv", {}).get("skipped")
    at_risk = inputs.get("churn", "revenue_at_risk")
    to_date = inputs.get("churn", "revenue_at_risk_to_date")
    if clv_skipped:
        value = f"Lifetime value is not estimated ({clv_skipped}), so value at risk uses the value to date."
    elif _first_missing(at_risk, to_date):
        value = f"The lifetime value at risk is {_first_missing(at_risk, to_date)}."
    else:
        value = (
            f"Weighing each customer's expected future value (CLV) by their churn probability puts "
            f"{money(at_risk, currency)} of lifetime value at risk, against {money(to_date, currency)} when "
            "weighing the revenue they brought to date."
        )
    return f"**What lies ahead.** {ahead} {value}"


def summary_markdown(inputs: BookInputs) -> str:
    """The executive summary: plain sentences to act on, then the five key numbers with their sources."""
    numbers = key_numbers(inputs)
    rows = [
        (
            f"**{number.name}**",
            number.text,
            ", ".join(f"`{file}` → `{path}`" for file, path, _ in number.sources),
        )
        for number in numbers
    ]
    lines = [
        "## In brief {#sec-in-brief}",
        "",
        *"\n\n".join(summary_sentences(inputs)).split("\n"),
        "",
        outlook_sentence(inputs),
        "",
        "## The five numbers that matter {#sec-key-numbers}",
        "",
        "For reviewers, @tbl-key-numbers sums this build up; the source column names the metrics file and "
        "key every number is read from.",
        "",
        *float_div(
            "tbl-key-numbers",
            table(["", "Value", "Source"], rows, "lll"),
            "The key numbers of this build and where each comes from.",
        ),
        "",
        *(f"- **{number.name}**: {number.meaning}" for number in numbers),
    ]
    missing = [number.name.lower() for number in numbers if not number.available]
    if missing:
        lines += [
            "",
            f"This build lacks {len(missing)} of the five numbers ({', '.join(missing)}): the stage that "
            "writes them did not produce the key named in the table.",
        ]
    return "\n".join(lines) + "\n"
