"""Churn models validated so that their numbers hold on customers and periods they have never seen.

Four models compete: a logistic-regression baseline (class weights), a random forest (class weights),
xgboost trained on SMOTE-balanced folds, and xgboost with a focal-loss objective. A gradient-boosting
reference tuned with twice the search budget is scored the same way, and the winner's test ROC-AUC is
compared with the reference's on the same bootstrap resamples. Every model gets the same bounded random
search, scored on group folds of the training customers. The two boosted competitors (:data:`BOOSTED`,
never the reference), averaged on the log-odds scale (a soft vote), compete as one more model, scored on
the same out-of-fold predictions. Every model sees the customer attributes and a few ratios of them
(:data:`PROFILE_RATIOS`, such as cashback per order).

Calibration follows the latest labelled period: a logistic map of the model's raw score (Platt scaling,
strictly monotone, so it keeps the raw ranking) is fitted on out-of-fold scores at the latest training
cutoff, and sets the decision threshold where the retention campaign earns most there. While the search
covers every training row, the scores come from ``churn.calibration_folds`` group folds of the chosen
setting (more than the search's: the final model, fitted on every training row, can rank more sharply
than fold models fitted on fewer, and a map fitted on their scores would make its probabilities too
cautious). Beyond ``churn.search.max_rows`` training rows they come from a set held out of the final fit.
The probabilities keep that period's churn rate (``churn.base_rate: latest``). With ``trend``, they are
moved to the base rate the evaluation period is expected to have (a prior-shift correction, Saerens et
al. 2002: the odds are multiplied by the ratio of the two periods' churn odds), extrapolated from the
trend of the training cutoffs' churn rates on the log-odds scale, so no label of the evaluation period is
used.
``auto`` (the default) corrects only when the training cutoffs' churn rates differ significantly. A
single snapshot has no trend and no correction. Nothing about the test customers is used until they are
scored.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import ParameterSampler, StratifiedGroupKFold, train_test_split
from threadpoolctl import threadpool_limits

from cba import evaluate, retention
from cba.calibration import (
    CalibratedModel,
    drift_p_value,
    expected_base_rate,
    fit_platt,
    platt,
    soft_vote,
)
from cba.candidates import (
    BOOSTED,
    ENSEMBLE,
    MODELS,
    PROFILE_RATIOS,
    REFERENCE,
    REFERENCE_BUDGET_FACTOR,
    SEARCH_SPACES,
    ProfileRatios,
    build_model,
    focal_loss,
)
from cba.config import ChurnParams
from cba.schema import MissingFeaturesError

__all__ = [
    "CUTOFF",
    "ENSEMBLE",
    "EVIDENCE_MAX_ROWS",
    "GROUP",
    "LABEL",
    "MODELS",
    "PROFILE_RATIOS",
    "REFERENCE",
    "ProfileRatios",
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
    "fold_count",
    "focal_loss",
    "intervals",
    "leak_comparison",
    "leak_sentence",
    "model_comparison_sentence",
    "naive_rows_phrase",
    "naive_split",
    "oracle_sentence",
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
_BOOTSTRAP_RESAMPLES = 1000
EVIDENCE_MAX_ROWS = 100_000
"""Test rows the permutation importances and bootstrap intervals use at most (a stratified sample)."""


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
    test_ranking: dict[str, np.ndarray]
    calibration: dict[str, float]
    naive: dict[str, float]
    training_sha256: str
    n_searched: int
    """Training rows the hyperparameter search and the calibration used (``churn.search.max_rows``)."""

    @property
    def threshold(self) -> float:
        """The best model's decision threshold."""
        return self.metrics[self.best_model]["threshold"]


def feature_columns(frame: pd.DataFrame, label: str = LABEL) -> tuple[list[str], list[str]]:
    """Numeric and categorical feature columns: all but the id, label, duplicate group and cutoff."""
    candidates = frame.drop(columns=[c for c in (*NOT_FEATURES, label) if c in frame.columns])
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


def fold_count(test_size: float) -> int:
    """How many grouped folds a held-out share ``test_size`` cuts the customers into (one is held out)."""
    return round(1 / test_size)


