"""Kibana dashboards and Elasticsearch index templates, generated from one spec.

The spec names the two indexes (events, churn scores), their explicit mappings, the Kibana data views
over them, the visualizations and the dashboards that group them. :func:`build` writes importable saved
objects (``dashboards/kibana/<dashboard>.ndjson``, each file self-contained) and the index templates
(``dashboards/elasticsearch/<index>.json``); :func:`publish` installs the templates through
``_index_template`` (with the client's media type, ``elasticsearch.compatibility``) and imports the
saved objects through Kibana's saved-objects API (plain HTTP with JSON, whatever the cluster's version).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch

__all__ = [
    "DASHBOARDS",
    "DATA_VIEWS",
    "EVENTS_INDEX",
    "INDEX_TEMPLATES",
    "SCORES_INDEX",
    "Dashboard",
    "DataView",
    "PublishError",
    "Visualization",
    "build",
    "dashboard_url",
    "import_dashboards",
    "import_saved_objects",
    "install_templates",
    "publish",
    "saved_objects",
]

EVENTS_INDEX = "cba-events"
"""Index the stream consumer writes events to (one document per event id)."""

SCORES_INDEX = "cba-churn-scores"
"""Index the churn scores are published to (one document per customer id)."""

MIN_VIEWS = 50
"""Views a product needs before it is ranked by conversion rate."""

_KEYWORD, _LONG, _DOUBLE = {"type": "keyword"}, {"type": "long"}, {"type": "double"}

INDEX_TEMPLATES: dict[str, dict[str, Any]] = {
    EVENTS_INDEX: {
        "index_patterns": [f"{EVENTS_INDEX}*"],
        "priority": 200,
        "_meta": {"description": "Customer events streamed by `cba stream consume`; _id is the event id"},
        "template": {
            "settings": {"number_of_shards": 1},
            "mappings": {
                "dynamic": "strict",
                "properties": {
                    "event_id": _LONG,
                    "customer_id": _KEYWORD,  # whole numbers and text ids (UUIDs, account codes)
                    "session_id": _LONG,
                    "event_type": _KEYWORD,
                    "timestamp": {"type": "date", "format": "strict_date_optional_time||epoch_millis"},
                    "product_id": _KEYWORD,
                    "category": _KEYWORD,
                    "price": _DOUBLE,
                    "device": _KEYWORD,
                },
            },
        },
    },
    SCORES_INDEX: {
        "index_patterns": [f"{SCORES_INDEX}*"],
        "priority": 200,
        "_meta": {"description": "Churn scores per customer (`cba scores publish`); _id is the customer id"},
        "template": {
            "settings": {"number_of_shards": 1},
            "mappings": {
                "dynamic": "strict",
                "properties": {
                    "customer_id": _KEYWORD,
                    "churn_probability": _DOUBLE,
                    "risk_segment": _KEYWORD,
                    "value": _DOUBLE,
                    "revenue_at_risk": _DOUBLE,
                    "revenue_at_risk_to_date": _DOUBLE,
                    "clv": _DOUBLE,
                    "probability_alive": _DOUBLE,
                    "next_purchase_probability": _DOUBLE,
                },
            },
        },
    },
}
"""Index templates with explicit mappings, by index name."""


@dataclass(frozen=True)
class DataView:
    """A Kibana data view over one index (pattern)."""

    id: str
    name: str
    index: str
    time_field: str | None

    @property
    def pattern(self) -> str:
        """The index pattern the data view matches."""
        return f"{self.index}*"


EVENTS_VIEW = DataView("cba-events", "Customer events", EVENTS_INDEX, "timestamp")
SCORES_VIEW = DataView("cba-churn-scores", "Churn scores", SCORES_INDEX, None)
DATA_VIEWS = (EVENTS_VIEW, SCORES_VIEW)


@dataclass(frozen=True)
class Visualization:
    """One panel: an aggregation-based chart over a data view, or a Vega spec querying an index."""

    id: str
    title: str
    data_view: DataView
    chart: str
    metric: dict[str, Any]
    buckets: tuple[dict[str, Any], ...] = ()
    query: str = ""
    vega: dict[str, Any] | None = None

    def vis_state(self) -> dict[str, Any]:
        """Kibana's ``visState``: the chart type, its aggregations and display options."""
        if self.vega is not None:
            spec = json.dumps(self.vega, indent=2)
            return {"title": self.title, "type": "vega", "aggs": [], "params": {"spec": spec}}
        aggs = [{"id": "1", "enabled": True, "schema": "metric", **self.metric}]
        for number, bucket in enumerate(self.buckets, start=2):
            schema = "bucket" if self.chart == "table" else "group" if number > 2 else "segment"
            aggs.append({"id": str(number), "enabled": True, "schema": schema, **bucket})
        params = {"type": self.chart, "addTooltip": True, "addLegend": len(self.buckets) > 1}
        if self.chart == "table":
            params = {"perPage": 10, "showPartialRows": False, "showTotal": False}
        return {"title": self.title, "type": self.chart, "aggs": aggs, "params": params}


