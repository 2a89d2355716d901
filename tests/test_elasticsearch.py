"""Elasticsearch indexing against a running OpenSearch-compatible server: bulk, failures, retries, scores."""

import threading
import time
import uuid

import pandas as pd
import pytest
from elasticsearch import ConnectionError as SearchUnreachable
from typer.testing import CliRunner

from cba.cli import app
from cba.dashboards import EVENTS_INDEX, SCORES_INDEX
from cba.stream import BulkError, ElasticsearchSink, FailureLog, bulk_index, index_scores
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
    }
    with pytest.raises(ValueError, match="lack column 'value'"):
        index_scores(client, scores.drop(columns="value"), FailureLog(tmp_path / "f.jsonl"), index)


def test_scores_publish_says_not_configured_without_a_url(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    result = CliRunner().invoke(app, ["scores", "publish"])
    assert result.exit_code == 0
    assert "elasticsearch.url is not configured" in result.output
