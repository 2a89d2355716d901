"""Classification metrics, calibration, bootstrap intervals, and the curves reviewers diff.

Every curve is returned on a fixed grid (rates, deciles, bins) so that its CSV stays small and a
``dvc plots diff`` compares like with like.

Ties. Rankings (ROC-AUC, PR-AUC, the ROC and precision-recall curves, gains, lift and the profit curve)
order customers by a ranking score: the model's raw score, in which the calibrated probability is
monotone (non-decreasing), so ties that calibration creates are broken by the raw score, the same score
the model was chosen on. Customers whose ranking scores are still equal form one unordered block: a cut
through the block takes its share of the block's churners (the expectation over the block's orders), as
ROC-AUC counts a tied pair as half a correct one. Decisions (the threshold, the campaign, the confusion
matrix) use the calibrated probability, and everyone tied at the threshold is contacted together.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from sklearn import metrics

from cba.config import BusinessParams
from cba.retention import campaign_economics

__all__ = [
    "bootstrap_interval",
    "calibration_figure",
    "calibration_sentence",
    "calibration_table",
    "classification_metrics",
    "confusion",
    "ece_by_chance",
    "expected_calibration_error",
    "expected_churners",
    "gains_table",
    "lift_figure",
    "lift_sentence",
    "pr_curve",
    "profit_curve",
    "profit_figure",
    "profit_threshold",
    "roc_curve",
    "roc_figure",
    "within_chance",
]

CALIBRATION_BINS = 10


def classification_metrics(
    y_true: np.ndarray, probability: np.ndarray, threshold: float, ranking: np.ndarray | None = None
) -> dict[str, float]:
    """ROC-AUC, PR-AUC, Brier score, calibration error (ECE), and precision, recall, F1 at ``threshold``.

    ROC-AUC and PR-AUC rank by ``ranking`` (the raw model score; default ``probability``), the rest
    judge the calibrated ``probability``.
    """
    ranking = probability if ranking is None else ranking
    predicted = probability >= threshold
    return {
        "roc_auc": float(metrics.roc_auc_score(y_true, ranking)),
        "pr_auc": float(metrics.average_precision_score(y_true, ranking)),
        "precision": float(metrics.precision_score(y_true, predicted, zero_division=0)),
        "recall": float(metrics.recall_score(y_true, predicted, zero_division=0)),
        "f1": float(metrics.f1_score(y_true, predicted, zero_division=0)),
        "brier": float(metrics.brier_score_loss(y_true, probability)),
        "ece": expected_calibration_error(y_true, probability),
    }


def confusion(y_true: np.ndarray, probability: np.ndarray, threshold: float) -> dict[str, int]:
    """True and false positives and negatives at ``threshold``."""
    tn, fp, fn, tp = metrics.confusion_matrix(y_true, probability >= threshold, labels=[0, 1]).ravel()
    return {
        "true_negative": int(tn),
        "false_positive": int(fp),
        "false_negative": int(fn),
        "true_positive": int(tp),
    }


def _bins(probability: np.ndarray, bins: int) -> np.ndarray:
    """Equal-width probability bins, 0 .. bins-1 (1.0 falls in the last)."""
    return np.minimum((np.asarray(probability) * bins).astype(int), bins - 1)


def expected_calibration_error(
    y_true: np.ndarray, probability: np.ndarray, bins: int = CALIBRATION_BINS
) -> float:
    """Mean gap between predicted and observed churn over equal-width bins, weighted by bin size."""
    frame = pd.DataFrame({"bin": _bins(probability, bins), "p": probability, "y": y_true})
    per_bin = frame.groupby("bin").agg(p=("p", "mean"), y=("y", "mean"), n=("y", "size"))
    return float((per_bin["n"] * (per_bin["p"] - per_bin["y"]).abs()).sum() / len(frame))


def ece_by_chance(probability: np.ndarray, seed: int, resamples: int = 1000) -> tuple[float, float]:
    """The mean and 95th percentile of the calibration error a perfectly calibrated model shows by chance.

    :func:`expected_calibration_error` of ``resamples`` label sets drawn from ``probability`` itself
    (consistency resampling, Bröcker & Smith 2007): with few customers per bin, even true probabilities
    are off from their bin's observed churn. Labels are drawn per customer, independently (customers who
    share outcomes, such as near-duplicates, would widen it).
    """
    probability = np.asarray(probability, dtype=float)
    bins = _bins(probability, CALIBRATION_BINS)
    order = np.argsort(bins, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(bins[order]) != 0])
    predicted = np.add.reduceat(probability[order], starts)
    rng = np.random.default_rng(seed)
    errors = []
    for chunk in np.array_split(np.arange(resamples), max(1, resamples * len(probability) // 10_000_000)):
        drawn = rng.random((len(chunk), len(probability))) < probability
        observed = np.add.reduceat(drawn[:, order], starts, axis=1)
        errors.append(np.abs(observed - predicted).sum(axis=1) / len(probability))
    errors = np.concatenate(errors)
    return float(errors.mean()), float(np.quantile(errors, 0.95))


def within_chance(ece: float, by_chance: Sequence[float]) -> bool:
    """Whether a calibration error is no larger than the 95th percentile of :func:`ece_by_chance`."""
    return ece <= by_chance[1]


def calibration_table(
    y_true: np.ndarray, probability: np.ndarray, bins: int = CALIBRATION_BINS
) -> pd.DataFrame:
    """The reliability diagram: mean predicted and observed churn per equal-width bin that has customers."""
    frame = pd.DataFrame({"bin": _bins(probability, bins), "p": probability, "y": y_true})
    per_bin = frame.groupby("bin").agg(
        predicted=("p", "mean"), observed=("y", "mean"), customers=("y", "size")
    )
    return per_bin.reset_index(drop=True).round(4)


def bootstrap_interval(
    y_true: np.ndarray,
    probability: np.ndarray,
    score,
    seed: int,
    resamples: int = 1000,
    level: float = 0.95,
    groups: np.ndarray | None = None,
) -> list[float]:
    """Percentile bootstrap interval of ``score(y_true, probability)`` over resampled customers.

    With ``groups`` (one label per row) whole groups are resampled, so near-duplicate customers, who
    carry one piece of evidence between them, move together (a cluster bootstrap).
    """
    rng = np.random.default_rng(seed)
    codes = pd.factorize(np.arange(len(y_true)) if groups is None else groups)[0]
    order = np.argsort(codes, kind="stable")  # rows of each group side by side, groups in order
    starts = np.flatnonzero(np.r_[True, codes[order][1:] != codes[order][:-1]])
    sizes = np.diff(np.r_[starts, len(order)])
    values = []
    for _ in range(resamples):
        chosen = rng.integers(0, len(starts), len(starts))
        first_row = np.repeat(starts[chosen], sizes[chosen])
        within = np.arange(sizes[chosen].sum()) - np.repeat(
            np.cumsum(sizes[chosen]) - sizes[chosen], sizes[chosen]
        )
        index = order[first_row + within]
        if y_true[index].min() != y_true[index].max():  # both classes needed for a ranking score
            values.append(score(y_true[index], probability[index]))
    tail = (1 - level) / 2 * 100
    return [round(float(v), 4) for v in np.percentile(values, [tail, 100 - tail])]


def expected_churners(y_true: np.ndarray, ranking: np.ndarray) -> np.ndarray:
    """Churners among the first 0, 1, ..., n customers ranked riskiest first by ``ranking``.

    Customers with equal ``ranking`` form one unordered block; a cut through a block counts its share of
    the block's churners (their expected number over the block's orders), so row order never matters.
    """
    order = np.argsort(-np.asarray(ranking), kind="stable")
    ranked = np.asarray(ranking)[order]
    cumulative = np.r_[0.0, np.cumsum(np.asarray(y_true)[order], dtype=float)]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    ends = np.r_[starts[1:], len(ranked)]
    block_start = np.repeat(starts, ends - starts)
    block_end = np.repeat(ends, ends - starts)
    contacted = np.arange(1, len(ranked) + 1)
    within = (contacted - block_start) / (block_end - block_start)
    churners = cumulative[block_start] + within * (cumulative[block_end] - cumulative[block_start])
    return np.r_[0.0, churners]


def _ranked_profit(
    y_true: np.ndarray, probability: np.ndarray, business: BusinessParams
) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities riskiest first, and the campaign's profit after contacting the first 0, 1, ..., n."""
    order = np.argsort(-probability, kind="stable")
    contacted = np.arange(len(order) + 1)
    money = campaign_economics(contacted, expected_churners(y_true, probability), business)
    return probability[order], money.profit


