"""Customer lifetimes: Kaplan-Meier curves, log-rank tests, hazards and times to churn (lifelines).

A lifetime runs from signup to the last activity. With an event log, a customer churns at their last
activity ``t`` when no activity follows for ``horizon_days``; that is seen only once ``t + horizon_days``
lies within the log, so churns are observable up to the censoring point ``data_end - horizon_days`` and
no later. A customer whose last activity falls before it has churned (the event at ``t``); everyone else
is censored at the censoring point, the last time at which their churn could still have been seen (not
at the end of the data: nobody could be seen to churn in the final horizon, so counting customers at
risk there would bias the hazard low and the lifetimes long).

Customers who signed up before the log began enter the study late (left truncation): they are counted
at risk only from their ``entry`` (the log's start) on, in the Kaplan-Meier curves, the log-rank tests,
the baseline hazard and the Cox model (:mod:`cba.cox`). Customers never at risk before the censoring
point (signed up at or after it) are left out. A snapshot (the Kaggle file) has no truncation: the
lifetime is ``Tenure``, ended by ``Churn``.

A customer is at risk at time ``t`` when ``entry < t <= duration``; an ``entry`` of 0 means observed
from signup, at risk from time 0 on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import ibis
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from lifelines import KaplanMeierFitter
from scipy import stats

from cba.schema import segment_levels

if TYPE_CHECKING:
    from cba.cox import CoxAnalysis, CoxModel

__all__ = [
    "baseline_cumulative_hazard",
    "duplicate_groups_sentence",
    "ever_at_risk",
    "kaplan_meier",
    "lifetimes",
    "lifetimes_from_tenure",
    "logrank_sentence",
    "logrank_test",
    "logrank_tests",
    "median_lifetime_sentence",
    "median_times_to_churn",
    "one_per_duplicate_group",
    "require_attributes",
    "risk_set_sums",
    "round_significant",
    "survival_figure",
    "survival_metrics",
    "survival_times",
    "survival_times_sentence",
]

LIFETIME_COLUMNS = ["customer_id", "entry", "duration", "churned"]
"""The columns every lifetimes table starts with; customer attributes follow."""


# --------------------------------------------------------------------------------------------------
# Lifetimes


def lifetimes(events: ibis.Table, customers: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
    """One row per customer with events: ``entry`` and ``duration`` in days, ``churned``, the attributes.

    Observation runs from the first event of the log to the censoring point, ``horizon_days`` before its
    last event (see the module notes): a churn is a last activity before the censoring point; everyone
    else is censored there. A customer who signed up before the log began enters late (``entry``).
    Customers without events, and those who signed up at or after the censoring point, are left out.
    """
    last = (
        events.group_by("customer_id")
        .aggregate(first_event=events.timestamp.min(), last_event=events.timestamp.max())
        .to_pandas()
    )
    data_start, data_end = last["first_event"].min(), last["last_event"].max()
    censoring_point = data_end - pd.Timedelta(days=horizon_days)
    if censoring_point <= data_start:
        raise ValueError(
            f"churn.horizon_days: the event log spans {(data_end - data_start).days} days, not more than "
            f"the {horizon_days}-day horizon, so no churn can be seen in it"
        )
    frame = customers.merge(last, on="customer_id", how="inner")
    signup = pd.to_datetime(frame["signup_date"]).dt.tz_localize("UTC")
    churned = frame["last_event"] < censoring_point
    observed_until = frame["last_event"].where(churned, censoring_point)
    lives = pd.DataFrame(
        {
            "customer_id": frame["customer_id"],
            "entry": ((data_start - signup).dt.total_seconds() / 86_400).clip(lower=0.0),
            "duration": (observed_until - signup).dt.total_seconds() / 86_400,
            "churned": churned.astype(int),
        }
    )
    attributes = frame.drop(columns=["customer_id", "signup_date", "first_event", "last_event"])
    lives = pd.concat([lives, attributes], axis=1)
    return ever_at_risk(lives[signup < censoring_point])


def lifetimes_from_tenure(customers: pd.DataFrame) -> pd.DataFrame:
    """Lifetimes of a customer snapshot (the Kaggle file): ``Tenure`` months, ended by ``Churn``.

    Customers whose tenure is unknown (blank, or imputed by cleaning: ``Tenure_missing`` = 1) have no
    lifetime and are left out.
    """
    known = customers["Tenure"].notna()
    if "Tenure_missing" in customers:
        known &= customers["Tenure_missing"] != 1
    frame = customers[known].reset_index(drop=True)
    lives = pd.DataFrame(
        {
            "customer_id": frame["customer_id"],
            "entry": 0.0,
            "duration": frame["Tenure"].astype(float),
            "churned": frame["Churn"].astype(int),
        }
    )
    attributes = frame.drop(columns=["customer_id", "Tenure", "Churn", "Tenure_missing"], errors="ignore")
    return pd.concat([lives, attributes], axis=1)


def require_attributes(lives: pd.DataFrame, names: Sequence[str], key: str) -> None:
    """Fail, naming the params ``key``, when one of ``names`` is not a customer attribute of ``lives``."""
    attributes = [column for column in lives.columns if column not in LIFETIME_COLUMNS]
    for name in names:
        if name not in attributes:
            raise KeyError(f"{key}: {name!r} is not a customer attribute; choose from {attributes}")


# --------------------------------------------------------------------------------------------------
# Risk sets with late entry


def _sum_at_or_after(keys: np.ndarray, values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """For each of ``times``, the sum of the ``values`` rows whose key is at or after it."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    tail = np.cumsum(values[order][::-1], axis=0)[::-1]
    tail = np.concatenate([tail, np.zeros((1,) + tail.shape[1:])])
    return tail[np.searchsorted(sorted_keys, times, side="left")]


