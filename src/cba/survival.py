"""Customer lifetimes: Kaplan-Meier curves, log-rank tests and a Cox proportional-hazards model (lifelines).

A lifetime runs from signup to the last activity. With an event log, a customer churns at their last
activity ``t`` when no activity follows for ``horizon_days``; that is seen only once ``t + horizon_days``
lies within the log, so churns are observable up to the censoring point ``data_end - horizon_days`` and
no later. A customer whose last activity falls before it has churned (the event at ``t``); everyone else
is censored at the censoring point, the last time at which their churn could still have been seen (not
at the end of the data: nobody could be seen to churn in the final horizon, so counting customers at
risk there would bias the hazard low and the lifetimes long).

Customers who signed up before the log began enter the study late (left truncation): they are counted
at risk only from their ``entry`` (the log's start) on, in the Kaplan-Meier curves, the log-rank tests,
the Cox fit, its baseline hazard and its concordance. Customers never at risk before the censoring
point (signed up at or after it) are left out. A snapshot (the Kaggle file) has no truncation: the
lifetime is ``Tenure``, ended by ``Churn``.

A customer is at risk at time ``t`` when ``entry < t <= duration``; an ``entry`` of 0 means observed
from signup, at risk from time 0 on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ibis
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.statistics import proportional_hazard_test
from scipy import stats

from cba.schema import segment_levels

__all__ = [
    "CoxAnalysis",
    "CoxModel",
    "HAZARD_RATIO_COLUMNS",
    "analyse_cox",
    "baseline_cumulative_hazard",
    "concordance",
    "concordance_sentence",
    "hazard_ratio_figure",
    "hazard_ratio_plot",
    "hazard_ratio_sentence",
    "kaplan_meier",
    "lifetimes",
    "lifetimes_from_tenure",
    "logrank_sentence",
    "logrank_test",
    "logrank_tests",
    "median_lifetime_sentence",
    "median_times_to_churn",
    "proportional_hazards_sentence",
    "require_attributes",
    "split_held_out",
    "survival_figure",
    "survival_metrics",
    "survival_times",
    "survival_times_sentence",
]

LIFETIME_COLUMNS = ["customer_id", "entry", "duration", "churned"]
"""The columns every lifetimes table starts with; customer attributes follow."""

HAZARD_RATIO_COLUMNS = ["covariate", "hazard_ratio", "lower_95", "upper_95", "p_value"]
"""The columns of ``plots/survival_hazard_ratios.csv``, one row per Cox covariate."""


# --------------------------------------------------------------------------------------------------
# Lifetimes


def lifetimes(events: ibis.Table, customers: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
    """One row per customer with events: ``entry`` and ``duration`` in days, ``churned``, the attributes.

    Observation runs from the first event of the log to the censoring point, ``horizon_days`` before its
    last event (see the module notes): a churn is a last activity before the censoring point; everyone
    else is censored there. A customer who signed up before the log began enters late (``entry``).
    Customers without events, and those who signed up at or after the censoring point, are left out.
    """
    last = (
        events.group_by("customer_id")
        .aggregate(first_event=events.timestamp.min(), last_event=events.timestamp.max())
        .to_pandas()
    )
    data_start, data_end = last["first_event"].min(), last["last_event"].max()
    censoring_point = data_end - pd.Timedelta(days=horizon_days)
    if censoring_point <= data_start:
        raise ValueError(
            f"churn.horizon_days: the event log spans {(data_end - data_start).days} days, not more than "
            f"the {horizon_days}-day horizon, so no churn can be seen in it"
        )
    frame = customers.merge(last, on="customer_id", how="inner")
    signup = pd.to_datetime(frame["signup_date"]).dt.tz_localize("UTC")
    churned = frame["last_event"] < censoring_point
    observed_until = frame["last_event"].where(churned, censoring_point)
    lives = pd.DataFrame(
        {
            "customer_id": frame["customer_id"],
            "entry": ((data_start - signup).dt.total_seconds() / 86_400).clip(lower=0.0),
            "duration": (observed_until - signup).dt.total_seconds() / 86_400,
            "churned": churned.astype(int),
        }
    )
    attributes = frame.drop(columns=["customer_id", "signup_date", "first_event", "last_event"])
    lives = pd.concat([lives, attributes], axis=1)
    return _ever_at_risk(lives[signup < censoring_point])


def lifetimes_from_tenure(customers: pd.DataFrame) -> pd.DataFrame:
    """Lifetimes of a customer snapshot (the Kaggle file): ``Tenure`` months, ended by ``Churn``.

    Customers whose tenure is unknown (blank, or imputed by cleaning: ``Tenure_missing`` = 1) have no
    lifetime and are left out.
    """
    known = customers["Tenure"].notna()
    if "Tenure_missing" in customers:
        known &= customers["Tenure_missing"] != 1
    frame = customers[known].reset_index(drop=True)
    lives = pd.DataFrame(
        {
            "customer_id": frame["customer_id"],
            "entry": 0.0,
            "duration": frame["Tenure"].astype(float),
            "churned": frame["Churn"].astype(int),
        }
    )
    attributes = frame.drop(columns=["customer_id", "Tenure", "Churn", "Tenure_missing"], errors="ignore")
    return pd.concat([lives, attributes], axis=1)


def require_attributes(lives: pd.DataFrame, names: Sequence[str], key: str) -> None:
    """Fail, naming the params ``key``, when one of ``names`` is not a customer attribute of ``lives``."""
    attributes = [column for column in lives.columns if column not in LIFETIME_COLUMNS]
    for name in names:
        if name not in attributes:
            raise KeyError(f"{key}: {name!r} is not a customer attribute; choose from {attributes}")


# --------------------------------------------------------------------------------------------------
# Risk sets with late entry


def _sum_at_or_after(keys: np.ndarray, values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """For each of ``times``, the sum of the ``values`` rows whose key is at or after it."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    tail = np.cumsum(values[order][::-1], axis=0)[::-1]
    tail = np.concatenate([tail, np.zeros((1,) + tail.shape[1:])])
    return tail[np.searchsorted(sorted_keys, times, side="left")]


