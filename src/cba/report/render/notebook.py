"""Executed notebooks to HTML chapters: outputs kept, code folded, nothing loaded from the network."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).parent / "templates"
"""The book's templates and stylesheet; ``chapter.html.j2`` folds a notebook's code under "Code"."""

_REMOTE_MATHJAX = re.compile(r"<script\b[^>]*\bsrc=\"https?://[^\"]*mathjax[^\"]*\"[^>]*>\s*</script>", re.I)


def render_notebook(path: Path) -> tuple[str, str]:
    """(title, body HTML) of an executed notebook: every output, the code folded under "Code"."""
    import nbformat
    from jinja2 import FileSystemLoader
    from nbconvert import HTMLExporter

    notebook = nbformat.read(path, as_version=4)
    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[FileSystemLoader(TEMPLATES)],
        template_file="chapter.html.j2",
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