def validation_split(
    features: pd.DataFrame, test_size: float, seed: int, label: str = LABEL, fold: int = 0
) -> Split:
    """The split that cannot leak.

    With several cutoffs the models train on the earlier cutoffs and are tested on the latest one, and
    the test customers (with their near-duplicates) are kept out of training altogether: the test asks
    about a later period and about customers the model has never seen. A single snapshot is split by
    customer groups, stratified by churn.

    The customers are cut into ``1 / test_size`` grouped folds and fold ``fold`` is held out (the churn
    stage holds out the first; :mod:`cba.splits` each in turn).
    """
    folds = fold_count(test_size)
    if not 0 <= fold < folds:
        raise ValueError(f"fold {fold} does not exist: churn.test_size {test_size} cuts {folds} folds")
    groups = customer_groups(features)
    y = features[label].to_numpy()
    cutoffs = features[CUTOFF] if CUTOFF in features.columns else None
    if cutoffs is None or cutoffs.nunique() < 2:
        train, test = list(_folds(folds, seed).split(features, y, groups))[fold]
        detail = (
            f"{len(test):,} customers ({test_size:.0%}) held out, stratified by churn, with every group of "
            "near-duplicate customers on one side"
        )
        return Split(train, test, "grouped-stratified", detail)
    latest = cutoffs == cutoffs.max()
    at_latest = np.flatnonzero(latest)
    _, held_out = list(_folds(folds, seed).split(at_latest, y[at_latest], groups[at_latest]))[fold]
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


def naive_split(features: pd.DataFrame, test_size: float, seed: int, label: str = LABEL) -> Split:
    """A random split of rows, blind to time, customers and near-duplicates: the optimistic comparison."""
    rows = np.arange(len(features))
    train, test = train_test_split(rows, test_size=test_size, stratify=features[label], random_state=seed)
    return Split(np.sort(train), np.sort(test), "naive", "rows split at random")


def _folds(n_splits: int, seed: int) -> StratifiedGroupKFold:
    """Folds that keep each group together and the churn rate close to the whole's."""
    return StratifiedGroupKFold(n_splits=max(n_splits, 2), shuffle=True, random_state=seed)


def _fit_predict(
    model: Any, x: pd.DataFrame, y: np.ndarray, fit_rows: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """Fit a fresh copy on ``fit_rows`` and predict ``rows``, single-threaded (the folds run in parallel)."""
    with threadpool_limits(1):
        return clone(model).fit(x.iloc[fit_rows], y[fit_rows]).predict_proba(x.iloc[rows])[:, 1]


def cross_validated_scores(
    model: Any, x: pd.DataFrame, y: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]]
) -> np.ndarray:
    """Each row's score from ``model`` fitted on the other folds (fits run in parallel).

    A row in no fold's held-out part stays NaN.
    """
    predictions = Parallel(n_jobs=-1)(
        delayed(_fit_predict)(model, x, y, fit_rows, rows) for fit_rows, rows in splits
    )
    return _assemble(len(y), splits, predictions)


def _assemble(
    n_rows: int, splits: list[tuple[np.ndarray, np.ndarray]], predictions: list[np.ndarray]
) -> np.ndarray:
    """Each fold's predictions at its held-out rows in one array of ``n_rows`` (NaN where none held out)."""
    out_of_fold = np.full(n_rows, np.nan)
    for (_, held_out), prediction in zip(splits, predictions, strict=True):
        out_of_fold[held_out] = prediction
    return out_of_fold


