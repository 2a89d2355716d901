"""Next purchase: the probability that an active customer buys within ``window_days`` of a cutoff.

The label of a customer at a cutoff is 1 when the customer buys in ``[cutoff, cutoff + window_days)``;
everything the model sees comes from before the cutoff, as for churn, whose leak-free, time-aware and
customer-disjoint validation trains and scores the models. The baseline is BG/NBD's closed-form
probability of at least one purchase in the window, fitted on the purchases before the cutoff; a
customer who has not bought before the cutoff gets the probability of a customer acquired at the
cutoff, ``1 - (alpha / (alpha + window_days)) ** r``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from cba import clv, evaluate
from cba.schema import MissingFeaturesError

__all__ = [
    "BASELINE",
    "LABEL",
    "baseline_probability",
    "bg_nbd_baseline",
    "evaluation",
    "evaluation_sentence",
    "history_at",
    "predict",
    "purchase_labels",
]

LABEL = "buys_within_window"
BASELINE = "bg_nbd"
"""Name of the baseline's probabilities in :func:`evaluation`."""
_SCORES = {
    "roc_auc": roc_auc_score,
    "pr_auc": average_precision_score,
    "brier": brier_score_loss,
    "ece": evaluate.expected_calibration_error,
}


def _utc(stamp: pd.Series) -> pd.Series:
    stamp = pd.to_datetime(stamp)
    return stamp.dt.tz_localize("UTC") if stamp.dt.tz is None else stamp.dt.tz_convert("UTC")


def purchase_labels(rows: pd.DataFrame, purchases: pd.DataFrame, window_days: int) -> pd.Series:
    """1 when the row's customer buys within ``window_days`` from the row's cutoff, else 0.

    ``rows`` has ``customer_id`` and ``cutoff`` (one row per customer and cutoff, e.g. the churn
    features); ``purchases`` has ``customer_id`` and ``timestamp``. The window is
    ``[cutoff, cutoff + window_days)``. The result is aligned with ``rows``.
    """
    keys = pd.DataFrame(
        {
            "row": np.arange(len(rows)),
            "customer_id": rows["customer_id"].to_numpy(),
            "cutoff": _utc(rows["cutoff"]),
        }
    )
    bought = keys.merge(
        pd.DataFrame(
            {"customer_id": purchases["customer_id"].to_numpy(), "timestamp": _utc(purchases["timestamp"])}
        ),
        on="customer_id",
    )
    within = (bought["timestamp"] >= bought["cutoff"]) & (
        bought["timestamp"] < bought["cutoff"] + pd.Timedelta(days=window_days)
    )
    label = np.zeros(len(rows), dtype=np.int64)
    label[bought.loc[within, "row"].unique()] = 1
    return pd.Series(label, index=rows.index, name=LABEL)


def history_at(purchases: pd.DataFrame, cutoff: object) -> pd.DataFrame:
    """The BG/NBD summary (:func:`cba.clv.rfm_summary`) of the purchases before ``cutoff``, at its day."""
    stamp, cutoff = _utc(purchases["timestamp"]), pd.Timestamp(cutoff)
    cutoff = cutoff.tz_localize("UTC") if cutoff.tzinfo is None else cutoff  # naive: UTC
    return clv.rfm_summary(purchases[(stamp < cutoff).to_numpy()], cutoff)


def baseline_probability(
    params: clv.BetaGeoParameters, history: pd.DataFrame, customer_ids: pd.Series, window_days: int
) -> np.ndarray:
    """BG/NBD's probability that each of ``customer_ids`` buys within ``window_days``.

    A customer absent from ``history`` (no purchase yet) counts as acquired at the observation end:
    no repeat purchase, recency and ``T`` of 0.
    """
    known = history.set_index("customer_id")[["frequency", "recency", "T"]]
    rows = known.reindex(pd.Index(customer_ids, name="customer_id")).fillna(0.0).reset_index()
    return 1 - clv.probability_no_purchase(params, rows, window_days)


def bg_nbd_baseline(
    purchases: pd.DataFrame, customer_ids: pd.Series, cutoff: object, window_days: int, seed: int
) -> np.ndarray:
    """BG/NBD fitted to every customer's purchases before ``cutoff``: P(a purchase within the window)."""
    history = history_at(purchases, cutoff)
    return baseline_probability(clv.fit_beta_geo(history, seed), history, customer_ids, window_days)


def evaluation(
    y_true: np.ndarray,
    probabilities: dict[str, np.ndarray],
    seed: int,
    resamples: int = 1000,
    groups: np.ndarray | None = None,
) -> dict[str, object]:
    """ROC-AUC, PR-AUC, Brier score and calibration error (ECE) of each named probability, with intervals.

    Each interval is the 95% percentile bootstrap over resampled rows, or over whole ``groups`` of
    near-duplicate customers when given (:func:`cba.evaluate.bootstrap_interval`).
    """
    y_true = np.asarray(y_true)
    result: dict[str, object] = {
        "rows": len(y_true),
        "buyers": int(y_true.sum()),
        "buy_rate": round(float(y_true.mean()), 4),
    }
    for name, probability in probabilities.items():
        probability = np.asarray(probability, dtype=float)
        point = evaluate.classification_metrics(y_true, probability, threshold=0.5)
        scores: dict[str, object] = {key: round(point[key], 4) for key in _SCORES}
        for key, score in _SCORES.items():
            scores[f"{key}_ci"] = evaluate.bootstrap_interval(
                y_true, probability, score, seed, resamples, groups=groups
            )
        result[name] = scores
    return result


def evaluation_sentence(result: dict[str, object], model: str) -> str:
    """How the model's ranking and calibration compare with the BG/NBD baseline's."""
    ours, baseline = result[model], result[BASELINE]
    return (
        f"Of {result['rows']:,} customers, {result['buy_rate']:.1%} bought within the window. {model} ranks "
        f"them with ROC-AUC {ours['roc_auc']:.3f} (95% interval {ours['roc_auc_ci'][0]:.3f} to "
        f"{ours['roc_auc_ci'][1]:.3f}) against BG/NBD's {baseline['roc_auc']:.3f}, PR-AUC "
        f"{ours['pr_auc']:.3f} against {baseline['pr_auc']:.3f}, Brier score {ours['brier']:.3f} against "
        f"{baseline['brier']:.3f} and calibration error {ours['ece']:.3f} against {baseline['ece']:.3f}."
    )


def predict(artifact: dict[str, Any], customers: pd.DataFrame, source: str = "input") -> pd.DataFrame:
    """Score a customers table with a saved next-purchase model: customer_id, next_purchase_probability.

    ``artifact`` is ``models/next_purchase.joblib``'s mapping (``model``, ``features``). Raises
    :class:`cba.schema.MissingFeaturesError` naming every feature column ``customers`` lacks.
    """
    needed = ["customer_id", *artifact["features"]]
    missing = [c for c in needed if c not in customers.columns]
    if missing:
        raise MissingFeaturesError(f"{source}: missing column(s) {', '.join(missing)} that the model needs")
    probability = artifact["model"].predict_proba(customers[artifact["features"]])[:, 1]
    return pd.DataFrame(
        {
            "customer_id": customers["customer_id"].to_numpy(),
            "next_purchase_probability": probability.round(6),
        }
    )
