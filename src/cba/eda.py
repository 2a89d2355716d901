"""Exploratory tables and figures over the landed (not yet cleaned) data.

Each figure has a companion ``*_sentence`` function that states, from the same table, what it shows.
"""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import pyarrow as pa

from cba import schema

__all__ = [
    "churn_by_segment",
    "churn_by_segment_figure",
    "churn_by_segment_sentence",
    "daily_activity",
    "daily_activity_figure",
    "daily_activity_sentence",
    "funnel",
    "funnel_figure",
    "funnel_sentence",
    "missing_values",
    "overview",
    "price_by_category",
    "price_by_category_figure",
    "price_by_category_sentence",
    "segment_levels",
]

FUNNEL_STEPS = ("view", "add_to_cart", "purchase")


def overview(tables: dict[str, pa.Table]) -> pd.DataFrame:
    """Rows, columns, missing cells and exact duplicate rows per table."""
    rows = []
    for name, table in tables.items():
        frame = table.to_pandas()
        rows.append(
            {
                "table": name,
                "rows": len(frame),
                "columns": frame.shape[1],
                "missing_cells": int(frame.isna().sum().sum()),
                "duplicate_rows": int(frame.duplicated().sum()),
            }
        )
    return pd.DataFrame(rows)


def missing_values(frame: pd.DataFrame) -> pd.DataFrame:
    """Missing values per column with at least one, as a count and a share of rows."""
    missing = frame.isna().sum()
    missing = missing[missing > 0]
    return pd.DataFrame(
        {
            "column": missing.index,
            "missing": missing.to_numpy(),
            "share": (missing / len(frame)).round(4).to_numpy(),
        }
    ).reset_index(drop=True)


def daily_activity(events: ibis.Table, first_day: dt.date, last_day: dt.date) -> pd.DataFrame:
    """Per UTC day in ``[first_day, last_day]``: events, sessions, orders (sessions with a purchase), revenue.

    Events whose timestamp does not parse or falls outside the days are left out (cleaning rejects them).
    """
    at = events.timestamp.try_cast("timestamp('UTC')")
    parsed = events.mutate(at=at).filter(at.date().between(first_day, last_day))
    purchase = parsed.event_type == "purchase"
    daily = parsed.group_by(date=parsed.at.date()).aggregate(
        events=parsed.count(),
        sessions=parsed.session_id.nunique(),
        orders=parsed.session_id.nunique(where=purchase),
        revenue=parsed.price.sum(where=purchase).fill_null(0.0),
    )
    frame = daily.order_by("date").to_pandas()
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def daily_activity_figure(daily: pd.DataFrame) -> go.Figure:
    """Sessions and orders per day."""
    long = daily.melt(
        id_vars="date", value_vars=["sessions", "orders"], var_name="measure", value_name="count"
    )
    return px.line(long, x="date", y="count", color="measure", title="Sessions and orders per day (UTC)")


def daily_activity_sentence(daily: pd.DataFrame) -> str:
    """Busiest weekday, and revenue over the period."""
    weekday = daily.groupby(daily["date"].dt.day_name())["sessions"].mean()
    return (
        f"Over {len(daily)} days the shop saw {daily['sessions'].sum():,} sessions and "
        f"{daily['orders'].sum():,} orders worth {daily['revenue'].sum():,.0f} in revenue; "
        f"{weekday.idxmax()} is the busiest weekday ({weekday.max():,.0f} sessions on average against "
        f"{weekday.min():,.0f} on {weekday.idxmin()})."
    )


def funnel(events: ibis.Table, by: str) -> pd.DataFrame:
    """Sessions that reached each funnel step, per level of ``by`` (e.g. device, category).

    A session reaches a step when it holds at least one event of that type.
    """
    steps = events.group_by(["session_id", by]).aggregate(
        **{step: (events.event_type == step).any() for step in FUNNEL_STEPS}
    )
    counts = steps.group_by(by).aggregate(**{step: steps[step].sum() for step in FUNNEL_STEPS})
    frame = counts.to_pandas().dropna(subset=[by]).sort_values(by, ignore_index=True)
    frame["conversion"] = (frame["purchase"] / frame["view"]).round(4)
    return frame


def funnel_figure(table: pd.DataFrame, by: str) -> go.Figure:
    """Sessions at each funnel step, grouped by ``by``."""
    long = table.melt(id_vars=by, value_vars=list(FUNNEL_STEPS), var_name="step", value_name="sessions")
    return px.bar(long, x="step", y="sessions", color=by, barmode="group", title=f"Funnel by {by}")


def funnel_sentence(table: pd.DataFrame, by: str) -> str:
    """Which level converts best and worst."""
    best = table.loc[table["conversion"].idxmax()]
    worst = table.loc[table["conversion"].idxmin()]
    return (
        f"By {by}, {best[by]} converts best ({best['conversion']:.1%} of sessions with a view end in a "
        f"purchase) and {worst[by]} worst ({worst['conversion']:.1%})."
    )


def price_by_category(events: ibis.Table) -> pd.DataFrame:
    """Price quartiles and median per category, over viewed products."""
    views = events.filter((events.event_type == "view") & events.category.notnull())
    table = views.group_by("category").aggregate(
        p25=views.price.quantile(0.25), median=views.price.median(), p75=views.price.quantile(0.75)
    )
    return table.order_by(ibis.desc("median")).to_pandas().round(2)


def price_by_category_figure(prices: pd.DataFrame) -> go.Figure:
    """Median price per category with its interquartile range."""
    return px.bar(
        prices,
        x="category",
        y="median",
        error_y=prices["p75"] - prices["median"],
        error_y_minus=prices["median"] - prices["p25"],
        title="Median viewed price per category (bars: interquartile range)",
    )


def price_by_category_sentence(prices: pd.DataFrame) -> str:
    """Most and least expensive categories."""
    top, bottom = prices.iloc[0], prices.iloc[-1]
    return (
        f"{top['category']} is the most expensive category (median {top['median']:,.2f}) and "
        f"{bottom['category']} the cheapest (median {bottom['median']:,.2f})."
    )


def churn_by_segment(customers: pd.DataFrame, segment: str, label: str = "Churn") -> pd.DataFrame:
    """Customers and churn rate per level of ``segment``."""
    if segment not in customers.columns:
        raise KeyError(f"{segment!r} is not a column of the customers table ({schema.CUSTOMERS.name})")
    grouped = customers.groupby(segment_levels(customers[segment]))[label]
    return grouped.agg(customers="size", churn_rate="mean").round(4).reset_index()


def segment_levels(values: pd.Series) -> pd.Series:
    """Segment levels as text: whole numbers without a decimal point, blanks as "missing"."""
    if pd.api.types.is_float_dtype(values) and (values.dropna() % 1 == 0).all():
        values = values.astype("Int64")
    return values.astype("string").fillna("missing")


def churn_by_segment_figure(table: pd.DataFrame, segment: str) -> go.Figure:
    """Churn rate per level of ``segment``."""
    return px.bar(table, x=segment, y="churn_rate", title=f"Churn rate by {segment}")


def churn_by_segment_sentence(table: pd.DataFrame, segment: str) -> str:
    """Highest and lowest churn levels."""
    high = table.loc[table["churn_rate"].idxmax()]
    low = table.loc[table["churn_rate"].idxmin()]
    return (
        f"By {segment}, churn is highest for {high[segment]} ({high['churn_rate']:.1%} of "
        f"{high['customers']:,} customers) and lowest for {low[segment]} ({low['churn_rate']:.1%})."
    )
