"""Event behaviour over the landed events: daily activity, cohorts, the funnel, prices, top products.

Each figure has a companion ``*_sentence`` function that states, from the same table, what it shows;
:func:`behaviour_summary` gathers the numbers the report reads (``metrics/behaviour.json``).
"""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from cba.eda import count_of

__all__ = [
    "FUNNEL_STEPS",
    "OVERALL",
    "active_customers",
    "active_customers_figure",
    "behaviour_summary",
    "cohort_retention",
    "cohort_retention_figure",
    "cohort_retention_sentence",
    "daily_activity",
    "daily_activity_figure",
    "daily_activity_sentence",
    "drop_off_sentence",
    "funnel",
    "funnel_drop_off",
    "funnel_figure",
    "funnel_overall_table",
    "funnel_sentence",
    "funnel_window_sentence",
    "no_events_sentence",
    "numeric_prices",
    "pass_rate_figure",
    "price_by_category",
    "price_by_category_figure",
    "price_by_category_sentence",
    "revenue_figure",
    "top_products",
    "top_products_by_conversion",
    "top_products_figure",
    "top_products_sentence",
    "window_counts",
]

FUNNEL_STEPS = ("view", "add_to_cart", "purchase")
"""Funnel steps, in order."""

OVERALL = "all"
"""Label of the single row of an overall table (``by=None``); its column is named ``segment``."""


def no_events_sentence(source: str) -> str:
    """What the chapter skips when the source has no event log."""
    return (
        f"The {source} source has no event log: daily activity, cohorts, the funnel, prices and top "
        "products are skipped."
    )


def funnel_window_sentence(window_minutes: int) -> str:
    """The conversion window the funnel counts within (``eda.conversion_window_minutes``)."""
    return (
        f"A cart or purchase counts when it happens within {window_minutes} minutes of the session's first "
        "view (`eda.conversion_window_minutes`)."
    )


# --- daily activity and the funnel --------------------------------------------------------------------


def _on_days(day: ibis.Value, first_day: dt.date | None, last_day: dt.date | None) -> ibis.Value:
    """Whether ``day`` parsed and falls in ``[first_day, last_day]``; a ``None`` bound is no bound."""
    inside = day.notnull()
    if first_day is not None:
        inside &= day >= first_day
    if last_day is not None:
        inside &= day <= last_day
    return inside


def window_counts(events: ibis.Table, first_day: dt.date | None, last_day: dt.date | None) -> dict[str, int]:
    """Events whose timestamp parses (``parsed``), and those of them ``before`` and ``after`` the days."""
    day = events.timestamp.try_cast("timestamp('UTC')").date()
    counts = events.aggregate(
        parsed=day.notnull().sum(),
        before=(day < first_day).sum() if first_day is not None else ibis.literal(0),
        after=(day > last_day).sum() if last_day is not None else ibis.literal(0),
    ).to_pandas()
    return {name: int(counts[name].fillna(0).iloc[0]) for name in ("parsed", "before", "after")}


def numeric_prices(events: ibis.Table) -> ibis.Table:
    """Landed events with ``price`` as a number; text that does not parse shows as blank.

    Cleaning rejects such rows with a reason; exploration only needs to see them as missing.
    """
    return events.mutate(price=events.price.try_cast("float64")) if "price" in events.columns else events


def daily_activity(events: ibis.Table, first_day: dt.date | None, last_day: dt.date | None) -> pd.DataFrame:
    """Per UTC day in ``[first_day, last_day]``: events, sessions, orders (sessions with a purchase), revenue.

    Events whose timestamp does not parse or falls outside the days are left out (cleaning rejects them);
    a ``None`` bound is no bound.
    """
    at = events.timestamp.try_cast("timestamp('UTC')")
    parsed = events.mutate(at=at).filter(_on_days(at.date(), first_day, last_day))
    purchase = parsed.event_type == "purchase"
    if "session_id" in parsed.columns:
        counts = {
            "sessions": parsed.session_id.nunique(),
            "orders": parsed.session_id.nunique(where=purchase),
        }
    else:  # a transaction log without sessions: every purchase row is an order
        counts = {"orders": purchase.sum()}
    revenue = (
        parsed.price.sum(where=purchase).fill_null(0.0) if "price" in parsed.columns else ibis.null("float64")
    )
    daily = parsed.group_by(date=parsed.at.date()).aggregate(events=parsed.count(), **counts, revenue=revenue)
    frame = daily.order_by("date").to_pandas()
    if "sessions" not in frame.columns:  # blank, the same on every engine
        frame.insert(2, "sessions", pd.Series([None] * len(frame), index=frame.index, dtype="object"))
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def daily_activity_figure(daily: pd.DataFrame) -> go.Figure:
    """Sessions (when the log has them) and orders per day."""
    measures = [m for m in ("sessions", "orders") if daily[m].notna().any()]
    long = daily.melt(id_vars="date", value_vars=measures, var_name="measure", value_name="count")
    title = " and ".join(measures).capitalize() + " per day (UTC)"
    return px.line(long, x="date", y="count", color="measure", title=title)