def _risk_set_sums(lives: pd.DataFrame, values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Sums of ``values`` over the customers at risk at each of ``times`` (``entry < t <= duration``)."""
    duration = lives["duration"].to_numpy(float)
    entry = lives["entry"].to_numpy(float)
    not_yet_entered_until = np.where(entry > 0, entry, -np.inf)
    return _sum_at_or_after(duration, values, times) - _sum_at_or_after(not_yet_entered_until, values, times)


def _event_times(lives: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Distinct churn times, ascending, and the number of churns at each."""
    times, counts = np.unique(
        lives.loc[lives["churned"] == 1, "duration"].to_numpy(float), return_counts=True
    )
    return times, counts


# --------------------------------------------------------------------------------------------------
# Kaplan-Meier and log-rank


def kaplan_meier(lives: pd.DataFrame, step: float, segment: str | None = None) -> tuple[pd.DataFrame, dict]:
    """Survival curves overall and per level of ``segment`` on a grid of ``step``, medians, a log-rank test.

    The log-rank p-value is None without a segment or when the segment has a single level.
    """
    grid = np.arange(0, float(lives["duration"].max()) + step, step)
    curves = pd.DataFrame({"time": grid})
    levels = segment_levels(lives[segment]) if segment else pd.Series("all", index=lives.index)
    groups = [("overall", lives)] + ([(str(lv), part) for lv, part in lives.groupby(levels, sort=True)])
    medians = {}
    for label, part in groups if segment else groups[:1]:
        fitter = KaplanMeierFitter().fit(part["duration"], part["churned"], entry=part["entry"])
        curves[label] = fitter.survival_function_at_times(grid).to_numpy().round(4)
        median = fitter.median_survival_time_
        medians[label] = None if not np.isfinite(median) else round(float(median), 1)
    test = logrank_test(lives, segment) if segment and levels.nunique() > 1 else None
    summary = {
        "n_customers": len(lives),
        "n_churned": int(lives["churned"].sum()),
        "median_lifetime": medians,
        "logrank_p_value": test["p_value"] if test else None,
        "churn_rate_by_segment": lives.groupby(levels)["churned"].mean().round(4).to_dict(),
    }
    return curves, summary


def logrank_test(lives: pd.DataFrame, segment: str) -> dict[str, Any]:
    """Log-rank test that every level of ``segment`` has the same hazard, with late entry respected.

    Returns the chi-squared ``statistic`` (``degrees_of_freedom`` = levels - 1), its ``p_value`` and the
    number of ``levels``; churns observed and expected per level are compared at every churn time.
    """
    levels = segment_levels(lives[segment])
    names = sorted(levels.unique())
    membership = (levels.to_numpy()[:, None] == np.array(names)[None, :]).astype(float)
    times, churns = _event_times(lives)
    at_risk = _risk_set_sums(lives, membership, times)
    churned = lives["churned"].to_numpy() == 1
    churned_by_level = np.zeros_like(at_risk)
    np.add.at(
        churned_by_level,
        np.searchsorted(times, lives["duration"].to_numpy(float)[churned]),
        membership[churned],
    )
    total = at_risk.sum(axis=1)
    share = at_risk / total[:, None]
    observed_minus_expected = (churned_by_level - churns[:, None] * share).sum(axis=0)
    spread = np.where(total > 1, churns * (total - churns) / np.maximum(total - 1, 1), 0.0)
    covariance = np.diag(spread @ share) - np.einsum("t,tk,tl->kl", spread, share, share)
    free = slice(0, len(names) - 1)
    statistic = float(
        observed_minus_expected[free] @ np.linalg.solve(covariance[free, free], observed_minus_expected[free])
    )
    degrees = len(names) - 1
    return {
        "segment": segment,
        "levels": len(names),
        "statistic": statistic,
        "degrees_of_freedom": degrees,
        "p_value": float(stats.chi2.sf(statistic, degrees)),
    }


def logrank_tests(lives: pd.DataFrame, segments: Sequence[str]) -> pd.DataFrame:
    """One log-rank test per segment (see :func:`logrank_test`), in the order given."""
    return pd.DataFrame([logrank_test(lives, segment) for segment in segments])


# --------------------------------------------------------------------------------------------------
# Cox proportional hazards


def split_held_out(lives: pd.DataFrame, test_share: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training and held-out customers, drawn at random (``seed``); near-duplicates stay on one side.

    Customers sharing a ``duplicate_group`` (when the column exists) move together, so no customer is
    scored against a copy of itself seen in training.
    """
    groups = "c" + lives["customer_id"].astype("string")
    if "duplicate_group" in lives:
        shared = lives["duplicate_group"].notna()
        groups = groups.where(~shared, "g" + lives["duplicate_group"].astype("string"))
    names = np.sort(groups.unique())
    shuffled = np.random.default_rng(seed).permutation(names)
    sizes = groups.value_counts().reindex(shuffled).to_numpy()
    held_out = set(shuffled[np.cumsum(sizes) <= round(test_share * len(lives))])
    in_test = groups.isin(held_out).to_numpy()
    return lives[~in_test].reset_index(drop=True), lives[in_test].reset_index(drop=True)


def baseline_cumulative_hazard(lives: pd.DataFrame, relative_hazard: np.ndarray) -> pd.Series:
    """Breslow cumulative hazard at each churn time, for a relative hazard of 1, with late entry respected.

    With every ``relative_hazard`` equal to 1 this is the Nelson-Aalen estimate.
    """
    times, churns = _event_times(lives)
    at_risk = _risk_set_sums(lives, np.asarray(relative_hazard, float)[:, None], times)[:, 0]
    return pd.Series(np.cumsum(churns / at_risk), index=times, name="cumulative_hazard")


def median_times_to_churn(
    lives: pd.DataFrame, cumulative_hazard: pd.Series, relative_hazard: np.ndarray
) -> pd.DataFrame:
    """Each customer's median predicted time to churn, counted from the end of observation.

    With an event log the end of observation of an active customer is the censoring point, a horizon
    before the end of the data (see the module notes).

    For a customer still active after ``duration`` (their ``observed_lifetime``), the time ``s`` at which
    the predicted chance of still being active, given they were active at ``duration``, first falls to
    one half: ``relative_hazard * (H(duration + s) - H(duration)) >= ln 2``. It is ``inf`` when that never
    happens within the times the data cover (the median lies beyond them), and missing (NaN) for
    customers who have already churned.
    """
    times, hazard = cumulative_hazard.index.to_numpy(float), cumulative_hazard.to_numpy(float)
    observed = lives["duration"].to_numpy(float)
    hazard_so_far = np.concatenate([[0.0], hazard])[np.searchsorted(times, observed, side="right")]
    position = np.searchsorted(hazard, hazard_so_far + np.log(2) / np.asarray(relative_hazard, float))
    reached = position < len(times)
    remaining = np.where(reached, times[np.minimum(position, len(times) - 1)] - observed, np.inf)
    churned = lives["churned"].to_numpy() == 1
    return pd.DataFrame(
        {
            "customer_id": lives["customer_id"].astype("int64").to_numpy(),
            "churned": churned.astype("int64"),
            "observed_lifetime": observed,
            "median_time_to_churn": np.where(churned, np.nan, remaining),
        }
    )


def concordance(lives: pd.DataFrame, relative_hazard: np.ndarray) -> float:
    """Harrell's concordance of ``relative_hazard`` with the lifetimes, with late entry respected.

    A pair is comparable when one customer churned at ``t`` and the other was at risk at ``t`` (see the
    module notes) and had not churned by then; it is concordant when the one who churned first has the
    higher hazard, and counts one half when the hazards tie. Without late entry this is lifelines'
    ``concordance_index``. Customers never at risk are left out.
    """
    at_risk = _ever_at_risk(lives.assign(relative_hazard=np.asarray(relative_hazard, float)))
    duration, entry = at_risk["duration"].to_numpy(float), at_risk["entry"].to_numpy(float)
    churned = at_risk["churned"].to_numpy() == 1
    hazard_rank = np.unique(at_risk["relative_hazard"].to_numpy(), return_inverse=True)[1].ravel()
    # Customers still in the study at t: those who leave after t (or are censored at t), less those who
    # enter at or after t. Every late entrant leaves after entering, so the second set lies in the first.
    leaving = _pairs_with_later(duration[churned], hazard_rank[churned], duration, hazard_rank, churned)
    entering = _pairs_with_later(
        duration[churned], hazard_rank[churned], entry[entry > 0], hazard_rank[entry > 0], None
    )
    concordant, tied, pairs = (a - b for a, b in zip(leaving, entering, strict=True))
    if pairs == 0:
        raise ValueError("no comparable pairs: nobody churned while another customer was at risk")
    return (concordant + tied / 2) / pairs


def _pairs_with_later(
    churn_times: np.ndarray,
    churn_ranks: np.ndarray,
    times: np.ndarray,
    ranks: np.ndarray,
    churned: np.ndarray | None,
) -> tuple[int, int, int]:
    """Pairs of a churn and a customer whose time is after it: with a lower hazard rank, tied, in all.

    A customer whose time equals the churn time counts unless ``churned`` marks them as churned then.
    Counted in O(n log² n): customers in order of time, latest first, each churn counting the customers
    before it level by level (halves of blocks of 2, 4, 8, ... positions).
    """
    later_first = np.zeros(len(times)) if churned is None else churned.astype(float) * 2
    # At an equal time: counted customers (0), then the churns (1), then churned customers (2).
    order = np.lexsort(
        (
            np.concatenate([later_first, np.ones(len(churn_times))]),
            -np.concatenate([times, churn_times]),
        )
    )
    is_churn = (np.arange(len(times) + len(churn_times)) >= len(times))[order]
    rank = np.concatenate([ranks, churn_ranks])[order].astype(np.int64)
    span = int(rank.max(initial=0)) + 2
    position = np.arange(len(order))
    lower = tied = 0
    level = 1
    while level < len(order):
        block = position // (2 * level)
        first_half = (position // level) % 2 == 0
        pool = np.sort(block[first_half & ~is_churn] * span + rank[first_half & ~is_churn])
        query = block[~first_half & is_churn] * span + rank[~first_half & is_churn]
        below, at = np.searchsorted(pool, query, "left"), np.searchsorted(pool, query, "right")
        lower += int((below - np.searchsorted(pool, query - rank[~first_half & is_churn], "left")).sum())
        tied += int((at - below).sum())
        level *= 2
    pairs = int(np.searchsorted(np.flatnonzero(~is_churn), np.flatnonzero(is_churn)).sum())
    return lower, tied, pairs


class CoxModel:
    """Cox proportional-hazards model of lifetimes on customer attributes (lifelines ``CoxPHFitter``).

    Text attributes are one-hot encoded against their most frequent level among the training
    customers; a missing number takes the training median, missing text the level "missing". Late entry
    is used in the fit (``entry_col``), in the baseline hazard and in the proportional-hazards test.

    Parameters
    ----------
    covariates : sequence of str
        Customer attributes the hazard depends on.
    penalizer : float
        L2 penalty on the coefficients (of standardised covariates), as in ``CoxPHFitter``.
    """

    def __init__(self, covariates: Sequence[str], penalizer: float) -> None:
        self.covariates = covariates
        self.penalizer = penalizer

    def fit(self, lives: pd.DataFrame) -> CoxModel:
        """Learn the encoding, the coefficients and the baseline hazard from the training ``lives``."""
        require_attributes(lives, self.covariates, "survival.covariates")
        self.medians_: dict[str, float] = {}
        self.references_: dict[str, str] = {}
        self.levels_: dict[str, list[str]] = {}
        for name in self.covariates:
            if _is_number(lives[name]):
                self.medians_[name] = float(lives[name].median())
            else:
                counts = _text(lives[name]).value_counts()
                self.references_[name] = min(counts.index[counts == counts.max()])
                self.levels_[name] = sorted(
                    level for level in counts.index if level != self.references_[name]
                )
        self.truncated_ = bool((lives["entry"] > 0).any())
        lives = _ever_at_risk(lives)
        self.fitter_ = CoxPHFitter(penalizer=self.penalizer).fit(
            self._frame(lives), "duration", "churned", entry_col="entry" if self.truncated_ else None
        )
        design = self.design(lives)
        self.centre_ = design.mean().to_numpy()
        self.coefficients_ = self.fitter_.params_.reindex(design.columns).to_numpy()
        self.baseline_ = baseline_cumulative_hazard(lives, self.relative_hazard(lives))
        return self

    def design(self, lives: pd.DataFrame) -> pd.DataFrame:
        """The encoded covariates: numbers as they are (imputed), one 0/1 column per non-reference level."""
        require_attributes(lives, self.covariates, "survival.covariates")
        columns = {}
        for name in self.covariates:
            if name in self.medians_:
                columns[name] = pd.to_numeric(lives[name]).astype(float).fillna(self.medians_[name])
            else:
                text = _text(lives[name])
                for level in self.levels_[name]:
                    columns[f"{name}={level}"] = (text == level).astype(float)
        return pd.DataFrame(columns).reset_index(drop=True)

    def relative_hazard(self, lives: pd.DataFrame) -> np.ndarray:
        """Each customer's hazard relative to a customer with the training customers' mean covariates."""
        return np.exp((self.design(lives).to_numpy() - self.centre_) @ self.coefficients_)

    def concordance(self, lives: pd.DataFrame) -> float:
        """Concordance of the predicted hazards with the lifetimes of ``lives`` (see :func:`concordance`)."""
        return concordance(lives, self.relative_hazard(lives))

    def hazard_ratios(self) -> pd.DataFrame:
        """Per encoded covariate: its meaning, hazard ratio with 95% interval, and p-value."""
        summary = self.fitter_.summary
        return pd.DataFrame(
            {
                "covariate": summary.index.to_numpy(),
                "meaning": [self._meaning(column) for column in summary.index],
                "hazard_ratio": summary["exp(coef)"].to_numpy(),
                "lower_95": summary["exp(coef) lower 95%"].to_numpy(),
                "upper_95": summary["exp(coef) upper 95%"].to_numpy(),
                "p_value": summary["p"].to_numpy(),
            }
        )

    def proportional_hazards_test(self, lives: pd.DataFrame) -> pd.DataFrame:
        """Test of proportional hazards per encoded covariate on the training ``lives`` (rank of time).

        lifelines' scaled Schoenfeld residual test; with late entry the residuals are computed here with
        the truncated risk sets (lifelines computes them only without entry times).
        """
        lives = _ever_at_risk(lives)
        residuals = self._scaled_schoenfeld_residuals(lives) if self.truncated_ else None
        result = proportional_hazard_test(
            self.fitter_, self._frame(lives), time_transform="rank", precomputed_residuals=residuals
        )
        summary = result.summary
        return pd.DataFrame(
            {
                "covariate": summary.index.to_numpy(),
                "test_statistic": summary["test_statistic"].to_numpy(),
                "p_value": summary["p"].to_numpy(),
            }
        )

    def median_times_to_churn(self, lives: pd.DataFrame) -> pd.DataFrame:
        """Each customer's median predicted time to churn (see :func:`median_times_to_churn`)."""
        return median_times_to_churn(lives, self.baseline_, self.relative_hazard(lives))

    def _frame(self, lives: pd.DataFrame) -> pd.DataFrame:
        outcome = ["duration", "churned"] + (["entry"] if self.truncated_ else [])
        return pd.concat([self.design(lives), lives[outcome].reset_index(drop=True)], axis=1)

    def _meaning(self, column: str) -> str:
        name, _, level = column.partition("=")
        if level:
            return f"{name} = {level} rather than {self.references_[name]}"
        return f"{name} + 1"

    def _scaled_schoenfeld_residuals(self, lives: pd.DataFrame) -> pd.DataFrame:
        design = self.design(lives).to_numpy()
        weights = self.relative_hazard(lives)
        churned = np.flatnonzero(lives["churned"].to_numpy() == 1)
        times = lives["duration"].to_numpy(float)[churned]
        at_risk = _risk_set_sums(lives, weights[:, None], times)[:, 0]
        weighted_sum = _risk_set_sums(lives, design * weights[:, None], times)
        residuals = design[churned] - weighted_sum / at_risk[:, None]
        scaled = len(churned) * residuals @ self.fitter_.variance_matrix_.to_numpy()
        frame = pd.DataFrame(scaled, index=churned, columns=self.fitter_.params_.index)
        fit_order = self.fitter_.durations.index[self.fitter_.event_observed.to_numpy(bool)]
        return frame.loc[fit_order]


def _ever_at_risk(lives: pd.DataFrame) -> pd.DataFrame:
    """Customers at risk at some time: those who entered late and left at their entry never are."""
    return lives[~((lives["entry"] > 0) & (lives["entry"] >= lives["duration"]))].reset_index(drop=True)


def _is_number(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values)


def _text(values: pd.Series) -> pd.Series:
    return values.astype("string").fillna("missing")


@dataclass(frozen=True)
class CoxAnalysis:
    """A Cox model fitted on training customers and judged on held-out ones."""

    model: CoxModel
    n_train: int
    n_test: int
    concordance: float
    training_concordance: float
    hazard_ratios: pd.DataFrame
    proportional_hazards: pd.DataFrame
    significance: float

    @property
    def violations(self) -> pd.DataFrame:
        """Covariates whose proportional-hazards test rejects at the significance level, worst first."""
        violated = self.proportional_hazards[self.proportional_hazards["p_value"] < self.significance]
        return violated.sort_values(["p_value", "covariate"]).reset_index(drop=True)

    def metrics(self) -> dict[str, Any]:
        """Rounded figures for ``metrics/survival.json``: the same fit gives the same bytes."""
        return {
            "concordance": round(self.concordance, 4),
            "training_concordance": round(self.training_concordance, 4),
            "n_train": self.n_train,
            "n_test": self.n_test,
            "hazard_ratios": {
                row.covariate: _significant(row.hazard_ratio) for row in self.hazard_ratios.itertuples()
            },
            "ph_test_p_values": {
                row.covariate: _significant(row.p_value) for row in self.proportional_hazards.itertuples()
            },
            "ph_violations": self.violations["covariate"].tolist(),
        }


def analyse_cox(
    lives: pd.DataFrame,
    covariates: Sequence[str],
    penalizer: float,
    test_share: float,
    seed: int,
    significance: float,
    max_rows: int | None = None,
) -> CoxAnalysis:
    """Fit a :class:`CoxModel` on a seeded share of customers, score it on the rest, check its assumption.

    With ``max_rows`` the model is fitted (and its assumption checked) on a seeded sample of at most that
    many training customers, near-duplicates together; the held-out customers are scored in full.
    """
    train, test = split_held_out(lives, test_share, seed)
    if max_rows is not None and len(train) > max_rows:
        train = split_held_out(train, max_rows / len(train), seed)[1]
    model = CoxModel(covariates, penalizer).fit(train)
    return CoxAnalysis(
        model=model,
        n_train=len(train),
        n_test=len(test),
        concordance=model.concordance(test),
        training_concordance=model.concordance(train),
        hazard_ratios=model.hazard_ratios(),
        proportional_hazards=model.proportional_hazards_test(train),
        significance=significance,
    )


def _significant(value: float, digits: int = 4) -> float:
    return float(f"{value:.{digits}g}")


def hazard_ratio_plot(hazard_ratios: pd.DataFrame | None) -> pd.DataFrame:
    """The hazard-ratio table for ``plots/``, rounded to 4 significant digits (empty without a model)."""
    if hazard_ratios is None:
        return pd.DataFrame(columns=HAZARD_RATIO_COLUMNS)
    columns = ["hazard_ratio", "lower_95", "upper_95", "p_value"]
    rounded = hazard_ratios[columns].map(_significant) if len(hazard_ratios) else hazard_ratios[columns]
    return pd.concat([hazard_ratios[["covariate"]], rounded], axis=1)


def survival_times(lives: pd.DataFrame, model: CoxModel | None) -> pd.DataFrame:
    """Median predicted time to churn per customer, from the Cox ``model`` or, without one, Nelson-Aalen."""
    if model is not None:
        return model.median_times_to_churn(lives)
    equal = np.ones(len(lives))
    return median_times_to_churn(lives, baseline_cumulative_hazard(lives, equal), equal)


def survival_metrics(
    duration: str,
    segment: str | None,
    summary: dict[str, Any],
    logrank: pd.DataFrame,
    cox: CoxAnalysis | None,
    times: pd.DataFrame,
) -> dict[str, Any]:
    """Everything ``metrics/survival.json`` holds, rounded so that the same run gives the same bytes.

    Without a Cox model (no customer attributes) ``concordance`` is None and the Cox figures are empty.
    """
    active = times.loc[times["churned"] == 0, "median_time_to_churn"]
    typical = float(active.median()) if len(active) else None
    cox_figures = (
        cox.metrics()
        if cox is not None
        else {"concordance": None, "hazard_ratios": {}, "ph_test_p_values": {}, "ph_violations": []}
    )
    p_value = summary["logrank_p_value"]
    return {
        "duration": duration,
        "segment": segment,
        **summary,
        "logrank_p_value": None if p_value is None else _significant(p_value),
        "logrank": {
            row.segment: {
                "statistic": _significant(row.statistic),
                "degrees_of_freedom": int(row.degrees_of_freedom),
                "p_value": _significant(row.p_value),
            }
            for row in logrank.itertuples()
        },
        **cox_figures,
        "median_time_to_churn": {
            "active_customers": len(active),
            "median": None if typical is None or not np.isfinite(typical) else round(typical, 1),
            "beyond_follow_up": int(np.isinf(active).sum()),
        },
    }


# --------------------------------------------------------------------------------------------------
# Sentences


def median_lifetime_sentence(
    summary: dict[str, Any], segment: str | None, unit: str, significance: float
) -> str:
    """Churned customers, the median lifetime overall and per level of ``segment``, and its log-rank test."""

    def lifetime(value: float | None) -> str:
        return (
            f"{value:,.0f} {unit}" if value is not None else "not reached (more than half are still active)"
        )

    medians, p_value = summary["median_lifetime"], summary["logrank_p_value"]
    text = (
        f"{summary['n_churned']:,} of {summary['n_customers']:,} customers churned; the median lifetime is "
        f"{lifetime(medians['overall'])}."
    )
    if segment is None:
        return text + " An own event log carries no customer attributes, so there is no segment to compare."
    text += " " + " ".join(
        f"For {segment} = {level} it is {lifetime(value)}."
        for level, value in medians.items()
        if level != "overall"
    )
    return (
        text
        + f" The log-rank test gives p = {p_value:.2g}"
        + (", so the segments differ." if p_value < significance else ", so no difference is shown.")
    )


def logrank_sentence(logrank: pd.DataFrame, significance: float) -> str:
    """Which segments the log-rank tests separate at the ``significance`` level."""
    differ = logrank[logrank["p_value"] < significance]
    same = logrank[logrank["p_value"] >= significance]
    parts = []
    if len(differ):
        listed = ", ".join(f"{row.segment} (p = {row.p_value:.2g})" for row in differ.itertuples())
        parts.append(f"Lifetimes differ between the levels of {listed}")
    if len(same):
        listed = ", ".join(f"{row.segment} (p = {row.p_value:.2g})" for row in same.itertuples())
        parts.append(f"no difference is shown for {listed}")
    return "; ".join(parts) + f" (log-rank tests at the {significance:.0%} level)."


def hazard_ratio_sentence(hazard_ratios: pd.DataFrame, significance: float) -> str:
    """The covariates that most clearly raise and lower the hazard of churning (smallest p-values)."""
    significant = hazard_ratios[hazard_ratios["p_value"] < significance]
    text = (
        f"{len(significant)} of {len(hazard_ratios)} hazard ratios differ from 1 at the "
        f"{significance:.0%} level."
    )
    # Ranked by evidence (p-value), not by size: a ratio per unit depends on the covariate's scale.
    clearest = significant.sort_values(["p_value", "covariate"])
    rise, fall = (
        clearest[clearest["hazard_ratio"] > 1].head(1),
        clearest[clearest["hazard_ratio"] < 1].head(1),
    )
    for row, direction in ((rise, "rise"), (fall, "fall")):
        for item in row.itertuples():
            text += (
                f" The clearest {direction} in the hazard of churning comes with {item.meaning}: "
                f"×{item.hazard_ratio:.2f} (95% interval {item.lower_95:.2f}–{item.upper_95:.2f})."
            )
    return text


def proportional_hazards_sentence(cox: CoxAnalysis) -> str:
    """Whether any covariate breaks the proportional-hazards assumption, and what that means."""
    violations = cox.violations
    if violations.empty:
        smallest = cox.proportional_hazards["p_value"].min()
        return (
            f"No covariate breaks the proportional-hazards assumption at the {cox.significance:.0%} level "
            f"(smallest p = {smallest:.2g}), so each hazard ratio holds over the whole lifetime."
        )
    listed = ", ".join(f"{row.covariate} (p = {row.p_value:.2g})" for row in violations.itertuples())
    return (
        f"The proportional-hazards assumption fails for {len(violations)} of "
        f"{len(cox.proportional_hazards)} covariates: {listed}. Their effect changes over the lifetime, "
        "so their hazard ratios are averages over it, not constants."
    )


def concordance_sentence(cox: CoxAnalysis) -> str:
    """How well the model orders held-out customers by time to churn."""
    return (
        f"On {cox.n_test:,} held-out customers the model orders {cox.concordance:.1%} of comparable pairs "
        f"correctly by who churns first (concordance {cox.concordance:.3f}; 0.5 is chance; "
        f"{cox.training_concordance:.3f} on the {cox.n_train:,} training customers)."
    )


def survival_times_sentence(times: pd.DataFrame, unit: str) -> str:
    """The typical median time to churn of active customers, and how many lie beyond the data's reach."""
    active = times.loc[times["churned"] == 0, "median_time_to_churn"]
    beyond = int(np.isinf(active).sum())
    typical = float(active.median()) if len(active) else np.nan
    text = (
        f"Of {len(active):,} customers still active, {beyond:,} ({beyond / max(len(active), 1):.0%}) have a "
        "predicted median time to churn beyond the longest lifetime the data cover (written as infinite)"
    )
    if np.isfinite(typical):
        return text + f"; across all of them the median is {typical:,.0f} {unit}."
    return text + ", so the typical active customer is predicted to stay longer than the data can show."


# --------------------------------------------------------------------------------------------------
# Figures


def survival_figure(curves: pd.DataFrame, segment: str, unit: str) -> go.Figure:
    """Kaplan-Meier curves, one line per segment level and one overall."""
    figure = go.Figure()
    for column in curves.columns.drop("time"):
        dash = "dash" if column == "overall" else None
        name = column if column == "overall" else f"{segment} = {column}"
        figure.add_scatter(x=curves["time"], y=curves[column], name=name, line={"shape": "hv", "dash": dash})
    figure.update_layout(
        title=f"Share of customers still active by {unit} since signup, by {segment}",
        xaxis_title=f"{unit} since signup",
        yaxis_title="share still active",
        yaxis_range=[0, 1.02],
    )
    return figure


def hazard_ratio_figure(hazard_ratios: pd.DataFrame) -> go.Figure:
    """Hazard ratios with 95% intervals on a log scale; right of 1 churns sooner."""
    table = hazard_ratios.sort_values("hazard_ratio")
    figure = go.Figure(
        go.Scatter(
            x=table["hazard_ratio"],
            y=table["meaning"],
            mode="markers",
            error_x={
                "type": "data",
                "symmetric": False,
                "array": table["upper_95"] - table["hazard_ratio"],
                "arrayminus": table["hazard_ratio"] - table["lower_95"],
            },
        )
    )
    figure.add_vline(x=1, line_dash="dash")
    figure.update_layout(
        title="Hazard ratios of churn (Cox model, 95% intervals)",
        xaxis_title="hazard ratio (log scale; above 1 churns sooner)",
        xaxis_type="log",
        height=max(350, 40 * len(table) + 150),
    )
    return figure
