"""Chapter "Recommendations": whom to target, what it earns, what to change in the shop, how to verify it.

The sections: the risk segments to target, the campaign's cost and benefit, the funnel change, an A/B
test per recommendation, and what to do about the model and the data feeds.

Every sentence is built from the metrics: the risk segments and their interventions and the campaign
(``churn.json``), the profit curve (``plots/churn_profit.csv``), the funnel drop-off (``behaviour.json``),
the model comparison, data quality and survival; the A/B sample sizes from the observed rates and
``report.ab_test`` in params.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cba.experiment import AbTestPlan, plan_ab_test
from cba.report.inputs import BookInputs, Missing, lookup
from cba.report.markdown import bullets, float_div, model_name, money, number, sentence, table
from cba.schema import human_label

BASELINE_MODEL = "logistic_regression"
"""The churn model every other model must beat to be worth its complexity."""
MIN_ROC_AUC_GAIN = 0.01
"""The smallest ROC-AUC gain over the baseline model that pays for a harder-to-explain model."""
MAX_REJECTED_SHARE = 0.01
"""The share of rejected rows above which a feed gets a recommendation to fix it."""


def recommendations_markdown(inputs: BookInputs) -> str:
    """Which segments to target and how, the campaign's cost and benefit, the funnel change, A/B tests."""
    ab = inputs.params["report"]["ab_test"]
    segments_lines, segment_tests = _segments_section(inputs, ab)
    funnel_lines, funnel_tests = _funnel_section(inputs, ab)
    sections = [
        segments_lines,
        _campaign_section(inputs),
        funnel_lines,
        _ab_section([*segment_tests, *funnel_tests], ab),
        _model_and_data_section(inputs),
    ]
    return "\n\n".join("\n".join(lines) for lines in sections) + "\n"


def decision_threshold(inputs: BookInputs) -> Any:
    """The campaign's decision threshold (the churn stage's own when there is no campaign), or `Missing`."""
    threshold = inputs.get("churn", "campaign.threshold")
    return inputs.get("churn", "threshold") if isinstance(threshold, Missing) else threshold


def targeted_segments(inputs: BookInputs) -> list[Mapping[str, Any]] | Missing:
    """Risk segments to target, by revenue at risk: those whose mean churn probability reaches the threshold.

    Every segment when the threshold is missing; `Missing` when the churn stage wrote no segments.
    """
    segments = inputs.get("churn", "risk_segments")
    if isinstance(segments, Missing):
        return segments
    ranked = sorted(segments, key=lambda segment: -segment["revenue_at_risk"])
    threshold = decision_threshold(inputs)
    if isinstance(threshold, Missing):
        return ranked
    return [segment for segment in ranked if segment["mean_probability"] >= threshold]


def intervention(segment: Mapping[str, Any]) -> str:
    """A segment's intervention as a sentence (``cba.retention`` words it in readers' terms)."""
    return sentence(segment["intervention"])