def daily_activity_sentence(daily: pd.DataFrame) -> str:
    """Busiest weekday, and revenue over the period."""
    if daily.empty:
        return "No event timestamp parses inside the window, so there is no daily activity to show."
    measure = "sessions" if daily["sessions"].notna().any() else "orders"
    weekday = daily.groupby(daily["date"].dt.day_name())[measure].mean()
    sessions = f"{int(daily['sessions'].sum()):,} sessions and " if measure == "sessions" else ""
    return (
        f"Over {len(daily)} days the shop saw {sessions}{daily['orders'].sum():,} orders worth "
        f"{daily['revenue'].sum():,.0f} in revenue; {weekday.idxmax()} is the busiest weekday "
        f"({weekday.max():,.0f} {measure} on average against {weekday.min():,.0f} on {weekday.idxmin()})."
    )


def funnel(events: ibis.Table, by: str | None, window_minutes: int | None = None) -> pd.DataFrame:
    """Sessions that reached each funnel step, per level of ``by`` (e.g. device, category).

    Parameters
    ----------
    events
        Landed events with ``session_id``, ``event_type`` and, when ``window_minutes`` is set,
        ``timestamp`` (text).
    by
        Column to split the funnel by; ``None`` gives the overall funnel, a single row whose
        ``segment`` column holds :data:`OVERALL`.
    window_minutes
        ``None`` (default): a session reaches a step when it holds at least one event of that type.
        Otherwise a conversion window: a session (within one level of ``by``) reaches a step only when
        an event of that type happens no later than ``window_minutes`` after the session's first view
        (and not before it). Timestamps are parsed as in :func:`daily_activity`; events whose timestamp
        does not parse are left out, and sessions without a parsable view are not counted.

    Returns
    -------
    pandas.DataFrame
        One row per level of ``by`` (blank levels left out, sorted): the sessions at each of
        :data:`FUNNEL_STEPS` and ``conversion``, purchases per view. Empty when a column it needs
        (``session_id``, ``by``) is not in ``events``.
    """
    if by is None:
        by = "segment"
        events = events.mutate(segment=ibis.literal(OVERALL))
    needed = {"session_id", "event_type", by} | ({"timestamp"} if window_minutes is not None else set())
    if not needed <= set(events.columns):
        columns = {by: "object"} | dict.fromkeys(FUNNEL_STEPS, "int64") | {"conversion": "float64"}
        return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in columns.items()})
    keys = ["session_id", by]
    if window_minutes is None:
        steps = events.group_by(keys).aggregate(
            **{step: (events.event_type == step).any() for step in FUNNEL_STEPS}
        )
    else:
        at = events.timestamp.try_cast("timestamp('UTC')")
        parsed = events.mutate(at=at)
        parsed = parsed.filter(parsed.at.notnull() & parsed[by].notnull())
        views = parsed.filter(parsed.event_type == "view")
        first_views = views.group_by(keys).aggregate(first_view=views.at.min())
        timed = parsed.inner_join(first_views, keys)
        deadline = timed.first_view + ibis.interval(minutes=window_minutes)
        in_window = timed.at.between(timed.first_view, deadline)
        steps = timed.group_by(keys).aggregate(
            **{step: ((timed.event_type == step) & in_window).any() for step in FUNNEL_STEPS}
        )
    counts = steps.group_by(by).aggregate(**{step: steps[step].sum() for step in FUNNEL_STEPS})
    frame = counts.to_pandas().dropna(subset=[by]).sort_values(by, ignore_index=True)
    frame["conversion"] = (frame["purchase"] / frame["view"]).round(4)
    return frame


