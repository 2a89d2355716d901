"""Elasticsearch indexing against a running OpenSearch-compatible server: bulk, failures, retries, scores;
the media type of every request; the commands that index, run as users run them."""

import contextlib
import json
import re
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import yaml
from elasticsearch import ConnectionError as SearchUnreachable
from typer.testing import CliRunner

from cba import schema
from cba.cli import app
from cba.dashboards import EVENTS_INDEX, INDEX_TEMPLATES, SCORES_INDEX
from cba.stream import (
    BulkError,
    ElasticsearchSink,
    FailureLog,
    MediaTypeRejected,
    bulk_index,
    elasticsearch_client,
    ensure_topic,
    index_scores,
    kafka_config,
    produce,
)
from cba.stream.connect import CLIENT_MAJOR
from cba.stream.messages import TEXT_ID_EVENTS
from conftest import ROOT
from services import free_port, search_client, search_server

EVENT = {
    "timestamp": "2024-03-01T10:00:00Z",
    "event_id": 1,
    "customer_id": 10,
    "session_id": 100,
    "event_type": "purchase",
    "product_id": "P1",
    "category": "Fashion",
    "price": 12.5,
    "device": "Computer",
}


@pytest.fixture(scope="module")
def client(search_url):
    es = search_client(search_url)
    yield es
    es.close()


def count(client, index: str) -> int:
    client.indices.refresh(index=index)
    return client.count(index=index)["count"]


def test_a_bulk_with_rejected_documents_indexes_the_rest_and_keeps_the_rejected(client, tmp_path):
    index = f"{EVENTS_INDEX}-{uuid.uuid4().hex[:8]}"
    sink = ElasticsearchSink(client, index, tmp_path / "failures.jsonl")  # installs the events template
    events = [{**EVENT, "event_id": n, "price": float(n)} for n in range(1, 9)]
    events[2] = {**events[2], "timestamp": "not a timestamp"}  # cannot be a date
    events[5] = {**events[5], "price": "twelve"}  # cannot be a double

    indexed = sink.write(events)

    assert (indexed, sink.report.indexed, sink.report.failed) == (6, 6, 2)
    assert count(client, index) == 6
    kept = sink.failures.read()
    assert [(k["id"], k["status"], k["error_type"]) for k in kept] == [
        ("3", 400, "mapper_parsing_exception"),
        ("6", 400, "mapper_parsing_exception"),
    ]
    assert "timestamp" in kept[0]["reason"] and "price" in kept[1]["reason"]
    assert kept[1]["document"] == events[5]
    assert client.get(index=index, id="1")["_source"] == events[0]


def test_indexing_again_replaces_instead_of_duplicating(client, tmp_path):
    index = f"{EVENTS_INDEX}-{uuid.uuid4().hex[:8]}"
    sink = ElasticsearchSink(client, index, tmp_path / "failures.jsonl")
    events = [{**EVENT, "event_id": n} for n in range(1, 4)]
    sink.write(events)
    sink.write(events)
    assert count(client, index) == 3


