"""Chapter "Dashboards": the Kibana dashboards' panels as interactive Plotly figures from this build.

Active customers and revenue (``plots/behaviour_daily.csv``), churn-risk segments (``churn.json``),
funnel drop-offs (``behaviour.json``) and top products by revenue and by conversion
(``plots/behaviour_top_products_*.csv``), then links to the Kibana dashboards when ``kibana.url`` is
set. Figures show in HTML; other formats get the sentences.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cba.figures import FIGURE_CONFIG
from cba.report.inputs import BookInputs, Missing, lookup
from cba.report.markdown import float_div, html_only, money, raw_html

if TYPE_CHECKING:
    import plotly.graph_objects as go

Panel = tuple[str, str, "go.Figure", str]
"""One dashboard panel: its cross-reference label, caption, figure and the sentence saying what it shows."""


def dashboards_markdown(inputs: BookInputs) -> str:
    """Every panel this build has data for, each with its sentence, then the Kibana links."""
    from plotly.offline import get_plotlyjs

    panels, notes = _panels(inputs)
    lines = [
        "The panels of the Kibana dashboards, drawn from this build's own outputs so the book stands "
        "alone: the same measures, frozen at the data of this build, where Kibana shows the live index.",
        "",
    ]
    if notes:
        lines += [*(f"- {note}" for note in notes), ""]
    if panels:
        references = ", ".join(f"@{label}" for label, *_ in panels)
        lines += html_only([f"Panels: {references}.", "", *raw_html(f"<script>{get_plotlyjs()}</script>")])
        for label, caption, figure, sentence in panels:
            lines += [
                "",
                f"## {caption.rstrip('.')}",
                "",
                *html_only(float_div(label, raw_html(_figure_html(figure, f"{label}-plot")), caption)),
                "",
                sentence,
            ]
    lines += ["", "## Kibana", "", *_kibana_lines(inputs.params)]
    return "\n".join(lines) + "\n"


def _panels(inputs: BookInputs) -> tuple[list[Panel], list[str]]:
    """The panels with data, and a note for every panel left empty."""
    from cba import behaviour as event_behaviour
    from cba import retention

    currency = inputs.currency
    panels: list[Panel] = []
    notes: list[str] = []
    behaviour = inputs.metrics.get("behaviour") or {}
    daily = inputs.tables.get("behaviour_daily")
    if behaviour.get("has_events") and daily is not None and len(daily):
        busiest = daily.loc[daily["active_customers"].idxmax()]
        panels.append(
            (
                "fig-active-customers",
                "Active customers per day.",
                event_behaviour.active_customers_figure(daily),
                f"On average {daily['active_customers'].mean():,.1f} customers are active per day; the "
                f"busiest day, {busiest['date']}, had {int(busiest['active_customers']):,}.",
            )
        )
        weekly = event_behaviour.revenue_figure(daily)
        weekly_revenue = weekly.data[0].y
        panels.append(
            (
                "fig-revenue",
                "Revenue per week.",
                weekly,
                f"Revenue totals {money(daily['revenue'].sum(), currency)} over {len(daily):,} days, from "
                f"{money(min(weekly_revenue), currency)} to {money(max(weekly_revenue), currency)} per week.",
            )
        )
    else:
        source = lookup(inputs.params, "params.yaml", "data.source")
        notes.append(
            f"The {source} source has no event log: the active-customer, revenue, funnel and product panels "
            "are empty."
        )
    segments = inputs.get("churn", "risk_segments")
    if not isinstance(segments, Missing) and segments:
        top = max(segments, key=lambda segment: segment["revenue_at_risk"])
        panels.append(
            (
                "fig-risk-segments",
                "Churn-risk segments.",
                retention.risk_segments_figure(segments),
                f"{top['segment']} carries the most revenue at risk "
                f"({money(top['revenue_at_risk'], currency)} from {top['customers']:,} customers).",
            )
        )
    else:
        notes.append(f"The churn-risk panel is empty: the risk segments are {segments}.")
    if behaviour.get("has_events") and behaviour.get("biggest_drop_off"):
        drop = behaviour["biggest_drop_off"]
        table = event_behaviour.funnel_overall_table(behaviour["funnel"]["overall"])
        panels.append(
            (
                "fig-funnel",
                "Sessions at each funnel step.",
                event_behaviour.funnel_figure(table, None),
                event_behaviour.funnel_sentence(table, None),
            )
        )
        by = drop["by"] or ("category" if "category" in behaviour["funnel"] else None)
        if by and behaviour["funnel"].get(by):
            panels.append(
                (
                    "fig-funnel-drop-offs",
                    f"Funnel drop-offs by {by}.",
                    event_behaviour.pass_rate_figure(behaviour["funnel"][by], by),
                    event_behaviour.drop_off_sentence(drop),
                )
            )
    for measure in ("revenue", "conversion"):
        top_products = inputs.tables.get(f"behaviour_top_products_{measure}")
        if top_products is not None and len(top_products):
            panels.append(
                (
                    f"fig-top-products-{measure}",
                    f"Top products by {measure}.",
                    event_behaviour.top_products_figure(top_products, "product_id", measure),
                    event_behaviour.top_products_sentence(top_products, "product_id", measure),
                )
            )
    return panels, notes


def _figure_html(figure: go.Figure, div_id: str) -> str:
    figure.update_layout(margin={"t": 60, "l": 40, "r": 20, "b": 40})
    return figure.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=FIGURE_CONFIG)


def _kibana_lines(params: Mapping[str, Any]) -> list[str]:
    url = lookup(params, "params.yaml", "kibana.url")
    if isinstance(url, Missing) or not url:
        return [
            "Kibana is not configured (`kibana.url` is not set in params.yaml): the figures above are the "
            "dashboards of this build."
        ]
    from cba.dashboards import DASHBOARDS, dashboard_url

    return [
        f"The same panels, live, in Kibana at <{url}>:",
        "",
        *(f"- [{dashboard.title}]({dashboard_url(url, dashboard.id)})" for dashboard in DASHBOARDS),
    ]