def _segments_section(inputs: BookInputs, ab: Mapping[str, Any]) -> tuple[list[str], list[AbTestPlan]]:
    lines = ["## Whom to target {#sec-targets}", ""]
    segments = inputs.get("churn", "risk_segments")
    horizon = inputs.get("features", "horizon_days")
    if isinstance(segments, Missing) or not segments:
        reason = segments if isinstance(segments, Missing) else "the churn stage found no segments"
        return [*lines, f"No risk segments to target: {reason}."], []
    currency = inputs.currency
    ranked = sorted(segments, key=lambda segment: -segment["revenue_at_risk"])
    total = sum(segment["revenue_at_risk"] for segment in ranked)
    threshold = decision_threshold(inputs)
    targeted = targeted_segments(inputs)
    valued = all("mean_clv" in segment for segment in ranked)
    rows = [
        (
            segment["segment"],
            f"{segment['customers']:,}",
            f"{segment['mean_probability']:.1%}",
            money(segment["mean_value"], currency),
            *([money(segment["mean_clv"], currency)] if valued else []),
            money(segment["revenue_at_risk"], currency),
            ", ".join(human_label(feature) for feature in segment["drivers"]) or "-",
            intervention(segment),
        )
        for segment in ranked
    ]
    lines.append(
        f"The churn model splits the scored customers into {len(ranked)} segments by churn risk and value "
        f"(@tbl-segments), holding {money(total, currency)} of revenue at risk"
        + (
            ", each customer's expected future value (CLV) weighted by their churn probability, so the "
            "ranking follows what customers would still spend, not what they spent."
            if valued
            else "."
        )
    )
    if targeted:
        top = targeted[0]
        share = top["revenue_at_risk"] / total if total else 0.0
        criterion = (
            f" {len(targeted)} of them have a mean churn probability at or above the decision threshold "
            f"{threshold:.2f}: target those."
            if not isinstance(threshold, Missing)
            else ""
        )
        lines[-1] += (
            f"{criterion} Start with **{top['segment']}**: its {top['customers']:,} customers carry "
            f"{money(top['revenue_at_risk'], currency)} ({share:.0%}), with a mean churn probability of "
            f"{top['mean_probability']:.1%}. Intervention: {intervention(top)}"
        )
    else:
        lines[-1] += (
            f" No segment's mean churn probability reaches the decision threshold {threshold:.2f}: make the "
            "offer to the individual customers above it rather than to a whole segment."
        )
    lines += [
        "",
        *float_div(
            "tbl-segments",
            table(
                [
                    "Segment",
                    "Customers",
                    "Mean churn probability",
                    "Mean value",
                    *(["Mean expected future value (CLV)"] if valued else []),
                    "Revenue at risk",
                    "Drivers",
                    "Intervention",
                ],
                rows,
                "lrrrr" + ("r" if valued else "") + "ll",
            ),
            "Churn-risk segments, by revenue at risk, with the intervention their drivers point to "
            "(`metrics/churn.json` → `risk_segments`).",
        ),
    ]
    tests = [
        plan_ab_test(
            f"{segment['segment']}: {intervention(segment)}",
            f"churn within {number(horizon, ',')} days" if horizon else "churn (the dataset's own flag)",
            segment["mean_probability"],
            -ab["minimum_effect"],
            segment["customers"],
            "customers",
            ab["alpha"],
            ab["power"],
        )
        for segment in targeted
    ]
    return lines, [test for test in tests if test is not None]


def _campaign_section(inputs: BookInputs) -> list[str]:
    lines = ["## What the campaign costs and earns {#sec-campaign}", ""]
    campaign = inputs.get("churn", "campaign")
    if isinstance(campaign, Missing):
        return [*lines, f"The campaign's cost and benefit are {campaign}."]
    currency = inputs.currency
    n_test = inputs.get("churn", "n_test")
    profit = campaign["expected_profit"]
    lines.append(
        f"Making the retention offer to every customer whose churn probability is at least "
        f"{campaign['threshold']:.2f} reaches {campaign['customers_targeted']:,} of the "
        f"{number(n_test, ',')} held-out customers ({campaign['share_targeted']:.1%}). At "
        f"{money(campaign['contact_cost'], currency, ',.2f')} per contact, a value of "
        f"{money(campaign['retained_value'], currency, ',.2f')} per customer kept and an offer that keeps "
        f"{campaign['offer_success_rate']:.0%} of would-be churners, it costs "
        f"{money(campaign['expected_cost'], currency)} and is expected to return "
        f"{money(campaign['expected_benefit'], currency)}: a {'profit' if profit >= 0 else 'loss'} of "
        f"{money(abs(profit), currency)}."
    )
    curve = inputs.tables.get("churn_profit")
    if curve is not None and len(curve):
        best = curve.loc[curve["expected_profit"].idxmax()]
        lines += [
            "",
            f"On the churn stage's profit curve, contacting the top {best['share_targeted']:.0%} of "
            f"customers by churn probability earns the most ({money(best['expected_profit'], currency)}); "
            + (
                "the campaign's threshold sits at that peak."
                if abs(best["share_targeted"] - campaign["share_targeted"]) <= 0.05
                else f"the threshold targets {campaign['share_targeted']:.0%}, so check the curve in the "
                "churn chapter before changing it."
            ),
        ]
    recommended = inputs.get("churn", "recommended_campaign")
    scored = inputs.get("churn", "customers_scored")
    if isinstance(recommended, Mapping) and not isinstance(scored, Missing):
        lines += [
            "",
            f"Run on today's {scored:,} scored customers, the same threshold reaches "
            f"{recommended['customers_targeted']:,} of them ({recommended['share_targeted']:.1%}): an "
            f"expected cost of {money(recommended['expected_cost'], currency)} against an expected benefit "
            f"of {money(recommended['expected_benefit'], currency)}, a profit of "
            f"{money(recommended['expected_profit'], currency)}.",
        ]
    if profit <= 0:
        lines += [
            "",
            "At these costs the campaign does not pay: lower the cost per contact, raise the offer's success "
            "rate, or target fewer customers before running it.",
        ]
    return lines


