"""Bulk indexing into Elasticsearch with retries; rejected documents are reported and kept, never dropped.

Documents carry their own id (the event id, the customer id), so indexing again after a crash replaces
rather than duplicates. Whole requests that fail for a transient reason (connection, 429, 5xx) and
documents rejected with 429 or 5xx are retried with exponential backoff; documents rejected for good
(e.g. a value that does not fit the mapping) are appended with the reason to a JSON-lines failure file.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from elasticsearch import ApiError, Elasticsearch, TransportError

from cba.dashboards import EVENTS_INDEX, SCORES_INDEX, install_templates

__all__ = [
    "SCORE_COLUMNS",
    "BulkError",
    "BulkReport",
    "ElasticsearchSink",
    "FailureLog",
    "bulk_index",
    "index_scores",
]

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
SCORE_COLUMNS = ("customer_id", "churn_probability", "risk_segment", "value")
"""Columns of ``datasets/scores/churn_scores.parquet`` that are indexed."""
VALUE_COLUMNS = ("clv", "probability_alive")
"""Columns the churn scores carry where the clv stage valued the customers; indexed when present."""


class BulkError(RuntimeError):
    """The cluster could not be reached (or kept failing) after every retry; nothing was acknowledged."""


@dataclass
class BulkReport:
    """Documents indexed and documents rejected (kept in the failure file)."""

    indexed: int = 0
    failed: int = 0


class FailureLog:
    """Rejected documents, one JSON object per line: index, id, status, error type, reason, document."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def add(self, failures: Sequence[dict[str, Any]]) -> None:
        """Append ``failures`` and flush them to disk."""
        if not failures:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as handle:
            handle.writelines(json.dumps(failure, default=str) + "\n" for failure in failures)
            handle.flush()
            os.fsync(handle.fileno())

    def read(self) -> list[dict[str, Any]]:
        """Every failure kept so far."""
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]


def bulk_index(
    client: Elasticsearch,
    index: str,
    documents: Iterable[tuple[str, dict[str, Any]]],
    failures: FailureLog,
    max_retries: int = 5,
    backoff_seconds: float = 0.5,
    chunk_size: int = 2000,
) -> BulkReport:
    """Index ``(id, document)`` pairs into ``index``; rejected documents go to ``failures``.

    Raises :class:`BulkError` when a request still fails after ``max_retries`` retries (connection
    errors, HTTP 429 or 5xx for the whole request); other HTTP errors are raised as they come.
    """
    report = BulkReport()
    chunk: list[tuple[str, dict[str, Any]]] = []
    for item in documents:
        chunk.append(item)
        if len(chunk) == chunk_size:
            _index_chunk(client, index, chunk, failures, report, max_retries, backoff_seconds)
            chunk = []
    if chunk:
        _index_chunk(client, index, chunk, failures, report, max_retries, backoff_seconds)
    return report


def _index_chunk(
    client: Elasticsearch,
    index: str,
    pending: list[tuple[str, dict[str, Any]]],
    failures: FailureLog,
    report: BulkReport,
    max_retries: int,
    backoff_seconds: float,
) -> None:
    rejected: list[dict[str, Any]] = []
    for attempt in range(max_retries + 1):
        operations: list[dict[str, Any]] = []
        for doc_id, document in pending:
            operations += [{"index": {"_index": index, "_id": doc_id}}, document]
        try:
            response = client.bulk(operations=operations)
        except (TransportError, ApiError) as err:
            status = getattr(err, "status_code", None)
            if isinstance(err, ApiError) and status not in RETRYABLE_STATUS:
                raise
            if attempt == max_retries:
                raise BulkError(f"bulk request to {index} failed {max_retries + 1} times: {err}") from err
            time.sleep(backoff_seconds * 2**attempt)
            continue
        retry = []
        for (doc_id, document), item in zip(pending, response["items"], strict=True):
            result = next(iter(item.values()))
            status = result["status"]
            if status < 300:
                report.indexed += 1
            elif status in RETRYABLE_STATUS and attempt < max_retries:
                retry.append((doc_id, document))
            else:
                error = result.get("error", {})
                rejected.append(
                    {
                        "index": index,
                        "id": doc_id,
                        "status": status,
                        "error_type": error.get("type") if isinstance(error, dict) else None,
                        "reason": error.get("reason") if isinstance(error, dict) else str(error),
                        "attempts": attempt + 1,
                        "document": document,
                    }
                )
        if not retry:
            break
        pending = retry
        time.sleep(backoff_seconds * 2**attempt)
    failures.add(rejected)
    report.failed += len(rejected)


class ElasticsearchSink:
    """Indexes events into ``index`` (event id as document id); rejected ones are kept in ``failures``."""

    def __init__(
        self, client: Elasticsearch, index: str = EVENTS_INDEX, failures: str | Path = "es-failures.jsonl"
    ):
        self.client = client
        self.index = index
        self.failures = FailureLog(failures)
        self.report = BulkReport()
        install_templates(client, (EVENTS_INDEX,))

    def write(self, events: pa.Table | list[dict[str, Any]]) -> int:
        """Index the events; return how many the cluster accepted (the rest are in the failure file)."""
        if isinstance(events, pa.Table):
            events = events.to_pylist()
        report = bulk_index(self.client, self.index, ((str(e["event_id"]), e) for e in events), self.failures)
        self.report.indexed += report.indexed
        self.report.failed += report.failed
        return report.indexed

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()


def index_scores(
    client: Elasticsearch,
    scores: pd.DataFrame,
    failures: FailureLog,
    index: str = SCORES_INDEX,
    next_purchase: pd.DataFrame | None = None,
) -> BulkReport:
    """Index churn scores, one document per customer (id = customer id), with revenue at risk.

    ``scores`` has the columns of :data:`SCORE_COLUMNS`, and :data:`VALUE_COLUMNS` where customers were
    valued; ``next_purchase`` (``customer_id``, ``next_purchase_probability``) adds each customer's
    next-purchase probability. ``revenue_at_risk`` is churn probability times CLV where there is one,
    else times value; ``revenue_at_risk_to_date`` is always churn probability times value. Raises
    ValueError naming a missing column.
    """
    missing = [c for c in SCORE_COLUMNS if c not in scores.columns]
    if missing:
        raise ValueError(f"churn scores lack column {missing[0]!r}; expected {list(SCORE_COLUMNS)}")
    install_templates(client, (SCORES_INDEX,))
    frame = scores[[*SCORE_COLUMNS, *(c for c in VALUE_COLUMNS if c in scores.columns)]].copy()
    frame["revenue_at_risk_to_date"] = frame["churn_probability"] * frame["value"]
    frame["revenue_at_risk"] = (
        frame["churn_probability"] * frame["clv"] if "clv" in frame else frame["revenue_at_risk_to_date"]
    )
    if next_purchase is not None and not next_purchase.empty:
        probability = next_purchase.set_index("customer_id")["next_purchase_probability"]
        frame["next_purchase_probability"] = frame["customer_id"].map(probability)
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    documents = ((_document_id(record["customer_id"]), _plain(record)) for record in records)
    return bulk_index(client, index, documents, failures)


def _document_id(customer_id: Any) -> str:
    """A customer id as a document id: whole numbers without a decimal point, text as it is."""
    return str(customer_id) if isinstance(customer_id, str) else str(int(customer_id))


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    """NumPy scalars as plain Python values, for JSON."""
    return {key: value.item() if hasattr(value, "item") else value for key, value in record.items()}