@dataclass(frozen=True)
class Dashboard:
    """A Kibana dashboard: an id, a title, and its panels in reading order (two per row)."""

    id: str
    title: str
    description: str
    panels: tuple[Visualization, ...] = field(repr=False)


def _agg(kind: str, **params: Any) -> dict[str, Any]:
    return {"type": kind, "params": params}


def _daily(field_name: str = "timestamp", interval: str = "d") -> dict[str, Any]:
    return _agg("date_histogram", field=field_name, interval=interval, min_doc_count=1, extended_bounds={})


def _terms(field_name: str, size: int, order_by: str = "1", label: str | None = None) -> dict[str, Any]:
    params = {"field": field_name, "size": size, "order": "desc", "orderBy": order_by}
    return _agg("terms", **params, **({"customLabel": label} if label else {}))


def _session_steps() -> dict[str, Any]:
    steps = [("view", "viewed"), ("add_to_cart", "added to cart"), ("purchase", "purchased")]
    filters = [{"input": {"query": f'event_type : "{t}"', "language": "kuery"}, "label": s} for t, s in steps]
    return _agg("filters", filters=filters)


_PURCHASES = 'event_type : "purchase"'
_ACTIVE = _agg("cardinality", field="customer_id", customLabel="Active customers")
_REVENUE = _agg("sum", field="price", customLabel="Revenue")
_SESSIONS = _agg("cardinality", field="session_id", customLabel="Sessions")
_AT_RISK = _agg("sum", field="revenue_at_risk", customLabel="Revenue at risk")
_CLV_AT_RISK = _agg("max", field="revenue_at_risk", customLabel="CLV at risk")

_CONVERSION_SPEC: dict[str, Any] = {
    "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
    "title": f"Conversion rate (purchases / views) of products with at least {MIN_VIEWS} views",
    "data": {
        "url": {
            "index": EVENTS_VIEW.pattern,
            "%context%": True,
            "%timefield%": "timestamp",
            "body": {
                "size": 0,
                "aggs": {
                    "products": {
                        "terms": {"field": "product_id", "size": 10000},
                        "aggs": {
                            "views": {"filter": {"term": {"event_type": "view"}}},
                            "purchases": {"filter": {"term": {"event_type": "purchase"}}},
                        },
                    }
                },
            },
        },
        "format": {"property": "aggregations.products.buckets"},
    },
    "transform": [
        {"filter": f"datum.views.doc_count >= {MIN_VIEWS}"},
        {"calculate": "datum.purchases.doc_count / datum.views.doc_count", "as": "conversion_rate"},
        {
            "window": [{"op": "row_number", "as": "rank"}],
            "sort": [{"field": "conversion_rate", "order": "descending"}],
        },
        {"filter": "datum.rank <= 10"},
    ],
    "mark": "bar",
    "encoding": {
        "y": {"field": "key", "type": "nominal", "sort": "-x", "title": "product"},
        "x": {
            "field": "conversion_rate",
            "type": "quantitative",
            "title": "conversion rate",
            "axis": {"format": "%"},
        },
    },
}

