"""The churn models' test figures over repeated grouped cross-validation: how much they move with the split.

One split's test customers are a sample. On a small table (the Kaggle file's 5,630 customers) another
split of the same customers can move the test ROC-AUC by several points.
Each repetition cuts the customers into ``1 / churn.test_size`` grouped folds with its own seed and holds
out each fold in turn, so every customer is tested once per repetition. Each held-out fold is made,
searched, calibrated and chosen exactly as in the churn stage (:func:`cba.churn.train_and_evaluate`):
customers and near-duplicate groups never on both sides. The first repetition's first fold is the churn
stage's own split; the figures of the others are for reading the spread only, never for choosing a model
or a setting.
"""

from __future__ import annotations

import pandas as pd

from cba import churn, evaluate
from cba.config import ChurnParams

__all__ = ["FIGURES", "churn_over_splits", "spread"]

FIGURES = ("roc_auc", "pr_auc", "ece", "ece_chance_mean", "ece_chance_95", "cv_roc_auc")


def churn_over_splits(features: pd.DataFrame, params: ChurnParams, seed: int, repeats: int) -> pd.DataFrame:
    """One row per held-out fold of each repetition: the chosen model and its test figures.

    Repetition ``r`` cuts its folds with the seed ``seed + r``.

    ``ece_chance_mean`` and ``ece_chance_95`` are the mean and 95th percentile of the calibration error a
    perfectly calibrated model would show on the same test customers (:func:`cba.evaluate.ece_by_chance`).
    """
    rows = []
    for split_seed in range(seed, seed + repeats):
        for fold in range(churn.fold_count(params.test_size)):
            result = churn.train_and_evaluate(features, params, split_seed, fold=fold)
            best = result.best_model
            scores = result.metrics[best]
            chance_mean, chance_95 = evaluate.ece_by_chance(result.test_probability[best], split_seed)
            rows.append(
                {
                    "seed": split_seed,
                    "fold": fold,
                    "best_model": best,
                    "test_rows": len(result.split.test),
                    **{figure: scores[figure] for figure in ("roc_auc", "pr_auc", "ece", "cv_roc_auc")},
                    "ece_chance_mean": chance_mean,
                    "ece_chance_95": chance_95,
                }
            )
    return pd.DataFrame(rows)[["seed", "fold", "best_model", "test_rows", *FIGURES]]


def spread(table: pd.DataFrame) -> pd.DataFrame:
    """The mean, lowest and highest of each figure of :func:`churn_over_splits` over the held-out folds."""
    return table[list(FIGURES)].agg(["mean", "min", "max"])
