"""The survival stage: lifetimes, Kaplan-Meier curves and log-rank tests, a Cox model, times to churn."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from cba import cox, engine, sources, survival
from cba.config import Params, Paths
from cba.stages.outputs import write_metrics, write_plot

__all__ = ["SurvivalResult", "run"]


@dataclass(frozen=True)
class SurvivalResult:
    """Curves per segment, the tests, the Cox analysis (``None`` without attributes), the times to churn."""

    lives: pd.DataFrame
    unit: str
    segment: str | None
    curves: pd.DataFrame
    summary: dict
    other_curves: dict[str, pd.DataFrame]
    logrank: pd.DataFrame
    cox: cox.CoxAnalysis | None
    times: pd.DataFrame
    metrics: dict

    @property
    def has_attributes(self) -> bool:
        """Whether the customers carry attributes to compare (an own event log carries none)."""
        return self.segment is not None


def run(params: Params, paths: Paths) -> SurvivalResult:
    """Write ``plots/survival_*.csv``, ``metrics/survival.json`` and the predicted times to churn."""
    settings = params.survival
    customers = pd.read_parquet(paths.processed / "customers.parquet")
    if (paths.processed / "events.parquet").exists():
        events = engine.read_parquet(engine.connect(engine=params.engine), paths.processed / "events.parquet")
        lives = survival.lifetimes(events, customers, params.churn.horizon_days)
        unit, step, duration = "days", 30, "days from signup to the last activity"
    else:
        lives = survival.lifetimes_from_tenure(customers)
        unit, step, duration = "months", 1, "months of tenure"
    has_attributes = params.data.source != "events"  # an own event log carries no customer attributes
    segment = settings.segment if has_attributes else None
    other_segments = settings.other_segments if has_attributes else []
    if has_attributes:
        survival.require_attributes(lives, [segment], "survival.segment")
        survival.require_attributes(lives, other_segments, "survival.other_segments")
        survival.require_attributes(lives, settings.covariates, "survival.covariates")
    curves, summary = survival.kaplan_meier(lives, step, segment)
    write_plot(paths, "survival_km", curves)
    other_curves = {other: survival.kaplan_meier(lives, step, other)[0] for other in other_segments}
    logrank = survival.logrank_tests(lives, [segment, *other_segments] if has_attributes else [])
    cox_analysis = (
        cox.analyse_cox(
            lives,
            settings.covariates,
            settings.penalizer,
            settings.test_share,
            params.seed,
            settings.significance,
            settings.cox_max_rows,
        )
        if has_attributes
        else None
    )
    write_plot(
        paths,
        "survival_hazard_ratios",
        cox.hazard_ratio_plot(cox_analysis.hazard_ratios if cox_analysis is not None else None),
    )
    times = survival.survival_times(lives, cox_analysis.model if cox_analysis is not None else None)
    paths.scores.mkdir(parents=True, exist_ok=True)
    sources.with_original_ids(times, paths.landed).to_parquet(
        paths.scores / "survival_times.parquet", index=False
    )
    metrics = survival.survival_metrics(duration, segment, summary, logrank, cox_analysis, times)
    write_metrics(paths, "survival", metrics)
    return SurvivalResult(
        lives, unit, segment, curves, summary, other_curves, logrank, cox_analysis, times, metrics
    )
