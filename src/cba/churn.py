"""Churn models: a logistic-regression baseline and a boosted model, scored on held-out customers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from xgboost import XGBClassifier

from cba import evaluate
from cba.config import ChurnParams

__all__ = [
    "GROUP",
    "LABEL",
    "MODELS",
    "ChurnResult",
    "build_model",
    "customer_groups",
    "feature_columns",
    "top_drivers",
    "train_and_evaluate",
]

LABEL = "churn"
GROUP = "duplicate_group"
"""Near-duplicate customers share a group; a group never straddles training and test customers."""
MODELS = ("logistic_regression", "xgboost")


@dataclass(frozen=True)
class ChurnResult:
    """Fitted models, their test metrics, and the test-set predictions of each."""

    models: dict[str, Pipeline]
    metrics: dict[str, dict[str, float]]
    thresholds: dict[str, float]
    best_model: str
    features: list[str]
    x_test: pd.DataFrame
    y_test: np.ndarray
    test_probability: dict[str, np.ndarray]
    n_train: int


def feature_columns(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Numeric and categorical feature columns: everything but the id, the label and the duplicate group."""
    candidates = frame.drop(columns=[c for c in ("customer_id", LABEL, GROUP) if c in frame.columns])
    numeric = candidates.select_dtypes("number").columns.tolist()
    categorical = [c for c in candidates.columns if c not in numeric]
    return numeric, categorical


def build_model(
    name: str, numeric: list[str], categorical: list[str], params: ChurnParams, seed: int
) -> Pipeline:
    """Preprocessing and estimator in one pipeline; scaling only for the linear model."""
    numeric_steps = [SimpleImputer(strategy="median", add_indicator=True)]
    if name == "logistic_regression":
        numeric_steps.append(StandardScaler())
    preprocess = ColumnTransformer(
        [
            ("numeric", make_pipeline(*numeric_steps), numeric),
            (
                "categorical",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                categorical,
            ),
        ],
        verbose_feature_names_out=False,
    )
    if name == "logistic_regression":
        estimator = LogisticRegression(max_iter=2000, class_weight="balanced")
    elif name == "xgboost":
        estimator = XGBClassifier(
            n_estimators=300,
            max_depth=4,
            learning_rate=0.05,
            subsample=0.9,
            colsample_bytree=0.9,
            eval_metric="logloss",
            random_state=seed,
            n_jobs=1,
        )
    else:
        raise ValueError(f"unknown model {name!r}; expected one of {MODELS}")
    return Pipeline([("preprocess", preprocess), ("model", estimator)])


def train_and_evaluate(features: pd.DataFrame, params: ChurnParams, seed: int) -> ChurnResult:
    """Fit every model on a training split and score it on the held-out customers.

    The split is stratified by churn and keeps near-duplicate customers (``duplicate_group``) on one
    side; its test share is about ``params.test_size`` (one fold of ``round(1 / test_size)``).

    Each model's decision threshold maximises F1 on out-of-fold predictions of the training split, so
    the test customers never influence it.
    """
    numeric, categorical = feature_columns(features)
    x = features[numeric + categorical]
    y = features[LABEL].to_numpy()
    groups = customer_groups(features)
    train, test = next(_folds(round(1 / params.test_size), seed).split(x, y, groups))
    x_train, x_test, y_train, y_test = x.iloc[train], x.iloc[test], y[train], y[test]
    models, scores, thresholds, probabilities = {}, {}, {}, {}
    for name in MODELS:
        model = build_model(name, numeric, categorical, params, seed)
        out_of_fold = cross_val_predict(
            model, x_train, y_train, groups=groups[train], cv=_folds(3, seed), method="predict_proba"
        )[:, 1]
        thresholds[name] = evaluate.best_f1_threshold(y_train, out_of_fold)
        models[name] = model.fit(x_train, y_train)
        probabilities[name] = models[name].predict_proba(x_test)[:, 1]
        scores[name] = evaluate.classification_metrics(y_test, probabilities[name], thresholds[name])
    best = max(MODELS, key=lambda m: scores[m]["roc_auc"])
    return ChurnResult(
        models=models,
        metrics=scores,
        thresholds=thresholds,
        best_model=best,
        features=numeric + categorical,
        x_test=x_test,
        y_test=y_test,
        test_probability=probabilities,
        n_train=len(y_train),
    )


def customer_groups(features: pd.DataFrame) -> np.ndarray:
    """A group per customer: its ``duplicate_group`` when it has one, else a group of its own."""
    own = pd.Series(-np.arange(1, len(features) + 1), index=features.index)
    if GROUP not in features.columns:
        return own.to_numpy()
    return features[GROUP].astype("Int64").fillna(own).to_numpy(dtype=np.int64)


def _folds(n_splits: int, seed: int) -> StratifiedGroupKFold:
    """Folds that keep each group together and the churn rate close to the whole's."""
    return StratifiedGroupKFold(n_splits=max(n_splits, 2), shuffle=True, random_state=seed)


def top_drivers(result: ChurnResult, seed: int, count: int = 10) -> pd.DataFrame:
    """Permutation importance of the best model on the test split: the drop in ROC-AUC per feature."""
    importance = permutation_importance(
        result.models[result.best_model],
        result.x_test,
        result.y_test,
        scoring="roc_auc",
        n_repeats=5,
        random_state=seed,
    )
    drivers = pd.DataFrame({"feature": result.features, "importance": importance.importances_mean})
    return drivers.sort_values("importance", ascending=False, ignore_index=True).head(count).round(4)
