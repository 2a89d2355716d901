"""The forecast stage: daily revenue and orders, models chosen and tested on rolling-origin windows."""

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
    """The daily series, the errors on the choosing and test windows, the chosen models and the outlook.

    ``choosing_errors`` holds every model's errors on the windows the models were chosen on;
    ``test_errors`` the chosen model's errors on the test windows after them.
    """

    metrics: dict[str, Any]
    series: pd.DataFrame
    choosing_errors: pd.DataFrame
    test_errors: pd.DataFrame
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
        nothing = pd.DataFrame()
        return ForecastResult(metrics, nothing, nothing, nothing, {}, nothing, nothing)
    settings = params.forecast
    series = forecast.daily_series(read_transactions(paths))
    cv = forecast.cross_validate(series, settings.horizon_days, settings.windows, settings.season_lengths)
    tested = forecast.choose_and_test(cv, settings.test_windows)
    by_days_ahead = forecast.error_by_days_ahead(cv)
    outlook = forecast.final_forecast(
        series, tested.chosen, settings.final_horizon_days, settings.season_lengths
    )
    metrics = {
        "validation": "rolling origin",
        **forecast.horizon_summary(
            settings.horizon_days, settings.windows, settings.test_windows, settings.final_horizon_days
        ),
        "history_days": int(series.groupby("unique_id").size().min()),
        **forecast.metrics_summary(tested.choosing_errors, tested.test_errors, tested.chosen),
        "outlook": forecast.outlook_summary(outlook),
    }
    write_metrics(paths, "forecast", metrics)
    write_plot(paths, "forecast", forecast.history_and_outlook(series, outlook, HISTORY_SHOWN_DAYS))
    write_plot(paths, "forecast_error_by_days_ahead", by_days_ahead)
    return ForecastResult(
        metrics, series, tested.choosing_errors, tested.test_errors, tested.chosen, by_days_ahead, outlook
    )