DASHBOARDS = (
    Dashboard(
        "cba-active-users",
        "Active users",
        "Distinct customers with any event, per day and by device.",
        (
            Visualization("cba-active-customers-total", "Active customers", EVENTS_VIEW, "metric", _ACTIVE),
            Visualization(
                "cba-active-customers-daily",
                "Active customers per day",
                EVENTS_VIEW,
                "line",
                _ACTIVE,
                (_daily(),),
            ),
            Visualization(
                "cba-active-customers-device",
                "Active customers per day by device",
                EVENTS_VIEW,
                "histogram",
                _ACTIVE,
                (_daily(interval="w"), _terms("device", 5)),
            ),
        ),
    ),
    Dashboard(
        "cba-revenue-trends",
        "Revenue trends",
        "Revenue from purchase events per week, overall and by category.",
        (
            Visualization("cba-revenue-total", "Revenue", EVENTS_VIEW, "metric", _REVENUE, query=_PURCHASES),
            Visualization(
                "cba-revenue-weekly",
                "Revenue per week",
                EVENTS_VIEW,
                "line",
                _REVENUE,
                (_daily(interval="w"),),
                query=_PURCHASES,
            ),
            Visualization(
                "cba-revenue-category",
                "Revenue per week by category",
                EVENTS_VIEW,
                "area",
                _REVENUE,
                (_daily(interval="w"), _terms("category", 10)),
                query=_PURCHASES,
            ),
        ),
    ),
    Dashboard(
        "cba-churn-risk",
        "Churn-risk segments",
        "Scored customers by risk segment: how many, and the revenue at risk (churn probability x expected "
        "future value, CLV, where the purchase log allows it; else x value to date).",
        (
            Visualization("cba-at-risk-total", "Revenue at risk", SCORES_VIEW, "metric", _AT_RISK),
            Visualization(
                "cba-clv-at-risk-customers",
                "Customers with the most lifetime value at risk (churn probability x CLV)",
                SCORES_VIEW,
                "table",
                _CLV_AT_RISK,
                (_terms("customer_id", 20, label="Customer"), _terms("risk_segment", 1, label="Segment")),
            ),
            Visualization(
                "cba-risk-segment-customers",
                "Customers per risk segment",
                SCORES_VIEW,
                "pie",
                _agg("count"),
                (_terms("risk_segment", 10),),
            ),
            Visualization(
                "cba-risk-segment-revenue",
                "Revenue at risk per risk segment",
                SCORES_VIEW,
                "horizontal_bar",
                _AT_RISK,
                (_terms("risk_segment", 10),),
            ),
            Visualization(
                "cba-riskiest-customers",
                "Customers most likely to churn",
                SCORES_VIEW,
                "table",
                _agg("max", field="churn_probability", customLabel="Churn probability"),
                (_terms("customer_id", 20, label="Customer"), _terms("risk_segment", 1, label="Segment")),
            ),
        ),
    ),
    Dashboard(
        "cba-funnel",
        "Funnel drop-offs",
        "Sessions that viewed, added to cart and purchased: the drop between steps, overall and by device.",
        (
            Visualization(
                "cba-funnel-steps",
                "Sessions per funnel step",
                EVENTS_VIEW,
                "histogram",
                _SESSIONS,
                (_session_steps(),),
            ),
            Visualization(
                "cba-funnel-device",
                "Sessions per funnel step by device",
                EVENTS_VIEW,
                "histogram",
                _SESSIONS,
                (_session_steps(), _terms("device", 5)),
            ),
        ),
    ),
    Dashboard(
        "cba-top-products",
        "Top products",
        f"Products by revenue, and by conversion rate (purchases per view, at least {MIN_VIEWS} views).",
        (
            Visualization(
                "cba-top-products-revenue",
                "Top products by revenue",
                EVENTS_VIEW,
                "horizontal_bar",
                _REVENUE,
                (_terms("product_id", 10),),
                query=_PURCHASES,
            ),
            Visualization(
                "cba-top-products-conversion",
                "Top products by conversion rate",
                EVENTS_VIEW,
                "vega",
                {},
                vega=_CONVERSION_SPEC,
            ),
        ),
    ),
)
"""Every dashboard, in the order the book lists them."""


def dashboard_url(kibana_url: str, dashboard_id: str) -> str:
    """The address of dashboard ``dashboard_id`` in the Kibana at ``kibana_url``."""
    return f"{kibana_url.rstrip('/')}/app/dashboards#/view/{urllib.parse.quote(dashboard_id)}"


def _data_view_object(view: DataView) -> dict[str, Any]:
    attributes = {"title": view.pattern, "name": view.name}
    if view.time_field:
        attributes["timeFieldName"] = view.time_field
    return _object("index-pattern", view.id, attributes, [], "8.0.0")


def _search_source(query: str, with_index: bool) -> str:
    source: dict[str, Any] = {"query": {"query": query, "language": "kuery"}, "filter": []}
    if with_index:
        source["indexRefName"] = "kibanaSavedObjectMeta.searchSourceJSON.index"
    return json.dumps(source)


def _visualization_object(vis: Visualization) -> dict[str, Any]:
    with_index = vis.vega is None
    attributes = {
        "title": vis.title,
        "description": "",
        "visState": json.dumps(vis.vis_state()),
        "uiStateJSON": "{}",
        "version": 1,
        "kibanaSavedObjectMeta": {"searchSourceJSON": _search_source(vis.query, with_index)},
    }
    references = []
    if with_index:
        ref = {
            "name": "kibanaSavedObjectMeta.searchSourceJSON.index",
            "type": "index-pattern",
            "id": vis.data_view.id,
        }
        references.append(ref)
    return _object("visualization", vis.id, attributes, references, "7.14.0")