def active_customers(events: ibis.Table, first_day: dt.date | None, last_day: dt.date | None) -> pd.DataFrame:
    """Per UTC day in ``[first_day, last_day]``: ``active_customers``, customers with at least one event.

    Days and timestamps are taken as in :func:`daily_activity`, so the two tables join on ``date``.
    """
    at = events.timestamp.try_cast("timestamp('UTC')")
    parsed = events.mutate(at=at).filter(_on_days(at.date(), first_day, last_day))
    daily = parsed.group_by(date=parsed.at.date()).aggregate(active_customers=parsed.customer_id.nunique())
    frame = daily.order_by("date").to_pandas()
    frame["date"] = pd.to_datetime(frame["date"])
    return frame.astype({"active_customers": "int64"})


def _step_rates(row: pd.Series) -> dict[str, float | int | None]:
    """Sessions at each funnel step, conversion, and the share passing each step to the next."""
    rates: dict[str, float | int | None] = {step: int(row[step]) for step in FUNNEL_STEPS}
    rates["conversion"] = round(row["purchase"] / row["view"], 4) if row["view"] else None
    for before, after in zip(FUNNEL_STEPS, FUNNEL_STEPS[1:], strict=False):
        rates[f"{before}_to_{after}"] = round(row[after] / row[before], 4) if row[before] else None
    return rates


def funnel_drop_off(
    funnels: dict[str | None, pd.DataFrame], min_sessions: int = 1
) -> dict[str, object] | None:
    """The funnel step that loses the most sessions, and the level of a split that loses the most there.

    Parameters
    ----------
    funnels
        :func:`funnel` tables keyed by their ``by`` (``None`` for the overall funnel, which is required).
    min_sessions
        Levels of a split with fewer sessions at the step's start are left out as too small to judge.

    Returns
    -------
    dict or None
        ``from`` and ``to`` (the steps), ``pass_rate`` and ``lost_share`` overall, ``sessions_lost``;
        then, for the split whose worst level trails its best level the most at that step: ``by``,
        ``worst`` / ``worst_pass_rate`` / ``worst_sessions`` and ``best`` / ``best_pass_rate`` (all None
        when no split has two levels to compare). None when the overall funnel has no views.
    """
    overall = funnels[None]
    if overall.empty or not overall.iloc[0]["view"]:
        return None
    row = overall.iloc[0]
    steps = [
        (before, after) for before, after in zip(FUNNEL_STEPS, FUNNEL_STEPS[1:], strict=False) if row[before]
    ]
    before, after = max(steps, key=lambda step: 1 - row[step[1]] / row[step[0]])
    pass_rate = row[after] / row[before]
    result: dict[str, object] = {
        "from": before,
        "to": after,
        "pass_rate": round(float(pass_rate), 4),
        "lost_share": round(float(1 - pass_rate), 4),
        "sessions_lost": int(row[before] - row[after]),
        "by": None,
        "worst": None,
        "worst_pass_rate": None,
        "worst_sessions": None,
        "best": None,
        "best_pass_rate": None,
    }
    widest_gap = 0.0
    for by, table in funnels.items():
        if by is None:
            continue
        judged = table[table[before] >= max(min_sessions, 1)]
        if len(judged) < 2:
            continue
        rates = judged[after] / judged[before]
        worst, best = judged.loc[rates.idxmin()], judged.loc[rates.idxmax()]
        gap = float(rates.max() - rates.min())
        if gap > widest_gap:
            widest_gap = gap
            result |= {
                "by": by,
                "worst": str(worst[by]),
                "worst_pass_rate": round(float(rates.min()), 4),
                "worst_sessions": int(worst[before]),
                "best": str(best[by]),
                "best_pass_rate": round(float(rates.max()), 4),
            }
    return result


def behaviour_summary(
    funnels: dict[str | None, pd.DataFrame], daily: pd.DataFrame, min_sessions: int = 1
) -> dict[str, object]:
    """The behaviour numbers the report and reviewers read (``metrics/behaviour.json``).

    Parameters
    ----------
    funnels
        :func:`funnel` tables keyed by their ``by`` (``None``: overall, required).
    daily
        :func:`daily_activity` joined with :func:`active_customers` on ``date``.
    min_sessions
        Passed to :func:`funnel_drop_off`.

    Returns
    -------
    dict
        ``has_events`` (True), ``days``, ``mean_active_customers`` (per day), ``orders``, ``revenue``,
        ``funnel`` (``overall`` and one mapping per split: level -> sessions per step, ``conversion``
        and the pass rate of each step, e.g. ``view_to_add_to_cart``) and ``biggest_drop_off``
        (:func:`funnel_drop_off`).
    """
    funnel_rates: dict[str, object] = {}
    for by, table in funnels.items():
        column = by or "segment"
        levels = {str(row[column]): _step_rates(row) for _, row in table.iterrows()}
        funnel_rates[by or "overall"] = levels.get(OVERALL) if by is None else levels
    return {
        "has_events": True,
        "days": len(daily),
        "mean_active_customers": round(float(daily["active_customers"].mean()), 2) if len(daily) else None,
        "orders": int(daily["orders"].sum()),
        "revenue": round(float(daily["revenue"].fillna(0.0).sum()), 2),
        "funnel": funnel_rates,
        "biggest_drop_off": funnel_drop_off(funnels, min_sessions),
    }


