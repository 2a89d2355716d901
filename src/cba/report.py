"""The report: version stamp, computed summary and the book (Quarto, or a built-in HTML fallback).

The stage notebooks are executed by papermill into ``report/chapters/``; this module writes the two
generated Markdown files the Quarto sources include (``report/_generated/version.md`` and
``summary.md``) and renders the book. With Quarto on ``PATH`` it runs ``quarto render`` (HTML and a
Typst PDF, as ``_quarto.yml`` says); without it, it renders the same chapters in the same order to a
plain HTML book that works offline.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "METRICS_FILES",
    "configure_figures",
    "render_book",
    "summary_markdown",
    "version_markdown",
    "version_stamp",
    "write_generated",
]

METRICS_FILES = ("churn", "survival", "data_quality", "features")
"""The ``metrics/<name>.json`` files the summary chapter is computed from."""

PLOTLY_RENDERER = "plotly_mimetype+notebook"
"""Figure JSON for Plotly-aware front ends, plus HTML that draws offline (plotly.js embedded once)."""

_MODEL_NAMES = {"logistic_regression": "logistic regression", "xgboost": "XGBoost"}
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
        every stage output in ``dvc.lock``; empty without one), ``params`` (as given) and
        ``built_at`` (UTC, ISO 8601, seconds).
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
        Markdown: commit, uncommitted changes, a table of data hashes, the parameters as YAML and the
        build time.
    """
    commit = f"`{stamp['commit']}`" if stamp["commit"] else "not a git repository (or no commit yet)"
    lines = [
        "## Version",
        "",
        f"- Commit: {commit}",
        f"- Uncommitted changes to tracked files: {'yes' if stamp['dirty'] else 'no'}",
        f"- Built: {stamp['built_at']}",
        "",
        "### Data",
        "",
    ]
    if stamp["data"]:
        lines += ["| Path | MD5 |", "|---|---|"]
        lines += [f"| `{path}` | `{md5 or '-'}` |" for path, md5 in sorted(stamp["data"].items())]
    else:
        lines.append("No `dvc.lock` yet, so no data hashes are recorded.")
    params_yaml = yaml.safe_dump(dict(stamp["params"]), sort_keys=False, allow_unicode=True).rstrip()
    lines += ["", "### Parameters", "", "```yaml", params_yaml, "```", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Summary and recommendations
# --------------------------------------------------------------------------------------------------


def summary_markdown(
    churn: Mapping[str, Any],
    survival: Mapping[str, Any],
    data_quality: Mapping[str, Any],
    features: Mapping[str, Any],
) -> str:
    """Write the "Summary and recommendations" chapter from the pipeline's metrics.

    Every number is formatted from the inputs and every recommendation follows from them.

    Parameters
    ----------
    churn, survival, data_quality, features : Mapping
        The contents of ``metrics/churn.json``, ``metrics/survival.json``,
        ``metrics/data_quality.json`` and ``metrics/features.json``.

    Returns
    -------
    str
        Markdown with sections (``##``) for the churn definition, the model, survival by segment,
        data quality, and the recommendations.

    Raises
    ------
    KeyError
        When an input lacks a key; the message names the metrics file.
    """
    label = _from("features.json", _label_facts, features)
    model = _from("churn.json", _model_facts, churn)
    segment = _from("survival.json", _segment_facts, survival)
    quality = _from("data_quality.json", _quality_facts, data_quality)
    sections = [
        _label_section(label),
        _model_section(model),
        _survival_section(segment),
        _quality_section(quality),
        _recommendations_section(model, segment, quality),
    ]
    return "\n\n".join(sections) + "\n"


def _from(source: str, extract, data: Mapping[str, Any]) -> dict[str, Any]:
    """Apply ``extract`` to ``data``; a missing key fails with the metrics file named."""
    try:
        return extract(data)
    except KeyError as err:
        raise KeyError(f"metrics/{source} has no key {err.args[0]!r}") from err


def _model_name(key: str) -> str:
    return _MODEL_NAMES.get(key, key.replace("_", " "))


def _level(segment: str, level: str) -> str:
    return f"{segment} = {level}"


def _lifetime(value: float | None, unit: str) -> str:
    return "not reached" if value is None else f"{value:,.0f} {unit}"


def _label_facts(features: Mapping[str, Any]) -> dict[str, Any]:
    return {key: features[key] for key in ("customers", "churn_rate", "horizon_days", "cutoff")}


def _model_facts(churn: Mapping[str, Any]) -> dict[str, Any]:
    best = churn["best_model"]
    models = churn["models"]
    if best == _BASELINE:
        others = [name for name in models if name != _BASELINE]
        rival = max(others, key=lambda name: models[name]["roc_auc"]) if others else None
    else:
        rival = _BASELINE
    gain = churn["roc_auc"] - models[rival]["roc_auc"] if rival else None
    return {
        **{key: churn[key] for key in ("best_model", "roc_auc", "pr_auc", "precision", "recall", "f1")},
        **{key: churn[key] for key in ("brier", "threshold", "n_train", "n_test", "test_churn_rate")},
        "models": {name: dict(metrics) for name, metrics in models.items()},
        "rival": rival,
        "roc_auc_gain": gain,
        "drivers": [(driver["feature"], driver["importance"]) for driver in churn["top_drivers"][:3]],
    }


def _segment_facts(survival: Mapping[str, Any]) -> dict[str, Any]:
    rates = survival["churn_rate_by_segment"]
    medians = survival["median_lifetime"]
    highest = max(rates, key=rates.__getitem__)
    lowest = min(rates, key=rates.__getitem__)
    return {
        "segment": survival["segment"],
        "duration": survival["duration"],
        "unit": survival["duration"].split()[0],
        "n_customers": survival["n_customers"],
        "n_churned": survival["n_churned"],
        "p_value": survival["logrank_p_value"],
        "overall_median": medians["overall"],
        "highest": (highest, rates[highest], medians[highest]),
        "lowest": (lowest, rates[lowest], medians[lowest]),
        "n_levels": len(rates),
    }


def _quality_facts(data_quality: Mapping[str, Any]) -> dict[str, Any]:
    tables = {}
    for table, counts in data_quality.items():
        rows_in, rows_out, rejected = counts["rows_in"], counts["rows_out"], counts["rows_rejected"]
        rules = {rule: count for rule, count in counts["rules"].items() if count}
        tables[table] = {
            "rows_in": rows_in,
            "rows_out": rows_out,
            "rejected": rejected,
            "share": rejected / rows_in if rows_in else 0.0,
            "gap": rows_in - rows_out - rejected,
            "rules": dict(sorted(rules.items(), key=lambda item: -item[1])),
        }
    return tables


def _label_section(label: Mapping[str, Any]) -> str:
    if label["cutoff"] is None:
        definition = "The label is the data set's own churn flag: a snapshot without events has no cutoff."
    else:
        definition = (
            f"A customer active before the cutoff of {label['cutoff']} counts as churned when they make no "
            f"purchase in the {label['horizon_days']:,} days that follow it; everything the models see comes "
            "from before the cutoff."
        )
    return "\n".join(
        [
            "## Churn",
            "",
            f"Of {label['customers']:,} customers, **{label['churn_rate']:.1%} churned**. {definition}",
        ]
    )


def _model_section(model: Mapping[str, Any]) -> str:
    best, rival, gain = model["best_model"], model["rival"], model["roc_auc_gain"]
    if rival is None:
        comparison = "It is the only model fitted."
    elif best == _BASELINE:
        comparison = (
            f"The logistic-regression baseline is the best model: {_model_name(rival)} reaches "
            f"{model['models'][rival]['roc_auc']:.3f} ROC-AUC ({-gain:+.3f} against it)."
        )
    else:
        baseline = model["models"][_BASELINE]
        comparison = (
            f"The logistic-regression baseline reaches {baseline['roc_auc']:.3f} ROC-AUC and "
            f"{baseline['pr_auc']:.3f} PR-AUC, so {_model_name(best)} gains {gain:+.3f} ROC-AUC."
        )
    rows = [
        "| Model | ROC-AUC | PR-AUC | Precision | Recall | F1 | Brier |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, metrics in model["models"].items():
        mark = " (best)" if name == best else ""
        rows.append(
            f"| {_model_name(name)}{mark} | {metrics['roc_auc']:.3f} | {metrics['pr_auc']:.3f} | "
            f"{metrics['precision']:.1%} | {metrics['recall']:.1%} | {metrics['f1']:.3f} | "
            f"{metrics['brier']:.3f} |"
        )
    drivers = "\n".join(
        f"{rank}. `{feature}` (importance {importance:.3f})"
        for rank, (feature, importance) in enumerate(model["drivers"], start=1)
    )
    return "\n".join(
        [
            "## Churn model",
            "",
            f"The best model, **{_model_name(best)}**, reaches ROC-AUC {model['roc_auc']:.3f} and PR-AUC "
            f"{model['pr_auc']:.3f} on {model['n_test']:,} held-out customers (trained on "
            f"{model['n_train']:,}; {model['test_churn_rate']:.1%} of the held-out customers churned). "
            f"{comparison} At the decision threshold {model['threshold']:.2f} it finds "
            f"{model['recall']:.1%} of the churners with {model['precision']:.1%} precision "
            f"(F1 {model['f1']:.3f}, Brier score {model['brier']:.3f}).",
            "",
            *rows,
            "",
            f"The strongest drivers of churn in {_model_name(best)}:",
            "",
            drivers,
        ]
    )


def _survival_section(segment: Mapping[str, Any]) -> str:
    name, unit, p_value = segment["segment"], segment["unit"], segment["p_value"]
    (high, high_rate, high_median), (low, low_rate, low_median) = segment["highest"], segment["lowest"]
    overall = (
        f"Lifetime is measured in {segment['duration']}; {segment['n_churned']:,} of "
        f"{segment['n_customers']:,} customers churned, and the median lifetime overall is "
        f"{_lifetime(segment['overall_median'], unit)}."
    )
    if name is None:
        split = "The data carry no customer attribute to split the curves by."
    else:
        verdict = "differ significantly" if p_value < _SIGNIFICANCE else "do not differ significantly"
        split = (
            f"Split by {name}, customers with {_level(name, high)} churn most ({high_rate:.1%}, median "
            f"lifetime {_lifetime(high_median, unit)}) and those with {_level(name, low)} least "
            f"({low_rate:.1%}, median lifetime {_lifetime(low_median, unit)}). The survival curves of the "
            f"{segment['n_levels']} groups {verdict} at the {_SIGNIFICANCE:.0%} level "
            f"(log-rank p = {p_value:.2g})."
        )
    return "\n".join(
        [
            "## Customer lifetime",
            "",
            f"{overall} {split}",
            "",
            'A median lifetime that is "not reached" means more than half of the group was still '
            "active when observation ended.",
        ]
    )


def _quality_section(quality: Mapping[str, Mapping[str, Any]]) -> str:
    rows = [
        "| Table | Rows in | Rows out | Rejected | Share rejected | In = out + rejected |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for table, facts in quality.items():
        balance = "yes" if facts["gap"] == 0 else f"**no** ({facts['gap']:+,} rows unaccounted for)"
        rows.append(
            f"| {table} | {facts['rows_in']:,} | {facts['rows_out']:,} | {facts['rejected']:,} | "
            f"{facts['share']:.2%} | {balance} |"
        )
    unbalanced = [table for table, facts in quality.items() if facts["gap"] != 0]
    if unbalanced:
        verdict = f"{len(unbalanced)} of {len(quality)} tables do not reconcile: {', '.join(unbalanced)}."
    else:
        verdict = (
            f"All {len(quality)} tables reconcile: every row read was either kept or rejected by a rule."
        )
    rules = [
        f"- {table}: " + ", ".join(f"{rule} {count:,}" for rule, count in facts["rules"].items())
        for table, facts in quality.items()
        if facts["rules"]
    ]
    return "\n".join(
        [
            "## Data quality",
            "",
            verdict,
            "",
            *rows,
            *(["", "Rejections by rule:", "", *rules] if rules else []),
        ]
    )


def _recommendations_section(
    model: Mapping[str, Any], segment: Mapping[str, Any], quality: Mapping[str, Mapping[str, Any]]
) -> str:
    name = segment["segment"]
    (high, high_rate, high_median), (low, low_rate, _) = segment["highest"], segment["lowest"]
    bullets = []

    driver = f"`{model['drivers'][0][0]}`" if model["drivers"] else "the model's scores"
    lifetime = (
        f" (median lifetime {_lifetime(high_median, segment['unit'])})" if high_median is not None else ""
    )
    if name is None:
        bullets.append(
            f"Target retention by the model's churn scores, starting from its strongest driver, {driver}: "
            "the data carry no customer segment to single out."
        )
    else:
        bullets.append(
            f"Focus retention on customers with {_level(name, high)}: they churn at {high_rate:.1%}"
            f"{lifetime}, against {low_rate:.1%} for {_level(name, low)}. Start from the model's strongest "
            f"driver, {driver}, when choosing what to offer them."
        )

    best, rival, gain = model["best_model"], model["rival"], model["roc_auc_gain"]
    if rival is not None and (best == _BASELINE or gain < _MIN_ROC_AUC_GAIN):
        other = rival if best == _BASELINE else best
        bullets.append(
            f"Use the logistic-regression model: {_model_name(other)} differs from it by "
            f"{abs(gain):.3f} ROC-AUC, less than {_MIN_ROC_AUC_GAIN}, which does not pay for a model "
            "that is harder to explain and maintain."
        )
    else:
        bullets.append(
            f"Score customers with {_model_name(best)} (ROC-AUC {model['roc_auc']:.3f}"
            + (f", {gain:+.3f} over the logistic baseline" if rival is not None else "")
            + f"). At the threshold {model['threshold']:.2f} it reaches {model['recall']:.0%} of churners "
            f"and {model['precision']:.0%} of the customers it flags do churn; move the threshold to "
            "match the cost of a retention offer."
        )

    noisy = {table: facts for table, facts in quality.items() if facts["share"] > _MAX_REJECTED_SHARE}
    unbalanced = [table for table, facts in quality.items() if facts["gap"] != 0]
    if noisy or unbalanced:
        parts = []
        for table, facts in sorted(noisy.items(), key=lambda item: -item[1]["share"]):
            top_rule = next(iter(facts["rules"]), None)
            cause = f", mostly by the rule {top_rule} ({facts['rules'][top_rule]:,})" if top_rule else ""
            parts.append(f"{table} loses {facts['share']:.1%} of its rows ({facts['rejected']:,}){cause}")
        if unbalanced:
            parts.append(f"{', '.join(unbalanced)} do not reconcile (rows in ≠ rows out + rejected)")
        bullets.append(f"Fix the data feed first: {'; '.join(parts)}.")

    if name is not None and segment["p_value"] >= _SIGNIFICANCE:
        bullets.append(
            f"Treat the {name} split with caution: the survival curves do not differ significantly "
            f"(log-rank p = {segment['p_value']:.2g}), so confirm the difference on more data before "
            "spending on it."
        )

    return "\n".join(["## Recommendations", "", *(f"- {bullet}" for bullet in bullets)])


# --------------------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------------------


def write_generated(root: Path, params: dict[str, Any]) -> None:
    """Write ``report/_generated/version.md`` and ``summary.md`` from ``metrics/`` and the repository.

    Parameters
    ----------
    root : Path
        The project root.
    params : dict
        The parameters of the build, as read from ``params.yaml``.
    """
    metrics = {}
    for name in METRICS_FILES:
        path = root / "metrics" / f"{name}.json"
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run the pipeline stage that writes it first")
        metrics[name] = json.loads(path.read_text())
    generated = root / "report" / "_generated"
    generated.mkdir(parents=True, exist_ok=True)
    (generated / "version.md").write_text(version_markdown(version_stamp(root, params)))
    (generated / "summary.md").write_text(summary_markdown(**metrics))


# --------------------------------------------------------------------------------------------------
# The book
# --------------------------------------------------------------------------------------------------


def render_book(root: Path, quarto: str | None = "quarto") -> Path:
    """Render the book described by ``root/_quarto.yml``; return the book directory.

    Parameters
    ----------
    root : Path
        The project root holding ``_quarto.yml``.
    quarto : str or None
        The Quarto executable, looked up on ``PATH`` when this function is called. When it is not
        found (or None), the built-in fallback renders the same chapters, in the same order, to an
        HTML book (no PDF) and prints one line saying so.

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
    chapters = _chapters(config)
    missing = [chapter for chapter in chapters if not (root / chapter).is_file()]
    if missing:
        raise FileNotFoundError(
            f"chapter {missing[0]} listed in _quarto.yml does not exist ({root / missing[0]}); "
            "run the pipeline stage that writes it first"
        )
    executable = shutil.which(quarto) if quarto else None
    if executable:
        subprocess.run([executable, "render"], cwd=root, check=True)
        return book_dir
    _render_fallback(root, config.get("book", {}).get("title", "Book"), chapters, book_dir)
    index = (book_dir / "index.html").relative_to(root).as_posix()
    print(
        f"Quarto not found on PATH: rendered the HTML book with the built-in fallback to {index} (no PDF). "
        "Install Quarto (https://quarto.org/docs/get-started/) for the Quarto HTML and PDF book."
    )
    return book_dir


def _chapters(config: Mapping[str, Any]) -> list[str]:
    """The chapter files of a Quarto book config, in order, parts flattened."""
    chapters: list[str] = []

    def walk(entries: list[Any]) -> None:
        for entry in entries:
            if isinstance(entry, str):
                chapters.append(entry)
            elif isinstance(entry, Mapping):
                if "part" in entry and str(entry["part"]).endswith((".qmd", ".md", ".ipynb")):
                    chapters.append(entry["part"])
                if "href" in entry:
                    chapters.append(entry["href"])
                walk(entry.get("chapters") or [])

    walk(config.get("book", {}).get("chapters") or [])
    return chapters


def _render_fallback(root: Path, title: str, chapters: list[str], book_dir: Path) -> None:
    """Render ``chapters`` to ``book_dir`` as one HTML page each, inside a shared book shell."""
    pages = ["index.html", *(f"{Path(chapter).stem}.html" for chapter in chapters[1:])]
    duplicates = sorted({page for page in pages if pages.count(page) > 1})
    if duplicates:
        raise ValueError(f"_quarto.yml chapters must have unique file names; repeated: {duplicates}")
    rendered = [_render_chapter(root, root / chapter) for chapter in chapters]
    titles = [chapter_title for chapter_title, _ in rendered]

    book_dir.mkdir(parents=True, exist_ok=True)
    plotly_js = _plotly_js()
    shared_js = False
    for position, (page, (_, body)) in enumerate(zip(pages, rendered, strict=True)):
        if plotly_js and plotly_js in body:
            body = body.replace(f"<script>{plotly_js}</script>", '<script src="plotly.min.js"></script>')
            shared_js = True
        shell = _book_shell(title, pages, titles, position, body)
        (book_dir / page).write_text(shell, encoding="utf-8")
    if shared_js:
        (book_dir / "plotly.min.js").write_text(plotly_js, encoding="utf-8")


def _render_chapter(root: Path, path: Path) -> tuple[str, str]:
    """(title, body HTML) of one chapter file."""
    if path.suffix == ".ipynb":
        return _render_notebook(path)
    if path.suffix in (".qmd", ".md"):
        return _render_markdown(root, path)
    raise ValueError(f"cannot render chapter {path.name}: only .qmd, .md and .ipynb are supported")


_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*\n", re.DOTALL)
_INCLUDE = re.compile(r"^[ \t]*\{\{<\s*include\s+\"?([^\s\">]+)\"?\s*>\}\}[ \t]*$", re.MULTILINE)


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


def _render_markdown(root: Path, path: Path) -> tuple[str, str]:
    import mistune

    front_matter, text = _split_front_matter(path.read_text(encoding="utf-8"))
    text = _expand_includes(text, path.parent, root)
    to_html = mistune.create_markdown(escape=False, plugins=["table", "strikethrough", "url"])
    title = str(front_matter.get("title") or path.stem.replace("_", " ").capitalize())
    return title, f'<h1 class="title">{html.escape(title)}</h1>\n{to_html(text)}'


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


def _book_shell(title: str, pages: list[str], titles: list[str], position: int, body: str) -> str:
    """One page of the book: sidebar with every chapter, the chapter body, previous/next links."""
    current = ' aria-current="page"'
    links = "\n".join(
        f'<li><a href="{page}"{current if number == position else ""}>{html.escape(chapter_title)}</a></li>'
        for number, (page, chapter_title) in enumerate(zip(pages, titles, strict=True))
    )
    previous = (
        f'<a class="previous" href="{pages[position - 1]}">&larr; {html.escape(titles[position - 1])}</a>'
        if position > 0
        else "<span></span>"
    )
    following = (
        f'<a class="next" href="{pages[position + 1]}">{html.escape(titles[position + 1])} &rarr;</a>'
        if position + 1 < len(pages)
        else "<span></span>"
    )
    page_title = html.escape(title if position == 0 else f"{titles[position]} – {title}")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{page_title}</title>
<style>
{_CSS}
{_pygments_css()}
</style>
</head>
<body>
<nav class="sidebar">
<p class="book-title"><a href="{pages[0]}">{html.escape(title)}</a></p>
<ol>
{links}
</ol>
</nav>
<main>
{body}
<nav class="pager">{previous}{following}</nav>
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
.sidebar ol { padding-left: 1.4rem; margin: 0; }
.sidebar li { margin: 0.35rem 0; }
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
td { text-align: right; }
td:first-child { text-align: left; }
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
