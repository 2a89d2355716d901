"""Retention decisions on scored customers: what a campaign costs and earns, risk × value segments, actions.

The campaign economics are written once, in :func:`campaign_economics`: contacting a customer costs
``contact_cost``; a contacted customer who would have churned is kept with probability
``offer_success_rate`` and is then worth ``retained_value``. The decision threshold, the profit curve, the
campaign on the held-out customers (known outcomes) and today's campaign (expected outcomes) all use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from cba.config import BusinessParams
from cba.schema import MissingFeaturesError, human_label

__all__ = [
    "CampaignEconomics",
    "campaign",
    "campaign_economics",
    "campaign_sentence",
    "intervention",
    "recommended_campaign",
    "revenue_at_risk",
    "revenue_at_risk_to_date",
    "risk_segments",
    "risk_segments_figure",
    "segment_sentence",
    "segment_table",
    "value_cut",
    "value_of",
]

HIGH_RISK = "high risk"
HIGH_VALUE = "high value"


@dataclass(frozen=True)
class CampaignEconomics:
    """Cost, benefit and profit of a campaign (numbers, or arrays of them for several campaigns)."""

    cost: Any
    benefit: Any
    profit: Any


def campaign_economics(contacted: Any, churners: Any, business: BusinessParams) -> CampaignEconomics:
    """What contacting ``contacted`` customers, ``churners`` of whom would churn, costs and earns.

    ``churners`` is a count when the outcomes are known and an expected count (the sum of churn
    probabilities) when they are not; both arguments may be arrays of equal length.
    """
    cost = business.contact_cost * contacted
    benefit = business.offer_success_rate * business.retained_value * churners
    return CampaignEconomics(cost=cost, benefit=benefit, profit=benefit - cost)


def campaign(
    y_true: np.ndarray, probability: np.ndarray, threshold: float, business: BusinessParams
) -> dict[str, float]:
    """What the campaign at ``threshold`` costs and earns on customers whose outcome is known."""
    targeted = probability >= threshold
    money = campaign_economics(int(targeted.sum()), int(y_true[targeted].sum()), business)
    return {
        "contact_cost": business.contact_cost,
        "retained_value": business.retained_value,
        "offer_success_rate": business.offer_success_rate,
        "threshold": round(threshold, 4),
        "customers_targeted": int(targeted.sum()),
        "share_targeted": round(float(targeted.mean()), 4),
        "expected_cost": round(money.cost, 2),
        "expected_benefit": round(money.benefit, 2),
        "expected_profit": round(money.profit, 2),
    }


def recommended_campaign(scores: pd.DataFrame, business: BusinessParams) -> dict[str, float]:
    """The campaign on today's high-risk customers, valued with their calibrated churn probabilities."""
    targeted = scores[scores["risk_segment"].str.startswith(HIGH_RISK)]
    money = campaign_economics(len(targeted), float(targeted["churn_probability"].sum()), business)
    return {
        "customers_targeted": len(targeted),
        "share_targeted": round(len(targeted) / max(len(scores), 1), 4),
        "expected_cost": round(money.cost, 2),
        "expected_benefit": round(money.benefit, 2),
        "expected_profit": round(money.profit, 2),
    }


def campaign_sentence(campaign: dict[str, Any], confusion: dict[str, int], metrics: dict[str, Any]) -> str:
    """The best threshold, what its campaign costs and earns, and whom it catches and misses.

    ``campaign`` is :func:`campaign`'s result, ``confusion`` the confusion matrix at its threshold and
    ``metrics`` holds the threshold's ``precision`` and ``recall``.
    """
    return (
        f"With a contact cost of {campaign['contact_cost']:,.2f}, a retained customer worth "
        f"{campaign['retained_value']:,.2f} and an offer that keeps {campaign['offer_success_rate']:.0%} of "
        f"would-be churners, the best threshold is {campaign['threshold']:.2f}: contacting "
        f"{campaign['customers_targeted']:,} of the test customers ({campaign['share_targeted']:.0%}) would "
        f"cost {campaign['expected_cost']:,.0f} and earn {campaign['expected_profit']:,.0f} net. At that "
        f"threshold the model catches {confusion['true_positive']:,} churners and misses "
        f"{confusion['false_negative']:,}, with {confusion['false_positive']:,} false alarms (precision "
        f"{metrics['precision']:.0%}, recall {metrics['recall']:.0%})."
    )


def value_of(frame: pd.DataFrame) -> tuple[pd.Series, str]:
    """Each customer's value and what it measures: revenue before the cutoff, else cashback (a snapshot)."""
    for column, basis in (("monetary", "revenue to date"), ("CashbackAmount", "average monthly cashback")):
        if column in frame.columns:
            return frame[column].astype(float).fillna(0.0), basis
    raise MissingFeaturesError("neither 'monetary' nor 'CashbackAmount' is present to measure customer value")


def value_cut(value: pd.Series, quantile: float) -> float:
    """The value at or above which a customer is high value: the ``quantile`` of ``value``."""
    return float(value.quantile(quantile))


def risk_segments(
    probability: np.ndarray, value: np.ndarray, threshold: float, value_cut: float
) -> np.ndarray:
    """Risk × value: high risk at or above the decision threshold, high value at or above ``value_cut``."""
    risk = np.where(probability >= threshold, HIGH_RISK, "low risk")
    worth = np.where(value >= value_cut, HIGH_VALUE, "low value")
    return np.char.add(np.char.add(risk.astype(str), ", "), worth.astype(str))