def profit_threshold(y_true: np.ndarray, probability: np.ndarray, business: BusinessParams) -> float:
    """The probability threshold whose campaign (everyone at or above it) earns the most.

    Ties go to the highest threshold, the smaller campaign; 1.0 means contacting nobody pays best.
    """
    sorted_p, profit = _ranked_profit(y_true, probability, business)
    profit = profit[1:]  # profit[k]: the first k + 1 customers contacted
    # Only cut between distinct probabilities: everyone tied at a threshold is targeted together.
    last_of_tie = np.r_[sorted_p[1:] != sorted_p[:-1], True]
    candidates = np.flatnonzero(last_of_tie)
    best = candidates[np.argmax(profit[candidates])]
    return float(sorted_p[best]) if profit[best] > 0 else 1.0


def profit_curve(
    y_true: np.ndarray, ranking: np.ndarray, business: BusinessParams, points: int = 101
) -> pd.DataFrame:
    """Expected campaign profit when the riskiest share of customers (by ``ranking``) is contacted."""
    _, profit = _ranked_profit(y_true, ranking, business)
    grid = np.linspace(0.0, 1.0, points)
    at = np.round(grid * len(ranking)).astype(int)
    return pd.DataFrame({"share_targeted": grid, "expected_profit": profit[at]}).round(4)


