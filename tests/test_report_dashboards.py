from plotly.offline import get_plotlyjs

from book_cases import METRICS, PARAMS, inputs
from cba import dashboards, report

DASHBOARD_FIGURES = [
    "fig-active-customers",
    "fig-revenue",
    "fig-risk-segments",
    "fig-funnel",
    "fig-funnel-drop-offs",
    "fig-top-products-revenue",
    "fig-top-products-conversion",
]


def test_dashboards_draw_every_kibana_panel_from_the_pipeline_outputs():
    text = report.dashboards_markdown(inputs())

    for label in DASHBOARD_FIGURES:
        assert f"::: {{#{label}}}" in text and f"@{label}" in text
        assert f'id="{label}-plot"' in text  # the Plotly div, apart from the figure's own id
    assert text.count(f"<script>{get_plotlyjs()}</script>") == 1
    assert "the busiest day, 2024-01-14, had 24." in text
    assert "Revenue totals USD 10,500 over 14 days, from USD 2,800 to USD 7,700 per week" in text
    assert "high risk, high value carries the most revenue at risk (USD 62,320 from 400 customers)" in text
    assert "By device, Mobile Phone loses the most there" in text
    assert "LAP-001 earns the most (150,000.00 from 150 purchases)" in text
    assert "Kibana is not configured" in text


def test_dashboards_without_events_or_segments_say_what_is_empty():
    metrics = {**METRICS, "behaviour": {"has_events": False}, "churn": {}}
    params = {**PARAMS, "data": {"source": "kaggle"}}

    text = report.dashboards_markdown(inputs(metrics, tables={}, params=params))

    assert "The kaggle source has no event log" in text
    assert "The churn-risk panel is empty" in text
    assert "plotly-graph-div" not in text and "Plotly.newPlot" not in text


def test_dashboards_link_to_kibana_when_it_is_configured():
    params = {**PARAMS, "kibana": {"url": "https://kibana.example.com:5601"}}

    text = report.dashboards_markdown(inputs(params=params))

    assert "Kibana is not configured" not in text
    for dashboard in dashboards.DASHBOARDS:
        link = dashboards.dashboard_url("https://kibana.example.com:5601", dashboard.id)
        assert f"- [{dashboard.title}]({link})" in text
