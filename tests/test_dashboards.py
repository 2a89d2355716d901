"""Kibana saved objects and index templates: generated from the spec, consistent, and publishable."""

import email.parser
import email.policy
import fnmatch
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml

from cba import dashboards
from services import free_port, search_client

ROOT = Path(__file__).resolve().parents[1]


def ndjson(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_committed_files_are_what_the_spec_builds(tmp_path):
    written = dashboards.build(tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == sorted(
        p.relative_to(ROOT / "dashboards").as_posix() for p in (ROOT / "dashboards").rglob("*.*")
    )
    for path in written:
        assert path.read_bytes() == (ROOT / "dashboards" / path.relative_to(tmp_path)).read_bytes(), path


def test_one_dashboard_per_topic_with_unique_ids():
    ids = [d.id for d in dashboards.DASHBOARDS]
    assert len(set(ids)) == len(ids) == 5
    titles = " ".join(d.title.lower() for d in dashboards.DASHBOARDS)
    for topic in ("active users", "revenue", "churn-risk", "funnel", "top products"):
        assert topic in titles


def test_dashboard_url():
    url = dashboards.dashboard_url("https://kibana.example.com:5601/", "cba-funnel")
    assert url == "https://kibana.example.com:5601/app/dashboards#/view/cba-funnel"


def fields_used(visualization: dict) -> set[str]:
    """Every index field a visualization's aggregations (or Vega query) name."""
    state = json.loads(visualization["attributes"]["visState"])
    if state["type"] == "vega":
        spec = json.loads(state["params"]["spec"])
        found = {spec["data"]["url"]["%timefield%"]}

        def walk(node):
            if isinstance(node, dict):
                for key, value in node.items():
                    if key == "field":
                        found.add(value)
                    elif key == "term":
                        found.update(value)
                    walk(value)
            elif isinstance(node, list):
                for item in node:
                    walk(item)

        walk(spec["data"]["url"]["body"])
        return found
    return {agg["params"]["field"] for agg in state["aggs"] if "field" in agg["params"]}


def template_for(pattern: str) -> dict:
    for template in dashboards.INDEX_TEMPLATES.values():
        if any(fnmatch.fnmatch(pattern.rstrip("*"), p) for p in template["index_patterns"]):
            return template
    raise AssertionError(f"no index template covers {pattern}")


@pytest.mark.parametrize(
    "path", sorted((ROOT / "dashboards" / "kibana").glob("*.ndjson")), ids=lambda p: p.stem
)
def test_saved_objects_parse_resolve_and_use_only_mapped_fields(path):
    objects = ndjson(path)
    by_key = {(o["type"], o["id"]): o for o in objects}
    assert len(by_key) == len(objects)
    assert [o["type"] for o in objects].count("dashboard") == 1
    for item in objects:
        for reference in item["references"]:
            assert (reference["type"], reference["id"]) in by_key, (item["id"], reference)
        for key in ("visState", "panelsJSON", "optionsJSON", "uiStateJSON"):
            if key in item["attributes"]:
                json.loads(item["attributes"][key])
        json.loads(item["attributes"].get("kibanaSavedObjectMeta", {}).get("searchSourceJSON", "{}"))
    for item in objects:
        if item["type"] == "dashboard":
            panels = json.loads(item["attributes"]["panelsJSON"])
            names = {r["name"] for r in item["references"]}
            assert {p["panelRefName"] for p in panels} == names
        if item["type"] != "visualization":
            continue
        state = json.loads(item["attributes"]["visState"])
        if state["type"] == "vega":
            pattern = json.loads(state["params"]["spec"])["data"]["url"]["index"]
        else:
            (reference,) = item["references"]
            pattern = by_key[("index-pattern", reference["id"])]["attributes"]["title"]
        mapped = template_for(pattern)["template"]["mappings"]["properties"]
        used = fields_used(item)
        assert used, item["id"]
        assert used <= set(mapped), (item["id"], used - set(mapped))
    for view in (o for o in objects if o["type"] == "index-pattern"):
        time_field = view["attributes"].get("timeFieldName")
        if time_field:
            assert (
                template_for(view["attributes"]["title"])["template"]["mappings"]["properties"][time_field][
                    "type"
                ]
                == "date"
            )


class KibanaImport(BaseHTTPRequestHandler):
    """Kibana's saved-objects import endpoint, as far as the request format goes."""

    received: list[dict] = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        ok = self.path == "/api/saved_objects/_import?overwrite=true" and self.headers["kbn-xsrf"] == "true"
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + body
        )
        (part,) = message.iter_parts()
        ok = ok and part.get_param("name", header="content-disposition") == "file"
        objects = [json.loads(line) for line in part.get_content().splitlines() if line]
        type(self).received.extend(objects)
        answer = {"success": ok, "successCount": len(objects) if ok else 0}
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(answer).encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def kibana_url():
    """Base URL of a :class:`KibanaImport` on 127.0.0.1 that has received nothing yet."""
    KibanaImport.received = []
    server = HTTPServer(("127.0.0.1", 0), KibanaImport)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join()


EVERY_SAVED_OBJECT = [o for d in dashboards.DASHBOARDS for o in dashboards.saved_objects(d)]


def test_publish_installs_the_templates_and_imports_every_dashboard(search_url, kibana_url):
    client = search_client(search_url)
    imported = dashboards.publish(client, kibana_url, None)
    assert imported == len(EVERY_SAVED_OBJECT) and KibanaImport.received == EVERY_SAVED_OBJECT
    for name, template in dashboards.INDEX_TEMPLATES.items():
        installed = client.indices.get_index_template(name=name)["index_templates"][0]["index_template"]
        assert installed["index_patterns"] == template["index_patterns"]
    client.indices.create(index=f"{dashboards.SCORES_INDEX}-check")
    mapping = client.indices.get_mapping(index=f"{dashboards.SCORES_INDEX}-check")
    properties = mapping[f"{dashboards.SCORES_INDEX}-check"]["mappings"]["properties"]
    assert properties["risk_segment"] == {"type": "keyword"}


def publish_command(tmp_path: Path, compatibility: str, *args: str) -> subprocess.CompletedProcess:
    """``cba dashboards publish`` with ``elasticsearch.compatibility`` set in params.yaml."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["elasticsearch"]["compatibility"] = compatibility
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    cba = str(Path(sys.executable).parent / "cba")
    return subprocess.run([cba, "dashboards", "publish", *args], cwd=tmp_path, capture_output=True, text=True)


def test_the_publish_command_installs_the_templates_and_imports_the_dashboards(
    tmp_path, search_url, kibana_url
):
    result = publish_command(tmp_path, "json", "--es-url", search_url, "--kibana-url", kibana_url)
    assert result.returncode == 0, result.stderr
    assert f"installed 2 index templates into {search_url}" in result.stdout
    assert f"imported {len(EVERY_SAVED_OBJECT)} saved objects" in result.stdout
    assert KibanaImport.received == EVERY_SAVED_OBJECT
    client = search_client(search_url)
    for name, template in dashboards.INDEX_TEMPLATES.items():
        installed = client.indices.get_index_template(name=name)["index_templates"][0]["index_template"]
        assert installed["index_patterns"] == template["index_patterns"]


def test_the_publish_command_says_when_kibana_cannot_be_reached(tmp_path, search_url):
    kibana = f"http://127.0.0.1:{free_port()}"
    result = publish_command(tmp_path, "json", "--es-url", search_url, "--kibana-url", kibana)
    assert result.returncode == 2
    assert "installed 2 index templates" in result.stdout
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: Kibana at {kibana} cannot be reached (")
    assert line.endswith("); check --kibana-url or kibana.url")
