"""The features stage: one labelled row per customer and cutoff, and the current customers to score."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from cba import engine, features
from cba.config import Params, Paths
from cba.stages.outputs import write_metrics

__all__ = ["FeaturesResult", "run"]


@dataclass(frozen=True)
class FeaturesResult:
    """The labelled table, the customers to score, ``metrics/features.json`` and what the label means."""

    table: pd.DataFrame
    current: pd.DataFrame
    summary: dict
    label: str
    has_events: bool

    @property
    def by_cutoff(self) -> pd.DataFrame | None:
        """Customers and churn rate per cutoff (``None`` for a snapshot, which has one label)."""
        return features.cutoff_summary(self.table) if self.has_events else None

    @property
    def rfm_segments(self) -> pd.DataFrame | None:
        """RFM segments at the evaluation cutoff (``None`` for a snapshot, which has no purchases)."""
        if not self.has_events:
            return None
        return features.rfm_segments(self.table[self.table["cutoff"] == self.table["cutoff"].max()])


def run(params: Params, paths: Paths) -> FeaturesResult:
    """Write ``datasets/features/customers.parquet``, ``current.parquet`` and ``metrics/features.json``."""
    customers = pd.read_parquet(paths.processed / "customers.parquet")
    has_events = (paths.processed / "events.parquet").exists()
    churn = params.churn
    if has_events:
        con = engine.connect(engine=params.engine)
        events = engine.read_parquet(con, paths.processed / "events.parquet")
        signups = engine.read_parquet(con, paths.processed / "customers.parquet")
        cutoffs = features.label_cutoffs(events, churn.horizon_days, churn.cutoff, churn.training_cutoffs)
        affinity = features.fit_product_affinity(
            features.product_interactions(events, cutoffs[0]).to_pandas(),
            params.features.affinity_dimensions,
            params.seed,
        )
        labelled = features.labelled_features(events, cutoffs, churn.horizon_days, affinity, signups)
        table = features.with_profile(labelled, customers)
        current = features.with_profile(features.current_features(events, affinity, signups), customers)
        label = f"no purchase in the {churn.horizon_days} days after the evaluation cutoff"
    else:
        table = features.from_snapshot(customers)
        current = table.drop(columns="churn")
        label = "the dataset's own churn flag"
    paths.features.parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(paths.features, index=False)
    current.to_parquet(paths.current_features, index=False)
    summary = features.features_metrics(table, current, churn.horizon_days if has_events else None)
    write_metrics(paths, "features", summary)
    return FeaturesResult(table, current, summary, label, has_events)
