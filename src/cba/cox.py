"""A Cox proportional-hazards model of customer lifetimes (lifelines), judged on held-out customers.

Lifetimes, late entry and the at-risk rule are those of :mod:`cba.survival`: a customer is at risk at
time ``t`` when ``entry < t <= duration``. Late entry is respected in the fit, the baseline hazard, the
proportional-hazards test, the robust variance and the concordance.

Near-duplicate customers (a shared ``duplicate_group``) are one customer entered twice, so their
lifetimes are not independent: with a group column the intervals and p-values come from the robust
(sandwich) variance with each group as one cluster, as R's ``coxph(..., cluster = group)`` computes it
(lifelines' ``cluster_col`` agrees when no two times tie), and the held-out split keeps each group on one
side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from lifelines import CoxPHFitter
from lifelines.statistics import proportional_hazard_test
from scipy import stats

from cba.survival import (
    baseline_cumulative_hazard,
    ever_at_risk,
    median_times_to_churn,
    require_attributes,
    risk_set_sums,
    round_significant,
)

__all__ = [
    "CoxAnalysis",
    "CoxModel",
    "HAZARD_RATIO_COLUMNS",
    "analyse_cox",
    "concordance",
    "concordance_sentence",
    "hazard_ratio_figure",
    "hazard_ratio_plot",
    "hazard_ratio_sentence",
    "independent_units",
    "proportional_hazards_sentence",
    "split_held_out",
]

HAZARD_RATIO_COLUMNS = ["covariate", "hazard_ratio", "lower_95", "upper_95", "p_value"]
"""The columns of ``plots/survival_hazard_ratios.csv``, one row per Cox covariate."""

# --------------------------------------------------------------------------------------------------
# The held-out split and concordance


def split_held_out(lives: pd.DataFrame, test_share: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training and held-out customers, drawn at random (``seed``); near-duplicates stay on one side.

    Customers sharing a ``duplicate_group`` (when the column exists) move together, so no customer is
    scored against a copy of itself seen in training.
    """
    groups = independent_units(lives)
    names = np.sort(groups.unique())
    shuffled = np.random.default_rng(seed).permutation(names)
    sizes = groups.value_counts().reindex(shuffled).to_numpy()
    held_out = set(shuffled[np.cumsum(sizes) <= round(test_share * len(lives))])
    in_test = groups.isin(held_out).to_numpy()
    return lives[~in_test].reset_index(drop=True), lives[in_test].reset_index(drop=True)


def independent_units(lives: pd.DataFrame) -> pd.Series:
    """Each customer's unit of independence: ``g<group>`` for a near-duplicate group, else ``c<id>``."""
    units = "c" + lives["customer_id"].astype("string")
    if "duplicate_group" in lives:
        shared = lives["duplicate_group"].notna()
        units = units.where(~shared, "g" + lives["duplicate_group"].astype("string"))
    return units


def concordance(lives: pd.DataFrame, relative_hazard: np.ndarray) -> float:
    """Harrell's concordance of ``relative_hazard`` with the lifetimes, with late entry respected.

    A pair is comparable when one customer churned at ``t`` and the other was at risk at ``t`` (see the
    module notes) and had not churned by then; it is concordant when the one who churned first has the
    higher hazard, and counts one half when the hazards tie. Without late entry this is lifelines'
    ``concordance_index``. Customers never at risk are left out.
    """
    at_risk = ever_at_risk(lives.assign(relative_hazard=np.asarray(relative_hazard, float)))
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


# --------------------------------------------------------------------------------------------------
# The model


