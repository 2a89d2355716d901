"""The report: version stamp, generated chapters and the book (Quarto, or a built-in HTML fallback).

The stage notebooks are executed by papermill into ``report/chapters/``; this module writes the
Markdown files the Quarto sources include (``report/_generated/*.md``: the executive summary, data
quality, dashboards, recommendations, what changed, methodology, model card and datasheet, data
dictionary and params, and the version stamp), every number computed from ``metrics/``, ``plots/`` and
the churn model's metadata. It then renders the book: with Quarto on ``PATH`` ``quarto render`` (HTML
and a Typst PDF, as ``_quarto.yml`` says); without it, a built-in renderer writes the same chapters in
the same order to an HTML book that works offline, and headless Chromium, when installed, prints it to
PDF.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import yaml

from cba.versions import library_versions

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = [
    "METRICS_FILES",
    "PLOT_TABLES",
    "AbTest",
    "BookEntry",
    "BookInputs",
    "Change",
    "Comparison",
    "KeyNumber",
    "Missing",
    "book_entries",
    "changes_markdown",
    "configure_figures",
    "dashboards_markdown",
    "data_dictionary_markdown",
    "data_quality_markdown",
    "key_numbers",
    "lookup",
    "methodology_markdown",
    "model_card_markdown",
    "params_markdown",
    "print_pdf",
    "read_inputs",
    "recommendations_markdown",
    "render_book",
    "sample_size_per_arm",
    "summary_markdown",
    "version_markdown",
    "version_stamp",
    "what_changed",
    "write_generated",
]

METRICS_FILES = ("features", "churn", "survival", "data_quality", "behaviour")
"""The ``metrics/<name>.json`` files the generated chapters are computed from."""

PLOT_TABLES = (
    "behaviour_daily",
    "behaviour_top_products_revenue",
    "behaviour_top_products_conversion",
    "churn_profit",
)
"""The ``plots/<name>.csv`` tables the dashboards and recommendations chapters read."""

PLOTLY_RENDERER = "plotly_mimetype+notebook"
"""Figure JSON for Plotly-aware front ends, plus HTML that draws offline (plotly.js embedded once)."""

_MODEL_NAMES = {
    "logistic_regression": "logistic regression",
    "random_forest": "random forest",
    "gradient_boosting": "gradient boosting",
    "xgboost": "XGBoost",
    "xgboost_smote": "XGBoost with SMOTE",
    "xgboost_focal": "XGBoost with focal loss",
}
_METRIC_NAMES = {
    "roc_auc": "ROC-AUC",
    "pr_auc": "PR-AUC",
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1",
    "brier": "Brier",
    "ece": "ECE",
}
_BASELINE = "logistic_regression"
_MIN_ROC_AUC_GAIN = 0.01
_MAX_REJECTED_SHARE = 0.01
_SIGNIFICANCE = 0.05


# --------------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------------


def configure_figures() -> None:
    """Make Plotly figures display in executed notebooks and draw offline in every rendered book.

    Called in the first cell of every stage notebook. The ``plotly_mimetype`` part keeps the figure
    JSON for Jupyter front ends; the ``notebook`` part adds an HTML output that draws with plotly.js,
    which it embeds once per notebook (no CDN), so the nbconvert fallback and Quarto both show the
    figures without network access.
    """
    import plotly.io as pio

    pio.renderers.default = PLOTLY_RENDERER


# --------------------------------------------------------------------------------------------------
# Version stamp
# --------------------------------------------------------------------------------------------------


def version_stamp(root: Path, params: dict[str, Any]) -> dict[str, Any]:
    """Describe exactly what a book was built from.

    Parameters
    ----------
    root : Path
        The project root (the directory holding ``dvc.lock`` and, usually, ``.git``).
    params : dict
        The parameters the build used, as read from ``params.yaml``.

    Returns
    -------
    dict
        ``commit`` (full sha, or None outside a git repository or before the first commit),
        ``dirty`` (True when tracked files have uncommitted changes), ``data`` (output path → md5 for
        every stage output in ``dvc.lock``; empty without one), ``params`` (as given), ``built_at`` (UTC,
        ISO 8601, seconds) and ``libraries`` (see `cba.versions.library_versions`).
    """
    commit = _git(root, "rev-parse", "--verify", "--quiet", "HEAD")
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    lock = root / "dvc.lock"
    return {
        "commit": commit.strip() if commit else None,
        "dirty": bool(status and status.strip()),
        "data": _dvc_lock_hashes(yaml.safe_load(lock.read_text())) if lock.exists() else {},
        "params": params,
        "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "libraries": library_versions(),
    }


def _git(root: Path, *args: str) -> str | None:
    """Run ``git *args`` in ``root``; its stdout, or None when git is missing or the command fails."""
    try:
        result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return None
    return result.stdout if result.returncode == 0 else None


def _dvc_lock_hashes(lock: Mapping[str, Any] | None) -> dict[str, str | None]:
    """Output path → md5 for every ``outs`` entry in a parsed ``dvc.lock``, but the report stage's own.

    While the book is built, the report stage's entry still describes the previous book.
    """
    hashes: dict[str, str | None] = {}
    stages = dict((lock or {}).get("stages") or {})
    stages.pop("report", None)
    for stage in stages.values():
        for out in stage.get("outs") or []:
            md5 = out.get("md5")
            hashes[str(out["path"])] = None if md5 is None else str(md5)
    return hashes


def version_markdown(stamp: Mapping[str, Any]) -> str:
    """Render a version stamp (see `version_stamp`) as a "Version" Markdown section.

    Parameters
    ----------
    stamp : Mapping
        The mapping returned by `version_stamp`.

    Returns
    -------
    str
        Markdown: commit, uncommitted changes, build time and a table of data hashes; the parameters
        are in their own appendix.
    """
    commit = f"`{stamp['commit']}`" if stamp["commit"] else "not a git repository (or no commit yet)"
    lines = [
        "## Version {#sec-version}",
        "",
        f"- Commit: {commit}",
        f"- Uncommitted changes to tracked files: {'yes' if stamp['dirty'] else 'no'}",
        f"- Built: {stamp['built_at']}",
        f"- Parameters: {len(stamp['params'])} sections, listed in @sec-params.",
        "",
        "### Data",
        "",
    ]
    if stamp["data"]:
        lines += _table(
            ["Path", "MD5"],
            [(f"`{path}`", f"`{md5 or '-'}`") for path, md5 in sorted(stamp["data"].items())],
            "ll",
        )
    else:
        lines.append("No `dvc.lock` yet, so no data hashes are recorded.")
    if stamp.get("libraries"):
        lines += ["", "### Libraries", ""]
        versions = stamp["libraries"].items()
        lines += _table(["Library", "Version"], [(name, v or "not installed") for name, v in versions], "ll")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------
# Reading the pipeline's outputs
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Missing:
    """A value the pipeline did not write; ``where`` names the file and the key."""

    where: str

    def __str__(self) -> str:
        return f"not available ({self.where} is missing)"


def lookup(data: Mapping[str, Any], source: str, path: str) -> Any:
    """The value at ``path`` (dots for keys, numbers for list items) of ``data``, read from ``source``.

    Returns a `Missing` naming ``source`` and ``path`` when a key or item is not there, so a chapter can
    say plainly what the pipeline did not provide.
    """
    value: Any = data
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return Missing(f"`{source}` → `{path}`")
    return value


@dataclass(frozen=True)
class BookInputs:
    """Everything the generated chapters are computed from.

    ``metrics`` maps a metrics file's stem (``churn``) to its contents (empty when the file is absent);
    ``tables`` maps a ``plots/`` file's stem to its rows; ``model`` is the metadata saved with the churn
    model (everything in ``models/churn.joblib`` but the fitted model); ``params`` is ``params.yaml``.
    """

    metrics: Mapping[str, Mapping[str, Any]]
    tables: Mapping[str, pd.DataFrame]
    model: Mapping[str, Any]
    params: Mapping[str, Any]

    def get(self, name: str, path: str) -> Any:
        """``lookup`` in ``metrics/<name>.json``."""
        return lookup(self.metrics.get(name, {}), f"metrics/{name}.json", path)


def read_inputs(root: Path, params: Mapping[str, Any]) -> BookInputs:
    """Read `METRICS_FILES`, `PLOT_TABLES` and the churn model's metadata from the project ``root``."""
    metrics = {}
    for name in METRICS_FILES:
        path = root / "metrics" / f"{name}.json"
        metrics[name] = json.loads(path.read_text()) if path.exists() else {}
    tables = {}
    for name in PLOT_TABLES:
        path = root / "plots" / f"{name}.csv"
        if path.exists() and path.stat().st_size:
            tables[name] = pd.read_csv(path)
    model_path = root / "models" / "churn.joblib"
    model: dict[str, Any] = {}
    if model_path.exists():
        import joblib

        model = {key: value for key, value in joblib.load(model_path).items() if key != "model"}
    return BookInputs(metrics, tables, model, params)


# --------------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------------


def _model_name(key: Any) -> str:
    return _MODEL_NAMES.get(str(key), str(key).replace("_", " "))