def drop_off_sentence(drop_off: dict[str, object] | None) -> str:
    """Where the funnel loses the most sessions, and which level of a split loses the most there."""
    if drop_off is None:
        return "No session holds a product view, so the funnel has no drop-off to measure."
    text = (
        f"The funnel loses the most sessions between {drop_off['from']} and {drop_off['to']}: "
        f"{drop_off['lost_share']:.1%} of them ({drop_off['sessions_lost']:,} sessions) go no further."
    )
    if drop_off["by"] is None:
        return text
    return (
        f"{text} By {drop_off['by']}, {drop_off['worst']} loses the most there (only "
        f"{drop_off['worst_pass_rate']:.1%} pass, against {drop_off['best_pass_rate']:.1%} for "
        f"{drop_off['best']})."
    )


def funnel_figure(table: pd.DataFrame, by: str | None) -> go.Figure:
    """Sessions at each funnel step, grouped by ``by`` (``None``: the overall funnel)."""
    column = by or "segment"
    long = table.melt(id_vars=column, value_vars=list(FUNNEL_STEPS), var_name="step", value_name="sessions")
    if by is None:
        return px.funnel(long, x="sessions", y="step", title="Funnel: sessions at each step")
    return px.bar(long, x="step", y="sessions", color=by, barmode="group", title=f"Funnel by {by}")


def funnel_sentence(table: pd.DataFrame, by: str | None) -> str:
    """Which level converts best and worst; for the overall funnel, the share reaching each step."""
    if table.empty:
        return "No session reached the funnel."
    if by is None:
        row = table.iloc[0]
        views = int(row["view"])
        if views == 0:
            return "No session holds a product view."
        return (
            f"Of {views:,} sessions with a view, {row['add_to_cart'] / views:.1%} add to the cart and "
            f"{row['purchase'] / views:.1%} purchase."
        )
    best = table.loc[table["conversion"].idxmax()]
    worst = table.loc[table["conversion"].idxmin()]
    return (
        f"By {by}, {best[by]} converts best ({best['conversion']:.1%} of sessions with a view end in a "
        f"purchase) and {worst[by]} worst ({worst['conversion']:.1%})."
    )


_PRICE_COLUMNS = {"category": "object", "p25": "float64", "median": "float64", "p75": "float64"}


def price_by_category(events: ibis.Table) -> pd.DataFrame:
    """Price quartiles and median per category, over viewed products (empty without those columns)."""
    if not {"category", "price"} <= set(events.columns):
        return pd.DataFrame({name: pd.Series(dtype=d) for name, d in _PRICE_COLUMNS.items()})
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


# --- acquisition cohorts ------------------------------------------------------------------------------


def cohort_retention(events: ibis.Table, first_day: dt.date | None, last_day: dt.date | None) -> pd.DataFrame:
    """Share of each monthly acquisition cohort active in each month since its acquisition.

    A customer's cohort is the UTC month of their first event in ``[first_day, last_day]`` whose
    timestamp parses (activity before ``first_day`` is not seen, so the first cohort also holds earlier
    customers). A customer is active in a month when they have any event in it.

    Parameters
    ----------
    events
        Landed events with ``customer_id`` and ``timestamp`` (text).
    first_day, last_day
        The UTC days to read; ``None`` is no bound.

    Returns
    -------
    pandas.DataFrame
        Index ``cohort`` (``"YYYY-MM"``), one column per month since acquisition (``0, 1, ...``; column
        0 is always 1.0): share of the cohort active, 4 decimals. Months after the last month with
        events are blank; the last month may be partial. Empty when no event parses, or when
        ``events`` has no ``customer_id``.
    """
    if not {"customer_id", "timestamp"} <= set(events.columns):
        return _empty_retention()
    at = events.timestamp.try_cast("timestamp('UTC')")
    parsed = events.mutate(day=at.date())
    parsed = parsed.filter(parsed.customer_id.notnull() & _on_days(parsed.day, first_day, last_day))
    monthly = parsed.select("customer_id", month=parsed.day.year() * 12 + parsed.day.month() - 1).distinct()
    firsts = monthly.group_by("customer_id").aggregate(cohort=monthly.month.min())
    joined = monthly.inner_join(firsts, "customer_id")
    counts = (
        joined.group_by(["cohort", (joined.month - joined.cohort).name("months_since")])
        .aggregate(customers=joined.count())
        .to_pandas()
    )
    if counts.empty:
        return _empty_retention()
    counts = counts.astype("int64")
    last_month = int((counts["cohort"] + counts["months_since"]).max())
    cohorts = sorted(counts["cohort"].unique())
    wide = counts.pivot(index="cohort", columns="months_since", values="customers")
    wide = wide.reindex(index=cohorts, columns=range(last_month - cohorts[0] + 1)).astype("float64")
    shares = wide.div(wide[0], axis=0)
    observed = np.subtract.outer(np.array(cohorts), -np.arange(shares.shape[1])) <= last_month
    shares = shares.fillna(0.0).where(observed).round(4)
    shares.index = pd.Index([f"{c // 12}-{c % 12 + 1:02d}" for c in cohorts], name="cohort")
    shares.columns = pd.Index(list(shares.columns), dtype="int64", name="months_since")
    return shares


