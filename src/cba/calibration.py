"""Churn probabilities from raw model scores: Platt scaling, the prior-shift correction, the soft vote.

A model's raw score ranks customers; :class:`CalibratedModel` maps it to a probability with a logistic map
of its log-odds (strictly increasing, so the ranking is kept) and can move the probabilities from the
churn rate where the map was fitted to another period's (Saerens et al. 2002).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from statsmodels.stats.proportion import proportions_chisquare

__all__ = [
    "AveragedModel",
    "CalibratedModel",
    "drift_p_value",
    "expected_base_rate",
    "fit_platt",
    "log_odds",
    "platt",
    "prior_shift",
    "soft_vote",
]


class AveragedModel(BaseEstimator, ClassifierMixin):
    """A soft vote of several pipelines fitted on the same rows: the mean of their churn log-odds."""

    def __init__(self, members: list[Any]):
        self.members = members

    def fit(self, x: pd.DataFrame, y: np.ndarray) -> AveragedModel:  # noqa: D102
        self.members_ = [clone(member).fit(x, y) for member in self.members]
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:  # noqa: D102
        churn = soft_vote([member.predict_proba(x)[:, 1] for member in self.members_])
        return np.column_stack([1 - churn, churn])


def soft_vote(probabilities: list[np.ndarray]) -> np.ndarray:
    """The churn probability whose log-odds are the mean of the members' log-odds."""
    return expit(np.mean([log_odds(p) for p in probabilities], axis=0))


def prior_shift(probability: np.ndarray, from_rate: float, to_rate: float) -> np.ndarray:
    """Probabilities calibrated where ``from_rate`` churned, moved to a period where ``to_rate`` does.

    The prior-shift correction of Saerens et al. (2002): each customer's churn odds are multiplied by the
    ratio of the two periods' churn odds.
    """
    odds = np.log(to_rate / (1 - to_rate)) - np.log(from_rate / (1 - from_rate))
    return expit(logit(np.clip(probability, 1e-9, 1 - 1e-9)) + odds)


def expected_base_rate(rates: list[float]) -> float:
    """The churn rate one period after ``rates`` (oldest first), continuing their log-odds trend.

    The last step of the trend repeats; a single rate has no trend and is returned as it is.
    """
    if len(rates) < 2:
        return float(rates[-1])
    last, before = logit(rates[-1]), logit(rates[-2])
    return float(expit(2 * last - before))


def drift_p_value(churned: list[int], customers: list[int]) -> float:
    """p-value of the chi-square test that every period shares one churn rate (1.0 for a single period).

    ``churned[i]`` of ``customers[i]`` churned in period ``i``.
    """
    if len(customers) < 2:
        return 1.0
    return float(proportions_chisquare(np.asarray(churned), np.asarray(customers))[1])


class CalibratedModel(BaseEstimator, ClassifierMixin):
    """A fitted pipeline whose churn score passes through a logistic map of its log-odds (Platt scaling).

    ``calibrator`` is fitted out of fold where ``calibration_rate`` churned; the probabilities are moved
    to ``target_rate`` by :func:`prior_shift`. The map is strictly increasing, so the calibrated
    probability ranks customers exactly as :meth:`ranking_score` does.
    """

    def __init__(
        self, pipeline: Any, calibrator: LogisticRegression, calibration_rate: float, target_rate: float
    ):
        self.pipeline = pipeline
        self.calibrator = calibrator
        self.calibration_rate = calibration_rate
        self.target_rate = target_rate
        self.classes_ = np.array([0, 1])

    def ranking_score(self, x: pd.DataFrame) -> np.ndarray:
        """The raw model score, by which customers are ranked (see :mod:`cba.evaluate` on ties)."""
        return self.pipeline.predict_proba(x)[:, 1]

    def uncorrected_proba(self, x: pd.DataFrame) -> np.ndarray:
        """Churn probabilities as calibrated, before the prior-shift correction."""
        return platt(self.calibrator, self.ranking_score(x))

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:  # noqa: D102
        corrected = prior_shift(self.uncorrected_proba(x), self.calibration_rate, self.target_rate)
        return np.column_stack([1 - corrected, corrected])

    def predict(self, x: pd.DataFrame) -> np.ndarray:  # noqa: D102
        return (self.predict_proba(x)[:, 1] >= 0.5).astype(int)


def fit_platt(score: np.ndarray, y: np.ndarray) -> LogisticRegression:
    """A logistic map from a raw score's log-odds to churn (Platt scaling), without a penalty."""
    return LogisticRegression(C=1e6, max_iter=1000).fit(log_odds(score)[:, None], y)


def platt(calibrator: LogisticRegression, score: np.ndarray) -> np.ndarray:
    """Calibrated churn probabilities of raw scores under a :func:`fit_platt` map."""
    return calibrator.predict_proba(log_odds(score)[:, None])[:, 1]


def log_odds(score: np.ndarray) -> np.ndarray:
    """The log-odds of scores in (0, 1), clipped away from 0 and 1."""
    return logit(np.clip(np.asarray(score, dtype=float), 1e-6, 1 - 1e-6))