def search_sample(y: np.ndarray, groups: np.ndarray, max_rows: int, seed: int) -> np.ndarray:
    """Rows of a bounded sample, stratified by churn, with whole groups: every row when there are few.

    Groups are drawn at random (``seed``) within strata of groups with the same number of rows and of
    churned rows, each stratum up to its share of ``max_rows`` (in whole groups, rounded down), so the
    sample keeps the churn rate and the group sizes of the whole closely, and never splits a customer or
    its near-duplicates.
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
    periods: np.ndarray,
    columns: tuple,
    budget: int,
    folds: int,
    seed: int,
) -> tuple[dict[str, Any], np.ndarray, float, float]:
    """Random search over the model's space: the best setting, its out-of-fold predictions and scores.

    The scores are the out-of-fold ROC-AUC within a period (:func:`_out_of_fold`) and its standard
    deviation across the folds.

    Every (setting, fold) fit runs in its own worker process, one per core: processes, unlike the
    models' own threads, keep their speed when the machine is busy.
    """
    space = SEARCH_SPACES[name]
    size = int(np.prod([len(v) for v in space.values()]))
    candidates = list(ParameterSampler(space, n_iter=min(budget, size), random_state=seed))
    splits = list(_folds(folds, seed).split(x, y, groups))
    predictions = Parallel(n_jobs=-1)(
        delayed(_fit_predict)(build_model(name, *columns, seed, settings), x, y, fit_rows, rows)
        for settings in candidates
        for fit_rows, rows in splits
    )
    best: tuple[dict[str, Any], np.ndarray, float, float] | None = None
    for index, settings in enumerate(candidates):
        own = predictions[index * len(splits) : (index + 1) * len(splits)]
        out_of_fold, score, spread = _out_of_fold(y, periods, splits, own)
        if best is None or score > best[2]:
            best = (settings, out_of_fold, score, spread)
    return best


def _out_of_fold(
    y: np.ndarray,
    periods: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    predictions: list[np.ndarray],
) -> tuple[np.ndarray, float, float]:
    """Out-of-fold predictions assembled from the folds, their ROC-AUC, and its spread across folds.

    The ROC-AUC is the mean over ``periods`` (the training cutoffs) of the ROC-AUC within each, since a
    model ranks the customers of one cutoff at a time; pooling cutoffs whose churn rates differ would
    also reward telling the cutoffs apart. The spread is that of the same score across the folds.
    """
    out_of_fold = _assemble(len(y), splits, predictions)
    per_fold = [_mean_roc_auc_within(y[rows], out_of_fold[rows], periods[rows]) for _, rows in splits]
    return out_of_fold, _mean_roc_auc_within(y, out_of_fold, periods), float(np.std(per_fold))


def _mean_roc_auc_within(y: np.ndarray, score: np.ndarray, periods: np.ndarray) -> float:
    """The mean over ``periods`` of the ROC-AUC within each (periods with one class left out)."""
    scored = [p for p in np.unique(periods) if len(np.unique(y[periods == p])) == 2]
    if not scored:
        return float(roc_auc_score(y, score))
    return float(np.mean([roc_auc_score(y[periods == p], score[periods == p]) for p in scored]))


def train_and_evaluate(
    features: pd.DataFrame, params: ChurnParams, seed: int, label: str = LABEL, fold: int = 0
) -> ChurnResult:
    """Search, calibrate and fit every model on the training rows and score it on the test rows.

    The best model is chosen by its out-of-fold ROC-AUC on the training rows, never by the test rows.
    ``label`` names the binary outcome column (churn by default; the next purchase reuses the same
    validation); ``fold`` is the held-out fold of :func:`validation_split`.
    """
    numeric, categorical = feature_columns(features, label)
    names = numeric + categorical
    split = validation_split(features, params.test_size, seed, label, fold)
    x, y, groups = features[names], features[label].to_numpy(), customer_groups(features)
    x_train, y_train, x_test, y_test = x.iloc[split.train], y[split.train], x.iloc[split.test], y[split.test]
    levels = {c: int(x_train[c].nunique()) for c in categorical}
    columns = (numeric, categorical, levels)
    train = features.iloc[split.train]
    recent = _latest_rows(train)
    calibration_rate = float(y_train[recent].mean())
    base_rate = _base_rate(train, label, calibration_rate, params)
    searched_rows = search_sample(y_train, groups[split.train], params.search.max_rows, seed)
    x_searched, y_searched = x_train.iloc[searched_rows], y_train[searched_rows]
    groups_searched, recent_searched = groups[split.train][searched_rows], recent[searched_rows]
    periods = _periods(train)[searched_rows]
    searched = {}
    for name in (*MODELS, REFERENCE):
        budget = params.search.budget * (REFERENCE_BUDGET_FACTOR if name == REFERENCE else 1)
        searched[name] = _search(
            name, x_searched, y_searched, groups_searched, periods, columns, budget, params.search.folds, seed
        )
    searched[ENSEMBLE] = _ensemble(
        searched,
        y_searched,
        periods,
        list(_folds(params.search.folds, seed).split(x_searched, y_searched, groups_searched)),
    )
    x_fit, y_fit = x_train, y_train
    if len(searched_rows) == len(y_train):
        # Out-of-fold scores over more folds than the search's: fold models fitted on more of the rows,
        # closer to the final fit on all of them.
        calibration_rows = np.flatnonzero(recent)
        calibration_scores = _calibration_scores(
            searched, x_train, y_train, groups[split.train], columns, params, seed
        )
    else:
        # The final models fit on many more rows than the search's folds did, so their out-of-fold scores
        # would not calibrate them: the search sample's latest-cutoff rows are held out to calibrate, with
        # every other row of their groups.
        calibration_rows, calibration_scores = searched_rows[recent_searched], None
        fitted = ~np.isin(groups[split.train], groups[split.train][calibration_rows])
        x_fit, y_fit = x_train.iloc[np.flatnonzero(fitted)], y_train[fitted]
        base_rate["calibration_rate"] = float(y_train[calibration_rows].mean())
        if base_rate["target_rate"] == calibration_rate:  # kept, not moved: the calibration set's rate
            base_rate["target_rate"] = base_rate["calibration_rate"]
    observed = y_train[calibration_rows]
    models, scores, probabilities, rankings = {}, {}, {}, {}
    for name, (settings, _, cv_roc_auc, cv_spread) in searched.items():
        with threadpool_limits(1):  # steady under load, like the search
            pipeline = build_model(name, *columns, seed, settings, params.max_fit_rows).fit(x_fit, y_fit)
        if calibration_scores is None:
            raw = pipeline.predict_proba(x_train.iloc[calibration_rows])[:, 1]
        else:
            raw = calibration_scores[name][calibration_rows]
        calibrator = fit_platt(raw, observed)
        threshold = evaluate.profit_threshold(observed, platt(calibrator, raw), params.business)
        models[name] = CalibratedModel(
            pipeline, calibrator, base_rate["calibration_rate"], base_rate["target_rate"]
        )
        probabilities[name] = models[name].predict_proba(x_test)[:, 1]
        rankings[name] = models[name].ranking_score(x_test)
        uncorrected = platt(calibrator, rankings[name])
        scores[name] = {
            **evaluate.classification_metrics(y_test, probabilities[name], threshold, rankings[name]),
            "ece_uncorrected": evaluate.expected_calibration_error(y_test, uncorrected),
            "threshold": threshold,
            "cv_roc_auc": cv_roc_auc,
            "cv_roc_auc_std": cv_spread,
            "settings": dict(settings),
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
        test_ranking=rankings,
        calibration=base_rate,
        naive=_naive_scores(features, best, scores[best]["settings"], columns, params, seed, label),
        training_sha256=table_sha256(features.iloc[split.train]),
        n_searched=len(searched_rows),
    )


def _calibration_scores(
    searched: dict[str, tuple],
    x: pd.DataFrame,
    y: np.ndarray,
    groups: np.ndarray,
    columns: tuple,
    params: ChurnParams,
    seed: int,
) -> dict[str, np.ndarray]:
    """Out-of-fold scores of every searched setting over ``churn.calibration_folds`` group folds.

    The soft vote's scores are the vote of its members' scores: fitted with the same seeds on the same
    folds, its members are the same models.
    """
    splits = list(_folds(min(params.calibration_folds, len(np.unique(groups))), seed).split(x, y, groups))
    calibration = {
        name: cross_validated_scores(
            build_model(name, *columns, seed, settings, params.max_fit_rows), x, y, splits
        )
        for name, (settings, *_) in searched.items()
        if name != ENSEMBLE
    }
    if ENSEMBLE in searched:
        calibration[ENSEMBLE] = soft_vote([calibration[member] for member in BOOSTED])
    return calibration


def _ensemble(
    searched: dict[str, tuple],
    y: np.ndarray,
    periods: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
) -> tuple[dict[str, Any], np.ndarray, float, float]:
    """The soft vote of the boosted competitors (:data:`BOOSTED`), scored out of fold.

    Every model is searched on the same folds, so the members' averaged out-of-fold predictions are the
    vote's own out-of-fold predictions.
    """
    members = list(BOOSTED)
    predictions = soft_vote([searched[m][1] for m in members])
    out_of_fold, score, spread = _out_of_fold(y, periods, splits, [predictions[rows] for _, rows in splits])
    return {m: searched[m][0] for m in members}, out_of_fold, score, spread


def _base_rate(
    train: pd.DataFrame, label: str, calibration_rate: float, params: ChurnParams
) -> dict[str, Any]:
    """The churn rate the probabilities are moved to (``target_rate``), and why, from the training rows only.

    ``churn.base_rate: trend`` carries the log-odds trend of the training cutoffs' churn rates one period
    on; ``latest`` keeps ``calibration_rate``; ``auto`` takes the trend when the rate moved the same way
    at every step and a chi-square test rejects one churn rate for every training cutoff at
    ``churn.drift_significance``. The test treats a customer's rows at different cutoffs as independent;
    their labels correlate positively, so it overstates the variance of a change and errs towards no
    correction. A snapshot has one rate.
    """
    by_cutoff = (
        train.groupby(CUTOFF)[label].agg(["sum", "size"]).sort_index()
        if CUTOFF in train.columns
        else pd.DataFrame({"sum": [int(train[label].sum())], "size": [len(train)]})
    )
    rates = (by_cutoff["sum"] / by_cutoff["size"]).astype(float).tolist()
    p_value = drift_p_value(by_cutoff["sum"].astype(int).tolist(), by_cutoff["size"].astype(int).tolist())
    one_way = len(set(np.sign(np.diff(rates)))) == 1
    differ = p_value < params.drift_significance and len(rates) > 1
    trend = params.base_rate == "trend" or (params.base_rate == "auto" and differ and one_way)
    return {
        "calibration_rate": calibration_rate,
        "target_rate": expected_base_rate(rates) if trend else calibration_rate,
        "rule": params.base_rate,
        "training_rates": rates,
        "drift_p_value": p_value,
        "rates_differ": differ,
        "rates_move_one_way": one_way,
    }


def _periods(train: pd.DataFrame) -> np.ndarray:
    """Each training row's cutoff as an integer code (one period for a snapshot)."""
    if CUTOFF not in train.columns:
        return np.zeros(len(train), dtype=int)
    return pd.factorize(train[CUTOFF], sort=True)[0]