class CoxModel:
    """Cox proportional-hazards model of lifetimes on customer attributes (lifelines ``CoxPHFitter``).

    Text attributes are one-hot encoded against their most frequent level among the training
    customers; a missing number takes the training median, missing text the level "missing". Late entry
    is used in the fit (``entry_col``), in the baseline hazard and in the proportional-hazards test.
    When the training customers carry a ``duplicate_group`` column, the hazard ratios' intervals and
    p-values use the robust variance clustered by near-duplicate group (``robust_variance_``), else
    lifelines' model-based variance.

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
        lives = ever_at_risk(lives)
        self.fitter_ = CoxPHFitter(penalizer=self.penalizer).fit(
            self._frame(lives), "duration", "churned", entry_col="entry" if self.truncated_ else None
        )
        design = self.design(lives)
        self.centre_ = design.mean().to_numpy()
        self.coefficients_ = self.fitter_.params_.reindex(design.columns).to_numpy()
        self.baseline_ = baseline_cumulative_hazard(lives, self.relative_hazard(lives))
        self.robust_variance_ = self._robust_variance(lives) if "duplicate_group" in lives else None
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
        """Per encoded covariate: its meaning, hazard ratio with 95% interval, and p-value.

        With ``robust_variance_`` the interval and p-value use it (Wald, as lifelines computes them).
        """
        summary = self.fitter_.summary
        if self.robust_variance_ is None:
            lower, upper = summary["exp(coef) lower 95%"], summary["exp(coef) upper 95%"]
            p_value = summary["p"]
        else:
            coefficient = summary["coef"]
            error = np.sqrt(np.diag(self.robust_variance_.loc[summary.index, summary.index].to_numpy()))
            spread = stats.norm.ppf(0.975) * error
            lower, upper = np.exp(coefficient - spread), np.exp(coefficient + spread)
            p_value = stats.chi2.sf((coefficient / error) ** 2, 1)
        return pd.DataFrame(
            {
                "covariate": summary.index.to_numpy(),
                "meaning": [self._meaning(column) for column in summary.index],
                "hazard_ratio": summary["exp(coef)"].to_numpy(),
                "lower_95": np.asarray(lower, float),
                "upper_95": np.asarray(upper, float),
                "p_value": np.asarray(p_value, float),
            }
        )

    def proportional_hazards_test(self, lives: pd.DataFrame) -> pd.DataFrame:
        """Test of proportional hazards per encoded covariate on the training ``lives`` (rank of time).

        lifelines' scaled Schoenfeld residual test; with late entry the residuals are computed here with
        the truncated risk sets (lifelines computes them only without entry times).
        """
        lives = ever_at_risk(lives)
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

    def _score_residuals(self, lives: pd.DataFrame) -> pd.DataFrame:
        """Each customer's contribution to the score at the fitted coefficients, with late entry respected.

        Efron's tie handling, as in the fit: the ``d`` churns at a time ``s`` leave its risk set in ``d``
        equal steps, the ``l``-th with hazard sum ``S0 - l/d * R`` (``R`` the churners' hazard sum) and
        mean covariates ``x̄_l``. A customer's residual is, for their own churn, ``x`` less the mean of the
        ``x̄_l``, less ``r * (x - x̄_l) / S0_l`` summed over every churn time in ``(entry, duration]``
        and its steps (a churner taking part in the ``l``-th step of their own time by ``1 - l/d``).
        These are R's ``coxph`` score residuals; lifelines' agree without late entry and tied times.
        """
        encoded = self.design(lives)
        design = encoded.to_numpy()
        weights = self.relative_hazard(lives)
        duration, entry = lives["duration"].to_numpy(float), lives["entry"].to_numpy(float)
        churned = lives["churned"].to_numpy() == 1
        times, churns = np.unique(duration[churned], return_counts=True)
        at_time = np.searchsorted(times, duration[churned])
        at_risk = risk_set_sums(lives, weights[:, None], times)[:, 0]
        at_risk_design = risk_set_sums(lives, design * weights[:, None], times)
        leaving = np.bincount(at_time, weights[churned], len(times))
        leaving_design = np.zeros_like(at_risk_design)
        np.add.at(leaving_design, at_time, design[churned] * weights[churned, None])
        hazard, weighted = np.zeros(len(times)), np.zeros_like(at_risk_design)  # per time, all steps
        own_hazard, own_weighted = np.zeros(len(times)), np.zeros_like(at_risk_design)  # the l/d parts
        mean_design = np.zeros_like(at_risk_design)
        for step in range(int(churns.max(initial=0))):
            share = np.where(churns > step, step / churns, 0.0)
            remaining = at_risk - share * leaving
            step_mean = (at_risk_design - share[:, None] * leaving_design) / remaining[:, None]
            taking_part = (churns > step) / remaining
            hazard += taking_part
            weighted += step_mean * taking_part[:, None]
            own_hazard += share * taking_part
            own_weighted += step_mean * (share * taking_part)[:, None]
            mean_design += step_mean * ((churns > step) / churns)[:, None]
        cumulative = np.concatenate([[0.0], np.cumsum(hazard)])
        cumulative_weighted = np.vstack([np.zeros(design.shape[1]), np.cumsum(weighted, axis=0)])
        last = np.searchsorted(times, duration, side="right")
        first = np.where(entry > 0, np.searchsorted(times, entry, side="right"), 0)
        residuals = -weights[:, None] * (
            design * (cumulative[last] - cumulative[first])[:, None]
            - (cumulative_weighted[last] - cumulative_weighted[first])
        )
        residuals[churned] += (
            design[churned]
            - mean_design[at_time]
            + weights[churned, None] * (design[churned] * own_hazard[at_time, None] - own_weighted[at_time])
        )
        return pd.DataFrame(residuals, columns=encoded.columns)

    def _robust_variance(self, lives: pd.DataFrame) -> pd.DataFrame:
        """Sandwich variance of the coefficients with near-duplicate groups as clusters (``cluster_col``).

        ``D' D``, with ``D`` the score residuals times the model-based variance, summed per group.
        """
        residuals = self._score_residuals(lives)
        columns = residuals.columns
        variance = self.fitter_.variance_matrix_.loc[columns, columns].to_numpy()
        changes = pd.DataFrame(residuals.to_numpy() @ variance, columns=columns)
        per_unit = changes.groupby(independent_units(lives).to_numpy()).sum()
        return per_unit.T @ per_unit

    def _scaled_schoenfeld_residuals(self, lives: pd.DataFrame) -> pd.DataFrame:
        design = self.design(lives).to_numpy()
        weights = self.relative_hazard(lives)
        churned = np.flatnonzero(lives["churned"].to_numpy() == 1)
        times = lives["duration"].to_numpy(float)[churned]
        at_risk = risk_set_sums(lives, weights[:, None], times)[:, 0]
        weighted_sum = risk_set_sums(lives, design * weights[:, None], times)
        residuals = design[churned] - weighted_sum / at_risk[:, None]
        scaled = len(churned) * residuals @ self.fitter_.variance_matrix_.to_numpy()
        frame = pd.DataFrame(scaled, index=churned, columns=self.fitter_.params_.index)
        fit_order = self.fitter_.durations.index[self.fitter_.event_observed.to_numpy(bool)]
        return frame.loc[fit_order]


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
                row.covariate: round_significant(row.hazard_ratio) for row in self.hazard_ratios.itertuples()
            },
            "ph_test_p_values": {
                row.covariate: round_significant(row.p_value)
                for row in self.proportional_hazards.itertuples()
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


def hazard_ratio_plot(hazard_ratios: pd.DataFrame | None) -> pd.DataFrame:
    """The hazard-ratio table for ``plots/``, rounded to 4 significant digits (empty without a model)."""
    if hazard_ratios is None:
        return pd.DataFrame(columns=HAZARD_RATIO_COLUMNS)
    columns = ["hazard_ratio", "lower_95", "upper_95", "p_value"]
    rounded = hazard_ratios[columns].map(round_significant) if len(hazard_ratios) else hazard_ratios[columns]
    return pd.concat([hazard_ratios[["covariate"]], rounded], axis=1)


# --------------------------------------------------------------------------------------------------
# Sentences


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


# --------------------------------------------------------------------------------------------------
# Figures


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
