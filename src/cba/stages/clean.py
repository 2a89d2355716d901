"""The clean stage: accept or reject every landed row with its rule, and derive customers when none came."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from cba import clean, engine, sources
from cba.config import NearDuplicateParams, Params, Paths
from cba.stages.outputs import write_metrics

__all__ = ["CleanResult", "run"]


@dataclass(frozen=True)
class CleanResult:
    """Rows in, out and rejected per table, the accepted customers, and the rejected ones when landed."""

    quality: dict[str, dict]
    customers: pd.DataFrame
    rejected_customers: pd.DataFrame | None

    @property
    def derived_customers(self) -> int | None:
        """Customers derived from the events when the source had no customers table, else ``None``."""
        return len(self.customers) if self.rejected_customers is None else None


def run(params: Params, paths: Paths) -> CleanResult:
    """Write ``datasets/processed``, ``datasets/interim/rejected`` and ``metrics/data_quality.json``."""
    con = engine.connect(params.data.timezone, params.engine)
    paths.processed.mkdir(parents=True, exist_ok=True)
    paths.rejected.mkdir(parents=True, exist_ok=True)
    quality = {}
    landed_customers = sources.read_landed(paths.landed, "customers")
    if (paths.landed / "events.parquet").exists():
        events = engine.read_parquet(con, paths.landed / "events.parquet")
        earliest, latest = params.event_window
        accepted, rejected = clean.clean_events(
            events,
            earliest,
            latest,
            params.data.session_timeout_minutes,
            ids_are_row_numbers=params.data.source == "events",
        )
        con.to_parquet(accepted, paths.processed / "events.parquet")
        con.to_parquet(rejected, paths.rejected / "events.parquet")
        rules = pd.read_parquet(paths.rejected / "events.parquet", columns=[clean.REJECTION_RULE])
        quality["events"] = clean.quality_summary(
            int(events.count().execute()), rules[clean.REJECTION_RULE], clean.EVENT_RULES
        )
        _name_a_narrow_window(quality["events"], earliest, latest)
        clean.require_accepted_rows("events", quality["events"])
    rejected_customers = None
    if landed_customers is not None:
        customers = landed_customers.to_pandas()
        linking = params.clean.near_duplicates
        accepted_customers, rejected_customers = clean.clean_customers(customers, linking)
        _name_split_twin_sets(accepted_customers, linking)
        rejected_customers.to_parquet(paths.rejected / "customers.parquet", index=False)
        quality["customers"] = clean.quality_summary(
            len(customers), rejected_customers[clean.REJECTION_RULE], clean.CUSTOMER_RULES
        )
        clean.require_accepted_rows("customers", quality["customers"])
    else:
        processed_events = engine.read_parquet(con, paths.processed / "events.parquet")
        accepted_customers = clean.customers_from_events(processed_events).to_pandas()
    accepted_customers.to_parquet(paths.processed / "customers.parquet", index=False)
    write_metrics(paths, "data_quality", quality)
    return CleanResult(quality, accepted_customers, rejected_customers)


def _name_split_twin_sets(customers: pd.DataFrame, linking: NearDuplicateParams) -> None:
    """Print one line when ``clean.near_duplicates.max_group_size`` split connected sets of twins."""
    split_sets = clean.split_twin_sets(
        customers,
        "customer_id",
        clean.profile_attributes(customers),
        linking.max_differences,
        linking.max_group_size,
    )
    sentence = clean.split_twin_sets_sentence(split_sets, linking)
    if sentence is not None:
        print(sentence)


def _name_a_narrow_window(events_quality: dict, earliest: dt.date | None, latest: dt.date | None) -> None:
    """Print one line when the event window rejects more than half of the events."""
    rules = events_quality["rules"]
    sentence = clean.window_sentence(
        rules["timestamp_before_start"],
        rules["timestamp_in_future"],
        events_quality["rows_in"],
        earliest,
        latest,
    )
    if sentence is not None:
        print(sentence)