def revenue_at_risk(scores: pd.DataFrame) -> pd.Series:
    """Each scored customer's future value if kept, weighted by their churn probability.

    The lifetime value (``clv``) already discounts the chance that the customer has left
    (``probability_alive``); the value if kept is ``clv / probability_alive``, so that the churn
    probability, not both, accounts for the loss. Without ``probability_alive`` the ``clv`` is taken as
    it is; scores without a ``clv`` column (no purchase log to value the future from) weigh the value to
    date.
    """
    if "clv" not in scores.columns:
        return revenue_at_risk_to_date(scores)
    value_if_kept = scores["clv"]
    if "probability_alive" in scores.columns:
        alive = scores["probability_alive"]
        value_if_kept = (scores["clv"] / alive).where(alive > 0, scores["clv"]).fillna(scores["clv"])
    return scores["churn_probability"] * value_if_kept


def revenue_at_risk_to_date(scores: pd.DataFrame) -> pd.Series:
    """Each scored customer's value to date (``value``) weighted by their churn probability."""
    return scores["churn_probability"] * scores["value"]


_INTERVENTIONS = (
    ("Complain", "resolve each open complaint with a personal service call"),
    ("SatisfactionScore", "follow up low satisfaction scores with a service review"),
    ("WarehouseToHome", "offer faster or free delivery to distant addresses"),
    ("CashbackAmount", "raise cashback on the next orders"),
    ("CouponUsed", "send a targeted coupon"),
    ("DaySinceLastOrder", "send a reactivation offer before the next order is overdue"),
    ("recency", "send a win-back reminder with a time-limited offer"),
    ("days_since_last_event", "send a win-back reminder with a time-limited offer"),
    ("Tenure", "enrol new customers in an onboarding programme"),
    ("tenure", "enrol new customers in an onboarding programme"),
    ("cart_abandon", "send abandoned-cart reminders"),
    ("frequency", "start a loyalty programme that rewards repeat orders"),
    ("OrderCount", "start a loyalty programme that rewards repeat orders"),
    ("monetary", "give high spenders a loyalty tier with perks"),
    ("session", "simplify the app journey to shorten the way to checkout"),
    ("HourSpendOnApp", "simplify the app journey to shorten the way to checkout"),
    ("MaritalStatus", "tailor offers to household needs"),
    ("NumberOfAddress", "make address management and delivery choice easier"),
    ("PreferedOrderCat", "recommend products from the customer's favourite categories"),
    ("category", "recommend products from the customer's favourite categories"),
    ("affinity", "recommend products from the customer's favourite categories"),
    ("CityTier", "adapt delivery promises to the customer's city tier"),
    ("PreferredPaymentMode", "promote the smoothest payment options"),
    ("device", "fix the pain points of the customer's device"),
    ("Device", "fix the pain points of the customer's device"),
)
"""Actions by feature: the first key contained in a driver's name gives its action."""


def intervention(segment: str, drivers: list[str]) -> str:
    """The recommended action for a risk × value segment, following from its drivers.

    A driver without an action of its own is named as the reader knows it (``address recency``).
    """
    if not segment.startswith(HIGH_RISK):
        return "no retention contact: monitor their risk score"
    actions = list(
        dict.fromkeys(
            next((text for key, text in _INTERVENTIONS if key in feature), f"address {human_label(feature)}")
            for feature in drivers
        )
    )
    channel = (
        "a personal call from the account team" if segment.endswith(HIGH_VALUE) else "an automated email"
    )
    if not actions:
        return f"{channel} with the standard retention offer"
    return f"{channel}: " + "; ".join(actions)


def segment_table(scores: pd.DataFrame, drivers: dict[str, list[str]]) -> pd.DataFrame:
    """Risk × value segments of the scored customers: size, risk, value, revenue at risk, drivers, action.

    With a ``clv`` column the segments also carry the mean expected future value and the revenue at risk
    to date beside the revenue at risk (which then values the future).
    """
    future = {"mean_clv": ("clv", "mean")} if "clv" in scores.columns else {}
    table = (
        scores.assign(at_risk=revenue_at_risk(scores), at_risk_to_date=revenue_at_risk_to_date(scores))
        .groupby("risk_segment")
        .agg(
            customers=("customer_id", "size"),
            mean_probability=("churn_probability", "mean"),
            mean_value=("value", "mean"),
            **future,
            revenue_at_risk=("at_risk", "sum"),
            **({"revenue_at_risk_to_date": ("at_risk_to_date", "sum")} if future else {}),
        )
        .round(4)
        .reset_index()
        .rename(columns={"risk_segment": "segment"})
    )
    table["drivers"] = [drivers.get(s, []) for s in table["segment"]]
    table["intervention"] = [
        intervention(s, d) for s, d in zip(table["segment"], table["drivers"], strict=True)
    ]
    return table.sort_values(["mean_probability"], ascending=False, ignore_index=True)


def segment_sentence(segments: pd.DataFrame, customers_scored: int, at_risk: float, value_basis: str) -> str:
    """The value at risk among today's customers, and the riskiest segment with its drivers and action."""
    top = segments.iloc[0]
    return (
        f"Scoring all {customers_scored:,} current customers puts {at_risk:,.0f} of value ({value_basis}) at "
        f"risk. The riskiest segment, *{top['segment']}* ({top['customers']:,} customers, mean churn "
        f"probability {top['mean_probability']:.0%}), is driven by "
        f"{', '.join(top['drivers']) or 'no single feature'}: {top['intervention']}."
    )


def risk_segments_figure(segments: list[dict[str, Any]]) -> go.Figure:
    """Revenue at risk and customers per churn-risk segment (the Kibana "churn-risk segments" panel)."""
    table = pd.DataFrame(segments).sort_values("revenue_at_risk", ascending=False)
    return px.bar(
        table,
        x="segment",
        y="revenue_at_risk",
        text="customers",
        hover_data=["mean_probability", "mean_value"],
        title="Revenue at risk by churn-risk segment (labels: customers)",
    )
