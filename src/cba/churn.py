"""Churn models validated so that their numbers hold on customers and periods they have never seen.

Four models compete: a logistic-regression baseline (class weights), a random forest (class weights),
xgboost trained on SMOTE-balanced folds, and xgboost with a focal-loss objective. A gradient-boosting
reference tuned with twice the search budget is scored the same way, so the winner is shown to
beat a well-tuned off-the-shelf model. Every model gets the same bounded random search, scored on
group folds of the training customers; its out-of-fold predictions then calibrate it (isotonic) and
set its decision threshold where the retention campaign earns most. Nothing about the test customers
is used until they are scored.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import Pipeline as ImbPipeline
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import ParameterSampler, StratifiedGroupKFold, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler, TargetEncoder
from threadpoolctl import threadpool_limits
from xgboost import XGBClassifier

from cba import evaluate, retention
from cba.config import ChurnParams, SearchParams
from cba.schema import MissingFeaturesError

__all__ = [
    "CUTOFF",
    "GROUP",
    "LABEL",
    "MODELS",
    "REFERENCE",
    "CalibratedModel",
    "ChurnResult",
    "MissingFeaturesError",
    "Split",
    "artifact",
    "build_model",
    "choose_best",
    "customer_groups",
    "drivers_figure",
    "drivers_sentence",
    "feature_columns",
    "focal_loss",
    "intervals",
    "leak_comparison",
    "leak_sentence",
    "model_comparison_sentence",
    "naive_split",
    "predict",
    "search_sample",
    "segment_drivers",
    "summary",
    "table_sha256",
    "top_drivers",
    "train_and_evaluate",
    "validation_split",
]

LABEL = "churn"
GROUP = "duplicate_group"
"""Near-duplicate customers share a group; a group never straddles training and test customers."""
CUTOFF = "cutoff"
"""Labelled snapshots of an event log: one row per customer and cutoff."""
NOT_FEATURES = ("customer_id", LABEL, GROUP, CUTOFF)
MODELS = ("logistic_regression", "random_forest", "xgboost_smote", "xgboost_focal")
REFERENCE = "gradient_boosting"
"""The off-the-shelf reference (scikit-learn's histogram gradient boosting), tuned with a larger budget."""
REFERENCE_BUDGET_FACTOR = 2
ONE_HOT_MAX_LEVELS = 15
"""Categorical columns with more levels than this are target-encoded (fitted within the folds)."""
_BOOTSTRAP_RESAMPLES = 1000
EVIDENCE_MAX_ROWS = 100_000
"""Test rows that the permutation importance and the bootstrap intervals use at most (a stratified sample)."""

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


class CalibratedModel(BaseEstimator, ClassifierMixin):
    """A fitted pipeline whose churn scores pass through an isotonic map learned out of fold."""

    def __init__(self, pipeline: Any, calibrator: IsotonicRegression):
        self.pipeline = pipeline
        self.calibrator = calibrator
        self.classes_ = np.array([0, 1])

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:  # noqa: D102
        calibrated = self.calibrator.predict(self.pipeline.predict_proba(x)[:, 1])
        return np.column_stack([1 - calibrated, calibrated])

    def predict(self, x: pd.DataFrame) -> np.ndarray:  # noqa: D102
        return (self.predict_proba(x)[:, 1] >= 0.5).astype(int)


@dataclass(frozen=True)
class Split:
    """Training and test rows, and how they were chosen."""

    train: np.ndarray
    test: np.ndarray
    validation: str
    detail: str


@dataclass(frozen=True)
class ChurnResult:
    """Fitted, calibrated models, their scores, and the test predictions of each."""

    models: dict[str, CalibratedModel]
    metrics: dict[str, dict[str, Any]]
    best_model: str
    features: list[str]
    split: Split
    x_test: pd.DataFrame
    y_test: np.ndarray
    test_groups: np.ndarray
    test_probability: dict[str, np.ndarray]
    naive: dict[str, float]
    training_sha256: str

    @property
    def threshold(self) -> float:
        """The best model's decision threshold."""
        return self.metrics[self.best_model]["threshold"]


def feature_columns(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Numeric and categorical feature columns: all but the id, label, duplicate group and cutoff."""
    candidates = frame.drop(columns=[c for c in NOT_FEATURES if c in frame.columns])
    numeric = candidates.select_dtypes(["number", "bool"]).columns.tolist()
    categorical = [c for c in candidates.columns if c not in numeric]
    return numeric, categorical


def customer_groups(features: pd.DataFrame) -> np.ndarray:
    """One group per customer (all its cutoffs), merged with its near-duplicates' ``duplicate_group``."""
    ids = features["customer_id"].astype("int64")
    own = pd.Series(-(ids.to_numpy()) - 1, index=features.index)  # negative: never clashes with a group id
    if GROUP not in features.columns:
        return own.to_numpy()
    return features[GROUP].astype("Int64").fillna(own).to_numpy(dtype=np.int64)


def validation_split(features: pd.DataFrame, test_size: float, seed: int) -> Split:
    """The split that cannot leak.

    With several cutoffs the models train on the earlier cutoffs and are tested on the latest one, and
    the test customers (with their near-duplicates) are kept out of training altogether: the test asks
    about a later period and about customers the model has never seen. A single snapshot is split by
    customer groups, stratified by churn.
    """
    groups = customer_groups(features)
    y = features[LABEL].to_numpy()
    cutoffs = features[CUTOFF] if CUTOFF in features.columns else None
    if cutoffs is None or cutoffs.nunique() < 2:
        train, test = next(_folds(round(1 / test_size), seed).split(features, y, groups))
        detail = (
            f"{len(test):,} customers ({test_size:.0%}) held out, stratified by churn, with every group of "
            "near-duplicate customers on one side"
        )
        return Split(train, test, "grouped-stratified", detail)
    latest = cutoffs == cutoffs.max()
    at_latest = np.flatnonzero(latest)
    _, held_out = next(_folds(round(1 / test_size), seed).split(at_latest, y[at_latest], groups[at_latest]))
    test_groups = set(groups[at_latest[held_out]])
    unseen = ~np.isin(groups, list(test_groups))
    train = np.flatnonzero(~latest.to_numpy() & unseen)
    test = at_latest[held_out]
    earlier = sorted(pd.to_datetime(cutoffs[~latest]).dt.date.unique())
    detail = (
        f"trained on the cutoffs {', '.join(map(str, earlier))} and tested on the later cutoff "
        f"{pd.Timestamp(cutoffs.max()).date()}, on {len(test):,} customers ({test_size:.0%}) the training "
        "never saw"
    )
    return Split(train, test, "time-aware", detail)


def naive_split(features: pd.DataFrame, test_size: float, seed: int) -> Split:
    """A random split of rows, blind to time, customers and near-duplicates: the optimistic comparison."""
    rows = np.arange(len(features))
    train, test = train_test_split(rows, test_size=test_size, stratify=features[LABEL], random_state=seed)
    return Split(np.sort(train), np.sort(test), "naive", "rows split at random")


def _folds(n_splits: int, seed: int) -> StratifiedGroupKFold:
    """Folds that keep each group together and the churn rate close to the whole's."""
    return StratifiedGroupKFold(n_splits=max(n_splits, 2), shuffle=True, random_state=seed)


def build_model(
    name: str,
    numeric: list[str],
    categorical: list[str],
    levels: dict[str, int],
    seed: int,
    settings: dict[str, Any] | None = None,
) -> Any:
    """Preprocessing and estimator in one pipeline.

    Categorical columns are one-hot encoded, or target encoded (fitted within the training folds) when
    they have more than :data:`ONE_HOT_MAX_LEVELS` levels; only the linear model is scaled.
    """
    settings = dict(settings or {})
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
    preprocess = ColumnTransformer(transformers, verbose_feature_names_out=False)
    estimator = _estimator(name, seed, settings)
    if name == "xgboost_smote":
        return ImbPipeline(
            [("preprocess", preprocess), ("smote", SMOTE(random_state=seed)), ("model", estimator)]
        )
    return Pipeline([("preprocess", preprocess), ("model", estimator)])


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


def _fit_predict(
    model: Any, x: pd.DataFrame, y: np.ndarray, fit_rows: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """Fit a fresh copy on ``fit_rows`` and predict ``rows``, single-threaded (the folds run in parallel)."""
    with threadpool_limits(1):
        return clone(model).fit(x.iloc[fit_rows], y[fit_rows]).predict_proba(x.iloc[rows])[:, 1]


def search_sample(y: np.ndarray, groups: np.ndarray, max_rows: int, seed: int) -> np.ndarray:
    """Rows of a bounded sample, stratified by churn, with whole groups: every row when there are few.

    Groups are drawn at random (``seed``) within strata of groups with the same number of rows and of
    churned rows, each stratum up to its share of ``max_rows``, so the sample keeps the churn rate and
    the group sizes of the whole, and never splits a customer or its near-duplicates.
    """
    if len(y) <= max_rows:
        return np.arange(len(y))
    per_group = pd.DataFrame({"group": groups, "churn": y}).groupby("group")["churn"].agg(["size", "sum"])
    shuffled = per_group.iloc[np.random.default_rng(seed).permutation(len(per_group))]
    stratum = shuffled.groupby(["size", "sum"])["size"]
    quota = stratum.transform("sum") * (max_rows / len(y))
    chosen = shuffled.index[(stratum.cumsum() <= quota).to_numpy()]
    return np.flatnonzero(np.isin(groups, chosen))


def _search(
    name: str,
    x: pd.DataFrame,
    y: np.ndarray,
    groups: np.ndarray,
    columns: tuple,
    budget: int,
    search: SearchParams,
    seed: int,
) -> tuple[dict[str, Any], np.ndarray, float]:
    """Random search over the model's space: the best setting, its out-of-fold predictions and ROC-AUC.

    Candidates are scored on a sample of at most ``search.max_rows`` rows (:func:`search_sample`). Rows
    outside the sample get their out-of-fold prediction from the best setting's model of a fold drawn at
    random, which never saw their group, so every row has one. Every (setting, fold) fit runs in its own
    worker process, one per core: processes, unlike the models' own threads, keep their speed when the
    machine is busy.
    """
    searched = search_sample(y, groups, search.max_rows, seed)
    sampled = len(searched) < len(y)
    x_searched, y_searched = (x.iloc[searched], y[searched]) if sampled else (x, y)
    space = SEARCH_SPACES[name]
    size = int(np.prod([len(v) for v in space.values()]))
    candidates = list(ParameterSampler(space, n_iter=min(budget, size), random_state=seed))
    splits = list(_folds(search.folds, seed).split(x_searched, y_searched, groups[searched]))
    predictions = Parallel(n_jobs=-1)(
        delayed(_fit_predict)(
            build_model(name, *columns, seed, settings), x_searched, y_searched, fit_rows, rows
        )
        for settings in candidates
        for fit_rows, rows in splits
    )
    best: tuple[dict[str, Any], np.ndarray, float] | None = None
    for index, settings in enumerate(candidates):
        out_of_fold = np.empty(len(y_searched))
        own = predictions[index * len(splits) : (index + 1) * len(splits)]
        for (_, rows), prediction in zip(splits, own, strict=True):
            out_of_fold[rows] = prediction
        score = roc_auc_score(y_searched, out_of_fold)
        if best is None or score > best[2]:
            best = (settings, out_of_fold, score)
    if not sampled:
        return best
    settings, searched_out_of_fold, score = best
    rest = np.setdiff1d(np.arange(len(y)), searched)
    fold_of_rest = np.random.default_rng(seed).integers(0, len(splits), len(rest))
    rest_predictions = Parallel(n_jobs=-1)(
        delayed(_fit_predict)(
            build_model(name, *columns, seed, settings), x, y, searched[fit_rows], rest[fold_of_rest == fold]
        )
        for fold, (fit_rows, _) in enumerate(splits)
    )
    out_of_fold = np.empty(len(y))
    out_of_fold[searched] = searched_out_of_fold
    for fold, prediction in enumerate(rest_predictions):
        out_of_fold[rest[fold_of_rest == fold]] = prediction
    return settings, out_of_fold, score


def train_and_evaluate(features: pd.DataFrame, params: ChurnParams, seed: int) -> ChurnResult:
    """Search, calibrate and fit every model on the training rows and score it on the test rows.

    The best model is chosen by its out-of-fold ROC-AUC on the training rows, never by the test rows.
    """
    numeric, categorical = feature_columns(features)
    names = numeric + categorical
    split = validation_split(features, params.test_size, seed)
    x, y, groups = features[names], features[LABEL].to_numpy(), customer_groups(features)
    x_train, y_train, x_test, y_test = x.iloc[split.train], y[split.train], x.iloc[split.test], y[split.test]
    levels = {c: int(x_train[c].nunique()) for c in categorical}
    columns = (numeric, categorical, levels)
    recent = _latest_rows(features.iloc[split.train])
    models, scores, probabilities = {}, {}, {}
    for name in (*MODELS, REFERENCE):
        budget = params.search.budget * (REFERENCE_BUDGET_FACTOR if name == REFERENCE else 1)
        settings, out_of_fold, cv_roc_auc = _search(
            name, x_train, y_train, groups[split.train], columns, budget, params.search, seed
        )
        calibrator = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(
            out_of_fold[recent], y_train[recent]
        )
        threshold = evaluate.profit_threshold(
            y_train[recent], calibrator.predict(out_of_fold[recent]), params.business
        )
        with threadpool_limits(1):  # steady under load, like the search
            pipeline = build_model(name, *columns, seed, settings).fit(x_train, y_train)
        models[name] = CalibratedModel(pipeline, calibrator)
        probabilities[name] = models[name].predict_proba(x_test)[:, 1]
        scores[name] = {
            **evaluate.classification_metrics(y_test, probabilities[name], threshold),
            "threshold": threshold,
            "cv_roc_auc": float(cv_roc_auc),
            "settings": {k: v for k, v in settings.items()},
        }
    best = choose_best(scores)
    return ChurnResult(
        models=models,
        metrics=scores,
        best_model=best,
        features=names,
        split=split,
        x_test=x_test,
        y_test=y_test,
        test_groups=customer_groups(features)[split.test],
        test_probability=probabilities,
        naive=_naive_scores(features, best, scores[best]["settings"], columns, params.test_size, seed),
        training_sha256=table_sha256(features.iloc[split.train]),
    )


def choose_best(scores: dict[str, dict[str, Any]]) -> str:
    """The competing model with the highest cross-validated ROC-AUC; the reference never wins.

    Ties go to the model listed first in :data:`MODELS`.
    """
    return max(MODELS, key=lambda m: scores[m]["cv_roc_auc"])


def _latest_rows(train: pd.DataFrame) -> np.ndarray:
    """Training rows of the latest training cutoff (every row of a snapshot).

    Calibration and the threshold follow the most recent period, because churn drifts between cutoffs.
    """
    if CUTOFF not in train.columns:
        return np.ones(len(train), dtype=bool)
    return (train[CUTOFF] == train[CUTOFF].max()).to_numpy()


def _naive_scores(
    features: pd.DataFrame, name: str, settings: dict[str, Any], columns: tuple, test_size: float, seed: int
) -> dict[str, float]:
    """ROC-AUC and PR-AUC of the same model and setting under the naive split."""
    split = naive_split(features, test_size, seed)
    x = features[columns[0] + columns[1]]
    y = features[LABEL].to_numpy()
    model = build_model(name, *columns, seed, settings).fit(x.iloc[split.train], y[split.train])
    probability = model.predict_proba(x.iloc[split.test])[:, 1]
    return {
        "roc_auc": float(roc_auc_score(y[split.test], probability)),
        "pr_auc": float(average_precision_score(y[split.test], probability)),
    }


def intervals(result: ChurnResult, seed: int) -> dict[str, list[float]]:
    """Bootstrap 95% intervals of the best model's ROC-AUC and PR-AUC over the test customers.

    Beyond :data:`EVIDENCE_MAX_ROWS` test rows they are taken over a stratified sample of that many
    (:func:`search_sample`): wider than the whole test set's, so on the safe side.
    """
    rows = search_sample(result.y_test, result.test_groups, EVIDENCE_MAX_ROWS, seed)
    y, groups = result.y_test[rows], result.test_groups[rows]
    probability = result.test_probability[result.best_model][rows]
    return {
        f"{key}_ci": evaluate.bootstrap_interval(
            y, probability, score, seed, _BOOTSTRAP_RESAMPLES, groups=groups
        )
        for key, score in (("roc_auc", roc_auc_score), ("pr_auc", average_precision_score))
    }


def table_sha256(frame: pd.DataFrame) -> str:
    """A fingerprint of a table's values and column names, independent of its file layout."""
    digest = hashlib.sha256(",".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def top_drivers(result: ChurnResult, seed: int, count: int = 10, repeats: int = 5) -> pd.DataFrame:
    """Permutation importance of the best model on the test rows: the mean drop in ROC-AUC per feature.

    Beyond :data:`EVIDENCE_MAX_ROWS` test rows it is measured on a stratified sample of that many.
    """
    rows = search_sample(result.y_test, result.test_groups, EVIDENCE_MAX_ROWS, seed)
    model, x, y = result.models[result.best_model], result.x_test.iloc[rows], result.y_test[rows]
    rng = np.random.default_rng(seed)
    base = roc_auc_score(y, model.predict_proba(x)[:, 1])
    drops = []
    for column in result.features:
        shuffled = x.copy()
        scores = []
        for _ in range(repeats):
            shuffled[column] = x[column].to_numpy()[rng.permutation(len(x))]
            scores.append(roc_auc_score(y, model.predict_proba(shuffled)[:, 1]))
        drops.append(base - float(np.mean(scores)))
    drivers = pd.DataFrame({"feature": result.features, "importance": drops})
    return drivers.sort_values("importance", ascending=False, ignore_index=True).head(count).round(4)


def predict(artifact: dict[str, Any], customers: pd.DataFrame, source: str = "input") -> pd.DataFrame:
    """Score a customers table with a saved model: customer_id, churn_probability, risk_segment.

    Raises :class:`MissingFeaturesError` naming every feature column ``customers`` lacks.
    """
    needed = ["customer_id", *artifact["features"]]
    missing = [c for c in needed if c not in customers.columns]
    if missing:
        raise MissingFeaturesError(f"{source}: missing column(s) {', '.join(missing)} that the model needs")
    probability = artifact["model"].predict_proba(customers[artifact["features"]])[:, 1]
    value, _ = retention.value_of(customers)
    return pd.DataFrame(
        {
            "customer_id": customers["customer_id"].to_numpy(),
            "churn_probability": probability.round(6),
            "risk_segment": retention.risk_segments(
                probability, value.to_numpy(), artifact["threshold"], artifact["value_cut"]
            ),
            "value": value.to_numpy(),
        }
    )


def segment_drivers(
    model: Any, x: pd.DataFrame, segments: np.ndarray, seed: int, count: int = 3
) -> dict[str, list[str]]:
    """Per segment, the features whose values raise its churn risk most.

    A feature's effect on a customer is the fall in predicted risk when the feature's value is replaced
    by another customer's at random; a segment's drivers are the features with the largest mean effect.
    """
    rng = np.random.default_rng(seed)
    base = model.predict_proba(x)[:, 1]
    effects = {}
    for column in x.columns:
        shuffled = x.copy()
        shuffled[column] = x[column].to_numpy()[rng.permutation(len(x))]
        effects[column] = base - model.predict_proba(shuffled)[:, 1]
    table = pd.DataFrame(effects).groupby(segments).mean()
    return {
        segment: [f for f in row.sort_values(ascending=False).index[:count] if row[f] > 0]
        for segment, row in table.iterrows()
    }


def artifact(result: ChurnResult, value_cut: float, params: dict[str, Any]) -> dict[str, Any]:
    """What ``models/churn.joblib`` holds: the calibrated model and everything needed to trust and use it."""
    return {
        "model": result.models[result.best_model],
        "name": result.best_model,
        "features": result.features,
        "threshold": result.threshold,
        "value_cut": value_cut,
        "validation": result.split.validation,
        "metrics": result.metrics[result.best_model],
        "params": params,
        "training_data_sha256": result.training_sha256,
    }


def summary(
    result: ChurnResult,
    params: ChurnParams,
    seed: int,
    drivers: pd.DataFrame,
    scores: pd.DataFrame,
    segments: pd.DataFrame,
    value_basis: str,
) -> dict[str, Any]:
    """``metrics/churn.json``: the best model's test metrics with intervals, every model, the campaign."""
    best = result.best_model
    probability = result.test_probability[best]

    def rounded(values: dict[str, Any]) -> dict[str, Any]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in values.items()}

    return {
        "validation": result.split.validation,
        "validation_detail": result.split.detail,
        "best_model": best,
        **rounded({k: v for k, v in result.metrics[best].items() if k != "settings"}),
        **intervals(result, seed),
        "n_train": len(result.split.train),
        "n_test": len(result.split.test),
        "test_churn_rate": round(float(result.y_test.mean()), 4),
        "confusion_matrix": evaluate.confusion(result.y_test, probability, result.threshold),
        "naive": rounded(result.naive),
        "reference": REFERENCE,
        "models": {name: rounded(values) for name, values in result.metrics.items()},
        "drivers": drivers.to_dict(orient="records"),
        "campaign": retention.campaign(result.y_test, probability, result.threshold, params.business),
        "recommended_campaign": retention.recommended_campaign(scores, params.business),
        "customers_scored": len(scores),
        "value_basis": value_basis,
        "revenue_at_risk": round(float(retention.revenue_at_risk(scores).sum()), 2),
        "risk_segments": segments.to_dict(orient="records"),
    }


# --- what the chapter shows ---------------------------------------------------------------------------

_ROLES = {"logistic_regression": "the logistic baseline", REFERENCE: "the tuned gradient-boosting reference"}
LEAK_SHOWN = 0.005
"""A naive split that beats the leak-free ROC-AUC by more than this is said to flatter the model."""


def model_comparison_sentence(metrics: dict[str, Any]) -> str:
    """The chosen model's test scores with intervals, against the baseline and the reference."""
    best, baseline, reference = (
        metrics["models"][m] for m in (metrics["best_model"], "logistic_regression", REFERENCE)
    )
    low, high = metrics["roc_auc_ci"]
    pr_low, pr_high = metrics["pr_auc_ci"]
    verdict = "beats" if best["roc_auc"] > reference["roc_auc"] else "does not beat"
    return (
        f"On {metrics['n_test']:,} test customers ({metrics['test_churn_rate']:.1%} churned) the chosen "
        f"model, **{metrics['best_model']}**, reaches ROC-AUC {metrics['roc_auc']:.3f} (95% interval "
        f"{low:.3f}-{high:.3f}) and PR-AUC {metrics['pr_auc']:.3f} ({pr_low:.3f}-{pr_high:.3f}), "
        f"against {baseline['roc_auc']:.3f} for {_ROLES['logistic_regression']}; it {verdict} "
        f"{_ROLES[REFERENCE]} (ROC-AUC {reference['roc_auc']:.3f}). Its expected calibration error is "
        f"{metrics['ece']:.3f}."
    )


def leak_comparison(metrics: dict[str, Any]) -> pd.DataFrame:
    """ROC-AUC and PR-AUC of the leak-free validation beside those of a naive random split."""
    naive = metrics["naive"]
    return pd.DataFrame(
        {
            "leak-free": [metrics["roc_auc"], metrics["pr_auc"]],
            "naive random split": [naive["roc_auc"], naive["pr_auc"]],
        },
        index=["ROC-AUC", "PR-AUC"],
    )


def leak_sentence(metrics: dict[str, Any]) -> str:
    """What the naive split's ROC-AUC says about the leak it lets in."""
    naive_roc_auc = metrics["naive"]["roc_auc"]
    gap = naive_roc_auc - metrics["roc_auc"]
    reason = (
        "the same customers at other cutoffs, and the test period itself, then sit on both sides of the split"
        if metrics["validation"] == "time-aware"
        else "near-duplicate customers (one person under two ids) then sit on both sides of the split"
    ) + ", so part of the test is a memory test"
    if gap > LEAK_SHOWN:
        return (
            f"A naive random split of the rows gives ROC-AUC {naive_roc_auc:.3f}, {gap:.3f} above the "
            f"leak-free figure: {reason}."
        )
    return (
        f"A naive random split of the rows gives ROC-AUC {naive_roc_auc:.3f}, within {abs(gap):.3f} of the "
        "leak-free figure: here the leak does not flatter the model, but only the leak-free number is a fair "
        "estimate for new customers."
    )


def drivers_figure(drivers: pd.DataFrame) -> go.Figure:
    """The permutation importance of :func:`top_drivers` as horizontal bars."""
    return px.bar(
        drivers,
        x="importance",
        y="feature",
        orientation="h",
        title="Churn drivers: drop in test ROC-AUC when the feature is shuffled",
    )


def drivers_sentence(drivers: pd.DataFrame) -> str:
    """The three strongest drivers."""
    first, second, third = drivers["feature"].iloc[:3]
    return f"The strongest driver is **{first}**, then {second} and {third}."