def _funnel_section(inputs: BookInputs, ab: Mapping[str, Any]) -> tuple[list[str], list[AbTestPlan]]:
    lines = ["## What to change in the shop {#sec-funnel-change}", ""]
    behaviour = inputs.metrics.get("behaviour") or {}
    source = lookup(inputs.params, "params.yaml", "data.source")
    if not behaviour:
        return [*lines, "`metrics/behaviour.json` is missing: the eda stage has not written it."], []
    if not behaviour.get("has_events"):
        return [
            *lines,
            f"The {source} source has no event log, so there is no funnel to improve and no catalogue or "
            "funnel recommendation.",
        ], []
    drop = behaviour.get("biggest_drop_off")
    if not drop:
        return [*lines, "No session holds a product view, so the funnel has no drop-off to act on."], []
    step = f"{drop['from']} → {drop['to']}"
    lines.append(
        f"The funnel loses the most sessions at {step}: {drop['lost_share']:.1%} of the sessions that "
        f"reach {drop['from']} go no further ({drop['sessions_lost']:,} sessions over {behaviour['days']:,} "
        "days)."
    )
    if drop["by"] is None:
        lines += [
            "",
            f"No {step} difference between devices or categories stands out; improve the step itself.",
        ]
        baseline, available, where = (
            drop["pass_rate"],
            behaviour["funnel"]["overall"][drop["from"]],
            "all sessions",
        )
    else:
        gap = drop["best_pass_rate"] - drop["worst_pass_rate"]
        action = (
            f"review the catalogue of {drop['worst']}: its product range, prices, pictures and availability"
            if drop["by"] == "category"
            else f"fix the {step} step on {drop['worst']}: its pages, speed and checkout on that device"
        )
        lines += [
            "",
            f"By {drop['by']}, {drop['worst']} passes only {drop['worst_pass_rate']:.1%} of its sessions at "
            f"that step against {drop['best_pass_rate']:.1%} for {drop['best']}, {gap * 100:.1f} percentage "
            f"points behind: **{action}**. Bringing it to the level of {drop['best']} would keep about "
            f"{drop['worst_sessions'] * gap:,.0f} more sessions in the funnel over the period observed.",
        ]
        baseline, available, where = drop["worst_pass_rate"], drop["worst_sessions"], drop["worst"]
    test = plan_ab_test(
        f"the {step} change on {where}",
        f"{step} pass rate",
        baseline,
        ab["minimum_effect"],
        available,
        "sessions",
        ab["alpha"],
        ab["power"],
    )
    return lines, [test] if test is not None else []


def _ab_section(tests: Sequence[AbTestPlan], ab: Mapping[str, Any]) -> list[str]:
    lines = ["## How to verify each step {#sec-ab-tests}", ""]
    if not tests:
        return [*lines, "No recommendation above has an observed rate to test against."]
    rows = [
        (
            test.recommendation,
            test.metric,
            f"{test.baseline_rate:.1%}",
            f"{test.target_rate:.1%}",
            f"{test.per_arm:,}",
            f"{test.available:,} {test.unit}" + ("" if test.feasible else " (too few)"),
        )
        for test in tests
    ]
    short = [test for test in tests if not test.feasible]
    lines += [
        f"Each recommendation gets an A/B test: half of the eligible customers or sessions see the change, "
        f"half do not. The sample sizes in @tbl-ab-tests detect a {ab['minimum_effect']:.0%} relative change "
        f"of the observed rate with a two-sided test at {ab['alpha']:.0%} significance and "
        f"{ab['power']:.0%} power (`report.ab_test` in params; statsmodels power analysis of two "
        "proportions).",
        "",
        *float_div(
            "tbl-ab-tests",
            table(
                ["Test of", "Metric", "Observed rate", "Target rate", "Per arm", "Observed population"],
                rows,
                "llrrrr",
            ),
            "A/B tests that verify the recommendations, with the sample size each arm needs.",
        ),
    ]
    if short:
        lines += [
            "",
            f"{len(short)} of {len(tests)} tests need more than the population observed; run them longer, "
            "pool segments, or accept detecting only a larger effect.",
        ]
    return lines