def _empty_retention() -> pd.DataFrame:
    empty = pd.DataFrame(index=pd.Index([], dtype="object", name="cohort"), dtype="float64")
    empty.columns.name = "months_since"
    return empty


def cohort_retention_figure(matrix: pd.DataFrame) -> go.Figure:
    """Heatmap of the cohort retention matrix."""
    return px.imshow(
        matrix,
        text_auto=".0%",
        aspect="auto",
        color_continuous_scale="Blues",
        labels={"x": "Months since first activity", "y": "Cohort", "color": "Active share"},
        title="Share of each monthly cohort active in later months",
    )


def cohort_retention_sentence(matrix: pd.DataFrame) -> str:
    """Month-1 retention averaged over cohorts (unweighted), and the best and worst cohort."""
    if matrix.empty:
        return "No event timestamp parses inside the window, so there are no cohorts."
    if 1 not in matrix.columns or matrix[1].isna().all():
        return f"All {len(matrix)} cohorts are too recent to show a month after their first."
    month_one = matrix[1].dropna()
    text = (
        f"On average over {len(month_one)} monthly cohorts, {month_one.mean():.1%} of a cohort's "
        f"customers are active again the month after their first"
    )
    if len(month_one) == 1:
        return text + "."
    return (
        f"{text}; the {month_one.idxmax()} cohort keeps the most ({month_one.max():.1%}) and the "
        f"{month_one.idxmin()} cohort the fewest ({month_one.min():.1%})."
    )


# --- products -----------------------------------------------------------------------------------------

_ITEM_WORDS = {"product_id": "products", "category": "categories"}


def _item_activity(events: ibis.Table, by: str) -> ibis.Table:
    """Views, carts, purchases, revenue and conversion per non-blank level of ``by``."""
    items = events.filter(events[by].notnull())
    kind = items.event_type
    table = items.group_by(by).aggregate(
        views=(kind == "view").sum(),
        carts=(kind == "add_to_cart").sum(),
        purchases=(kind == "purchase").sum(),
        revenue=(
            items.price.sum(where=kind == "purchase").fill_null(0.0)
            if "price" in items.columns
            else ibis.null("float64")
        ),
    )
    return table.mutate(conversion=table.purchases / table.views.nullif(0))


def _empty_items(by: str) -> pd.DataFrame:
    columns = {by: "object", "views": "int64", "carts": "int64", "purchases": "int64"}
    columns |= {"revenue": "float64", "conversion": "float64"}
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in columns.items()})


