"""The next_purchase stage: who buys within the window after a cutoff, validated as churn is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import joblib
import numpy as np
import pandas as pd

from cba import churn, evaluate, next_purchase
from cba.config import Params, Paths
from cba.stages.outputs import write_metrics, write_plot
from cba.stages.purchases import read_transactions, skipped_reason

__all__ = ["NextPurchaseResult", "run"]

CURVES = {
    "next_purchase_roc": ("model", "fpr", "tpr"),
    "next_purchase_calibration": ("model", "predicted", "observed", "customers"),
}


@dataclass(frozen=True)
class NextPurchaseResult:
    """``metrics/next_purchase.json``, the test curves of the model and the baseline, today's scores."""

    metrics: dict[str, Any]
    curves: dict[str, pd.DataFrame]
    scores: pd.DataFrame

    @property
    def skipped(self) -> str | None:
        """Why the stage did not run, or ``None``."""
        return self.metrics.get("skipped")


def run(params: Params, paths: Paths) -> NextPurchaseResult:
    """Write the model, the scores, ``metrics/next_purchase.json`` and ``plots/next_purchase_*.csv``."""
    reason = skipped_reason(params, paths)
    if reason is not None:
        curves = {name: pd.DataFrame(columns=list(columns)) for name, columns in CURVES.items()}
        scores = pd.DataFrame(columns=["customer_id", "next_purchase_probability"])
        result = NextPurchaseResult({"skipped": reason}, curves, scores)
        _write(paths, result, {"skipped": reason})
        return result
    window_days = params.next_purchase.window_days
    if window_days > params.churn.horizon_days:
        raise ValueError(
            f"next_purchase.window_days {window_days} is longer than churn.horizon_days "
            f"{params.churn.horizon_days}: the window after the latest cutoff would run past the data; "
            "shorten the window"
        )
    features = pd.read_parquet(paths.features)
    transactions = read_transactions(paths)
    labels = next_purchase.purchase_labels(features, transactions, window_days)
    table = features.drop(columns=[churn.LABEL]).assign(**{next_purchase.LABEL: labels})
    result = churn.train_and_evaluate(table, params.churn, params.seed, label=next_purchase.LABEL)
    best = result.best_model
    test_cutoff = table[churn.CUTOFF].iloc[result.split.test].max()
    test_customers = table["customer_id"].iloc[result.split.test]
    probabilities = {
        best: result.test_probability[best],
        next_purchase.BASELINE: next_purchase.bg_nbd_baseline(
            transactions, test_customers, test_cutoff, window_days, params.seed
        ),
    }
    evaluation = next_purchase.evaluation(
        result.y_test, probabilities, params.seed, groups=result.test_groups
    )
    metrics = {
        "window_days": window_days,
        "validation": result.split.validation,
        "validation_detail": result.split.detail,
        "test_cutoff": f"{pd.Timestamp(test_cutoff):%Y-%m-%d}",
        "n_train": len(result.split.train),
        "train_buy_rate": round(float(labels.iloc[result.split.train].mean()), 4),
        "best_model": best,
        **evaluation,
        "models": {
            name: {key: round(float(values[key]), 4) for key in ("roc_auc", "pr_auc", "brier", "cv_roc_auc")}
            for name, values in result.metrics.items()
        },
    }
    curves = {
        "next_purchase_roc": _per_model(evaluate.roc_curve, result.y_test, probabilities),
        "next_purchase_calibration": _per_model(evaluate.calibration_table, result.y_test, probabilities),
    }
    current = pd.read_parquet(paths.current_features)
    model_file = {
        "model": result.models[best],
        "name": best,
        "features": result.features,
        "window_days": window_days,
        "validation": result.split.validation,
        "metrics": {k: v for k, v in metrics.items() if k != "models"},
        "training_data_sha256": result.training_sha256,
    }
    scores = next_purchase.predict(model_file, current, str(paths.current_features))
    output = NextPurchaseResult(metrics, curves, scores)
    _write(paths, output, model_file)
    return output


def _per_model(curve, y_true: np.ndarray, probabilities: dict[str, np.ndarray]) -> pd.DataFrame:
    """One curve per named probability, stacked with a ``model`` column first."""
    frames = [curve(y_true, probability).assign(model=name) for name, probability in probabilities.items()]
    stacked = pd.concat(frames, ignore_index=True)
    return stacked[["model", *[c for c in stacked.columns if c != "model"]]]


def _write(paths: Paths, result: NextPurchaseResult, model_file: dict[str, Any]) -> None:
    write_metrics(paths, "next_purchase", result.metrics)
    for name, frame in result.curves.items():
        write_plot(paths, name, frame)
    paths.models.mkdir(exist_ok=True)
    joblib.dump(model_file, paths.models / "next_purchase.joblib")
    paths.scores.mkdir(parents=True, exist_ok=True)
    result.scores.to_parquet(paths.scores / "next_purchase.parquet", index=False)