def _dashboard_object(dashboard: Dashboard) -> dict[str, Any]:
    panels, references = [], []
    for number, vis in enumerate(dashboard.panels):
        panel_index = str(number + 1)
        grid = {"x": 24 * (number % 2), "y": 15 * (number // 2), "w": 24, "h": 15, "i": panel_index}
        panels.append(
            {
                "panelIndex": panel_index,
                "gridData": grid,
                "embeddableConfig": {},
                "panelRefName": f"panel_{number}",
            }
        )
        references.append({"name": f"panel_{number}", "type": "visualization", "id": vis.id})
    attributes = {
        "title": dashboard.title,
        "description": dashboard.description,
        "panelsJSON": json.dumps(panels),
        "optionsJSON": json.dumps({"useMargins": True, "hidePanelTitles": False}),
        "timeRestore": True,
        "timeFrom": "now-5y",
        "timeTo": "now",
        "version": 1,
        "kibanaSavedObjectMeta": {"searchSourceJSON": _search_source("", False)},
    }
    return _object("dashboard", dashboard.id, attributes, references, "7.17.3")


def _object(
    kind: str, object_id: str, attributes: dict, references: list, type_version: str
) -> dict[str, Any]:
    return {
        "id": object_id,
        "type": kind,
        "attributes": attributes,
        "references": references,
        "coreMigrationVersion": "8.8.0",
        "typeMigrationVersion": type_version,
    }


def saved_objects(dashboard: Dashboard) -> list[dict[str, Any]]:
    """The saved objects that import ``dashboard`` alone: its data views, visualizations, then itself."""
    views = {vis.data_view.id: vis.data_view for vis in dashboard.panels}
    return (
        [_data_view_object(view) for view in views.values()]
        + [_visualization_object(vis) for vis in dashboard.panels]
        + [_dashboard_object(dashboard)]
    )


def _ndjson(objects: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(item, sort_keys=True) + "\n" for item in objects)


def build(folder: str | Path) -> list[Path]:
    """Write ``kibana/<dashboard>.ndjson`` and ``elasticsearch/<index>.json`` under ``folder``."""
    folder = Path(folder)
    written = []
    for sub in ("kibana", "elasticsearch"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for dashboard in DASHBOARDS:
        path = folder / "kibana" / f"{dashboard.id}.ndjson"
        path.write_text(_ndjson(saved_objects(dashboard)))
        written.append(path)
    for name, template in INDEX_TEMPLATES.items():
        path = folder / "elasticsearch" / f"{name}.json"
        path.write_text(json.dumps(template, indent=2) + "\n")
        written.append(path)
    return written


class PublishError(RuntimeError):
    """Kibana or Elasticsearch refused what was published; the message says which object and why."""


def install_templates(client: Elasticsearch, names: tuple[str, ...] = tuple(INDEX_TEMPLATES)) -> None:
    """Create or update the index templates ``names`` (all by default)."""
    for name in names:
        client.indices.put_index_template(name=name, **INDEX_TEMPLATES[name])


def import_saved_objects(kibana_url: str, objects: list[dict[str, Any]], api_key: str | None) -> int:
    """Import ``objects`` through Kibana's ``_import`` API (overwriting); return how many succeeded."""
    boundary = uuid.uuid4().hex
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="cba.ndjson"\r\n'
        f"Content-Type: application/ndjson\r\n\r\n{_ndjson(objects)}\r\n--{boundary}--\r\n"
    ).encode()
    headers = {"kbn-xsrf": "true", "Content-Type": f"multipart/form-data; boundary={boundary}"}
    if api_key:
        headers["Authorization"] = f"ApiKey {api_key}"
    url = f"{kibana_url.rstrip('/')}/api/saved_objects/_import?overwrite=true"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            result = json.load(response)
    except urllib.error.HTTPError as err:
        raise PublishError(f"{url}: HTTP {err.code}: {err.read()[:500]!r}") from None
    except urllib.error.URLError as err:
        raise PublishError(
            f"Kibana at {kibana_url} cannot be reached ({err.reason}); check --kibana-url or kibana.url"
        ) from None
    if not result.get("success"):
        raise PublishError(f"{url}: import failed: {json.dumps(result.get('errors', result))[:1000]}")
    return int(result["successCount"])


def import_dashboards(kibana_url: str, kibana_api_key: str | None) -> int:
    """Import every dashboard into the Kibana at ``kibana_url``; return the saved objects imported."""
    return sum(import_saved_objects(kibana_url, saved_objects(d), kibana_api_key) for d in DASHBOARDS)


def publish(client: Elasticsearch, kibana_url: str, kibana_api_key: str | None) -> int:
    """Install every index template, then import every dashboard; return the saved objects imported."""
    install_templates(client)
    return import_dashboards(kibana_url, kibana_api_key)