def choose_best(scores: dict[str, dict[str, Any]]) -> str:
    """The competing model with the highest cross-validated ROC-AUC; the reference never wins.

    The competitors are :data:`MODELS` and, when scored, :data:`ENSEMBLE`; ties go to the one listed first.
    """
    return max((m for m in (*MODELS, ENSEMBLE) if m in scores), key=lambda m: scores[m]["cv_roc_auc"])


def _latest_rows(train: pd.DataFrame) -> np.ndarray:
    """Training rows of the latest training cutoff (every row of a snapshot).

    Calibration and the threshold follow the most recent period, because churn drifts between cutoffs.
    """
    if CUTOFF not in train.columns:
        return np.ones(len(train), dtype=bool)
    return (train[CUTOFF] == train[CUTOFF].max()).to_numpy()


def _naive_scores(
    features: pd.DataFrame,
    name: str,
    settings: dict[str, Any],
    columns: tuple,
    params: ChurnParams,
    seed: int,
    label: str = LABEL,
) -> dict[str, float]:
    """ROC-AUC and PR-AUC of the same model and setting under the naive split.

    Beyond ``churn.search.max_rows`` rows the comparison runs on a stratified sample of that many; ``rows``
    says how many rows it split.
    """
    y = features[label].to_numpy()
    sample = features.iloc[search_sample(y, customer_groups(features), params.search.max_rows, seed)]
    split = naive_split(sample, params.test_size, seed, label)
    x, y = sample[columns[0] + columns[1]], sample[label].to_numpy()
    model = build_model(name, *columns, seed, settings, params.max_fit_rows)
    probability = model.fit(x.iloc[split.train], y[split.train]).predict_proba(x.iloc[split.test])[:, 1]
    return {
        "roc_auc": float(roc_auc_score(y[split.test], probability)),
        "pr_auc": float(average_precision_score(y[split.test], probability)),
        "rows": len(sample),
        "of_rows": len(features),
    }


