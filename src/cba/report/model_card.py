"""Chapter "Model card and datasheet": what the churn model is for, how it was judged, and its data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cba.report.inputs import BookInputs, Missing, lookup
from cba.report.markdown import bullets, float_div, model_name, number, table
from cba.report.methodology import limitations
from cba.schema import human_label

METRIC_NAMES = {
    "roc_auc": "ROC-AUC",
    "pr_auc": "PR-AUC",
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1",
    "brier": "Brier",
    "ece": "ECE",
}
"""The evaluation metrics of the churn stage, in the order the model card shows them, and their names."""

SENSITIVE_ATTRIBUTES = ("Gender", "MaritalStatus")
"""Customer attributes a retention decision should not turn on; the model card reports their use."""


def model_card_markdown(inputs: BookInputs) -> str:
    """The churn model's card (intended use, data, evaluation, limits, ethics) and the data's datasheet."""
    model = inputs.model
    name = model.get("name", inputs.get("churn", "best_model"))
    features = list(model.get("features") or [])
    threshold = model.get("threshold", inputs.get("churn", "threshold"))
    horizon = inputs.get("features", "horizon_days")
    models = inputs.get("churn", "models")
    source = lookup(inputs.params, "params.yaml", "data.source")
    lines = [
        "## Model card {#sec-model-card}",
        "",
        "### Model",
        "",
        f"- Model: {model_name(name)}, chosen among "
        + (", ".join(model_name(key) for key in models) if isinstance(models, Mapping) else str(models))
        + " by cross-validated ROC-AUC on the training customers (folds that keep near-duplicates together).",
        f"- Decision threshold: {number(threshold, '.3f')} (the retention campaign's most profitable point).",
        f"- Inputs: {len(features)} features"
        + (f" ({', '.join(human_label(f) for f in features)})." if features else "."),
        f"- Training data: SHA-256 `{model.get('training_data_sha256', 'not recorded')}`.",
        "",
        "### Intended use",
        "",
        f"Rank current customers by their probability of making no purchase in the next "
        f"{number(horizon, ',')} days, to choose whom to make a retention offer. Not for decisions about "
        "individuals beyond that offer (credit, pricing, service levels), and not for customers of another "
        "shop or period without retraining and re-evaluation.",
        "",
        "### Evaluation",
        "",
        f"Validation: {inputs.get('churn', 'validation')}.",
    ]
    if isinstance(models, Mapping):
        keys = [key for key in METRIC_NAMES if any(key in scores for scores in models.values())]
        rows = [
            (
                model_name(candidate) + (" (chosen)" if candidate == name else ""),
                *(number(scores.get(key), ".3f") if key in scores else "-" for key in keys),
            )
            for candidate, scores in models.items()
        ]
        lines += [
            "",
            *float_div(
                "tbl-model-evaluation",
                table(["Model", *(METRIC_NAMES[key] for key in keys)], rows),
                "Every model on the held-out customers (`metrics/churn.json` → `models`).",
            ),
        ]
    for metric in ("roc_auc", "pr_auc"):
        value, ci = inputs.get("churn", metric), inputs.get("churn", f"{metric}_ci")
        if not isinstance(value, Missing) and isinstance(ci, list):
            lines += ["", f"- {METRIC_NAMES[metric]} {value:.3f}, 95% interval {ci[0]:.3f} to {ci[1]:.3f}."]
    lines += ["", "### Limits", "", *bullets(limitations(inputs))]
    lines += ["", "### Ethical considerations", "", _ethics(inputs, features)]
    lines += [
        "",
        "Customers are identified by id only; the book shows aggregates, never an individual's data.",
        "",
        "## Datasheet {#sec-datasheet}",
        "",
        *_datasheet_lines(inputs, source),
    ]
    return "\n".join(lines) + "\n"


def _ethics(inputs: BookInputs, features: list[str]) -> str:
    used = [attribute for attribute in SENSITIVE_ATTRIBUTES if attribute in features]
    if not used:
        unseen = " or ".join(human_label(attribute) for attribute in SENSITIVE_ATTRIBUTES)
        return (
            f"The model does not see {unseen}; attributes that correlate with them (device, city tier, "
            "payment mode) can still stand in for them, so compare offer rates across groups before acting."
        )
    drivers = inputs.get("churn", "drivers")
    ranks = {d["feature"]: rank for rank, d in enumerate(drivers, 1)} if isinstance(drivers, list) else {}
    seen = ", ".join(
        human_label(attribute)
        + (f" (driver rank {ranks[attribute]})" if attribute in ranks else " (not among the top drivers)")
        for attribute in used
    )
    return (
        f"The model sees {seen}. A retention offer is a benefit, so a score that leans on these attributes "
        "offers it unequally: compare offer rates across their groups before acting, or retrain without them."
    )


def _datasheet_lines(inputs: BookInputs, source: Any) -> list[str]:
    origin = {
        "synthetic": 'generated by `cba generate` to mimic the Kaggle "E Commerce Dataset" (same attributes, '
        "vocabularies and close to the same distributions), with injected data-quality faults",
        "kaggle": 'the Kaggle "E Commerce Dataset" (customers with a churn flag, no events), downloaded by '
        "the user",
        "events": "the user's own event log, mapped to the event schema by `data.columns`",
    }.get(str(source), f"the `{source}` source")
    quality = inputs.metrics.get("data_quality") or {}
    composition = [
        f"{name}: {counts['rows_out']:,} rows kept of {counts['rows_in']:,}"
        for name, counts in quality.items()
    ]
    customers, churn_rate = inputs.get("features", "customers"), inputs.get("features", "churn_rate")
    lines = [
        "- Motivation: explain and predict customer churn for retention decisions.",
        f"- Origin: {origin}.",
        "- Composition: " + ("; ".join(composition) if composition else "no data-quality metrics") + ".",
    ]
    if not isinstance(customers, Missing) and not isinstance(churn_rate, Missing):
        lines.append(f"- Labelled customers: {customers:,}, of whom {churn_rate:.1%} churned.")
    lines += [
        "- Preprocessing: rejected rows are kept with their rule in `datasets/interim/rejected/`; timestamps "
        "in UTC; labels made canonical; blanks kept with indicator columns, filled by each model from its "
        "training rows.",
        "- Maintenance: every build records its commit, data hashes and params (the version on the first "
        "page); `dvc repro` rebuilds it.",
    ]
    return lines
