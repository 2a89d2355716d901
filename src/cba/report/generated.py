"""Writing ``report/_generated/*.md``: every Markdown file the book's chapters include."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cba.config import Paths
from cba.figures import configure_figures
from cba.report.changes import changes_markdown
from cba.report.dashboards import dashboards_markdown
from cba.report.data_dictionary import data_dictionary_markdown
from cba.report.data_quality import data_quality_markdown
from cba.report.inputs import read_inputs
from cba.report.methodology import methodology_markdown
from cba.report.model_card import model_card_markdown
from cba.report.params_appendix import params_markdown
from cba.report.provenance import version_markdown, version_stamp, what_changed
from cba.report.recommendations import recommendations_markdown
from cba.report.summary import summary_markdown
from cba.report.technology import read_benchmark_results, technology_markdown


def generated_chapters(root: Path, params: dict[str, Any]) -> dict[str, str]:
    """Name (the file stem under ``report/_generated/``) -> Markdown, for every generated include."""
    configure_figures()
    inputs = read_inputs(Paths(root), params)
    return {
        "version": version_markdown(version_stamp(root, params)),
        "summary": summary_markdown(inputs),
        "data_quality": data_quality_markdown(inputs.metrics.get("data_quality") or {}),
        "dashboards": dashboards_markdown(inputs),
        "recommendations": recommendations_markdown(inputs),
        "changes": changes_markdown(what_changed(root, (params.get("report") or {}).get("compare_to"))),
        "methodology": methodology_markdown(inputs),
        "technology": technology_markdown(read_benchmark_results(Paths(root).benchmark_results)),
        "model_card": model_card_markdown(inputs),
        "data_dictionary": data_dictionary_markdown(),
        "params": params_markdown(params),
    }


def write_generated(root: Path, params: dict[str, Any]) -> list[Path]:
    """Write every ``report/_generated/*.md`` file the book's chapters include; the files written.

    Parameters
    ----------
    root : Path
        The project root.
    params : dict
        The parameters of the build, as read from ``params.yaml``.
    """
    generated = Paths(root).generated
    generated.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in generated_chapters(root, params).items():
        path = generated / f"{name}.md"
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
