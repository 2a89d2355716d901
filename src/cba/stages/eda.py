"""The eda stage: profile the landed tables and describe the event behaviour; write the behaviour numbers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd

from cba import behaviour, clean, eda, engine, schema, sources
from cba.config import Params, Paths
from cba.stages.outputs import write_metrics, write_plot

__all__ = ["EdaResult", "FUNNEL_SPLITS", "TOP_ITEMS", "run"]

FUNNEL_SPLITS = (None, "device", "category")
"""The funnel overall, by device and by category."""
TOP_ITEMS = ("product_id", "category")
"""Top products and top categories, each by revenue and by conversion."""


@dataclass(frozen=True)
class EdaResult:
    """The tables the chapter shows; the behaviour ones are empty or ``None`` without an event log."""

    has_events: bool
    has_churn_label: bool
    overview: pd.DataFrame
    profile: pd.DataFrame
    near_duplicates: pd.DataFrame | None
    demographics: pd.DataFrame | None
    behaviour: dict
    daily: pd.DataFrame | None = None
    cohorts: pd.DataFrame | None = None
    prices: pd.DataFrame | None = None
    funnels: dict[str | None, pd.DataFrame] = field(default_factory=dict)
    top_items: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)
    """Keyed by (``product_id`` or ``category``, ``revenue`` or ``conversion``)."""
    churn_by_segment: dict[str, pd.DataFrame] = field(default_factory=dict)
    """Churn rate per level of each of :data:`cba.eda.CHURN_SEGMENTS`, then per bin of the binned columns."""

    @property
    def overall_funnel(self) -> pd.DataFrame:
        """The overall funnel of ``metrics/behaviour.json`` as one row (empty without events)."""
        return pd.DataFrame(self.behaviour.get("funnel", {}).get("overall") or {}, index=["overall"])

    @property
    def missing(self) -> pd.DataFrame:
        """Blanks per column of the profiled table (the customers, else the events)."""
        return eda.missing_values(self.profile)

    @property
    def schema_summary(self) -> pd.DataFrame:
        """Type, fill, distinct values and range of each column of the profiled table."""
        return eda.schema_summary(self.profile)

    @property
    def outliers(self) -> pd.DataFrame:
        """Robust outliers per numeric column of the profiled table."""
        return eda.numeric_outliers(self.profile)


def run(params: Params, paths: Paths) -> EdaResult:
    """Compute the chapter's tables; write ``metrics/behaviour.json`` and ``plots/behaviour_*.csv``."""
    con = engine.connect(params.data.timezone, params.engine)
    tables = {
        name: engine.read_parquet(con, path)
        for name in ("customers", "events", "sessions", "orders")
        if (path := paths.landed / f"{name}.parquet").exists()
    }
    customers = sources.read_landed(paths.landed, "customers").to_pandas() if "customers" in tables else None
    profile = customers if customers is not None else sources.read_landed(paths.landed, "events").to_pandas()
    has_churn_label = customers is not None and "Churn" in customers
    churn_by_segment = {}
    if has_churn_label:
        churn_by_segment = {s: eda.churn_by_segment(customers, s) for s in eda.CHURN_SEGMENTS}
        churn_by_segment |= {c: eda.churn_by_binned(customers, c) for c in eda.CHURN_BINNED_COLUMNS}
    common = {
        "has_churn_label": has_churn_label,
        "overview": eda.overview(tables),
        "profile": profile,
        "near_duplicates": clean.near_duplicates(customers, params.clean.near_duplicates)
        if customers is not None
        else None,
        "demographics": eda.demographics(customers) if customers is not None else None,
        "churn_by_segment": churn_by_segment,
    }
    if "events" not in tables:
        result = EdaResult(has_events=False, behaviour={"has_events": False}, **common)
        _write(paths, result, pd.DataFrame(columns=list(schema.BEHAVIOUR_DAILY_COLUMNS)))
        return result

    events = behaviour.numeric_prices(tables["events"])
    earliest, latest = params.event_window
    first_day = earliest
    last_day = latest - dt.timedelta(days=1) if latest is not None else None
    counts = behaviour.window_counts(events, first_day, last_day)
    narrow = clean.window_sentence(counts["before"], counts["after"], counts["parsed"], earliest, latest)
    if narrow is not None:
        print(narrow)
    window, top_n, min_views = params.eda.conversion_window_minutes, params.eda.top_n, params.eda.min_views
    daily = behaviour.daily_activity(events, first_day, last_day)
    funnels = {by: behaviour.funnel(events, by, window) for by in FUNNEL_SPLITS}
    top_items = {}
    for by in TOP_ITEMS:
        top_items[by, "revenue"] = behaviour.top_products(events, by, top_n)
        top_items[by, "conversion"] = behaviour.top_products_by_conversion(events, by, top_n, min_views)
    activity = daily.merge(behaviour.active_customers(events, first_day, last_day), on="date", how="left")
    result = EdaResult(
        has_events=True,
        behaviour=behaviour.behaviour_summary(funnels, activity, min_views),
        daily=daily,
        cohorts=behaviour.cohort_retention(events, first_day, last_day),
        prices=behaviour.price_by_category(events),
        funnels=funnels,
        top_items=top_items,
        **common,
    )
    _write(paths, result, activity)
    return result


def _write(paths: Paths, result: EdaResult, activity: pd.DataFrame) -> None:
    """``metrics/behaviour.json``, daily activity and the top products (empty tables without events)."""
    empty_items = pd.DataFrame(columns=list(schema.TOP_ITEMS_COLUMNS))
    items = list(schema.TOP_ITEMS_COLUMNS)
    write_metrics(paths, "behaviour", result.behaviour)
    activity = activity.assign(date=pd.to_datetime(activity["date"]).dt.strftime("%Y-%m-%d"))
    write_plot(paths, "behaviour_daily", activity.round({"revenue": 2})[list(schema.BEHAVIOUR_DAILY_COLUMNS)])
    for measure in ("revenue", "conversion"):
        top = result.top_items.get(("product_id", measure), empty_items)
        write_plot(paths, f"behaviour_top_products_{measure}", top[items])
