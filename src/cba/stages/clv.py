"""The clv stage: BG/NBD validated on a holdout of time, then every customer's lifetime value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from cba import clv
from cba.config import Params, Paths
from cba.stages.outputs import write_metrics, write_plot
from cba.stages.purchases import data_end, read_transactions, skipped_reason

__all__ = ["ClvResult", "run"]

VALUE_COLUMNS = (
    "customer_id",
    *clv.RFM_COLUMNS,
    "expected_purchases",
    "probability_alive",
    "expected_spend",
    "clv",
)
PLOTS = {
    "clv_calibration_purchases": ("calibration_purchases", "customers", "actual", "bg_nbd", "naive"),
    "clv_probability_alive": ("probability_alive", "customers"),
}


@dataclass(frozen=True)
class ClvResult:
    """``metrics/clv.json``, the holdout check by calibration purchases, and every customer's value.

    ``skipped`` names why the source cannot be valued (then the tables are empty).
    """

    metrics: dict[str, Any]
    calibration: pd.DataFrame
    values: pd.DataFrame

    @property
    def skipped(self) -> str | None:
        """Why the stage did not run, or ``None``."""
        return self.metrics.get("skipped")


def run(params: Params, paths: Paths) -> ClvResult:
    """Write ``metrics/clv.json``, ``plots/clv_*.csv`` and ``datasets/scores/clv.parquet``."""
    reason = skipped_reason(params, paths)
    if reason is not None:
        empty = {name: pd.DataFrame(columns=list(columns)) for name, columns in PLOTS.items()}
        result = ClvResult({"skipped": reason}, empty["clv_calibration_purchases"], _values(pd.DataFrame()))
        _write(paths, result, empty["clv_probability_alive"])
        return result
    settings = params.clv
    transactions = read_transactions(paths)
    calibration, calibration_end = clv.calibration_holdout(transactions, settings.holdout_days)
    holdout_fit = clv.fit_beta_geo(calibration, params.seed)
    validation = clv.holdout_validation(calibration, holdout_fit, settings.holdout_days)
    by_purchases = clv.calibration_purchases(calibration, holdout_fit, settings.holdout_days)

    summary = clv.rfm_summary(transactions, data_end(paths))
    beta_geo = clv.fit_beta_geo(summary, params.seed)
    gamma_gamma = clv.fit_gamma_gamma(summary, params.seed)
    values = clv.customer_value(beta_geo, gamma_gamma, summary, settings.months, settings.discount_rate)
    metrics = {
        "validation": "time split",
        "calibration_end": f"{calibration_end:%Y-%m-%d}",
        "holdout": validation,
        "value": clv.value_summary(beta_geo, gamma_gamma, values, settings.months),
        "discount_rate": settings.discount_rate,
    }
    result = ClvResult(metrics, by_purchases, _values(values))
    _write(paths, result, clv.probability_alive_table(values))
    return result


def _values(values: pd.DataFrame) -> pd.DataFrame:
    """The value table with its columns in order (empty with the same columns when nothing was valued)."""
    if values.empty:
        return pd.DataFrame({column: pd.Series(dtype="float64") for column in VALUE_COLUMNS})
    return values[list(VALUE_COLUMNS)].round(6)


def _write(paths: Paths, result: ClvResult, probability_alive: pd.DataFrame) -> None:
    write_metrics(paths, "clv", result.metrics)
    write_plot(paths, "clv_calibration_purchases", result.calibration)
    write_plot(paths, "clv_probability_alive", probability_alive)
    paths.scores.mkdir(parents=True, exist_ok=True)
    result.values.to_parquet(paths.scores / "clv.parquet", index=False)