def _number(value: Any, spec: str) -> str:
    """``value`` formatted with ``spec``, or what is missing."""
    return str(value) if isinstance(value, Missing) or value is None else format(value, spec)


def _money(value: Any) -> str:
    return _number(value, ",.0f")


def _cell(value: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]], align: str | None = None) -> list[str]:
    """A Markdown pipe table; ``align`` holds one of ``l``/``r`` per column (default: first left)."""
    align = align or "l" + "r" * (len(header) - 1)
    rule = "|" + "|".join("---:" if side == "r" else "---" for side in align) + "|"
    lines = ["| " + " | ".join(header) + " |", rule]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return lines


def _float_div(label: str, content: Sequence[str], caption: str) -> list[str]:
    """A Quarto cross-reference div (``#fig-``/``#tbl-``): the content, then its caption paragraph."""
    return [f"::: {{#{label}}}", "", *content, "", caption, "", ":::"]


def _html_only(lines: Sequence[str]) -> list[str]:
    return ['::: {.content-visible when-format="html"}', "", *lines, "", ":::"]


def _not_html(lines: Sequence[str]) -> list[str]:
    return ['::: {.content-visible unless-format="html"}', "", *lines, "", ":::"]


def _raw_html(html_text: str) -> list[str]:
    return ["```{=html}", html_text, "```"]


# --------------------------------------------------------------------------------------------------
# Executive summary: the five numbers
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyNumber:
    """One number of the executive summary, with where every figure in its text comes from.

    ``sources`` lists ``(file, key path, value)`` for every number shown in ``text``, in order.
    """

    name: str
    text: str
    meaning: str
    sources: tuple[tuple[str, str, Any], ...]

    @property
    def available(self) -> bool:
        """False when a value it needs was not written by the pipeline."""
        return not any(isinstance(value, Missing) for _, _, value in self.sources)


def key_numbers(inputs: BookInputs) -> list[KeyNumber]:
    """The five numbers that matter, each computed from a metrics file.

    Churn rate (``features.json``), revenue at risk, model quality with its interval, the biggest churn
    driver and the expected profit of the recommended campaign (``churn.json``).
    """

    def traced(name: str, path: str) -> tuple[str, str, Any]:
        return (f"metrics/{name}.json", path, inputs.get(name, path))

    def first_missing(*sources: tuple[str, str, Any]) -> str | None:
        missing = [value for _, _, value in sources if isinstance(value, Missing)]
        return str(missing[0]) if missing else None

    churn_rate = traced("features", "churn_rate")
    customers = traced("features", "customers")
    at_risk = traced("churn", "revenue_at_risk")
    roc_auc, low, high = (traced("churn", p) for p in ("roc_auc", "roc_auc_ci.0", "roc_auc_ci.1"))
    driver, importance = traced("churn", "drivers.0.feature"), traced("churn", "drivers.0.importance")
    if "recommended_campaign" in inputs.metrics.get("churn", {}):  # the campaign on today's customers
        profit = traced("churn", "recommended_campaign.expected_profit")
        targeted = traced("churn", "recommended_campaign.customers_targeted")
        population, who = traced("churn", "customers_scored"), "scored customers"
    else:  # the campaign on the held-out customers
        profit = traced("churn", "campaign.expected_profit")
        targeted = traced("churn", "campaign.customers_targeted")
        population, who = traced("churn", "n_test"), "held-out customers"
    numbers = [
        KeyNumber(
            "Churn rate",
            first_missing(churn_rate, customers) or f"{churn_rate[2]:.1%} of {customers[2]:,} customers",
            "Customers who made no purchase within the horizon after the evaluation cutoff."
            if inputs.metrics.get("features", {}).get("cutoff")
            else "Customers the dataset itself flags as churned.",
            (churn_rate, customers),
        ),
        KeyNumber(
            "Revenue at risk",
            first_missing(at_risk) or _money(at_risk[2]),
            "Sum over every scored customer of churn probability × customer value"
            + f" ({inputs.metrics.get('churn', {}).get('value_basis', 'value')}).",
            (at_risk,),
        ),
        KeyNumber(
            "Model quality",
            first_missing(roc_auc, low, high)
            or f"ROC-AUC {roc_auc[2]:.3f} (95% interval {low[2]:.3f} to {high[2]:.3f})",
            "How well the churn model ranks churners above loyal customers on held-out customers "
            "(0.5 is chance, 1 is perfect).",
            (roc_auc, low, high),
        ),
        KeyNumber(
            "Biggest churn driver",
            first_missing(driver, importance) or f"`{driver[2]}` (importance {importance[2]:.3f})",
            "The feature whose shuffling costs the model the most.",
            (driver, importance),
        ),
        KeyNumber(
            "Expected value of the recommended campaign",
            first_missing(profit, targeted, population)
            or f"{_money(profit[2])} from {targeted[2]:,} of {population[2]:,} {who}",
            "Expected profit of making the retention offer to the customers above the decision threshold.",
            (profit, targeted, population),
        ),
    ]
    return numbers


