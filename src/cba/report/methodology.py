"""Chapter "Methodology and limitations": how the numbers were made and where they stop being trustworthy."""

from __future__ import annotations

from collections.abc import Mapping

from cba import churn, evaluate, forecast
from cba.report.inputs import BookInputs, Missing, lookup
from cba.report.markdown import bullets, model_name, money, number, sentence
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
            f"A naive random split of {_naive_rows(inputs)} scores ROC-AUC {naive:.3f} against "
            f"{roc_auc:.3f} for the validation used ({naive - roc_auc:+.3f}): "
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
        *beyond_churn_validation(inputs),
        "",
        "## Limitations {#sec-limitations}",
        "",
        *bullets(limitations(inputs)),
    ]
    return "\n".join(lines) + "\n"


def beyond_churn_validation(inputs: BookInputs) -> list[str]:
    """How lifetime value, next purchase and the forecast are validated, with their results."""
    lines = ["## Lifetime value, next purchase and the sales forecast {#sec-method-beyond-churn}", ""]
    items = []
    clv, holdout = inputs.metrics.get("clv", {}), inputs.get("clv", "holdout")
    if clv.get("skipped"):
        items.append(f"Lifetime value (BG/NBD and Gamma-Gamma): skipped, {clv['skipped']}.")
    elif isinstance(holdout, Mapping):
        reduction = holdout["mae_reduction_vs_naive"]
        items.append(
            "Lifetime value (BG/NBD and Gamma-Gamma, fitted by MAP): validated on a split in time. Fitted on "
            f"the purchases up to {clv['calibration_end']}, BG/NBD predicted "
            f"{holdout['holdout_purchases_predicted']:,.0f} repeat purchases in the following "
            f"{holdout['holdout_days']} days against {holdout['holdout_purchases_actual']:,} made "
            f"({holdout['holdout_error']:+.1%}); per customer its mean absolute error is "
            f"{holdout['mae_per_customer']:.2f} against {holdout['naive']['mae_per_customer']:.2f} for "
            f"carrying each customer's past rate forward ({abs(reduction):.0%} "
            f"{'lower' if reduction >= 0 else 'higher'})."
        )
    else:
        items.append(f"Lifetime value: the holdout validation is {holdout}.")
    buys = inputs.metrics.get("next_purchase", {})
    best = buys.get("best_model")
    if buys.get("skipped"):
        items.append(f"Next purchase: skipped, {buys['skipped']}.")
    elif best in buys and "bg_nbd" in buys:
        model, baseline = buys[best], buys["bg_nbd"]
        items.append(
            f"Next purchase (a purchase within {buys['window_days']} days): validated as churn is, "
            f"customer-disjoint and time-aware ({buys['validation_detail']}), with the churn models' own "
            f"search, calibration and threshold. {model_name(best)} reaches ROC-AUC {model['roc_auc']:.3f} "
            f"(95% interval {model['roc_auc_ci'][0]:.3f} to {model['roc_auc_ci'][1]:.3f}) against "
            f"{baseline['roc_auc']:.3f} ({baseline['roc_auc_ci'][0]:.3f} to {baseline['roc_auc_ci'][1]:.3f}) "
            "for BG/NBD's closed-form probability; intervals resample whole near-duplicate groups."
        )
    else:
        items.append(f"Next purchase: {Missing('`metrics/next_purchase.json` → `best_model`')}.")
    sales = inputs.metrics.get("forecast", {})
    if sales.get("skipped"):
        items.append(f"Sales forecast: skipped, {sales['skipped']}.")
    elif "revenue" in sales and "test" in sales["revenue"]:
        tested = [
            f"{name} by {sales[name]['chosen_model']} (MASE {sales[name]['test']['mase']:.2f}, 95% interval "
            f"coverage {sales[name]['test']['coverage_95']:.0%} over {sales[name]['test']['days']} days)"
            for name in ("revenue", "orders")
            if name in sales
        ]
        validated, outlook = sales["validated_horizon_days"], sales["outlook_days"]
        items.append(
            f"Sales forecast (daily revenue and orders): validated by rolling origin, {sales['windows']} "
            f"windows of {validated} days at the end of the history, every model refitted on the days before "
            f"each origin. Each series' model is chosen on the first {sales['choosing_windows']} windows and "
            f"tested on the last {sales['test_windows']}, which played no part in the choice: "
            f"{', '.join(tested)}. MASE is the error over the seasonal naive forecast's on the same days "
            f"(below 1 beats it). {forecast.outlook_horizon_sentence(validated, outlook)}"
        )
    else:
        items.append(f"Sales forecast: {Missing('`metrics/forecast.json` → `revenue.test`')}.")
    return [*lines, *bullets(items)]


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
    ece, by_chance = inputs.get("churn", "ece"), inputs.get("churn", "ece_by_chance")
    if isinstance(ece, float):
        chance = ""
        if isinstance(by_chance, list):
            side = "within" if evaluate.within_chance(ece, by_chance) else "beyond"
            chance = (
                f", {side} the {by_chance[1]:.3f} that chance alone reaches in 95 of 100 draws of the labels"
            )
        limits.append(
            f"Predicted probabilities are off from observed churn by {ece:.3f} on average (expected "
            f"calibration error{chance}); revenue at risk and the campaign's value inherit that error."
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


def _naive_rows(inputs: BookInputs) -> str:
    """Which rows the naive split divided: all of them, or the bounded sample it ran on."""
    metrics = {key: inputs.get("churn", key) for key in ("naive", "n_train", "n_test")}
    if any(isinstance(value, Missing) for value in metrics.values()):
        return "the same rows"
    return churn.naive_rows_phrase(metrics)
