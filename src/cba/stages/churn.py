"""The churn stage: train and choose the model, score today's customers, write model, scores and curves."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from cba import churn, evaluate, features, retention, sources
from cba.config import Params, Paths
from cba.generate.truth import no_purchase_probability
from cba.stages.outputs import write_metrics, write_plot

__all__ = ["ChurnStageResult", "oracle_roc_auc", "run"]

ORACLE_KEY = "oracle_roc_auc"
ORACLE_ROW = "oracle (the generator's true probability)"


@dataclass(frozen=True)
class ChurnStageResult:
    """The fitted models and ``metrics/churn.json``, the test curves, the drivers and today's segments."""

    result: churn.ChurnResult
    metrics: dict[str, Any]
    curves: dict[str, pd.DataFrame]
    drivers: pd.DataFrame
    scores: pd.DataFrame
    segments: pd.DataFrame
    train_churn_rate: float

    @property
    def model_table(self) -> pd.DataFrame:
        """Every model's test scores, threshold and cross-validated ROC-AUC, one row each.

        On synthetic data a last row gives the oracle's ROC-AUC on the same test customers.
        """
        table = pd.DataFrame(self.metrics["models"]).T.drop(columns="settings")
        if ORACLE_KEY in self.metrics:
            table.loc[ORACLE_ROW, "roc_auc"] = self.metrics[ORACLE_KEY]
        return table

    @property
    def validation_sentence(self) -> str:
        """How the test customers were chosen."""
        return f"Validation: {self.result.split.validation}, {self.result.split.detail}."


def run(params: Params, paths: Paths) -> ChurnStageResult:
    """Write ``models/churn.joblib``, the churn scores, ``metrics/churn.json`` and ``plots/churn_*.csv``."""
    table = pd.read_parquet(paths.features)
    current_path = paths.current_features
    current = pd.read_parquet(current_path) if current_path.exists() else table.drop(columns=["churn"])
    result = churn.train_and_evaluate(table, params.churn, params.seed)
    probability = result.test_probability[result.best_model]
    ranking = result.test_ranking[result.best_model]
    drivers = churn.top_drivers(result, params.seed)

    value, value_basis = retention.value_of(current)
    value_cut = retention.value_cut(value, params.churn.business.high_value_quantile)
    model_file = churn.artifact(result, value_cut, _plain(params))
    scores = churn.predict(model_file, current, str(current_path))
    scores, value_basis = _with_lifetime_value(scores, paths, params, value_basis)
    segment_drivers = churn.segment_drivers(
        model_file["model"], current[result.features], scores["risk_segment"].to_numpy(), params.seed
    )
    segments = retention.segment_table(scores, segment_drivers)
    metrics = churn.summary(result, params.churn, params.seed, drivers, scores, segments, value_basis)
    lapsed = pd.read_parquet(paths.lapsed_features)
    metrics["population"] = features.population(table, lapsed, params.churn.active_window_days)
    truth = paths.root / params.data.path / "truth.parquet"
    if params.data.source == "synthetic" and truth.exists():
        metrics[ORACLE_KEY] = round(oracle_roc_auc(table, result, truth, params.churn.horizon_days), 4)
    model_file["metrics"] = {k: v for k, v in metrics.items() if k not in ("models", "risk_segments")}

    y_test = result.y_test
    curves = {
        "churn_roc": evaluate.roc_curve(y_test, ranking),
        "churn_pr": evaluate.pr_curve(y_test, ranking),
        "churn_calibration": evaluate.calibration_table(y_test, probability),
        "churn_profit": evaluate.profit_curve(y_test, ranking, params.churn.business),
        "churn_gains": evaluate.gains_table(y_test, ranking),
    }
    write_metrics(paths, "churn", metrics)
    for name, frame in curves.items():
        write_plot(paths, name, frame)
    paths.models.mkdir(exist_ok=True)
    joblib.dump(model_file, paths.models / "churn.joblib")
    paths.scores.mkdir(parents=True, exist_ok=True)
    scores = sources.with_original_ids(scores, paths.landed)
    scores.to_parquet(paths.scores / "churn_scores.parquet", index=False)
    train_churn_rate = float(table["churn"].iloc[result.split.train].mean())
    return ChurnStageResult(result, metrics, curves, drivers, scores, segments, train_churn_rate)


def _with_lifetime_value(
    scores: pd.DataFrame, paths: Paths, params: Params, value_basis: str
) -> tuple[pd.DataFrame, str]:
    """The scores with each customer's ``clv`` and ``probability_alive`` where the clv stage valued them.

    Revenue at risk then weighs the expected future value; a customer without a purchase holds none. The
    scores stay as they are when there is no purchase log (the clv stage wrote no customers).
    """
    values = pd.read_parquet(paths.scores / "clv.parquet")
    if values.empty:
        return scores, value_basis
    by_customer = values.set_index("customer_id")
    scores = scores.assign(
        clv=scores["customer_id"].map(by_customer["clv"]).fillna(0.0),
        probability_alive=scores["customer_id"].map(by_customer["probability_alive"]),
    )
    return scores, f"expected value of the next {params.clv.months} months (CLV)"


def oracle_roc_auc(table: pd.DataFrame, result: churn.ChurnResult, truth: Path, horizon_days: int) -> float:
    """ROC-AUC of the generator's true no-purchase probability on the test customers at their cutoff."""
    test = table.iloc[result.split.test]
    cutoff = pd.Timestamp(test[churn.CUTOFF].max()).to_pydatetime()
    probability = no_purchase_probability(pd.read_parquet(truth), cutoff, horizon_days)
    return float(roc_auc_score(result.y_test, probability.reindex(test["customer_id"]).to_numpy(np.float64)))


def _plain(params: Params) -> dict[str, Any]:
    """The params as the plain mapping of ``params.yaml`` (dates as text), kept with the model."""
    return params.model_dump(mode="json")