def _finish_items(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.astype({"views": "int64", "carts": "int64", "purchases": "int64"})
    return (
        frame.astype({"revenue": "float64", "conversion": "float64"})
        .round({"revenue": 2, "conversion": 4})
        .reset_index(drop=True)
    )


def top_products(events: ibis.Table, by: str = "product_id", top_n: int = 10) -> pd.DataFrame:
    """The ``top_n`` products (or categories) by revenue.

    Counts every landed event (timestamps are not needed); blank levels of ``by`` are left out.

    Parameters
    ----------
    events
        Landed events with ``event_type``, ``price`` and ``by``.
    by
        ``"product_id"`` or ``"category"`` (any event column works).
    top_n
        Rows kept.

    Returns
    -------
    pandas.DataFrame
        ``by``, ``views``, ``carts`` (add-to-cart events), ``purchases`` (purchase events), ``revenue``
        (sum of purchase prices; blank when ``events`` has no ``price``) and ``conversion`` (purchases
        per view, blank without views), by revenue, then purchases, then ``by``; empty when ``by`` is
        not a column of ``events``.
    """
    if by not in events.columns:
        return _empty_items(by)
    table = _item_activity(events, by)
    return _finish_items(
        table.order_by([ibis.desc("revenue"), ibis.desc("purchases"), by]).limit(top_n).to_pandas()
    )


def top_products_by_conversion(
    events: ibis.Table, by: str = "product_id", top_n: int = 10, min_views: int = 50
) -> pd.DataFrame:
    """The ``top_n`` products (or categories) by conversion, among those with ``min_views`` views or more.

    Same columns as :func:`top_products`, ordered by conversion, then views (more first), then ``by``.
    """
    if by not in events.columns:
        return _empty_items(by)
    table = _item_activity(events, by)
    table = table.filter(table.views >= max(min_views, 1))
    ordered = table.order_by([ibis.desc("conversion"), ibis.desc("views"), by]).limit(top_n)
    return _finish_items(ordered.to_pandas())


def top_products_figure(table: pd.DataFrame, by: str = "product_id", measure: str = "revenue") -> go.Figure:
    """Horizontal bars of ``measure`` (``"revenue"`` or ``"conversion"``), the first row on top."""
    words = _ITEM_WORDS.get(by, f"{by} levels")
    figure = px.bar(
        table.astype({by: "string"}),
        x=measure,
        y=by,
        orientation="h",
        title=f"Top {len(table)} {words} by {measure}",
    )
    figure.update_yaxes(autorange="reversed", type="category")
    return figure


def top_products_sentence(table: pd.DataFrame, by: str = "product_id", measure: str = "revenue") -> str:
    """The leader of a top-products table and how the rest compare (``measure`` as in the figure)."""
    words = _ITEM_WORDS.get(by, f"{by} levels")
    if table.empty:
        return f"No {words} to rank."
    first, last = table.iloc[0], table.iloc[-1]
    if measure == "conversion":
        text = (
            f"{first[by]} converts best ({first['conversion']:.1%} of its "
            f"{count_of(first['views'], 'view')} end in a purchase)"
        )
        if len(table) == 1:
            return text + "."
        return f"{text}; {last[by]}, last of the top {len(table)} {words}, converts {last['conversion']:.1%}."
    return (
        f"{first[by]} earns the most ({first['revenue']:,.2f} from "
        f"{count_of(first['purchases'], 'purchase')}); the top {len(table)} {words} together earn "
        f"{table['revenue'].sum():,.2f}."
    )


# --- dashboard panels ---------------------------------------------------------------------------------


def active_customers_figure(daily: pd.DataFrame) -> go.Figure:
    """Customers with at least one event per day (the Kibana "active users" panel)."""
    return px.line(daily, x="date", y="active_customers", title="Active customers per day (UTC)")


def revenue_figure(daily: pd.DataFrame) -> go.Figure:
    """Revenue per week, weeks starting on Monday (the Kibana "revenue trends" panel)."""
    weekly = (
        daily.assign(date=pd.to_datetime(daily["date"]))
        .resample("W-MON", on="date", label="left", closed="left")["revenue"]
        .sum()
        .reset_index()
    )
    return px.bar(weekly, x="date", y="revenue", title="Revenue per week")


def funnel_overall_table(overall: dict[str, float]) -> pd.DataFrame:
    """The overall funnel counts of ``metrics/behaviour.json`` as the table `funnel` returns."""
    return pd.DataFrame([{"segment": OVERALL, **{step: overall[step] for step in FUNNEL_STEPS}}])


def pass_rate_figure(levels: dict[str, dict[str, float]], by: str) -> go.Figure:
    """Share of sessions passing each funnel step, per level of ``by`` (the "funnel drop-offs" panel)."""
    steps = [f"{before}_to_{after}" for before, after in zip(FUNNEL_STEPS, FUNNEL_STEPS[1:], strict=False)]
    rows = [
        {by: level, "step": step.replace("_to_", " → "), "pass_rate": rates[step]}
        for level, rates in levels.items()
        for step in steps
    ]
    return px.bar(
        pd.DataFrame(rows),
        x="step",
        y="pass_rate",
        color=by,
        barmode="group",
        title=f"Share of sessions passing each funnel step, by {by}",
    )
