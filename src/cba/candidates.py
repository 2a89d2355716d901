"""The competing churn models: their pipelines, search spaces, the focal loss and the attribute ratios.

Four models compete (:data:`MODELS`), the boosted ones also as a soft vote (:data:`ENSEMBLE`), against a
reference tuned with a larger budget (:data:`REFERENCE`). :func:`build_model` puts the preprocessing and
the estimator in one pipeline, so everything fitted is fitted on the training rows of a fold.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd
from imblearn import FunctionSampler
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import Pipeline as ImbPipeline
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler, TargetEncoder
from xgboost import XGBClassifier

from cba.calibration import AveragedModel

__all__ = [
    "BOOSTED",
    "ENSEMBLE",
    "MODELS",
    "ONE_HOT_MAX_LEVELS",
    "PROFILE_RATIOS",
    "ProfileRatios",
    "REFERENCE",
    "REFERENCE_BUDGET_FACTOR",
    "SAMPLED_FIT",
    "SEARCH_SPACES",
    "available_ratios",
    "build_model",
    "focal_loss",
    "stratified_rows",
]

MODELS = ("logistic_regression", "random_forest", "xgboost_smote", "xgboost_focal")
ENSEMBLE = "boosted_average"
"""The soft vote (mean log-odds) of the boosted competitors of :data:`BOOSTED`."""
REFERENCE = "gradient_boosting"
"""The off-the-shelf reference (scikit-learn's histogram gradient boosting), tuned with a larger budget."""
REFERENCE_BUDGET_FACTOR = 2
BOOSTED = ("xgboost_smote", "xgboost_focal")
SAMPLED_FIT = ("random_forest", "xgboost_smote")
"""Models whose fitting cost grows faster than the rows (fully grown trees; SMOTE's neighbour search): they
fit on a stratified sample of at most ``churn.max_fit_rows`` rows, the others on every row."""
ONE_HOT_MAX_LEVELS = 15
"""Categorical columns with more levels than this are target-encoded (fitted within the folds)."""
PROFILE_RATIOS = {
    "cashback_per_order": ("CashbackAmount", "OrderCount"),
    "coupons_per_order": ("CouponUsed", "OrderCount"),
    "orders_per_tenure_month": ("OrderCount", "Tenure"),
    "days_since_order_per_tenure_month": ("DaySinceLastOrder", "Tenure"),
    "cashback_per_tenure_month": ("CashbackAmount", "Tenure"),
    "coupons_per_tenure_month": ("CouponUsed", "Tenure"),
    "addresses_per_tenure_month": ("NumberOfAddress", "Tenure"),
    "devices_per_tenure_month": ("NumberOfDeviceRegistered", "Tenure"),
    "days_since_order_per_order": ("DaySinceLastOrder", "OrderCount"),
    "app_hours_per_order": ("HourSpendOnApp", "OrderCount"),
    "cashback_per_app_hour": ("CashbackAmount", "HourSpendOnApp"),
}
"""Ratios of customer attributes the models also see: name -> (numerator, denominator + 1)."""

_TREE_SPACE = {
    "max_depth": [3, 4, 6, 8],
    "learning_rate": [0.03, 0.1, 0.2],
    "n_estimators": [150, 300],
    "min_child_weight": [1, 5],
}
SEARCH_SPACES: dict[str, dict[str, list]] = {
    "logistic_regression": {"C": [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0]},
    "random_forest": {
        "max_depth": [8, 12, None],
        "min_samples_leaf": [5, 20, 50],
        "max_features": ["sqrt", 0.2],
    },
    "xgboost_smote": {**_TREE_SPACE, "subsample": [0.8, 1.0], "colsample_bytree": [0.6, 0.8, 1.0]},
    "xgboost_focal": {
        **_TREE_SPACE,
        "subsample": [0.8, 1.0],
        "colsample_bytree": [0.6, 0.8, 1.0],
        "gamma_focal": [1.0, 2.0],
    },
    REFERENCE: {
        "learning_rate": [0.03, 0.06, 0.1, 0.2],
        "max_leaf_nodes": [15, 31, 63],
        "min_samples_leaf": [10, 20, 50],
        "l2_regularization": [0.0, 0.1, 1.0],
        "max_iter": [150, 300],
    },
}
"""Where the bounded random search looks, per model; ``churn.search.budget`` settings are drawn."""


def focal_loss(y_true: np.ndarray, margin: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and Hessian of the binary focal loss with respect to the raw margin (xgboost objective).

    Focal loss scales the log loss by ``(1 - p_t) ** gamma``, so confidently right customers weigh
    little and the rare, hard churners weigh more; ``gamma = 0`` is the log loss.
    """

    def gradient(z: np.ndarray) -> np.ndarray:
        p = np.clip(1.0 / (1.0 + np.exp(-z)), 1e-9, 1 - 1e-9)
        positive = gamma * p * (1 - p) ** gamma * np.log(p) - (1 - p) ** (gamma + 1)
        negative = p ** (gamma + 1) - gamma * p**gamma * (1 - p) * np.log(1 - p)
        return np.where(y_true == 1, positive, negative)

    step = 1e-3
    hessian = (gradient(margin + step) - gradient(margin - step)) / (2 * step)
    return gradient(margin), np.maximum(hessian, 1e-6)


class ProfileRatios(BaseEstimator, TransformerMixin):
    """Adds each ratio of :data:`PROFILE_RATIOS` whose two attributes are columns (``denominator + 1``).

    Stateless: every row's ratios come from that row alone.
    """

    def fit(self, x: pd.DataFrame, y: Any = None) -> ProfileRatios:  # noqa: D102
        return self

    def transform(self, x: pd.DataFrame) -> pd.DataFrame:  # noqa: D102
        x = x.copy()
        for name, (numerator, denominator) in available_ratios(x.columns).items():
            x[name] = x[numerator].astype(float) / (x[denominator].astype(float) + 1.0)
        return x


def available_ratios(columns: Any) -> dict[str, tuple[str, str]]:
    """The ratios of :data:`PROFILE_RATIOS` whose attributes are all in ``columns``."""
    return {name: pair for name, pair in PROFILE_RATIOS.items() if set(pair) <= set(columns)}


def build_model(
    name: str,
    numeric: list[str],
    categorical: list[str],
    levels: dict[str, int],
    seed: int,
    settings: dict[str, Any] | None = None,
    max_fit_rows: int | None = None,
) -> Any:
    """Preprocessing and estimator in one pipeline.

    The attributes' ratios (:class:`ProfileRatios`) join the numeric columns. Categorical columns are
    one-hot encoded, or target encoded (fitted within the training folds) when they have more than
    :data:`ONE_HOT_MAX_LEVELS` levels; only the linear model is scaled. :data:`ENSEMBLE` takes
    ``settings`` as ``{member model: its settings}`` and averages the members. The models of
    :data:`SAMPLED_FIT` fit on :func:`stratified_rows` of at most ``max_fit_rows`` rows (all when None).
    """
    settings = dict(settings or {})
    if name == ENSEMBLE:
        return AveragedModel(
            [
                build_model(member, numeric, categorical, levels, seed, own, max_fit_rows)
                for member, own in settings.items()
            ]
        )
    numeric = [*numeric, *available_ratios(numeric)]
    one_hot = [c for c in categorical if levels.get(c, 0) <= ONE_HOT_MAX_LEVELS]
    target = [c for c in categorical if c not in one_hot]
    numeric_steps: list[Any] = [SimpleImputer(strategy="median", add_indicator=True)]
    if name == "logistic_regression":
        numeric_steps.append(StandardScaler())
    transformers = [("numeric", make_pipeline(*numeric_steps), numeric)]
    encoders = (
        ("one_hot", OneHotEncoder(handle_unknown="ignore", sparse_output=False), one_hot),
        ("target", TargetEncoder(target_type="binary", random_state=seed), target),
    )
    for step, encoder, columns in encoders:
        if columns:
            missing_as_level = SimpleImputer(strategy="constant", fill_value="missing")
            transformers.append((step, make_pipeline(missing_as_level, encoder), columns))
    preprocess = [
        ("ratios", ProfileRatios()),
        ("preprocess", ColumnTransformer(transformers, verbose_feature_names_out=False)),
    ]
    estimator = _estimator(name, seed, settings)
    if name == "xgboost_smote":
        preprocess.append(("smote", SMOTE(random_state=seed)))
    if name in SAMPLED_FIT and max_fit_rows is not None:
        bound = {"max_rows": max_fit_rows, "seed": seed}
        preprocess.insert(
            0, ("bounded", FunctionSampler(func=stratified_rows, kw_args=bound, validate=False))
        )
    if any(step in ("smote", "bounded") for step, _ in preprocess):
        return ImbPipeline([*preprocess, ("model", estimator)])
    return Pipeline([*preprocess, ("model", estimator)])


def stratified_rows(x: pd.DataFrame, y: Any, max_rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """At most ``max_rows`` rows drawn at random within each class in proportion, in their order.

    Every row when there are no more than ``max_rows``. Used while fitting only: predictions score every row.
    """
    y = np.asarray(y)
    if len(y) <= max_rows:
        return x, y
    rng = np.random.default_rng(seed)
    rows = np.sort(
        np.concatenate(
            [
                rng.choice(members, size=round(len(members) * max_rows / len(y)), replace=False)
                for members in (np.flatnonzero(y == label) for label in np.unique(y))
            ]
        )
    )
    return x.iloc[rows], y[rows]


def _estimator(name: str, seed: int, settings: dict[str, Any]) -> Any:
    if name == "logistic_regression":
        return LogisticRegression(max_iter=3000, class_weight="balanced", **settings)
    if name == "random_forest":
        return RandomForestClassifier(
            n_estimators=100, class_weight="balanced_subsample", random_state=seed, n_jobs=1, **settings
        )
    if name in ("xgboost_smote", "xgboost_focal"):
        gamma = settings.pop("gamma_focal", None)
        objective = (
            functools.partial(focal_loss, gamma=gamma) if name == "xgboost_focal" else "binary:logistic"
        )
        return XGBClassifier(
            objective=objective,
            tree_method="hist",
            random_state=seed,
            n_jobs=1,
            eval_metric="logloss",
            **settings,
        )
    if name == REFERENCE:
        return HistGradientBoostingClassifier(random_state=seed, **settings)
    raise ValueError(f"unknown model {name!r}; expected one of {(*MODELS, REFERENCE)}")