def risk_set_sums(lives: pd.DataFrame, values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Sums of ``values`` over the customers at risk at each of ``times`` (``entry < t <= duration``)."""
    duration = lives["duration"].to_numpy(float)
    entry = lives["entry"].to_numpy(float)
    not_yet_entered_until = np.where(entry > 0, entry, -np.inf)
    return _sum_at_or_after(duration, values, times) - _sum_at_or_after(not_yet_entered_until, values, times)


def _event_times(lives: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Distinct churn times, ascending, and the number of churns at each."""
    times, counts = np.unique(
        lives.loc[lives["churned"] == 1, "duration"].to_numpy(float), return_counts=True
    )
    return times, counts


# --------------------------------------------------------------------------------------------------
# Kaplan-Meier and log-rank


def kaplan_meier(lives: pd.DataFrame, step: float, segment: str | None = None) -> tuple[pd.DataFrame, dict]:
    """Survival curves overall and per level of ``segment`` on a grid of ``step``, medians, a log-rank test.

    The log-rank p-value is None without a segment or when the segment has a single level.
    """
    grid = np.arange(0, float(lives["duration"].max()) + step, step)
    curves = pd.DataFrame({"time": grid})
    levels = segment_levels(lives[segment]) if segment else pd.Series("all", index=lives.index)
    groups = [("overall", lives)] + ([(str(lv), part) for lv, part in lives.groupby(levels, sort=True)])
    medians = {}
    for label, part in groups if segment else groups[:1]:
        fitter = KaplanMeierFitter().fit(part["duration"], part["churned"], entry=part["entry"])
        curves[label] = fitter.survival_function_at_times(grid).to_numpy().round(4)
        median = fitter.median_survival_time_
        medians[label] = None if not np.isfinite(median) else round(float(median), 1)
    test = logrank_test(lives, segment) if segment and levels.nunique() > 1 else None
    summary = {
        "n_customers": len(lives),
        "n_churned": int(lives["churned"].sum()),
        "median_lifetime": medians,
        "logrank_p_value": test["p_value"] if test else None,
        "churn_rate_by_segment": lives.groupby(levels)["churned"].mean().round(4).to_dict(),
    }
    return curves, summary


def one_per_duplicate_group(lives: pd.DataFrame) -> pd.DataFrame:
    """The first customer (in table order) of each near-duplicate group, and every customer in none.

    Near-duplicates are one customer entered under several ids: counted once, the lifetimes a test
    compares are independent, as it assumes. Without a ``duplicate_group`` column ``lives`` is returned.
    """
    if "duplicate_group" not in lives:
        return lives
    groups = lives["duplicate_group"]
    return lives[groups.isna() | ~groups.duplicated()].reset_index(drop=True)


def logrank_test(lives: pd.DataFrame, segment: str) -> dict[str, Any]:
    """Log-rank test that every level of ``segment`` has the same hazard, with late entry respected.

    Returns the chi-squared ``statistic`` (``degrees_of_freedom`` = levels - 1), its ``p_value`` and the
    number of ``levels``; churns observed and expected per level are compared at every churn time. Each
    near-duplicate group counts once (see :func:`one_per_duplicate_group`).
    """
    lives = one_per_duplicate_group(lives)
    levels = segment_levels(lives[segment])
    names = sorted(levels.unique())
    membership = (levels.to_numpy()[:, None] == np.array(names)[None, :]).astype(float)
    times, churns = _event_times(lives)
    at_risk = risk_set_sums(lives, membership, times)
    churned = lives["churned"].to_numpy() == 1
    churned_by_level = np.zeros_like(at_risk)
    np.add.at(
        churned_by_level,
        np.searchsorted(times, lives["duration"].to_numpy(float)[churned]),
        membership[churned],
    )
    total = at_risk.sum(axis=1)
    share = at_risk / total[:, None]
    observed_minus_expected = (churned_by_level - churns[:, None] * share).sum(axis=0)
    spread = np.where(total > 1, churns * (total - churns) / np.maximum(total - 1, 1), 0.0)
    covariance = np.diag(spread @ share) - np.einsum("t,tk,tl->kl", spread, share, share)
    free = slice(0, len(names) - 1)
    statistic = float(
        observed_minus_expected[free] @ np.linalg.solve(covariance[free, free], observed_minus_expected[free])
    )
    degrees = len(names) - 1
    return {
        "segment": segment,
        "levels": len(names),
        "statistic": statistic,
        "degrees_of_freedom": degrees,
        "p_value": float(stats.chi2.sf(statistic, degrees)),
    }


def logrank_tests(lives: pd.DataFrame, segments: Sequence[str]) -> pd.DataFrame:
    """One log-rank test per segment (see :func:`logrank_test`), in the order given."""
    return pd.DataFrame([logrank_test(lives, segment) for segment in segments])


# --------------------------------------------------------------------------------------------------
# Hazards and times to churn


def baseline_cumulative_hazard(lives: pd.DataFrame, relative_hazard: np.ndarray) -> pd.Series:
    """Breslow cumulative hazard at each churn time, for a relative hazard of 1, with late entry respected.

    With every ``relative_hazard`` equal to 1 this is the Nelson-Aalen estimate.
    """
    times, churns = _event_times(lives)
    at_risk = risk_set_sums(lives, np.asarray(relative_hazard, float)[:, None], times)[:, 0]
    return pd.Series(np.cumsum(churns / at_risk), index=times, name="cumulative_hazard")


def median_times_to_churn(
    lives: pd.DataFrame, cumulative_hazard: pd.Series, relative_hazard: np.ndarray
) -> pd.DataFrame:
    """Each customer's median predicted time to churn, counted from the end of observation.

    With an event log the end of observation of an active customer is the censoring point, a horizon
    before the end of the data (see the module notes).

    For a customer still active after ``duration`` (their ``observed_lifetime``), the time ``s`` at which
    the predicted chance of still being active, given they were active at ``duration``, first falls to
    one half: ``relative_hazard * (H(duration + s) - H(duration)) >= ln 2``. It is ``inf`` when that never
    happens within the times the data cover (the median lies beyond them), and missing (NaN) for
    customers who have already churned.
    """
    times, hazard = cumulative_hazard.index.to_numpy(float), cumulative_hazard.to_numpy(float)
    observed = lives["duration"].to_numpy(float)
    hazard_so_far = np.concatenate([[0.0], hazard])[np.searchsorted(times, observed, side="right")]
    position = np.searchsorted(hazard, hazard_so_far + np.log(2) / np.asarray(relative_hazard, float))
    reached = position < len(times)
    remaining = np.where(reached, times[np.minimum(position, len(times) - 1)] - observed, np.inf)
    churned = lives["churned"].to_numpy() == 1
    return pd.DataFrame(
        {
            "customer_id": lives["customer_id"].astype("int64").to_numpy(),
            "churned": churned.astype("int64"),
            "observed_lifetime": observed,
            "median_time_to_churn": np.where(churned, np.nan, remaining),
        }
    )


def ever_at_risk(lives: pd.DataFrame) -> pd.DataFrame:
    """Customers at risk at some time: those who entered late and left at their entry never are."""
    return lives[~((lives["entry"] > 0) & (lives["entry"] >= lives["duration"]))].reset_index(drop=True)


def round_significant(value: float, digits: int = 4) -> float:
    """``value`` rounded to ``digits`` significant digits, so that the same fit writes the same bytes."""
    return float(f"{value:.{digits}g}")


def survival_times(lives: pd.DataFrame, model: CoxModel | None) -> pd.DataFrame:
    """Median predicted time to churn per customer, from the Cox ``model`` or, without one, Nelson-Aalen."""
    if model is not None:
        return model.median_times_to_churn(lives)
    equal = np.ones(len(lives))
    return median_times_to_churn(lives, baseline_cumulative_hazard(lives, equal), equal)


def survival_metrics(
    duration: str,
    segment: str | None,
    summary: dict[str, Any],
    logrank: pd.DataFrame,
    cox: CoxAnalysis | None,
    times: pd.DataFrame,
) -> dict[str, Any]:
    """Everything ``metrics/survival.json`` holds, rounded so that the same run gives the same bytes.

    Without a Cox model (no customer attributes) ``concordance`` is None and the Cox figures are empty.
    """
    active = times.loc[times["churned"] == 0, "median_time_to_churn"]
    typical = float(active.median()) if len(active) else None
    cox_figures = (
        cox.metrics()
        if cox is not None
        else {"concordance": None, "hazard_ratios": {}, "ph_test_p_values": {}, "ph_violations": []}
    )
    p_value = summary["logrank_p_value"]
    return {
        "duration": duration,
        "segment": segment,
        **summary,
        "logrank_p_value": None if p_value is None else round_significant(p_value),
        "logrank": {
            row.segment: {
                "statistic": round_significant(row.statistic),
                "degrees_of_freedom": int(row.degrees_of_freedom),
                "p_value": round_significant(row.p_value),
            }
            for row in logrank.itertuples()
        },
        **cox_figures,
        "median_time_to_churn": {
            "active_customers": len(active),
            "median": None if typical is None or not np.isfinite(typical) else round(typical, 1),
            "beyond_follow_up": int(np.isinf(active).sum()),
        },
    }


# --------------------------------------------------------------------------------------------------
# Sentences


def median_lifetime_sentence(
    summary: dict[str, Any], segment: str | None, unit: str, significance: float
) -> str:
    """Churned customers, the median lifetime overall and per level of ``segment``, and its log-rank test."""

    def lifetime(value: float | None) -> str:
        return (
            f"{value:,.0f} {unit}" if value is not None else "not reached (more than half are still active)"
        )

    medians, p_value = summary["median_lifetime"], summary["logrank_p_value"]
    text = (
        f"{summary['n_churned']:,} of {summary['n_customers']:,} customers churned; the median lifetime is "
        f"{lifetime(medians['overall'])}."
    )
    if segment is None:
        return text + " An own event log carries no customer attributes, so there is no segment to compare."
    text += " " + " ".join(
        f"For {segment} = {level} it is {lifetime(value)}."
        for level, value in medians.items()
        if level != "overall"
    )
    return (
        text
        + f" The log-rank test gives p = {p_value:.2g}"
        + (", so the segments differ." if p_value < significance else ", so no difference is shown.")
    )


def logrank_sentence(logrank: pd.DataFrame, significance: float) -> str:
    """Which segments the log-rank tests separate at the ``significance`` level."""
    differ = logrank[logrank["p_value"] < significance]
    same = logrank[logrank["p_value"] >= significance]
    parts = []
    if len(differ):
        listed = ", ".join(f"{row.segment} (p = {row.p_value:.2g})" for row in differ.itertuples())
        parts.append(f"Lifetimes differ between the levels of {listed}")
    if len(same):
        listed = ", ".join(f"{row.segment} (p = {row.p_value:.2g})" for row in same.itertuples())
        parts.append(f"no difference is shown for {listed}")
    return "; ".join(parts) + f" (log-rank tests at the {significance:.0%} level)."


def duplicate_groups_sentence(lives: pd.DataFrame) -> str | None:
    """How many customers share a near-duplicate group with another and how the tests count them.

    ``None`` without a ``duplicate_group`` column.
    """
    if "duplicate_group" not in lives:
        return None
    sizes = lives["duplicate_group"].value_counts()
    shared = sizes[sizes > 1]
    if shared.empty:
        return (
            f"No two of the {len(lives):,} customers share a group of near-duplicate records, so every "
            "customer counts on their own in the tests and the Cox model's intervals."
        )
    return (
        f"{int(shared.sum()):,} of the {len(lives):,} customers share {len(shared):,} groups of "
        "near-duplicate records (one customer entered under several ids). The log-rank tests count each "
        "group once (its first customer), and the Cox model's intervals and p-values treat each group as "
        "one cluster (robust variance)."
    )


def survival_times_sentence(times: pd.DataFrame, unit: str) -> str:
    """The typical median time to churn of active customers, and how many lie beyond the data's reach."""
    active = times.loc[times["churned"] == 0, "median_time_to_churn"]
    beyond = int(np.isinf(active).sum())
    typical = float(active.median()) if len(active) else np.nan
    text = (
        f"Of {len(active):,} customers still active, {beyond:,} ({beyond / max(len(active), 1):.0%}) have a "
        "predicted median time to churn beyond the longest lifetime the data cover (written as infinite)"
    )
    if np.isfinite(typical):
        return text + f"; across all of them the median is {typical:,.0f} {unit}."
    return text + ", so the typical active customer is predicted to stay longer than the data can show."


# --------------------------------------------------------------------------------------------------
# Figures


def survival_figure(curves: pd.DataFrame, segment: str, unit: str) -> go.Figure:
    """Kaplan-Meier curves, one line per segment level and one overall."""
    figure = go.Figure()
    for column in curves.columns.drop("time"):
        dash = "dash" if column == "overall" else None
        name = column if column == "overall" else f"{segment} = {column}"
        figure.add_scatter(x=curves["time"], y=curves[column], name=name, line={"shape": "hv", "dash": dash})
    figure.update_layout(
        title=f"Share of customers still active by {unit} since signup, by {segment}",
        xaxis_title=f"{unit} since signup",
        yaxis_title="share still active",
        yaxis_range=[0, 1.02],
    )
    return figure
