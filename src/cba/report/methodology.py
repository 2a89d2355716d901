"""Chapter "Methodology and limitations": how the numbers were made and where they stop being trustworthy."""

from __future__ import annotations

from collections.abc import Mapping

from cba.report.inputs import BookInputs, Missing, lookup
from cba.report.markdown import bullets, money, number, sentence
from cba.schema import human_label


def methodology_markdown(inputs: BookInputs) -> str:
    """Data, churn label and model validation, survival, then the limitations, from the metrics."""
    source = lookup(inputs.params, "params.yaml", "data.source")
    cutoff = inputs.get("features", "cutoff")
    horizon = inputs.get("features", "horizon_days")
    if cutoff is None:
        label = (
            "The churn label is the data set's own flag: a snapshot without events has no cutoff, so "
            "features and label describe the same moment."
        )
    else:
        label = (
            f"A customer counts as churned when they make no purchase in the {number(horizon, ',')} days "
            f"after the evaluation cutoff ({cutoff}); every feature comes from before it."
        )
    validation = inputs.get("churn", "validation_detail")
    lines = [
        "## Data {#sec-method-data}",
        "",
        f"Source: `{source}` (`data.source`). The clean stage keeps or rejects every row by a named rule "
        "(see the data-quality chapter), and every table reconciles rows in with rows out plus rejected.",
        "",
        "## Churn label and model {#sec-method-model}",
        "",
        label,
        "",
        f"Validation: {sentence(str(validation))}",
    ]
    naive = inputs.get("churn", "naive.roc_auc")
    roc_auc = inputs.get("churn", "roc_auc")
    if not isinstance(naive, Missing) and not isinstance(roc_auc, Missing):
        lines += [
            "",
            f"A naive random split of the same rows scores ROC-AUC {naive:.3f} against {roc_auc:.3f} for the "
            f"validation used ({naive - roc_auc:+.3f}): "
            + (
                "a random split would overstate the model, which is why it is not used."
                if naive > roc_auc
                else "here it would not flatter the model."
            ),
        ]
    duration = inputs.get("survival", "duration")
    concordance = inputs.get("survival", "concordance")
    lines += [
        "",
        "## Survival {#sec-method-survival}",
        "",
        f"Lifetimes are measured in {duration}; Kaplan-Meier curves per segment, compared with a log-rank "
        "test"
        + (
            f", and a Cox model with a held-out concordance of {concordance:.3f}."
            if isinstance(concordance, float)
            else "."
        ),
        "",
        "## Limitations {#sec-limitations}",
        "",
        *bullets(limitations(inputs)),
    ]
    return "\n".join(lines) + "\n"


def limitations(inputs: BookInputs) -> list[str]:
    """Where this build's numbers stop being trustworthy, each computed from the metrics."""
    limits = []
    low, high = inputs.get("churn", "roc_auc_ci.0"), inputs.get("churn", "roc_auc_ci.1")
    n_test = inputs.get("churn", "n_test")
    if not any(isinstance(v, Missing) for v in (low, high, n_test)):
        limits.append(
            f"The model is judged on {n_test:,} held-out customers; its ROC-AUC is known to within "
            f"{high - low:.3f} (95% interval {low:.3f} to {high:.3f})."
        )
    ece = inputs.get("churn", "ece")
    if isinstance(ece, float):
        limits.append(
            f"Predicted probabilities are off from observed churn by {ece:.3f} on average (expected "
            "calibration error); revenue at risk and the campaign's value inherit that error."
        )
    violations = inputs.get("survival", "ph_violations")
    if isinstance(violations, list) and violations:
        limits.append(
            "The proportional-hazards assumption fails for "
            f"{', '.join(human_label(v) for v in violations)}, so the Cox model's effects for them are "
            "averages over time."
        )
    behaviour = inputs.metrics.get("behaviour") or {}
    if behaviour and not behaviour.get("has_events"):
        limits.append(
            "The source has no events: no behaviour features, funnel or activity; the model sees a snapshot "
            "only."
        )
    campaign = inputs.get("churn", "campaign")
    if isinstance(campaign, Mapping):
        limits.append(
            f"The campaign's value assumes the offer keeps {campaign['offer_success_rate']:.0%} of would-be "
            "churners and that a kept customer is worth "
            f"{money(campaign['retained_value'], inputs.currency, ',.2f')}: both are params, not "
            "measurements, until the A/B tests in the recommendations measure them."
        )
    limits.append(
        "Every relation shown is an association in observational data; only the proposed A/B tests show "
        "whether an intervention causes a change."
    )
    return limits