def gains_table(y_true: np.ndarray, ranking: np.ndarray, groups: int = 10) -> pd.DataFrame:
    """Lift and cumulative gains by decile of predicted risk (decile 1 = the riskiest tenth)."""
    n = len(ranking)
    bounds = -(-np.arange(groups + 1) * n // groups)  # decile j holds positions bounds[j-1] .. bounds[j]-1
    churners = np.diff(expected_churners(y_true, ranking)[bounds])
    customers = np.diff(bounds)
    rate = y_true.mean()
    return pd.DataFrame(
        {
            "decile": np.arange(1, groups + 1),
            "customers": customers,
            "churn_rate": churners / customers,
            "lift": churners / customers / rate,
            "cumulative_gains": np.cumsum(churners) / y_true.sum(),
        }
    ).round(4)


def roc_curve(y_true: np.ndarray, probability: np.ndarray, points: int = 101) -> pd.DataFrame:
    """False- and true-positive rates on an even grid of false-positive rates (small, diffable)."""
    fpr, tpr, _ = metrics.roc_curve(y_true, probability)
    grid = np.linspace(0.0, 1.0, points)
    return pd.DataFrame({"fpr": grid, "tpr": np.interp(grid, fpr, tpr)}).round(4)


def pr_curve(y_true: np.ndarray, probability: np.ndarray, points: int = 101) -> pd.DataFrame:
    """Interpolated precision on an even grid of recall values.

    At recall ``r`` the precision is the best any threshold reaches with recall of at least ``r``: the
    upper envelope of the precision-recall curve, as average precision sees it.
    """
    precision, recall, _ = metrics.precision_recall_curve(y_true, probability)
    grid = np.linspace(0.0, 1.0, points)
    envelope = np.maximum.accumulate(
        precision
    )  # recall falls along the arrays: best precision at recall >= r
    reached = len(recall) - np.searchsorted(recall[::-1], grid, side="left")  # points with recall >= r
    return pd.DataFrame({"recall": grid, "precision": envelope[reached - 1]}).round(4)


# --- figures and sentences ----------------------------------------------------------------------------


def roc_figure(roc: pd.DataFrame, model: str) -> go.Figure:
    """The ROC curve of :func:`roc_curve` on the test customers."""
    return px.line(
        roc,
        x="fpr",
        y="tpr",
        title=f"ROC curve, {model}, test customers",
        labels={"fpr": "false-positive rate", "tpr": "true-positive rate"},
    )


def calibration_figure(calibration: pd.DataFrame, model: str) -> go.Figure:
    """The reliability diagram of :func:`calibration_table`, with the diagonal of perfect calibration."""
    figure = px.scatter(
        calibration,
        x="predicted",
        y="observed",
        size="customers",
        title=f"Reliability diagram, {model}: observed against predicted churn per bin",
    )
    figure.add_shape(type="line", x0=0, y0=0, x1=1, y1=1, line={"dash": "dash"})
    return figure


def calibration_sentence(
    calibration: pd.DataFrame,
    ece: float,
    ece_uncorrected: float,
    by_chance: tuple[float, float],
    base_rate: dict,
    test_churn_rate: float,
) -> str:
    """The calibration error before and after the prior-shift correction, against chance, and the widest gap.

    ``by_chance`` is the mean and 95th percentile of the error a perfectly calibrated model would show on
    the same customers (:func:`ece_by_chance`); an error above that percentile is called beyond chance.

    ``base_rate`` is the churn stage's ``calibration`` record: ``calibration_rate`` where the calibration was
    fitted, ``target_rate`` the rate the correction expected for the test period, the ``rule``
    (``churn.base_rate``), the ``training_rates`` and the ``drift_p_value`` of their chi-square test.
    """
    worst = calibration.iloc[(calibration["predicted"] - calibration["observed"]).abs().argmax()]
    fitted, target = base_rate["calibration_rate"], base_rate["target_rate"]
    rates = base_rate.get("training_rates", [])
    p_value = base_rate.get("drift_p_value", 1.0)
    drift = (
        f"The training cutoffs' churn rates ran {' -> '.join(f'{r:.1%}' for r in rates)} "
        f"(chi-square test of one shared rate: {'p < 0.0001' if p_value < 1e-4 else f'p = {p_value:.2g}'}). "
        if len(rates) > 1
        else ""
    )
    if target == fitted:
        kept = ""
        if base_rate.get("rule") == "latest":
            kept = "`churn.base_rate: latest`: "
        elif base_rate.get("rule") == "auto" and not base_rate.get("rates_differ", False):
            kept = "they do not differ significantly (`churn.drift_significance`), so "
        elif base_rate.get("rule") == "auto":
            kept = "they did not move the same way at every step, so no trend is carried on and "
        text = (
            f"{drift}The probabilities were calibrated on the latest training period, where {fitted:.1%} "
            f"churned; {kept}they keep that rate. In the test period {test_churn_rate:.1%} churned. "
            f"The expected calibration error is {ece:.3f}. "
        )
    else:
        change = "lowers" if ece < ece_uncorrected else "does not lower"
        text = (
            f"{drift}The probabilities were calibrated on the latest training period, where {fitted:.1%} "
            f"churned, and moved to the {target:.1%} that the trend of the training cutoffs expects for the "
            f"test period (where {test_churn_rate:.1%} did churn); the correction {change} the expected "
            f"calibration error, {ece_uncorrected:.3f} before and {ece:.3f} after. "
        )
    text += (
        f"By chance alone, a perfectly calibrated model would show {by_chance[0]:.3f} on average on the same "
        f"customers, and up to {by_chance[1]:.3f} in 95 of 100 draws of their labels. "
        f"The widest gap is in the bin around {worst['predicted']:.2f}, where {worst['observed']:.1%} "
        "churned. "
    )
    if within_chance(ece, by_chance):
        return (
            text + "The error is within what chance alone gives: the probabilities track the observed churn."
        )
    return text + (
        f"The error is beyond what chance alone gives ({by_chance[1]:.3f}): read the probabilities as a "
        "ranking more than as exact chances."
    )


def profit_figure(profit: pd.DataFrame) -> go.Figure:
    """The campaign's expected profit of :func:`profit_curve` by share of customers contacted."""
    return px.line(
        profit,
        x="share_targeted",
        y="expected_profit",
        title="Expected campaign profit by share of test customers contacted, riskiest first",
        labels={"share_targeted": "share contacted", "expected_profit": "expected profit"},
    )


def lift_figure(gains: pd.DataFrame) -> go.Figure:
    """Lift by decile of predicted risk, from :func:`gains_table`."""
    return px.bar(gains, x="decile", y="lift", title="Lift by decile of predicted risk (1 = riskiest tenth)")


def lift_sentence(gains: pd.DataFrame) -> str:
    """How much more the riskiest tenth churns, and the churners the riskiest 30% hold."""
    return (
        f"The riskiest tenth churns {gains['lift'].iloc[0]:.1f} times as often as the average customer, and "
        f"the riskiest 30% hold {gains['cumulative_gains'].iloc[2]:.0%} of all churners."
    )