def summary_markdown(inputs: BookInputs) -> str:
    """The executive summary: a table of the five key numbers, each with its source, and what they mean."""
    numbers = key_numbers(inputs)
    rows = [
        (
            f"**{number.name}**",
            number.text,
            ", ".join(f"`{file}` → `{path}`" for file, path, _ in number.sources),
        )
        for number in numbers
    ]
    lines = [
        "## The five numbers that matter {#sec-key-numbers}",
        "",
        "@tbl-key-numbers sums this build up; the source column names the metrics file and key every "
        "number is read from.",
        "",
        *_float_div(
            "tbl-key-numbers",
            _table(["", "Value", "Source"], rows, "lll"),
            "The key numbers of this build and where each comes from.",
        ),
        "",
        *(f"- **{number.name}**: {number.meaning}" for number in numbers),
    ]
    missing = [number.name.lower() for number in numbers if not number.available]
    if missing:
        lines += [
            "",
            f"This build lacks {len(missing)} of the five numbers ({', '.join(missing)}): the stage that "
            "writes them did not produce the key named in the table.",
        ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------
# Data quality
# --------------------------------------------------------------------------------------------------


def data_quality_markdown(data_quality: Mapping[str, Any]) -> str:
    """Rows in, out and rejected per table, whether they reconcile, and the rules that rejected rows."""
    if not data_quality:
        return "`metrics/data_quality.json` is missing: the clean stage has not run.\n"
    rows, rules, unbalanced = [], [], []
    for table, counts in data_quality.items():
        rows_in, rows_out, rejected = counts["rows_in"], counts["rows_out"], counts["rows_rejected"]
        gap = rows_in - rows_out - rejected
        if gap:
            unbalanced.append(table)
        balance = "yes" if gap == 0 else f"**no** ({gap:+,} rows unaccounted for)"
        share = rejected / rows_in if rows_in else 0.0
        rows.append((table, f"{rows_in:,}", f"{rows_out:,}", f"{rejected:,}", f"{share:.2%}", balance))
        fired = sorted(((rule, n) for rule, n in counts["rules"].items() if n), key=lambda item: -item[1])
        if fired:
            rules.append(f"- {table}: " + ", ".join(f"`{rule}` {count:,}" for rule, count in fired))
    if unbalanced:
        verdict = f"{len(unbalanced)} of {len(rows)} tables do not reconcile: {', '.join(unbalanced)}."
    else:
        verdict = f"All {len(rows)} tables reconcile: every row read was either kept or rejected by a rule."
    lines = [
        verdict,
        "",
        *_float_div(
            "tbl-data-quality",
            _table(
                ["Table", "Rows in", "Rows out", "Rejected", "Share rejected", "In = out + rejected"], rows
            ),
            "Rows read, kept and rejected per table (`metrics/data_quality.json`).",
        ),
    ]
    if rules:
        lines += ["", "Rejections by rule:", "", *rules]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------
# A/B tests
# --------------------------------------------------------------------------------------------------


def sample_size_per_arm(baseline_rate: float, target_rate: float, alpha: float, power: float) -> int:
    """Subjects per arm a two-sided test of two proportions needs to tell ``target_rate`` from the baseline.

    Cohen's effect size h of the two rates, solved for the sample size with statsmodels'
    ``NormalIndPower`` (equal arms), rounded up.

    Raises
    ------
    ValueError
        When a rate is outside (0, 1) or the two rates are equal.
    """
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    for name, rate in (("baseline_rate", baseline_rate), ("target_rate", target_rate)):
        if not 0.0 < rate < 1.0:
            raise ValueError(f"{name} must be strictly between 0 and 1, got {rate}")
    if baseline_rate == target_rate:
        raise ValueError(f"the target rate equals the baseline rate ({baseline_rate}): no effect to detect")
    effect = abs(float(proportion_effectsize(target_rate, baseline_rate)))
    size = NormalIndPower().solve_power(effect_size=effect, alpha=alpha, power=power, ratio=1.0)
    return math.ceil(float(size))


@dataclass(frozen=True)
class AbTest:
    """An A/B test that verifies one recommendation."""

    recommendation: str
    metric: str
    baseline_rate: float
    target_rate: float
    per_arm: int
    available: int
    unit: str

    @property
    def feasible(self) -> bool:
        """True when the population observed holds enough units for both arms."""
        return self.available >= 2 * self.per_arm


def _ab_test(
    recommendation: str,
    metric: str,
    baseline: float,
    relative_change: float,
    available: int,
    unit: str,
    ab: Mapping[str, Any],
) -> AbTest | None:
    target = min(max(baseline * (1 + relative_change), 1e-6), 1 - 1e-6)
    if not 0.0 < baseline < 1.0 or target == baseline:
        return None
    per_arm = sample_size_per_arm(baseline, target, ab["alpha"], ab["power"])
    return AbTest(recommendation, metric, baseline, target, per_arm, available, unit)


# --------------------------------------------------------------------------------------------------
# Recommendations
# --------------------------------------------------------------------------------------------------


def recommendations_markdown(inputs: BookInputs) -> str:
    """Which segments to target and how, the campaign's cost and benefit, the funnel change, A/B tests.

    Every sentence is built from the metrics: the risk segments and their interventions and the
    campaign (``churn.json``), the profit curve (``plots/churn_profit.csv``), the funnel drop-off
    (``behaviour.json``), the model comparison, data quality and survival; the A/B sample sizes from
    the observed rates and ``report.ab_test`` in params.
    """
    ab = inputs.params["report"]["ab_test"]
    sections: list[list[str]] = []
    tests: list[AbTest] = []

    segments_lines, segment_tests = _segments_section(inputs, ab)
    sections.append(segments_lines)
    tests += segment_tests
    sections.append(_campaign_section(inputs))
    funnel_lines, funnel_tests = _funnel_section(inputs, ab)
    sections.append(funnel_lines)
    tests += funnel_tests
    sections.append(_ab_section(tests, ab))
    sections.append(_model_and_data_section(inputs))
    return "\n\n".join("\n".join(lines) for lines in sections) + "\n"


def _segments_section(inputs: BookInputs, ab: Mapping[str, Any]) -> tuple[list[str], list[AbTest]]:
    lines = ["## Whom to target {#sec-targets}", ""]
    segments = inputs.get("churn", "risk_segments")
    horizon = inputs.get("features", "horizon_days")
    if isinstance(segments, Missing) or not segments:
        reason = segments if isinstance(segments, Missing) else "the churn stage found no segments"
        return [*lines, f"No risk segments to target: {reason}."], []
    ranked = sorted(segments, key=lambda segment: -segment["revenue_at_risk"])
    total = sum(segment["revenue_at_risk"] for segment in ranked)
    threshold = inputs.get("churn", "campaign.threshold")
    if isinstance(threshold, Missing):
        threshold = inputs.get("churn", "threshold")
    targeted = (
        [segment for segment in ranked if segment["mean_probability"] >= threshold]
        if not isinstance(threshold, Missing)
        else ranked
    )
    rows = [
        (
            segment["segment"],
            f"{segment['customers']:,}",
            f"{segment['mean_probability']:.1%}",
            _money(segment["mean_value"]),
            _money(segment["revenue_at_risk"]),
            ", ".join(f"`{feature}`" for feature in segment["drivers"]) or "-",
            _sentence(segment["intervention"]),
        )
        for segment in ranked
    ]
    lines.append(
        f"The churn model splits the scored customers into {len(ranked)} segments by churn risk and value "
        f"(@tbl-segments), holding {_money(total)} of revenue at risk."
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
            f"{_money(top['revenue_at_risk'])} ({share:.0%}), with a mean churn probability of "
            f"{top['mean_probability']:.1%}. Intervention: {_sentence(top['intervention'])}"
        )
    else:
        lines[-1] += (
            f" No segment's mean churn probability reaches the decision threshold {threshold:.2f}: make the "
            "offer to the individual customers above it rather than to a whole segment."
        )
    lines += [
        "",
        *_float_div(
            "tbl-segments",
            _table(
                [
                    "Segment",
                    "Customers",
                    "Mean churn probability",
                    "Mean value",
                    "Revenue at risk",
                    "Drivers",
                    "Intervention",
                ],
                rows,
                "lrrrrll",
            ),
            "Churn-risk segments, by revenue at risk, with the intervention their drivers point to "
            "(`metrics/churn.json` → `risk_segments`).",
        ),
    ]
    tests = []
    for segment in targeted:
        test = _ab_test(
            f"{segment['segment']}: {_sentence(segment['intervention'])}",
            f"churn within {_number(horizon, ',')} days" if horizon else "churn (the dataset's own flag)",
            segment["mean_probability"],
            -ab["minimum_effect"],
            segment["customers"],
            "customers",
            ab,
        )
        if test is not None:
            tests.append(test)
    return lines, tests


def _sentence(text: str) -> str:
    """``text`` as a sentence: a capital first letter and a full stop."""
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")


def _campaign_section(inputs: BookInputs) -> list[str]:
    lines = ["## What the campaign costs and earns {#sec-campaign}", ""]
    campaign = inputs.get("churn", "campaign")
    if isinstance(campaign, Missing):
        return [*lines, f"The campaign's cost and benefit are {campaign}."]
    n_test = inputs.get("churn", "n_test")
    profit = campaign["expected_profit"]
    lines.append(
        f"Making the retention offer to every customer whose churn probability is at least "
        f"{campaign['threshold']:.2f} reaches {campaign['customers_targeted']:,} of the "
        f"{_number(n_test, ',')} held-out customers ({campaign['share_targeted']:.1%}). At "
        f"{campaign['contact_cost']:,.2f} per contact, a value of {campaign['retained_value']:,.2f} per "
        f"customer kept and an offer that keeps {campaign['offer_success_rate']:.0%} of would-be churners, "
        f"it costs {_money(campaign['expected_cost'])} and is expected to return "
        f"{_money(campaign['expected_benefit'])}: a {'profit' if profit >= 0 else 'loss'} of "
        f"{_money(abs(profit))}."
    )
    curve = inputs.tables.get("churn_profit")
    if curve is not None and len(curve):
        best = curve.loc[curve["expected_profit"].idxmax()]
        lines += [
            "",
            f"On the churn stage's profit curve, contacting the top {best['share_targeted']:.0%} of "
            f"customers by churn probability earns the most ({_money(best['expected_profit'])}); "
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
            f"expected cost of {_money(recommended['expected_cost'])} against an expected benefit of "
            f"{_money(recommended['expected_benefit'])}, a profit of "
            f"{_money(recommended['expected_profit'])}.",
        ]
    if profit <= 0:
        lines += [
            "",
            "At these costs the campaign does not pay: lower the cost per contact, raise the offer's success "
            "rate, or target fewer customers before running it.",
        ]
    return lines


def _funnel_section(inputs: BookInputs, ab: Mapping[str, Any]) -> tuple[list[str], list[AbTest]]:
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
        baseline, available, where = drop["pass_rate"], None, "all sessions"
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
            "points behind: "
            f"**{action}**. Bringing it to the level of {drop['best']} would keep about "
            f"{drop['worst_sessions'] * gap:,.0f} more sessions in the funnel over the period observed.",
        ]
        baseline, available, where = drop["worst_pass_rate"], drop["worst_sessions"], drop["worst"]
    overall = behaviour["funnel"]["overall"]
    test = _ab_test(
        f"the {step} change on {where}",
        f"{step} pass rate",
        baseline,
        ab["minimum_effect"],
        available if available is not None else overall[drop["from"]],
        "sessions",
        ab,
    )
    return lines, [test] if test is not None else []