def intervals(result: ChurnResult, seed: int) -> dict[str, list[float]]:
    """Bootstrap 95% intervals over the test customers' groups.

    The best model's ROC-AUC and PR-AUC, and its ROC-AUC minus the reference's on the same resamples
    (``roc_auc_gain_over_reference_ci``). Beyond :data:`EVIDENCE_MAX_ROWS` test rows they are taken over a
    stratified sample of groups of that many (:func:`search_sample`), whose own figures can differ a
    little from the whole test set's (``n_evidence`` in the metrics says how many rows).
    """
    rows = _evidence_rows(result, seed)
    y, groups = result.y_test[rows], result.test_groups[rows]
    ranking = result.test_ranking[result.best_model][rows]
    paired = np.column_stack([ranking, result.test_ranking[REFERENCE][rows]])
    scores = {
        "roc_auc": (ranking, roc_auc_score),
        "pr_auc": (ranking, average_precision_score),
        "roc_auc_gain_over_reference": (paired, _roc_auc_gain),
    }
    return {
        f"{key}_ci": evaluate.bootstrap_interval(y, values, score, seed, _BOOTSTRAP_RESAMPLES, groups=groups)
        for key, (values, score) in scores.items()
    }


def _evidence_rows(result: ChurnResult, seed: int) -> np.ndarray:
    """Test rows the intervals and the drivers use: all, or a sample of :data:`EVIDENCE_MAX_ROWS`."""
    return search_sample(result.y_test, result.test_groups, EVIDENCE_MAX_ROWS, seed)


