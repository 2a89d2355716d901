"""The purchase log the lifetime-value, next-purchase and forecast stages model.

The transactions are the cleaned purchase events (``datasets/processed/events.parquet``, event type
``purchase``, revenue = price): deduplicated, on one clock and inside the data window by the clean stage,
the same purchases that define the churn label and the features, and present for every source with an
event log (the synthetic orders table exists only for the synthetic source). A source without events
(the Kaggle snapshot) has no purchase log: the stages write ``{"skipped": reason}`` instead.
"""

from __future__ import annotations

import pandas as pd

from cba import clv
from cba.config import Params, Paths

__all__ = ["data_end", "read_transactions", "skipped_reason"]


def skipped_reason(params: Params, paths: Paths) -> str | None:
    """Why a purchase-log stage cannot run on this source, or ``None`` when it can."""
    if (paths.processed / "events.parquet").exists():
        return None
    return (
        f"data.source {params.data.source} has no event log, so there are no purchases over time to model "
        "(one row per customer, no transactions)"
    )


def read_transactions(paths: Paths) -> pd.DataFrame:
    """``customer_id``, ``timestamp``, ``amount`` of every cleaned purchase event."""
    events = pd.read_parquet(
        paths.processed / "events.parquet",
        columns=["customer_id", "timestamp", "event_type", "price"],
        filters=[("event_type", "==", "purchase")],
    )
    return clv.transactions_from_events(events)


def data_end(paths: Paths) -> pd.Timestamp:
    """The last event's timestamp: the end of the observation of every customer."""
    stamps = pd.read_parquet(paths.processed / "events.parquet", columns=["timestamp"])["timestamp"]
    return pd.Timestamp(stamps.max())