def _ab_section(tests: Sequence[AbTest], ab: Mapping[str, Any]) -> list[str]:
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
        *_float_div(
            "tbl-ab-tests",
            _table(
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
    bullets = []
    best, models = inputs.get("churn", "best_model"), inputs.get("churn", "models")
    if not isinstance(best, Missing) and not isinstance(models, Missing) and _BASELINE in models:
        others = {name: scores for name, scores in models.items() if name != _BASELINE}
        if best != _BASELINE:
            gain = models[best]["roc_auc"] - models[_BASELINE]["roc_auc"]
            if gain < _MIN_ROC_AUC_GAIN:
                bullets.append(
                    f"Use the logistic-regression model: {_model_name(best)} beats it by only {gain:.3f} "
                    f"ROC-AUC, less than {_MIN_ROC_AUC_GAIN}, which does not pay for a model that is harder "
                    "to explain and maintain."
                )
            else:
                interval = inputs.get("churn", "roc_auc_ci")
                half_width = (interval[1] - interval[0]) / 2 if isinstance(interval, list) else None
                caution = (
                    f", less than the ±{half_width:.3f} uncertainty of ROC-AUC on this test set: confirm the "
                    "gain on more customers before relying on it"
                    if half_width is not None and gain < half_width
                    else ""
                )
                bullets.append(
                    f"Score customers with {_model_name(best)}: it gains {gain:+.3f} ROC-AUC over the "
                    f"logistic-regression baseline{caution}."
                )
        elif others:
            rival = max(others, key=lambda name: others[name]["roc_auc"])
            gap = models[_BASELINE]["roc_auc"] - others[rival]["roc_auc"]
            bullets.append(
                f"Keep the logistic-regression model: it matches or beats {_model_name(rival)} "
                f"({gap:+.3f} ROC-AUC) and is the easier one to explain."
            )
    quality = inputs.metrics.get("data_quality") or {}
    noisy = {
        table: counts["rows_rejected"] / counts["rows_in"]
        for table, counts in quality.items()
        if counts["rows_in"] and counts["rows_rejected"] / counts["rows_in"] > _MAX_REJECTED_SHARE
    }
    for table, share in sorted(noisy.items(), key=lambda item: -item[1]):
        rules = quality[table]["rules"]
        top_rule = max(rules, key=rules.__getitem__)
        bullets.append(
            f"Fix the {table} feed: it loses {share:.1%} of its rows, mostly to the rule `{top_rule}` "
            f"({rules[top_rule]:,} rows)."
        )
    p_value = inputs.get("survival", "logrank_p_value")
    segment = inputs.get("survival", "segment")
    if isinstance(p_value, float | int) and segment and not isinstance(segment, Missing):
        if p_value >= _SIGNIFICANCE:
            bullets.append(
                f"Treat the {segment} split with caution: the survival curves do not differ significantly "
                f"(log-rank p = {p_value:.2g})."
            )
    if not bullets:
        return []
    return ["## Model and data {#sec-model-and-data}", "", *(f"- {bullet}" for bullet in bullets)]


# --------------------------------------------------------------------------------------------------
# Dashboards
# --------------------------------------------------------------------------------------------------


def active_customers_figure(daily: pd.DataFrame) -> go.Figure:
    """Customers with at least one event per day (the Kibana "active users" panel)."""
    import plotly.express as px

    return px.line(daily, x="date", y="active_customers", title="Active customers per day (UTC)")


def revenue_figure(daily: pd.DataFrame) -> go.Figure:
    """Revenue per week, weeks starting on Monday (the Kibana "revenue trends" panel)."""
    import plotly.express as px

    weekly = (
        daily.assign(date=pd.to_datetime(daily["date"]))
        .resample("W-MON", on="date", label="left", closed="left")["revenue"]
        .sum()
        .reset_index()
    )
    return px.bar(weekly, x="date", y="revenue", title="Revenue per week")


def risk_segments_figure(segments: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Revenue at risk and customers per churn-risk segment (the Kibana "churn-risk segments" panel)."""
    import plotly.express as px

    table = pd.DataFrame(segments).sort_values("revenue_at_risk", ascending=False)
    figure = px.bar(
        table,
        x="segment",
        y="revenue_at_risk",
        text="customers",
        hover_data=["mean_probability", "mean_value"],
        title="Revenue at risk by churn-risk segment (labels: customers)",
    )
    return figure


def funnel_overall_table(behaviour: Mapping[str, Any]) -> pd.DataFrame:
    """The overall funnel of ``metrics/behaviour.json`` as the table `cba.eda.funnel` returns."""
    from cba import eda

    overall = behaviour["funnel"]["overall"]
    return pd.DataFrame([{"segment": eda.OVERALL, **{step: overall[step] for step in eda.FUNNEL_STEPS}}])


def pass_rate_figure(levels: Mapping[str, Mapping[str, Any]], by: str) -> go.Figure:
    """Share of sessions passing each funnel step, per level of ``by`` (the "funnel drop-offs" panel)."""
    import plotly.express as px

    from cba import eda

    steps = [
        f"{before}_to_{after}" for before, after in zip(eda.FUNNEL_STEPS, eda.FUNNEL_STEPS[1:], strict=False)
    ]
    rows = [
        {by: level, "step": step.replace("_to_", " → "), "pass_rate": rates[step]}
        for level, rates in levels.items()
        for step in steps
    ]
    return px.bar(
        pd.DataFrame(rows),
        x="step",
        y="pass_rate",
        color=by,
        barmode="group",
        title=f"Share of sessions passing each funnel step, by {by}",
    )


def _figure_html(figure: go.Figure, div_id: str) -> str:
    figure.update_layout(margin={"t": 60, "l": 40, "r": 20, "b": 40})
    return figure.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config={"responsive": True})


def dashboards_markdown(inputs: BookInputs) -> str:
    """The Kibana dashboards' panels as interactive Plotly figures from the pipeline's own outputs.

    Active customers and revenue (``plots/behaviour_daily.csv``), churn-risk segments (``churn.json``),
    funnel drop-offs (``behaviour.json``) and top products by revenue and by conversion
    (``plots/behaviour_top_products_*.csv``), then links to the Kibana dashboards when ``kibana.url`` is
    set. Figures show in HTML; other formats get the sentences and tables.
    """
    from plotly.offline import get_plotlyjs

    from cba import eda

    panels: list[tuple[str, str, go.Figure, str]] = []  # label, caption, figure, sentence
    behaviour = inputs.metrics.get("behaviour") or {}
    notes: list[str] = []
    daily = inputs.tables.get("behaviour_daily")
    if behaviour.get("has_events") and daily is not None and len(daily):
        busiest = daily.loc[daily["active_customers"].idxmax()]
        panels.append(
            (
                "fig-active-customers",
                "Active customers per day.",
                active_customers_figure(daily),
                f"On average {daily['active_customers'].mean():,.1f} customers are active per day; the "
                "busiest day, "
                f"{busiest['date']}, had {int(busiest['active_customers']):,}.",
            )
        )
        weekly = revenue_figure(daily)
        weekly_revenue = weekly.data[0].y
        panels.append(
            (
                "fig-revenue",
                "Revenue per week.",
                weekly,
                f"Revenue totals {daily['revenue'].sum():,.0f} over {len(daily):,} days, from "
                f"{min(weekly_revenue):,.0f} to {max(weekly_revenue):,.0f} per week.",
            )
        )
    else:
        source = lookup(inputs.params, "params.yaml", "data.source")
        notes.append(
            f"The {source} source has no event log: the active-customer, revenue, funnel and product panels "
            "are empty."
        )
    segments = inputs.get("churn", "risk_segments")
    if not isinstance(segments, Missing) and segments:
        top = max(segments, key=lambda segment: segment["revenue_at_risk"])
        panels.append(
            (
                "fig-risk-segments",
                "Churn-risk segments.",
                risk_segments_figure(segments),
                f"{top['segment']} carries the most revenue at risk ({_money(top['revenue_at_risk'])} from "
                f"{top['customers']:,} customers).",
            )
        )
    else:
        notes.append(f"The churn-risk panel is empty: the risk segments are {segments}.")
    if behaviour.get("has_events") and behaviour.get("biggest_drop_off"):
        drop = behaviour["biggest_drop_off"]
        table = funnel_overall_table(behaviour)
        panels.append(
            (
                "fig-funnel",
                "Sessions at each funnel step.",
                eda.funnel_figure(table, None),
                eda.funnel_sentence(table, None),
            )
        )
        by = drop["by"] or ("category" if "category" in behaviour["funnel"] else None)
        if by and behaviour["funnel"].get(by):
            panels.append(
                (
                    "fig-funnel-drop-offs",
                    f"Funnel drop-offs by {by}.",
                    pass_rate_figure(behaviour["funnel"][by], by),
                    eda.drop_off_sentence(drop),
                )
            )
    for measure in ("revenue", "conversion"):
        top_products = inputs.tables.get(f"behaviour_top_products_{measure}")
        if top_products is not None and len(top_products):
            panels.append(
                (
                    f"fig-top-products-{measure}",
                    f"Top products by {measure}.",
                    eda.top_products_figure(top_products, "product_id", measure),
                    eda.top_products_sentence(top_products, "product_id", measure),
                )
            )

    lines = [
        "The panels of the Kibana dashboards, drawn from this build's own outputs so the book stands "
        "alone: the same measures, frozen at the data of this build, where Kibana shows the live index.",
        "",
    ]
    if notes:
        lines += [*(f"- {note}" for note in notes), ""]
    if panels:
        references = ", ".join(f"@{label}" for label, *_ in panels)
        lines += _html_only([f"Panels: {references}.", "", *_raw_html(f"<script>{get_plotlyjs()}</script>")])
        for label, caption, figure, sentence in panels:
            lines += [
                "",
                f"## {caption.rstrip('.')}",
                "",
                *_html_only(_float_div(label, _raw_html(_figure_html(figure, f"{label}-plot")), caption)),
                "",
                sentence,
            ]
    lines += ["", "## Kibana", "", *_kibana_lines(inputs.params)]
    return "\n".join(lines) + "\n"


def _kibana_lines(params: Mapping[str, Any]) -> list[str]:
    url = lookup(params, "params.yaml", "kibana.url")
    if isinstance(url, Missing) or not url:
        return [
            "Kibana is not configured (`kibana.url` is not set in params.yaml): the figures above are the "
            "dashboards of this build."
        ]
    from cba.dashboards import DASHBOARDS, dashboard_url

    return [
        f"The same panels, live, in Kibana at <{url}>:",
        "",
        *(f"- [{dashboard.title}]({dashboard_url(url, dashboard.id)})" for dashboard in DASHBOARDS),
    ]


# --------------------------------------------------------------------------------------------------
# What changed
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One metric or parameter that differs between the baseline revision and this build."""

    kind: str  # "metric" or "param"
    file: str
    key: str
    old: Any
    new: Any

    @property
    def delta(self) -> float | None:
        """``new - old`` when both are numbers."""
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (self.old, self.new))
        return self.new - self.old if numbers else None


@dataclass(frozen=True)
class Comparison:
    """The build against a baseline revision: what changed, how many values stayed, or why no baseline."""

    revision: str | None
    baseline: str | None  # the baseline commit, None when there is none
    changes: tuple[Change, ...] = ()
    unchanged: int = 0
    reason: str | None = None  # why there is no baseline


def what_changed(root: Path, revision: str | None) -> Comparison:
    """Compare the workspace's metrics and params with ``revision`` through DVC.

    Runs ``dvc metrics diff REV --all --json`` and ``dvc params diff REV --all --json`` in ``root``. Both
    are read-only: they read the baseline's files from git and the workspace's from disk, and take no
    repository lock, so they also work inside ``dvc repro`` (which holds the lock while the report stage
    runs).

    Returns
    -------
    Comparison
        With ``reason`` set (and no changes) when ``revision`` is None, ``root`` is not a git
        repository, or the revision does not exist (e.g. ``HEAD~1`` on the first commit).
    """
    if revision is None:
        return Comparison(None, None, reason="`report.compare_to` is null in params.yaml")
    if _git(root, "rev-parse", "--git-dir") is None:
        return Comparison(revision, None, reason=f"{root.name} is not a git repository")
    commit = _git(root, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
    if commit is None:
        return Comparison(
            revision, None, reason=f"the revision `{revision}` does not exist in this repository"
        )
    changes: list[Change] = []
    unchanged = 0
    for kind, command in (("metric", "metrics"), ("param", "params")):
        for file, entries in _dvc_diff(root, command, revision).items():
            for key, entry in sorted(entries.items()):
                old, new = entry.get("old"), entry.get("new")
                if old == new:
                    unchanged += 1
                else:
                    changes.append(Change(kind, file, key, old, new))
    return Comparison(revision, commit.strip(), tuple(changes), unchanged)


def _dvc_diff(root: Path, command: str, revision: str) -> dict[str, dict[str, dict[str, Any]]]:
    result = subprocess.run(
        [sys.executable, "-m", "dvc", command, "diff", revision, "--all", "--json"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"dvc {command} diff {revision} failed in {root}: {result.stderr.strip()[-2000:]}")
    return json.loads(result.stdout or "{}")


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return f"`{value}`"


def changes_markdown(comparison: Comparison) -> str:
    """The "What changed" section: a table of old, new and delta, or why there is no baseline."""
    lines = ["## Against the baseline {#sec-what-changed}", ""]
    if comparison.baseline is None:
        return (
            "\n".join([*lines, f"No baseline: {comparison.reason}, so there is nothing to compare with."])
            + "\n"
        )
    where = f"`{comparison.revision}` (commit `{comparison.baseline[:12]}`)"
    metrics = [change for change in comparison.changes if change.kind == "metric"]
    params = [change for change in comparison.changes if change.kind == "param"]
    lines.append(
        f"Against {where}: {len(metrics)} metrics and {len(params)} parameters changed, "
        f"{comparison.unchanged:,} values stayed the same (`dvc metrics diff` and `dvc params diff`)."
    )
    if comparison.changes:
        rows = [
            (
                change.kind,
                f"`{change.file}`",
                f"`{change.key}`",
                _value(change.old),
                _value(change.new),
                "-" if change.delta is None else f"{change.delta:+.4g}",
            )
            for change in comparison.changes
        ]
        lines += [
            "",
            *_float_div(
                "tbl-what-changed",
                _table(["", "File", "Key", "Old", "New", "Delta"], rows, "lllrrr"),
                f"Metrics and parameters that differ from {where}.",
            ),
        ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------
# Methodology, model card and datasheet
# --------------------------------------------------------------------------------------------------


def methodology_markdown(inputs: BookInputs) -> str:
    """How the numbers were made and where they stop being trustworthy, from the metrics."""
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
            f"A customer counts as churned when they make no purchase in the {_number(horizon, ',')} days "
            "after "
            f"the evaluation cutoff ({cutoff}); every feature comes from before it."
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
        f"Validation: {_sentence(str(validation))}",
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
        *(f"- {limit}" for limit in limitations(inputs)),
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
            "calibration "
            "error); revenue at risk and the campaign's value inherit that error."
        )
    violations = inputs.get("survival", "ph_violations")
    if isinstance(violations, list) and violations:
        limits.append(
            "The proportional-hazards assumption fails for "
            f"{', '.join(f'`{v}`' for v in violations)}, so the "
            "Cox model's effects for them are averages over time."
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
            f"churners and that a kept customer is worth {campaign['retained_value']:,.2f}: both are params, "
            "not measurements, until the A/B tests in the recommendations measure them."
        )
    limits.append(
        "Every relation shown is an association in observational data; only the proposed A/B tests show "
        "whether an intervention causes a change."
    )
    return limits


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
        f"- Model: {_model_name(name)}, chosen among "
        + (", ".join(_model_name(key) for key in models) if isinstance(models, Mapping) else str(models))
        + " on held-out customers.",
        f"- Decision threshold: {_number(threshold, '.3f')} (the retention campaign's most profitable "
        "point).",
        f"- Inputs: {len(features)} features"
        + (f" ({', '.join(f'`{f}`' for f in features)})." if features else "."),
        f"- Training data: SHA-256 `{model.get('training_data_sha256', 'not recorded')}`.",
        "",
        "### Intended use",
        "",
        f"Rank current customers by their probability of making no purchase in the next "
        f"{_number(horizon, ',')} days, to choose whom to make a retention offer. Not for decisions about "
        "individuals beyond that offer (credit, pricing, service levels), and not for customers of another "
        "shop or period without retraining and re-evaluation.",
        "",
        "### Evaluation",
        "",
    ]
    validation = inputs.get("churn", "validation")
    lines.append(f"Validation: {validation}.")
    if isinstance(models, Mapping):
        keys = [
            k
            for k in ("roc_auc", "pr_auc", "precision", "recall", "f1", "brier", "ece")
            if any(k in scores for scores in models.values())
        ]
        rows = [
            (
                _model_name(model_name) + (" (chosen)" if model_name == name else ""),
                *(_number(scores.get(k), ".3f") if k in scores else "-" for k in keys),
            )
            for model_name, scores in models.items()
        ]
        lines += [
            "",
            *_float_div(
                "tbl-model-evaluation",
                _table(["Model", *(_METRIC_NAMES[k] for k in keys)], rows),
                "Every model on the held-out customers (`metrics/churn.json` → `models`).",
            ),
        ]
    for metric in ("roc_auc", "pr_auc"):
        value, ci = inputs.get("churn", metric), inputs.get("churn", f"{metric}_ci")
        if not isinstance(value, Missing) and isinstance(ci, list):
            lines += [
                "",
                f"- {_METRIC_NAMES[metric]} {value:.3f}, 95% interval {ci[0]:.3f} to {ci[1]:.3f}.",
            ]
    lines += ["", "### Limits", "", *(f"- {limit}" for limit in limitations(inputs))]
    used = [attribute for attribute in SENSITIVE_ATTRIBUTES if attribute in features]
    drivers = inputs.get("churn", "drivers")
    ranks = {d["feature"]: rank for rank, d in enumerate(drivers, 1)} if isinstance(drivers, list) else {}
    lines += ["", "### Ethical considerations", ""]
    if used:
        lines.append(
            "The model sees "
            + ", ".join(
                f"`{a}`" + (f" (driver rank {ranks[a]})" if a in ranks else " (not among the top drivers)")
                for a in used
            )
            + ". A retention offer is a benefit, so a score that leans on these attributes offers it "
            "unequally: "
            "compare offer rates across their groups before acting, or retrain without them."
        )
    else:
        lines.append(
            f"The model does not see {' or '.join(f'`{a}`' for a in SENSITIVE_ATTRIBUTES)}; attributes that "
            "correlate with them (device, city tier, payment mode) can still stand in for them, so compare "
            "offer "
            "rates across groups before acting."
        )
    lines += [
        "",
        "Customers are identified by id only; the book shows aggregates, never an individual's data.",
        "",
        "## Datasheet {#sec-datasheet}",
        "",
        *_datasheet_lines(inputs, source),
    ]
    return "\n".join(lines) + "\n"


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
        f"{table}: {counts['rows_out']:,} rows kept of {counts['rows_in']:,}"
        for table, counts in quality.items()
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
        "in UTC; labels made canonical; blanks filled by declared rules with indicator columns.",
        "- Maintenance: every build records its commit, data hashes and params (the version on the first "
        "page); "
        "`dvc repro` rebuilds it.",
    ]
    return lines


# --------------------------------------------------------------------------------------------------
# Appendix: data dictionary and params
# --------------------------------------------------------------------------------------------------


def data_dictionary_markdown() -> str:
    """Every table of `cba.schema`: columns, types, whether blanks are allowed, meaning; and vocabularies."""
    from cba import schema

    lines: list[str] = []
    tables = [
        getattr(schema, name) for name in schema.__all__ if isinstance(getattr(schema, name), schema.Table)
    ]
    for table in tables:
        rows = [
            (f"`{column.name}`", f"`{column.dtype}`", "yes" if column.nullable else "no", column.description)
            for column in table.columns
        ]
        lines += [
            f"## {table.name.capitalize()}",
            "",
            *_table(["Column", "Type", "Blanks", "Meaning"], rows, "llll"),
            "",
        ]
    vocabularies = [(f"`{name}`", ", ".join(levels)) for name, levels in schema.VOCABULARIES.items()]
    lines += ["## Vocabularies", "", *_table(["Attribute", "Canonical levels"], vocabularies, "ll"), ""]
    return "\n".join(lines)


def params_markdown(params: Mapping[str, Any]) -> str:
    """The params of this build as YAML, and a table of every key and value."""
    flat = _flatten(params)
    rows = [(f"`{key}`", _cell(json.dumps(value, default=str))) for key, value in flat.items()]
    return "\n".join(
        [
            "## Every parameter {#sec-params}",
            "",
            f"{len(flat)} parameters; `dvc params diff` compares them across versions.",
            "",
            *_table(["Key", "Value"], rows, "ll"),
            "",
        ]
    )


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


# --------------------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------------------


def write_generated(root: Path, params: dict[str, Any]) -> None:
    """Write every ``report/_generated/*.md`` file the book's chapters include.

    Parameters
    ----------
    root : Path
        The project root.
    params : dict
        The parameters of the build, as read from ``params.yaml``.
    """
    inputs = read_inputs(root, params)
    report = params.get("report") or {}
    generated = root / "report" / "_generated"
    generated.mkdir(parents=True, exist_ok=True)
    texts = {
        "version": version_markdown(version_stamp(root, params)),
        "summary": summary_markdown(inputs),
        "data_quality": data_quality_markdown(inputs.metrics.get("data_quality") or {}),
        "dashboards": dashboards_markdown(inputs),
        "recommendations": recommendations_markdown(inputs),
        "changes": changes_markdown(what_changed(root, report.get("compare_to"))),
        "methodology": methodology_markdown(inputs),
        "model_card": model_card_markdown(inputs),
        "data_dictionary": data_dictionary_markdown(),
        "params": params_markdown(params),
    }
    for name, text in texts.items():
        (generated / f"{name}.md").write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------------------------------
# The book
# --------------------------------------------------------------------------------------------------

CHROMIUM_OFFLINE_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
"""Chromium as root on a closed network: no sandbox, GPU or background connections."""
CHROMIUM_FLAGS = (
    "--headless",
    *CHROMIUM_OFFLINE_FLAGS,
    "--no-pdf-header-footer",
    "--run-all-compositor-stages-before-draw",
    "--virtual-time-budget=30000",
)
"""Headless Chromium printing a page to PDF offline, after its scripts (the Plotly figures) have run."""

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
"""Executables tried, in order, to print the fallback book's PDF."""


def render_book(root: Path, quarto: str | None = "quarto", chromium: str | None = "auto") -> Path:
    """Render the book described by ``root/_quarto.yml``; return the book directory.

    Parameters
    ----------
    root : Path
        The project root holding ``_quarto.yml``.
    quarto : str or None
        The Quarto executable, looked up on ``PATH``. When found, ``quarto render`` builds the HTML book
        and the Typst PDF. When not found (or None), the built-in fallback renders the same chapters, in
        the same order and parts, to an HTML book and prints one line saying so.
    chromium : str or None
        Fallback only: the browser that prints the whole book to ``<book output-file>.pdf``; ``"auto"``
        tries `CHROMIUM_CANDIDATES` on ``PATH``; None, or none found, means no PDF (the line says so).

    Returns
    -------
    Path
        The book directory (``project.output-dir``), whose ``index.html`` is the first chapter.

    Raises
    ------
    FileNotFoundError
        When a chapter listed in ``_quarto.yml`` does not exist.
    """
    config = yaml.safe_load((root / "_quarto.yml").read_text())
    book_dir = root / config.get("project", {}).get("output-dir", "_book")
    entries = book_entries(config)
    missing = [entry.path for entry in entries if not (root / entry.path).is_file()]
    if missing:
        raise FileNotFoundError(
            f"chapter {missing[0]} listed in _quarto.yml does not exist ({root / missing[0]}); "
            "run the pipeline stage that writes it first"
        )
    executable = shutil.which(quarto) if quarto else None
    if executable:
        subprocess.run([executable, "render"], cwd=root, check=True)
        return book_dir
    book = config.get("book", {})
    title = book.get("title", "Book")
    _render_fallback(root, title, entries, book_dir)
    index = (book_dir / "index.html").relative_to(root).as_posix()
    browser = _find_chromium() if chromium == "auto" else chromium and shutil.which(chromium)
    if browser:
        pdf = book_dir / f"{book.get('output-file', 'book')}.pdf"
        print_pdf(book_dir / _PRINT_PAGE, pdf, browser)
        (book_dir / _PRINT_PAGE).unlink()
        pdf_note = f"and printed it to {pdf.relative_to(root).as_posix()} with {Path(browser).name}"
    else:
        (book_dir / _PRINT_PAGE).unlink()
        pdf_note = "(no PDF: Chromium not found)"
    print(
        f"Quarto not found on PATH: rendered the HTML book with the built-in fallback to {index} {pdf_note}. "
        "Install Quarto (https://quarto.org/docs/get-started/) for the Quarto HTML and Typst PDF book."
    )
    return book_dir


def _find_chromium() -> str | None:
    return next((found for name in CHROMIUM_CANDIDATES if (found := shutil.which(name))), None)


def print_pdf(page: Path, pdf: Path, chromium: str) -> Path:
    """Print an HTML ``page`` to ``pdf`` with headless ``chromium`` (offline; scripts run first)."""
    with tempfile.TemporaryDirectory(prefix="cba-chromium-") as profile:
        result = subprocess.run(
            [
                chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--print-to-pdf={pdf.resolve()}",
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0 or not pdf.is_file():
        raise RuntimeError(f"{chromium} could not print {page} to {pdf}: {result.stderr.strip()[-2000:]}")
    return pdf


@dataclass(frozen=True)
class BookEntry:
    """One chapter of the book: its file, the part it belongs to, and whether it is an appendix."""

    path: str
    part: str | None = None
    appendix: bool = False


def book_entries(config: Mapping[str, Any]) -> list[BookEntry]:
    """The chapters then the appendices of a Quarto book config, in order, with their part titles."""
    entries: list[BookEntry] = []

    def walk(items: list[Any], part: str | None, appendix: bool) -> None:
        for item in items:
            if isinstance(item, str):
                entries.append(BookEntry(item, part, appendix))
            elif isinstance(item, Mapping):
                if "href" in item:
                    entries.append(BookEntry(item["href"], part, appendix))
                title = item.get("part")
                if title is not None and str(title).endswith((".qmd", ".md", ".ipynb")):
                    entries.append(BookEntry(title, None, appendix))  # a part with its own page
                    title = Path(title).stem.replace("-", " ").capitalize()
                walk(item.get("chapters") or [], str(title) if title is not None else part, appendix)

    book = config.get("book", {})
    walk(book.get("chapters") or [], None, False)
    walk(book.get("appendices") or [], None, True)
    return entries


_PRINT_PAGE = "print.html"
"""The whole book on one page, printed to PDF by Chromium and then removed."""


@dataclass
class _Page:
    entry: BookEntry
    file: str
    number: str | None  # "3" for a chapter, "A" for an appendix, None for the index
    title: str = ""
    body: str = ""


def _render_fallback(root: Path, title: str, entries: list[BookEntry], book_dir: Path) -> None:
    """Render ``entries`` to ``book_dir`` as one HTML page each, inside a shared book shell.

    Two passes: the first reads every Markdown chapter's cross-reference labels (``#fig-``, ``#tbl-``,
    ``#sec-``) so the second can turn ``@label`` into links to the right page; links to ``.qmd`` and
    ``.ipynb`` chapters become links to their pages. Also writes `_PRINT_PAGE`, every chapter on one page.
    """
    files = ["index.html", *(f"{Path(entry.path).stem}.html" for entry in entries[1:])]
    duplicates = sorted({file for file in files if files.count(file) > 1})
    if duplicates:
        raise ValueError(f"_quarto.yml chapters must have unique file names; repeated: {duplicates}")
    pages, chapter, appendix = [], 0, 0
    for position, (entry, file) in enumerate(zip(entries, files, strict=True)):
        if position == 0:
            number = None
        elif entry.appendix:
            number, appendix = chr(ord("A") + appendix), appendix + 1
        else:
            chapter += 1
            number = str(chapter)
        pages.append(_Page(entry, file, number))
    labels = _collect_labels(root, pages)
    links = {Path(page.entry.path).as_posix(): page.file for page in pages}
    for page in pages:
        page.title, page.body = _render_chapter(root, root / page.entry.path, labels, links)

    book_dir.mkdir(parents=True, exist_ok=True)
    plotly_js = _plotly_js()
    shared_js = False
    for position, page in enumerate(pages):
        body = page.body
        if plotly_js and plotly_js in body:
            body = body.replace(f"<script>{plotly_js}</script>", '<script src="plotly.min.js"></script>')
            shared_js = True
        page.body = body
        (book_dir / page.file).write_text(_book_shell(title, pages, position, body), encoding="utf-8")
    if shared_js:
        (book_dir / "plotly.min.js").write_text(plotly_js, encoding="utf-8")
    (book_dir / _PRINT_PAGE).write_text(_print_page(title, pages, shared_js), encoding="utf-8")


def _chapter_heading(page: _Page) -> str:
    if page.number is None:
        return page.title
    return f"{'Appendix ' if page.entry.appendix else ''}{page.number}  {page.title}"


def _title_heading(page: _Page) -> str:
    """The chapter title of a Markdown chapter; a notebook's own first heading is its title."""
    if Path(page.entry.path).suffix == ".ipynb":
        return ""
    return f'<h1 class="title">{html.escape(_chapter_heading(page))}</h1>'


def _render_chapter(
    root: Path, path: Path, labels: Mapping[str, tuple[str, str]], links: Mapping[str, str]
) -> tuple[str, str]:
    """(title, body HTML) of one chapter file."""
    if path.suffix == ".ipynb":
        return _render_notebook(path)
    if path.suffix in (".qmd", ".md"):
        return _render_markdown(root, path, labels, links)
    raise ValueError(f"cannot render chapter {path.name}: only .qmd, .md and .ipynb are supported")


_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*\n", re.DOTALL)
_INCLUDE = re.compile(r"^[ \t]*\{\{<\s*include\s+\"?([^\s\">]+)\"?\s*>\}\}[ \t]*$", re.MULTILINE)
_RAW_BLOCK = re.compile(r"^```\{=(\w+)\}[ \t]*\n(.*?)\n```[ \t]*$", re.MULTILINE | re.DOTALL)
_DIV_OPEN = re.compile(r"^:::+[ \t]*\{(.*)\}[ \t]*$")
_DIV_CLOSE = re.compile(r"^:::+[ \t]*$")
_HEADING_ID = re.compile(r"^(#{1,6})[ \t]+(.*?)[ \t]+\{#([\w-]+)\}[ \t]*$", re.MULTILINE)
_CROSSREF = re.compile(r"(?<![\w@`])@((?:fig|tbl|sec)-[\w-]*\w)")
_CROSSREF_KINDS = {"fig": "Figure", "tbl": "Table"}


def _split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    return yaml.safe_load(match.group(1)) or {}, text[match.end() :]


def _expand_includes(text: str, base: Path, root: Path, depth: int = 0) -> str:
    """Expand ``{{< include PATH >}}`` shortcodes as Quarto does.

    Paths resolve against the directory of the document being rendered (``base``), or against the
    project root when they start with ``/``.
    """
    if depth > 10:
        raise ValueError("include shortcodes nest more than 10 levels deep (a cycle?)")

    def include(match: re.Match[str]) -> str:
        target = match.group(1)
        path = root / target.lstrip("/") if target.startswith("/") else base / target
        if not path.is_file():
            raise FileNotFoundError(f"include shortcode points to a missing file: {path}")
        _, content = _split_front_matter(path.read_text(encoding="utf-8"))
        return _expand_includes(content, base, root, depth + 1)

    return _INCLUDE.sub(include, text)


def _markdown_source(root: Path, path: Path) -> tuple[dict[str, Any], str]:
    front_matter, text = _split_front_matter(path.read_text(encoding="utf-8"))
    return front_matter, _expand_includes(text, path.parent, root)


def _collect_labels(root: Path, pages: list[_Page]) -> dict[str, tuple[str, str]]:
    """Cross-reference label -> (page file, reference text) over every Markdown chapter.

    Numbered as Quarto numbers them: figures and tables per chapter (``Figure 3.2``), sections by their
    chapter.
    """
    labels: dict[str, tuple[str, str]] = {}
    for page in pages:
        path = root / page.entry.path
        if path.suffix not in (".qmd", ".md"):
            continue
        front_matter, text = _markdown_source(root, path)
        title = str(front_matter.get("title") or path.stem)
        counters = dict.fromkeys(_CROSSREF_KINDS, 0)
        for line in _RAW_BLOCK.sub("", text).splitlines():
            label = None
            if match := _DIV_OPEN.match(line):
                label = next((a[1:] for a in match.group(1).split() if a.startswith("#")), None)
            elif match := _HEADING_ID.match(line):
                label = match.group(3)
            if label is None:
                continue
            kind = label.split("-", 1)[0]
            if label in labels:
                raise ValueError(
                    f"cross-reference label #{label} is defined twice (again in {page.entry.path})"
                )
            if kind in counters:
                counters[kind] += 1
                number = f"{page.number}.{counters[kind]}" if page.number else str(counters[kind])
                labels[label] = (page.file, f"{_CROSSREF_KINDS[kind]} {number}")
            elif kind == "sec":
                where = (
                    f"{'Appendix' if page.entry.appendix else 'Chapter'} {page.number}"
                    if page.number
                    else title
                )
                labels[label] = (page.file, where)
    return labels


def _render_markdown(
    root: Path, path: Path, labels: Mapping[str, tuple[str, str]], links: Mapping[str, str]
) -> tuple[str, str]:
    """Render a ``.qmd`` as the Quarto HTML output shows it.

    Includes, raw HTML blocks, fenced divs (cross-reference floats, content-visible), heading ids, ``@``
    cross-references and chapter links.
    """
    import mistune

    front_matter, text = _markdown_source(root, path)
    to_html = mistune.create_markdown(escape=False, plugins=["table", "strikethrough", "url"])
    raw: list[str] = []

    def keep_raw(match: re.Match[str]) -> str:
        if match.group(1) != "html":
            return ""
        raw.append(match.group(2))
        return f"\n\nCBARAWBLOCK{len(raw) - 1}\n\n"

    text = _RAW_BLOCK.sub(keep_raw, text)
    text = _fenced_divs(text, labels, to_html)
    text = _HEADING_ID.sub(
        lambda m: (
            f'<h{len(m.group(1))} id="{m.group(3)}">{_inline(to_html, m.group(2))}</h{len(m.group(1))}>'
        ),
        text,
    )
    text = _crossrefs(text, labels, path)
    body = to_html(text)
    for number, block in enumerate(raw):
        body = body.replace(f"<p>CBARAWBLOCK{number}</p>", block).replace(f"CBARAWBLOCK{number}", block)
    body = _chapter_links(body, path, root, links)
    title = str(front_matter.get("title") or path.stem.replace("_", " ").capitalize())
    return title, body


def _inline(to_html: Any, text: str) -> str:
    """Inline Markdown to HTML, without the paragraph around it."""
    rendered = to_html(text).strip()
    return rendered[3:-4] if rendered.startswith("<p>") and rendered.endswith("</p>") else rendered


def _fenced_divs(text: str, labels: Mapping[str, tuple[str, str]], to_html: Any) -> str:
    """Resolve ``::: {...}`` fenced divs.

    Cross-reference floats become ``<figure>`` with a numbered caption (their last paragraph);
    ``.content-visible``/``.content-hidden`` keep what HTML shows.
    """
    out: list[str] = []
    stack: list[tuple[str, str | None, int]] = []  # (kind, label, position in out)
    for line in text.split("\n"):
        if match := _DIV_OPEN.match(line):
            attributes = match.group(1)
            label = next((a[1:] for a in attributes.split() if a.startswith("#")), None)
            if label and label.split("-", 1)[0] in _CROSSREF_KINDS:
                stack.append(("float", label, len(out)))
            elif not _html_shows(attributes):
                stack.append(("hidden", None, len(out)))
            else:
                classes = " ".join(a[1:] for a in attributes.split() if a.startswith("."))
                stack.append(("div", None, len(out)))
                out += [f'<div class="{html.escape(classes)}">' if classes else "<div>", ""]
            continue
        if _DIV_CLOSE.match(line) and stack:
            kind, label, start = stack.pop()
            if kind == "hidden":
                del out[start:]
            elif kind == "div":
                out += ["", "</div>", ""]
            else:
                content = "\n".join(out[start:]).strip("\n").split("\n\n")
                caption = content.pop() if len(content) > 1 else ""
                reference = labels[label][1]
                kind_name = label.split("-", 1)[0]
                out[start:] = [
                    f'<figure id="{label}" class="quarto-float quarto-float-{kind_name}">',
                    "",
                    *("\n\n".join(content)).split("\n"),
                    "",
                    f"<figcaption>{reference}: {_inline(to_html, caption.strip())}</figcaption>",
                    "</figure>",
                    "",
                ]
            continue
        out.append(line)
    if stack:
        raise ValueError("a fenced div (:::) is opened but never closed")
    return "\n".join(out)


def _html_shows(attributes: str) -> bool:
    """Whether Quarto's HTML output shows a div with these attributes (content-visible/-hidden)."""
    formats = re.findall(r"(when|unless)-format=\"([^\"]+)\"", attributes)
    if ".content-visible" in attributes.split():
        return all((fmt == "html") == (condition == "when") for condition, fmt in formats)
    if ".content-hidden" in attributes.split():
        return not all((fmt == "html") == (condition == "when") for condition, fmt in formats)
    return True


def _crossrefs(text: str, labels: Mapping[str, tuple[str, str]], path: Path) -> str:
    """``@fig-x`` -> a link to its page and anchor, outside code; an unknown label fails."""
    parts = re.split(r"(```.*?```|`[^`\n]*`)", text, flags=re.DOTALL)

    def link(match: re.Match[str]) -> str:
        label = match.group(1)
        if label not in labels:
            raise ValueError(f"{path.name}: cross-reference @{label} has no #{label} in any chapter")
        file, reference = labels[label]
        return f"[{reference}]({file}#{label})"

    return "".join(part if index % 2 else _CROSSREF.sub(link, part) for index, part in enumerate(parts))


def _chapter_links(body: str, path: Path, root: Path, links: Mapping[str, str]) -> str:
    """Links to ``.qmd``/``.ipynb`` chapters (relative to ``path``, as Quarto reads them) -> their pages."""

    def page(match: re.Match[str]) -> str:
        target, anchor = match.group(1), match.group(2) or ""
        resolved = (path.parent / target).resolve()
        try:
            key = resolved.relative_to(root.resolve()).as_posix()
        except ValueError:
            return match.group(0)
        if key not in links:
            raise ValueError(f"{path.name}: link to {target}, which is not a chapter of the book")
        return f'href="{links[key]}{anchor}"'

    return re.sub(r'href="([^":#]+\.(?:qmd|ipynb))(#[^"]*)?"', page, body)


_NOTEBOOK_TEMPLATE = """\
{%- extends 'lab/base.html.j2' -%}
{% block input_group -%}
<details class="code-fold"><summary>Code</summary>
{{ super() }}
</details>
{%- endblock input_group %}
"""

_REMOTE_MATHJAX = re.compile(r"<script\b[^>]*\bsrc=\"https?://[^\"]*mathjax[^\"]*\"[^>]*>\s*</script>", re.I)


def _render_notebook(path: Path) -> tuple[str, str]:
    import nbformat
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    notebook = nbformat.read(path, as_version=4)
    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[DictLoader({"cba_chapter.html.j2": _NOTEBOOK_TEMPLATE})],
        template_file="cba_chapter.html.j2",
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(notebook)
    # Plotly's notebook renderer links MathJax from a CDN for LaTeX in figure text; the book has none.
    body = _REMOTE_MATHJAX.sub("", body)
    return _notebook_title(notebook, path), body


def _notebook_title(notebook: Any, path: Path) -> str:
    """The first ``# `` heading of a markdown cell, or a title made from the file name."""
    for cell in notebook.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    return path.stem.replace("_", " ").capitalize()


def _plotly_js() -> str | None:
    """The plotly.js bundle the installed Plotly embeds, to share it between pages."""
    try:
        from plotly.offline import get_plotlyjs
    except ImportError:
        return None
    return get_plotlyjs()


def _book_shell(title: str, pages: list[_Page], position: int, body: str) -> str:
    """One page of the book: sidebar with every chapter under its part, the body, previous/next links."""
    page = pages[position]
    items, part, appendices = [], None, False
    for number, other in enumerate(pages):
        if other.entry.appendix and not appendices:
            appendices = True
            items.append('<li class="part">Appendices</li>')
        elif other.entry.part != part and other.entry.part is not None:
            items.append(f'<li class="part">{html.escape(other.entry.part)}</li>')
        part = other.entry.part
        current = ' aria-current="page"' if number == position else ""
        items.append(f'<li><a href="{other.file}"{current}>{html.escape(_chapter_heading(other))}</a></li>')
    previous, following = "<span></span>", "<span></span>"
    if position > 0:
        before = pages[position - 1]
        previous = f'<a class="previous" href="{before.file}">&larr; {html.escape(before.title)}</a>'
    if position + 1 < len(pages):
        after = pages[position + 1]
        following = f'<a class="next" href="{after.file}">{html.escape(after.title)} &rarr;</a>'
    page_title = html.escape(title if position == 0 else f"{page.title} – {title}")
    items_html = "\n".join(items)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{page_title}</title>
<style>
{_CSS}
{_pygments_css()}
</style>
</head>
<body>
<nav class="sidebar">
<p class="book-title"><a href="{pages[0].file}">{html.escape(title)}</a></p>
<ul>
{items_html}
</ul>
</nav>
<main>
{_title_heading(page)}
{body}
<nav class="pager">{previous}{following}</nav>
</main>
</body>
</html>
"""


def _print_page(title: str, pages: list[_Page], shared_js: bool) -> str:
    """Every chapter on one page, links to other pages turned into anchors, for printing to PDF."""
    sections = []
    for page in pages:
        body = page.body.replace('<script src="plotly.min.js"></script>', "")
        body = re.sub(r'href="([\w.-]+\.html)#', 'href="#', body)
        body = re.sub(r'href="([\w.-]+)\.html"', r'href="#chapter-\1"', body)
        sections.append(
            f'<section class="chapter" id="chapter-{Path(page.file).stem}">\n'
            f"{_title_heading(page)}\n{body}\n</section>"
        )
    script = '<script src="plotly.min.js"></script>' if shared_js else ""
    joined = "\n".join(sections)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
{_CSS}
{_pygments_css()}
main {{ margin-left: 0; max-width: none; }}
section.chapter {{ break-before: page; }}
details.code-fold {{ display: none; }}
</style>
{script}
</head>
<body>
<main>
<p class="book-title">{html.escape(title)}</p>
{joined}
</main>
</body>
</html>
"""


def _pygments_css() -> str:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(style="default").get_style_defs(".highlight")


_CSS = """
:root { --text: #1f2328; --muted: #59636e; --line: #d1d9e0; --accent: #0b5cad; --side: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--text); font: 16px/1.6 system-ui, -apple-system, "Segoe UI", sans-serif; }
a { color: var(--accent); }
.sidebar { position: fixed; top: 0; bottom: 0; left: 0; width: 17rem; overflow-y: auto;
  padding: 1.5rem 1rem; background: var(--side); border-right: 1px solid var(--line); }
.sidebar .book-title { font-weight: 700; font-size: 1.1rem; margin: 0 0 1rem; }
.sidebar .book-title a { color: var(--text); text-decoration: none; }
.sidebar ul { list-style: none; padding-left: 0; margin: 0; }
.sidebar li { margin: 0.35rem 0; }
.sidebar li.part { margin-top: 1rem; font-weight: 700; color: var(--muted); font-size: 0.85rem;
  text-transform: uppercase; letter-spacing: 0.03em; }
.sidebar a[aria-current] { font-weight: 700; color: var(--text); }
main { margin-left: 17rem; padding: 2rem 3rem 3rem; max-width: 62rem; }
@media (max-width: 800px) {
  .sidebar { position: static; width: auto; border-right: 0; border-bottom: 1px solid var(--line); }
  main { margin-left: 0; padding: 1rem; }
}
h1, h2, h3 { line-height: 1.25; margin: 1.6em 0 0.6em; }
h1 { font-size: 2rem; margin-top: 0; }
h2 { font-size: 1.45rem; border-bottom: 1px solid var(--line); padding-bottom: 0.25em; }
.anchor-link { display: none; }
table { border-collapse: collapse; border: 0; margin: 1rem 0; font-size: 0.9rem;
  font-variant-numeric: tabular-nums; }
main > table { display: block; overflow-x: auto; max-width: 100%; }
th, td { border: 1px solid var(--line); padding: 0.3rem 0.6rem; text-align: left; }
table.dataframe td { text-align: right; }
figure.quarto-float { margin: 1.5rem 0; }
figure.quarto-float figcaption { color: var(--muted); font-size: 0.9rem; margin-top: 0.4rem; }
@media print { .sidebar, .pager { display: none; } main { margin-left: 0; } }
thead th, table.dataframe th { background: var(--side); }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.88em; }
:not(pre) > code { background: var(--side); padding: 0.1em 0.3em; border-radius: 4px; }
pre { background: var(--side); padding: 0.75rem 1rem; overflow-x: auto; border-radius: 6px;
  line-height: 1.45; }
.highlight pre { margin: 0; }
.jp-Cell { margin: 0.5rem 0; }
.jp-InputPrompt, .jp-OutputPrompt, .jp-Collapser { display: none; }
details.code-fold { margin: 0.5rem 0; }
details.code-fold > summary { cursor: pointer; color: var(--muted); font-size: 0.85rem; }
.jp-OutputArea-output { overflow-x: auto; }
.jp-OutputArea-output pre { background: transparent; padding: 0.25rem 0; }
.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"] pre { background: #fff5f5;
  padding: 0.5rem; }
.jp-RenderedImage img, .jp-OutputArea-output img { max-width: 100%; height: auto; }
.plotly-graph-div { max-width: 100%; }
.pager { display: flex; justify-content: space-between; gap: 1rem; margin-top: 3rem; padding-top: 1rem;
  border-top: 1px solid var(--line); }
"""
