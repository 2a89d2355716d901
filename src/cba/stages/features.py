"""The features stage: one labelled row per customer and cutoff, and the current customers to score."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from cba import engine, features, survival
from cba.config import Params, Paths
from cba.stages.outputs import write_metrics

__all__ = ["FeaturesResult", "run"]


@dataclass(frozen=True)
class FeaturesResult:
    """The labelled table, the customers to score, the lapsed ones, ``metrics/features.json``, the label.

    ``table`` keeps the descriptive RFM scores (:data:`cba.features.MODEL_EXCLUDED`) that the written
    model input leaves out; ``lapsed`` holds the customers lapsed at each cutoff and today (``churn`` is
    blank today); ``definitions`` the three churn definitions side by side.
    """

    table: pd.DataFrame
    current: pd.DataFrame
    lapsed: pd.DataFrame
    summary: dict
    label: str
    has_events: bool
    definitions: pd.DataFrame
    snapshots: list[str]
    withheld: list[str]

    @property
    def win_back(self) -> pd.DataFrame:
        """Today's lapsed customers: no event in the active window before the last event."""
        if "cutoff" not in self.lapsed.columns or self.lapsed.empty:
            return self.lapsed
        return self.lapsed[self.lapsed["churn"].isna()].reset_index(drop=True)

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
    """Write the features, the customers to score, the lapsed ones and ``metrics/features.json``."""
    customers = pd.read_parquet(paths.processed / "customers.parquet")
    has_events = (paths.processed / "events.parquet").exists()
    churn = params.churn
    snapshots: list[str] = []
    withheld: list[str] = []
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
        snapshot_date = (
            features.last_event_time(events)
            if params.data.snapshot_date is None
            else dt.datetime.combine(params.data.snapshot_date, dt.time(), tzinfo=dt.UTC)
        )
        snapshots = features.snapshot_attributes(params.data.source, params.data.snapshot_attributes)
        withheld = features.withheld_attributes(snapshots, snapshot_date, cutoffs)
        labelled = features.labelled_features(events, cutoffs, churn.horizon_days, affinity, signups)
        labelled = features.with_profile(labelled, customers, withheld)
        today = features.with_profile(
            features.current_features(events, affinity, signups), customers, withheld
        )
        table, lapsed_labelled = features.split_population(labelled, churn.active_window_days)
        current, lapsed_today = features.split_population(today, churn.active_window_days)
        lapsed = pd.concat([lapsed_labelled, lapsed_today.assign(churn=pd.NA)], ignore_index=True)
        lapsed = lapsed.astype({"churn": "Int64"})
        counts = features.population(table, lapsed, churn.active_window_days)
        evaluation = table[table["cutoff"] == table["cutoff"].max()]
        lives = survival.lifetimes(events, customers, churn.horizon_days)
        source_flag = customers["Churn"] if "Churn" in customers.columns else None
        definitions = features.churn_definitions(source_flag, evaluation["churn"], lives["churned"])
        label = (
            f"no purchase in the {churn.horizon_days} days after the evaluation cutoff, among customers "
            f"active in the {churn.active_window_days} days before it"
        )
    else:
        table = features.from_snapshot(customers)
        current = table.drop(columns="churn")
        lapsed = table.iloc[:0]
        counts = None
        definitions = features.churn_definitions(customers["Churn"], None, None)
        label = "the dataset's own churn flag"
    paths.features.parent.mkdir(parents=True, exist_ok=True)
    features.model_features(table).to_parquet(paths.features, index=False)
    features.model_features(current).to_parquet(paths.current_features, index=False)
    lapsed.to_parquet(paths.lapsed_features, index=False)
    summary = features.features_metrics(table, current, churn.horizon_days if has_events else None)
    summary |= {
        "population": counts,
        "snapshot_attributes_withheld": withheld,
        "churn_definitions": {
            row.definition: {"customers": row.customers, "churn_rate": row.churn_rate}
            for row in definitions.itertuples()
        },
    }
    write_metrics(paths, "features", summary)
    return FeaturesResult(
        table, current, lapsed, summary, label, has_events, definitions, snapshots, withheld
    )