def _roc_auc_gain(y: np.ndarray, paired: np.ndarray) -> float:
    """ROC-AUC of the first column of scores minus that of the second."""
    return float(roc_auc_score(y, paired[:, 0]) - roc_auc_score(y, paired[:, 1]))


def table_sha256(frame: pd.DataFrame) -> str:
    """A fingerprint of a table's values and column names, independent of its file layout."""
    digest = hashlib.sha256(",".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def top_drivers(result: ChurnResult, seed: int, count: int = 10, repeats: int = 5) -> pd.DataFrame:
    """Permutation importance of the best model on the test rows: the mean drop in ROC-AUC per feature.

    Beyond :data:`EVIDENCE_MAX_ROWS` test rows, on a stratified sample of that many.
    """
    rows = _evidence_rows(result, seed)
    model, x, y = result.models[result.best_model], result.x_test.iloc[rows], result.y_test[rows]
    rng = np.random.default_rng(seed)
    base = roc_auc_score(y, model.ranking_score(x))
    drops = []
    for column in result.features:
        shuffled = x.copy()
        scores = []
        for _ in range(repeats):
            shuffled[column] = x[column].to_numpy()[rng.permutation(len(x))]
            scores.append(roc_auc_score(y, model.ranking_score(shuffled)))
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
    Beyond :data:`EVIDENCE_MAX_ROWS` customers, on a random sample of that many.
    """
    rng = np.random.default_rng(seed)
    if len(x) > EVIDENCE_MAX_ROWS:
        rows = np.sort(rng.choice(len(x), EVIDENCE_MAX_ROWS, replace=False))
        x, segments = x.iloc[rows], segments[rows]
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
        return {
            k: round(v, 4) if isinstance(v, float) else [round(x, 4) for x in v] if isinstance(v, list) else v
            for k, v in values.items()
        }

    return {
        "validation": result.split.validation,
        "validation_detail": result.split.detail,
        "best_model": best,
        **rounded({k: v for k, v in result.metrics[best].items() if k != "settings"}),
        **intervals(result, seed),
        "ece_by_chance": [round(v, 3) for v in evaluate.ece_by_chance(probability, seed)],
        "calibration": rounded(result.calibration),
        "n_train": len(result.split.train),
        "n_searched": result.n_searched,
        "n_evidence": len(_evidence_rows(result, seed)),
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
        "revenue_at_risk_to_date": round(float(retention.revenue_at_risk_to_date(scores).sum()), 2),
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
    gain_low, gain_high = metrics["roc_auc_gain_over_reference_ci"]
    if gain_low > 0:
        verdict = "beats"
    elif gain_high < 0:
        verdict = "falls short of"
    else:
        verdict = "is level with (the 95% interval of the difference spans zero)"
    return (
        f"On {metrics['n_test']:,} test customers ({metrics['test_churn_rate']:.1%} churned) the chosen "
        f"model, **{metrics['best_model']}**, reaches ROC-AUC {metrics['roc_auc']:.3f} (95% interval "
        f"{low:.3f}-{high:.3f}) and PR-AUC {metrics['pr_auc']:.3f} ({pr_low:.3f}-{pr_high:.3f}), "
        f"against {baseline['roc_auc']:.3f} for {_ROLES['logistic_regression']}; it {verdict} "
        f"{_ROLES[REFERENCE]} (ROC-AUC {reference['roc_auc']:.3f}). Its expected calibration error is "
        f"{metrics['ece']:.3f}."
    )


def oracle_sentence(metrics: dict[str, Any]) -> str | None:
    """The chosen model against the best possible ranking (synthetic data only), or ``None``."""
    oracle = metrics.get("oracle_roc_auc")
    if oracle is None:
        return None
    share = (metrics["roc_auc"] - 0.5) / (oracle - 0.5) if oracle > 0.5 else float("nan")
    return (
        f"The generator knows each customer's true chance of making no purchase in the horizon; ranking the "
        f"same test customers by it gives ROC-AUC {oracle:.3f}, the best any model could reach. The chosen "
        f"model's {metrics['roc_auc']:.3f} covers {share:.0%} of the way from a coin toss (0.5) to that "
        "ceiling; the rest lies in what no model sees (each customer's engagement, decay and churn date)."
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


def naive_rows_phrase(metrics: dict[str, Any]) -> str:
    """``all N rows`` the naive split divided (every customer at every cutoff), or its bounded sample."""
    rows, total = metrics["naive"].get("rows"), metrics["naive"].get("of_rows")
    if rows is None or total is None:
        return "the rows"
    return f"all {rows:,} rows" if rows >= total else f"a sample of {rows:,} of the {total:,} rows"


def leak_sentence(metrics: dict[str, Any]) -> str:
    """What the naive split's ROC-AUC says about the leak it lets in."""
    naive_roc_auc = metrics["naive"]["roc_auc"]
    rows = naive_rows_phrase(metrics)
    gap = naive_roc_auc - metrics["roc_auc"]
    reason = (
        "the same customers at other cutoffs, and the test period itself, then sit on both sides of the "
        "split, and its test rows pool cutoffs whose churn rates differ, so part of its score ranks periods "
        "rather than customers"
        if metrics["validation"] == "time-aware"
        else "near-duplicate customers (one person under two ids) then sit on both sides of the split"
    ) + ", so part of the test is a memory test"
    if gap > LEAK_SHOWN:
        return (
            f"A naive random split of {rows} gives ROC-AUC {naive_roc_auc:.3f}, {gap:.3f} above the "
            f"leak-free figure: {reason}."
        )
    position = f"{-gap:.3f} below" if gap < -LEAK_SHOWN else f"within {abs(gap):.3f} of"
    return (
        f"A naive random split of {rows} gives ROC-AUC {naive_roc_auc:.3f}, {position} the leak-free "
        "figure: here the leak does not flatter the model, but only the leak-free number is a fair estimate "
        "for new customers."
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
