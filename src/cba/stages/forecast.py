"""The forecast stage: daily revenue and orders, models chosen on rolling-origin windows, then the outlook."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from cba import forecast
from cba.config import Params, Paths
from cba.stages.outputs import write_metrics, write_plot
from cba.stages.purchases import read_transactions, skipped_reason

__all__ = ["ForecastResult", "run"]

HISTORY_SHOWN_DAYS = 180
"""Days of history written beside the final forecast in ``plots/forecast.csv``."""
PLOTS = {
    "forecast": ("series", "ds", "actual", "model", "forecast", "lo_80", "hi_80", "lo_95", "hi_95"),
    "forecast_error_by_days_ahead": ("series", "model", "days_ahead", "mae", "rmse"),
}


@dataclass(frozen=True)
class ForecastResult:
    """The daily series, the cross-validated errors, the chosen models and the final forecast."""

    metrics: dict[str, Any]
    series: pd.DataFrame
    errors: pd.DataFrame
    chosen: dict[str, str]
    by_days_ahead: pd.DataFrame
    outlook: pd.DataFrame

    @property
    def skipped(self) -> str | None:
        """Why the stage did not run, or ``None``."""
        return self.metrics.get("skipped")


def run(params: Params, paths: Paths) -> ForecastResult:
    """Write ``metrics/forecast.json`` and ``plots/forecast*.csv``."""
    reason = skipped_reason(params, paths)
    if reason is not None:
        empty = {name: pd.DataFrame(columns=list(columns)) for name, columns in PLOTS.items()}
        for name, frame in empty.items():
            write_plot(paths, name, frame)
        metrics = {"skipped": reason}
        write_metrics(paths, "forecast", metrics)
        return ForecastResult(metrics, pd.DataFrame(), pd.DataFrame(), {}, pd.DataFrame(), pd.DataFrame())
    settings = params.forecast
    series = forecast.daily_series(read_transactions(paths))
    cv = forecast.cross_validate(series, settings.horizon_days, settings.windows, settings.season_lengths)
    errors = forecast.forecast_metrics(cv)
    chosen = forecast.choose_models(errors)
    by_days_ahead = forecast.error_by_days_ahead(cv)
    outlook = forecast.final_forecast(series, chosen, settings.final_horizon_days, settings.season_lengths)
    metrics = {
        **forecast.metrics_summary(errors, chosen, settings.horizon_days, settings.windows),
        "validation": "rolling origin",
        "history_days": int(series.groupby("unique_id").size().min()),
        "outlook": forecast.outlook_summary(outlook),
    }
    write_metrics(paths, "forecast", metrics)
    write_plot(paths, "forecast", forecast.history_and_outlook(series, outlook, HISTORY_SHOWN_DAYS))
    write_plot(paths, "forecast_error_by_days_ahead", by_days_ahead)
    return ForecastResult(metrics, series, errors, chosen, by_days_ahead, outlook)