@pytest.mark.services
def test_bulk_retries_until_the_cluster_comes_up(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    done = threading.Event()

    def start_later():
        time.sleep(1.5)
        with search_server(tmp_path / "late.log", port=port):
            done.wait()

    late = search_client(url)
    with pytest.raises(SearchUnreachable):
        late.info()  # nothing listens yet
    thread = threading.Thread(target=start_later)
    thread.start()
    try:
        report = bulk_index(
            late,
            "late",
            [("1", {"a": 1}), ("2", {"a": 2})],
            FailureLog(tmp_path / "f.jsonl"),
            backoff_seconds=0.5,
        )
        assert (report.indexed, report.failed) == (2, 0)
    finally:
        done.set()
        thread.join()


def test_bulk_gives_up_after_its_retries_without_dropping_silently(tmp_path):
    unreachable = search_client(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(BulkError, match="failed 3 times"):
        bulk_index(unreachable, "x", [("1", {"a": 1})], FailureLog(tmp_path / "f.jsonl"), 2, 0.01)


def test_index_scores_one_document_per_customer_with_revenue_at_risk(client, tmp_path):
    scores = pd.DataFrame(
        {
            "customer_id": pd.array([7, 8], dtype="int64"),
            "churn_probability": [0.8, 0.1],
            "risk_segment": ["high risk, high value", "low risk, low value"],
            "value": [200.0, 50.0],
        }
    )
    index = f"{SCORES_INDEX}-{uuid.uuid4().hex[:8]}"
    report = index_scores(client, scores, FailureLog(tmp_path / "f.jsonl"), index)
    assert (report.indexed, report.failed) == (2, 0)
    assert client.get(index=index, id="7")["_source"] == {
        "customer_id": 7,
        "churn_probability": 0.8,
        "risk_segment": "high risk, high value",
        "value": 200.0,
        "revenue_at_risk": pytest.approx(160.0),
        "revenue_at_risk_to_date": pytest.approx(160.0),
    }
    with pytest.raises(ValueError, match="lack column 'value'"):
        index_scores(client, scores.drop(columns="value"), FailureLog(tmp_path / "f.jsonl"), index)


def test_index_scores_carries_lifetime_value_and_next_purchase(client, tmp_path):
    scores = pd.DataFrame(
        {
            "customer_id": pd.array([7, 8], dtype="int64"),
            "churn_probability": [0.8, 0.1],
            "risk_segment": ["high risk, high value", "low risk, low value"],
            "value": [200.0, 50.0],
            "clv": [500.0, 0.0],
            "probability_alive": [0.9, 1.0],
        }
    )
    buys = pd.DataFrame({"customer_id": [8, 7], "next_purchase_probability": [0.25, 0.6]})
    index = f"{SCORES_INDEX}-{uuid.uuid4().hex[:8]}"
    report = index_scores(client, scores, FailureLog(tmp_path / "f.jsonl"), index, next_purchase=buys)
    assert (report.indexed, report.failed) == (2, 0)
    assert client.get(index=index, id="7")["_source"] == {
        "customer_id": 7,
        "churn_probability": 0.8,
        "risk_segment": "high risk, high value",
        "value": 200.0,
        "clv": 500.0,
        "probability_alive": 0.9,
        "revenue_at_risk": pytest.approx(400.0),  # 0.8 x CLV 500
        "revenue_at_risk_to_date": pytest.approx(160.0),  # 0.8 x value 200
        "next_purchase_probability": 0.6,
    }


def test_scores_publish_says_not_configured_without_a_url(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    result = CliRunner().invoke(app, ["scores", "publish"])
    assert result.exit_code == 0
    assert "elasticsearch.url is not configured" in result.output


# --- the media type of every request -------------------------------------------------------------------


class Elasticsearch8(BaseHTTPRequestHandler):
    """An Elasticsearch 8.x node as far as media types go: it records them and, as 8.x does, accepts plain
    JSON and ``compatible-with`` 7 or 8 and refuses other versions with ``media_type_header_exception``."""

    received: list[tuple[str, str | None, str | None]] = []

    def _answer(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        accept, content_type = self.headers["Accept"], self.headers["Content-Type"]
        type(self).received.append((self.path, accept, content_type))
        versions = set(re.findall(r"compatible-with=(\d+)", f"{accept} {content_type}"))
        if versions - {"7", "8"}:
            reason = "Invalid media-type value on headers [Content-Type, Accept]"
            status, body = (
                400,
                {"error": {"type": "media_type_header_exception", "reason": reason}, "status": 400},
            )
        elif self.path.startswith("/_bulk"):
            status, body = 200, {"took": 1, "errors": False, "items": [{"index": {"status": 201}}]}
        else:
            status, body = 200, {"acknowledged": True}
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.end_headers()
        self.wfile.write(json.dumps(body).encode())

    do_GET = do_PUT = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def elasticsearch8():
    """Base URL of an :class:`Elasticsearch8` on 127.0.0.1 that has received nothing yet."""
    Elasticsearch8.received = []
    server = HTTPServer(("127.0.0.1", 0), Elasticsearch8)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join()


def client_for(url: str, params, compatibility):
    return elasticsearch_client(url, params.elasticsearch.model_copy(update={"compatibility": compatibility}))


VERSIONED = "application/vnd.elasticsearch+{}; compatible-with={}"


@pytest.mark.parametrize(
    ("compatibility", "json_type", "ndjson_type"),
    [
        (8, VERSIONED.format("json", 8), VERSIONED.format("x-ndjson", 8)),
        ("json", "application/json", "application/x-ndjson"),
    ],
    ids=["8", "json"],
)
def test_every_request_carries_the_chosen_media_type(
    params, elasticsearch8, tmp_path, compatibility, json_type, ndjson_type
):
    client = client_for(elasticsearch8, params, compatibility)
    ElasticsearchSink(client, "x", tmp_path / "f.jsonl").write([EVENT])
    assert Elasticsearch8.received == [
        (f"/_index_template/{EVENTS_INDEX}", json_type, json_type),
        ("/_bulk", json_type, ndjson_type),
    ]


def test_null_sends_the_media_type_of_the_installed_clients_major(params, elasticsearch8):
    client = client_for(elasticsearch8, params, None)
    with contextlib.suppress(MediaTypeRejected):  # an Elasticsearch 8.x node refuses a 9.x client's own
        client.indices.put_index_template(name=SCORES_INDEX, **INDEX_TEMPLATES[SCORES_INDEX])
    expected = VERSIONED.format("json", CLIENT_MAJOR)
    assert Elasticsearch8.received == [(f"/_index_template/{SCORES_INDEX}", expected, expected)]


def test_a_refused_media_type_stops_with_one_line_that_names_the_param(params, elasticsearch8, tmp_path):
    client = client_for(elasticsearch8, params, 9)
    with pytest.raises(MediaTypeRejected) as refused:
        ElasticsearchSink(client, "x", tmp_path / "f.jsonl")
    assert str(refused.value) == (
        f"{elasticsearch8} refused the media type {VERSIONED.format('json', 9)} (HTTP 400; "
        "elasticsearch.compatibility is 9); set elasticsearch.compatibility in params.yaml or "
        "--es-compatibility to the cluster's major (8 for Elasticsearch 8.x, 9 for 9.x) or to json for "
        "servers without versioned media types"
    )


# --- the commands, as users run them --------------------------------------------------------------------

CBA = str(Path(sys.executable).parent / "cba")


def params_file(folder: Path, **changes) -> Path:
    """The project's params.yaml with ``changes`` (``section={key: value}``), written to ``folder``."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    for section, values in changes.items():
        raw[section].update(values)
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


SCORES = pd.DataFrame(
    {
        "customer_id": pd.array([7, 8, 9], dtype="int64"),
        "churn_probability": [0.8, 0.1, 0.4],
        "risk_segment": ["high risk, high value", "low risk, low value", "low risk, high value"],
        "value": [200.0, 50.0, 120.0],
    }
)


@pytest.mark.parametrize(
    ("param", "flag"), [("json", []), (None, ["--es-compatibility", "json"])], ids=["param", "flag"]
)
def test_scores_publish_indexes_the_scores_with_the_param_or_the_flag(
    client, search_url, tmp_path, param, flag
):
    scores = tmp_path / "scores.parquet"
    SCORES.to_parquet(scores)
    params = params_file(tmp_path, elasticsearch={"compatibility": param})
    command = [CBA, "scores", "publish", "--scores", str(scores), "--es-url", search_url, *flag]
    result = subprocess.run([*command, "--params", str(params)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"indexed 3 churn scores into {SCORES_INDEX}; 0 rejected" in result.stdout
    assert client.get(index=SCORES_INDEX, id="9")["_source"]["revenue_at_risk"] == pytest.approx(48.0)


def test_scores_publish_on_a_server_that_refuses_the_media_type_names_the_param(search_url, tmp_path):
    scores = tmp_path / "scores.parquet"
    SCORES.to_parquet(scores)
    params = params_file(tmp_path)
    command = [
        CBA,
        "scores",
        "publish",
        "--scores",
        str(scores),
        "--es-url",
        search_url,
        "--params",
        str(params),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(
        f"error: {search_url} refused the media type {VERSIONED.format('json', CLIENT_MAJOR)}"
    )
    assert "set elasticsearch.compatibility in params.yaml or --es-compatibility" in line


def test_a_bad_compatibility_flag_is_refused(search_url, tmp_path):
    params = params_file(tmp_path)
    command = [CBA, "scores", "publish", "--es-url", search_url, "--es-compatibility", "7"]
    result = subprocess.run([*command, "--params", str(params)], capture_output=True, text=True)
    assert result.returncode == 2
    assert "error: --es-compatibility must be one of 8, 9 or json, got '7'" in result.stderr


def test_stream_consume_indexes_the_topic_into_elasticsearch_with_the_flag(
    client, search_url, kafka_bootstrap, params, tmp_path
):
    topic, index = f"events-{uuid.uuid4().hex[:8]}", f"{EVENTS_INDEX}-{uuid.uuid4().hex[:8]}"
    config = kafka_config(params.kafka, kafka_bootstrap)
    ensure_topic(config, topic, 1, 1)
    events = [{**EVENT, "event_id": n, "customer_id": 10 + n % 3} for n in range(1, 26)]
    events += [{**EVENT, "event_id": n, "customer_id": f"user_{n % 3:04d}"} for n in range(26, 51)]
    for rows, event_schema in ((events[:25], schema.RAW_EVENTS), (events[25:], TEXT_ID_EVENTS)):
        produce(pa.Table.from_pylist(rows, schema=event_schema.arrow_schema), config, topic)
    path = params_file(tmp_path, kafka={"bootstrap_servers": kafka_bootstrap, "session_timeout_ms": 6000})
    command = [CBA, "stream", "consume", "--sink", "elasticsearch", "--es-url", search_url]
    command += ["--es-compatibility", "json", "--topic", topic, "--index", index, "--max-messages", "50"]
    command += ["--failures", str(tmp_path / "failures.jsonl"), "--params", str(path)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"elasticsearch: 50 indexed into {index}, 0 rejected" in result.stdout
    assert count(client, index) == 50
    assert client.get(index=index, id="27")["_source"] == events[26]  # a text id
    indexed = client.get(index=index, id="7")["_source"]  # the id is text when its batch held text ids
    assert indexed | {"customer_id": str(indexed["customer_id"])} == events[6] | {"customer_id": "11"}
