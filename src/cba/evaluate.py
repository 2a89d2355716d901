"""Classification metrics and curve data for churn models."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics

__all__ = ["best_f1_threshold", "classification_metrics", "pr_curve", "roc_curve"]


def classification_metrics(y_true: np.ndarray, probability: np.ndarray, threshold: float) -> dict[str, float]:
    """ROC-AUC, PR-AUC, Brier score, and precision, recall and F1 at ``threshold``."""
    predicted = probability >= threshold
    return {
        "roc_auc": float(metrics.roc_auc_score(y_true, probability)),
        "pr_auc": float(metrics.average_precision_score(y_true, probability)),
        "precision": float(metrics.precision_score(y_true, predicted, zero_division=0)),
        "recall": float(metrics.recall_score(y_true, predicted, zero_division=0)),
        "f1": float(metrics.f1_score(y_true, predicted, zero_division=0)),
        "brier": float(metrics.brier_score_loss(y_true, probability)),
    }


def best_f1_threshold(y_true: np.ndarray, probability: np.ndarray) -> float:
    """The probability threshold with the highest F1 score."""
    precision, recall, thresholds = metrics.precision_recall_curve(y_true, probability)
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    return float(thresholds[int(np.argmax(f1))])


def roc_curve(y_true: np.ndarray, probability: np.ndarray, points: int = 101) -> pd.DataFrame:
    """False- and true-positive rates on an even grid of false-positive rates (small, diffable)."""
    fpr, tpr, _ = metrics.roc_curve(y_true, probability)
    grid = np.linspace(0.0, 1.0, points)
    return pd.DataFrame({"fpr": grid, "tpr": np.interp(grid, fpr, tpr)}).round(4)


def pr_curve(y_true: np.ndarray, probability: np.ndarray, points: int = 101) -> pd.DataFrame:
    """Precision on an even grid of recall values (the upper envelope, as average precision sees it)."""
    precision, recall, _ = metrics.precision_recall_curve(y_true, probability)
    grid = np.linspace(0.0, 1.0, points)
    envelope = np.maximum.accumulate(precision[::-1])[::-1]  # best precision at recall >= r
    at_grid = np.interp(grid, recall[::-1], envelope[::-1])
    return pd.DataFrame({"recall": grid, "precision": at_grid}).round(4)