def _model_and_data_section(inputs: BookInputs) -> list[str]:
    advice = [*_model_advice(inputs), *_feed_advice(inputs), *_survival_advice(inputs)]
    if not advice:
        return []
    return ["## Model and data {#sec-model-and-data}", "", *bullets(advice)]


def _model_advice(inputs: BookInputs) -> list[str]:
    """Advice on the simpler model, from the cross-validated ROC-AUC (training folds) and its fold spread."""
    best, models = inputs.get("churn", "best_model"), inputs.get("churn", "models")
    if isinstance(best, Missing) or isinstance(models, Missing) or BASELINE_MODEL not in models:
        return []
    if any("cv_roc_auc" not in scores for scores in models.values()):
        return []
    baseline = models[BASELINE_MODEL]
    if best == BASELINE_MODEL:
        others = {name: scores for name, scores in models.items() if name != BASELINE_MODEL}
        if not others:
            return []
        rival = max(others, key=lambda name: others[name]["cv_roc_auc"])
        lead = baseline["cv_roc_auc"] - others[rival]["cv_roc_auc"]
        return [
            f"Keep the logistic-regression model: its cross-validated ROC-AUC is {lead:+.3f} against "
            f"{model_name(rival)}'s, and it is the easier one to explain."
        ]
    gain = models[best]["cv_roc_auc"] - baseline["cv_roc_auc"]
    spread = max(models[best].get("cv_roc_auc_std", 0.0), baseline.get("cv_roc_auc_std", 0.0))
    direction = "above" if gain > 0 else ("below" if gain < 0 else "level with")
    bar = max(MIN_ROC_AUC_GAIN, spread)
    if gain < bar:
        digits = 3 if f"{abs(gain):.3f}" != f"{bar:.3f}" else 4  # just under the bar reads as under it
        return [
            f"Consider the logistic-regression model: the cross-validated ROC-AUC of {model_name(best)} is "
            f"{abs(gain):.{digits}f} {direction} it, less than {bar:.{digits}f} (the larger of "
            f"{MIN_ROC_AUC_GAIN} and the fold-to-fold spread), which does not pay for a model that is harder "
            "to explain and maintain."
        ]
    return [
        f"Score customers with {model_name(best)}: its cross-validated ROC-AUC is {gain:.3f} above the "
        f"logistic-regression baseline, more than the fold-to-fold spread ({spread:.3f})."
    ]


def _feed_advice(inputs: BookInputs) -> list[str]:
    quality = inputs.metrics.get("data_quality") or {}
    noisy = {
        feed: counts["rows_rejected"] / counts["rows_in"]
        for feed, counts in quality.items()
        if counts["rows_in"] and counts["rows_rejected"] / counts["rows_in"] > MAX_REJECTED_SHARE
    }
    advice = []
    for feed, share in sorted(noisy.items(), key=lambda item: -item[1]):
        rules = quality[feed]["rules"]
        top_rule = max(rules, key=rules.__getitem__)
        advice.append(
            f"Fix the {feed} feed: it loses {share:.1%} of its rows, mostly to the rule `{top_rule}` "
            f"({rules[top_rule]:,} rows)."
        )
    return advice


def _survival_advice(inputs: BookInputs) -> list[str]:
    """Caution about the survival split when its log-rank p-value is at least ``survival.significance``."""
    p_value = inputs.get("survival", "logrank_p_value")
    segment = inputs.get("survival", "segment")
    if not isinstance(p_value, float | int) or not segment or isinstance(segment, Missing):
        return []
    if p_value < inputs.params["survival"]["significance"]:
        return []
    return [
        f"Treat the {human_label(segment)} split with caution: the survival curves do not differ "
        f"significantly (log-rank p = {p_value:.2g})."
    ]
