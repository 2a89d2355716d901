"""Customer lifetimes and Kaplan-Meier survival curves per segment (lifelines).

A lifetime runs from signup to the last activity (churned: no activity in the final horizon) or to the
end of the data (still active: censored). Customers who signed up before the event window enter the
study late, which the Kaplan-Meier fit accounts for (left truncation).
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from lifelines import KaplanMeierFitter
from lifelines.statistics import multivariate_logrank_test

from cba.eda import segment_levels

__all__ = ["kaplan_meier", "lifetimes", "lifetimes_from_tenure", "survival_figure"]


def lifetimes(
    events: ibis.Table, customers: pd.DataFrame, horizon_days: int, segment: str | None
) -> pd.DataFrame:
    """One row per customer with events: ``entry`` and ``duration`` in days, ``churned``, the segment.

    Observation runs from the first to the last event of the log; a customer who signed up before it
    enters late (``entry``). Without a ``segment`` every customer is in the segment "all".
    """
    if segment is not None:
        _require_segment(customers, segment)
    last = (
        events.group_by("customer_id")
        .aggregate(first_event=events.timestamp.min(), last_event=events.timestamp.max())
        .to_pandas()
    )
    data_start, data_end = last["first_event"].min(), last["last_event"].max()
    profile = customers[["customer_id", "signup_date"] + ([segment] if segment else [])]
    frame = profile.merge(last, on="customer_id", how="inner")
    signup = pd.to_datetime(frame["signup_date"]).dt.tz_localize("UTC")
    churned = frame["last_event"] < data_end - pd.Timedelta(days=horizon_days)
    observed_until = frame["last_event"].where(churned, data_end)
    return pd.DataFrame(
        {
            "customer_id": frame["customer_id"],
            "segment": segment_levels(frame[segment]) if segment else "all",
            "entry": ((data_start - signup).dt.total_seconds() / 86_400).clip(lower=0.0),
            "duration": (observed_until - signup).dt.total_seconds() / 86_400,
            "churned": churned.astype(int),
        }
    )


def lifetimes_from_tenure(customers: pd.DataFrame, segment: str) -> pd.DataFrame:
    """Lifetimes of a customer snapshot (the Kaggle file): ``Tenure`` months, ended by ``Churn``."""
    _require_segment(customers, segment)
    return pd.DataFrame(
        {
            "customer_id": customers["customer_id"],
            "segment": segment_levels(customers[segment]),
            "entry": 0.0,
            "duration": customers["Tenure"].astype(float),
            "churned": customers["Churn"].astype(int),
        }
    )


def kaplan_meier(lives: pd.DataFrame, step: float) -> tuple[pd.DataFrame, dict]:
    """Survival curves overall and per segment on a grid of ``step``, plus medians and a log-rank test.

    The log-rank p-value is None when there is a single segment.
    """
    grid = np.arange(0, float(lives["duration"].max()) + step, step)
    curves = pd.DataFrame({"time": grid})
    medians = {}
    groups = [("overall", lives)] + [
        (str(level), part) for level, part in lives.groupby("segment", sort=True)
    ]
    for label, part in groups:
        fitter = KaplanMeierFitter().fit(part["duration"], part["churned"], entry=part["entry"])
        curves[label] = fitter.survival_function_at_times(grid).to_numpy().round(4)
        median = fitter.median_survival_time_
        medians[label] = None if not np.isfinite(median) else round(float(median), 1)
    several = lives["segment"].nunique() > 1
    test = (
        multivariate_logrank_test(lives["duration"], lives["segment"], lives["churned"]) if several else None
    )
    summary = {
        "n_customers": len(lives),
        "n_churned": int(lives["churned"].sum()),
        "median_lifetime": medians,
        "logrank_p_value": float(test.p_value) if test else None,
        "churn_rate_by_segment": lives.groupby("segment")["churned"].mean().round(4).to_dict(),
    }
    return curves, summary


def _require_segment(customers: pd.DataFrame, segment: str) -> None:
    if segment not in customers.columns:
        raise KeyError(
            f"survival.segment: {segment!r} is not a customer attribute; choose one of {list(customers)}"
        )


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
