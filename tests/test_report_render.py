import re
import shutil
from pathlib import Path

import nbformat
import plotly.graph_objects as go
import pytest
import yaml
from plotly.io._base_renderers import NotebookRenderer
from plotly.offline import get_plotlyjs

from cba import report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _plotly_outputs() -> list:
    """The outputs plotly's notebook renderer produces: the plotly.js bundle once, then the figure."""
    figure = go.Figure(go.Bar(x=["loyal", "churned"], y=[83, 17]))
    bundle = NotebookRenderer().to_mimebundle(figure.to_dict())
    plotly_js = f"<script>{get_plotlyjs()}</script>"
    return [
        nbformat.v4.new_output("display_data", data={"text/html": plotly_js}),
        nbformat.v4.new_output(
            "display_data",
            data={"application/vnd.plotly.v1+json": figure.to_plotly_json(), **bundle},
        ),
    ]


TINY_QUARTO = """\
project:
  type: book
  output-dir: report/_book
book:
  title: "Tiny churn book"
  output-file: tiny-book
  chapters:
    - index.qmd
    - part: "Models"
      chapters:
        - report/chapters/churn.ipynb
        - report/summary.qmd
  appendices:
    - report/appendix.qmd
"""

SUMMARY_QMD = """\
---
title: "Summary and recommendations"
---

{{< include _generated/summary.md >}}

::: {#fig-bars}

```{=html}
<div id="raw-bars">raw <b>HTML</b> kept as is</div>
```

Bars of churn.

:::

::: {.content-visible when-format="html"}
Shown in HTML.
:::

::: {.content-visible unless-format="html"}
Only in the PDF.
:::

See @fig-bars, @tbl-feed and @sec-appendix-detail; the [churn chapter](chapters/churn.ipynb) and the
[appendix](appendix.qmd#sec-appendix-detail). Mail support@example.com; code `@fig-bars` stays.
"""


def _tiny_project(root: Path) -> None:
    (root / "report" / "chapters").mkdir(parents=True)
    (root / "report" / "_generated").mkdir()
    (root / "_quarto.yml").write_text(TINY_QUARTO)
    (root / "index.qmd").write_text(
        '---\ntitle: "About this report"\n---\n\nAn introduction.\n\n'
        "{{< include report/_generated/version.md >}}\n"
    )
    (root / "report" / "_generated" / "version.md").write_text(
        "## Version\n\n| Path | MD5 |\n|---|---|\n| `datasets/raw` | `abc123` |\n"
    )
    (root / "report" / "summary.qmd").write_text(SUMMARY_QMD)
    (root / "report" / "_generated" / "summary.md").write_text(
        "## Recommendations\n\n- Fix the feed.\n\n::: {#tbl-feed}\n\n| Feed | Rows |\n|---|---:|\n"
        "| events | 1,000 |\n\nRows per feed.\n\n:::\n"
    )
    (root / "report" / "appendix.qmd").write_text(
        '---\ntitle: "Details"\n---\n\n## More detail {#sec-appendix-detail}\n\nThe fine print.\n'
    )
    notebook = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("fig = churn_figure()\nfig", execution_count=1)
    code.outputs = _plotly_outputs()
    notebook.cells = [nbformat.v4.new_markdown_cell("# Churn models\n\nWho leaves, and why."), code]
    nbformat.write(notebook, root / "report" / "chapters" / "churn.ipynb")


def test_fallback_renders_the_book(tmp_path, capsys):
    _tiny_project(tmp_path)

    book = report.render_book(tmp_path, quarto=None, chromium=None)

    assert book == tmp_path / "report" / "_book"
    assert capsys.readouterr().out.startswith(
        "Quarto not found on PATH: rendered the HTML book with the built-in fallback to "
        "report/_book/index.html (no PDF: Chromium not found)."
    )
    index = (book / "index.html").read_text()
    chapter = (book / "churn.html").read_text()
    summary = (book / "summary.html").read_text()
    appendix = (book / "appendix.html").read_text()

    assert "<title>Tiny churn book</title>" in index
    assert '<h1 class="title">About this report</h1>' in index
    assert '<h1 class="title">2  Summary and recommendations</h1>' in summary  # chapter 1 is the notebook
    assert '<h1 class="title">Appendix A  Details</h1>' in appendix
    assert '<li class="part">Models</li>' in index and '<li class="part">Appendices</li>' in index
    assert "<code>abc123</code>" in index  # the include was expanded and the table converted
    assert "{{<" not in index + summary
    assert "<li>Fix the feed.</li>" in summary
    assert "<title>Churn models" in chapter
    for page in (index, chapter, summary, appendix):
        links = re.findall(r'href="([^"#:]+)"', page)
        assert {"index.html", "churn.html", "summary.html", "appendix.html"} <= set(links)
        assert all((book / link).is_file() for link in links)
    assert 'class="previous" href="index.html"' in chapter
    assert 'class="next" href="summary.html"' in chapter

    # The figure draws offline: the figure div, Plotly.newPlot, and plotly.js served by the book itself.
    assert "plotly-graph-div" in chapter and "Plotly.newPlot" in chapter
    assert '<script src="plotly.min.js"></script>' in chapter
    assert (book / "plotly.min.js").read_text() == get_plotlyjs()
    assert not re.search(r"<script[^>]+src=\"https?://", chapter)
    assert "<details" in chapter and "churn_figure" in chapter  # the code is folded, not lost
    assert not (book / "print.html").exists()


def test_fallback_resolves_cross_references_floats_and_chapter_links(tmp_path):
    _tiny_project(tmp_path)

    book = report.render_book(tmp_path, quarto=None, chromium=None)
    summary = (book / "summary.html").read_text()

    assert '<figure id="fig-bars" class="quarto-float quarto-float-fig">' in summary
    assert '<div id="raw-bars">raw <b>HTML</b> kept as is</div>' in summary
    assert "<figcaption>Figure 2.1: Bars of churn.</figcaption>" in summary
    assert "<figcaption>Table 2.1: Rows per feed.</figcaption>" in summary
    assert '<a href="summary.html#fig-bars">Figure 2.1</a>' in summary
    assert '<a href="summary.html#tbl-feed">Table 2.1</a>' in summary
    assert '<a href="appendix.html#sec-appendix-detail">Appendix A</a>' in summary
    assert '<a href="churn.html">churn chapter</a>' in summary
    assert '<a href="appendix.html#sec-appendix-detail">appendix</a>' in summary
    assert '<h2 id="sec-appendix-detail">More detail</h2>' in (book / "appendix.html").read_text()
    assert "Shown in HTML." in summary and "Only in the PDF." not in summary
    assert "support@example.com" in summary and "<code>@fig-bars</code>" in summary
    assert not re.search(r"(?<![\w#])@(fig|tbl|sec)-", re.sub(r"<code>.*?</code>", "", summary))
    assert ":::" not in summary


def test_an_unresolved_cross_reference_names_the_chapter_and_label(tmp_path):
    _tiny_project(tmp_path)
    summary = tmp_path / "report" / "summary.qmd"
    summary.write_text(summary.read_text() + "\nAnd @fig-nowhere.\n")

    with pytest.raises(ValueError, match=r"summary\.qmd: cross-reference @fig-nowhere has no #fig-nowhere"):
        report.render_book(tmp_path, quarto=None, chromium=None)


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
def test_fallback_prints_the_whole_book_to_pdf_with_chromium(tmp_path, capsys):
    _tiny_project(tmp_path)

    book = report.render_book(tmp_path, quarto=None, chromium=CHROMIUM)

    pdf = book / "tiny-book.pdf"
    assert pdf.read_bytes().startswith(b"%PDF-")
    assert "printed it to report/_book/tiny-book.pdf" in capsys.readouterr().out
    assert not (book / "print.html").exists()


def test_fallback_is_used_when_quarto_is_not_on_path(tmp_path, capsys):
    _tiny_project(tmp_path)

    report.render_book(tmp_path, quarto="quarto-that-does-not-exist", chromium=None)

    assert capsys.readouterr().out.startswith("Quarto not found on PATH")


def test_missing_chapter_names_it_and_the_config(tmp_path):
    _tiny_project(tmp_path)
    (tmp_path / "report" / "chapters" / "churn.ipynb").unlink()

    with pytest.raises(FileNotFoundError, match=r"report/chapters/churn\.ipynb.*_quarto\.yml"):
        report.render_book(tmp_path, quarto=None)


def test_the_printed_book_leads_with_the_first_chapter_then_the_contents(tmp_path):
    from cba.report.render.book import PRINT_PAGE, _render_html

    _tiny_project(tmp_path)
    book = tmp_path / "report" / "_book"

    _render_html(tmp_path, "Tiny churn book", report.book_entries(yaml.safe_load(TINY_QUARTO)), book)
    printed = (book / PRINT_PAGE).read_text()

    first, _, after = printed.partition('<nav class="contents" id="contents">')
    contents = after.partition("</nav>")[0]
    assert "An introduction." in first and "Who leaves" not in first
    assert re.findall(r'<li(?: class="part")?>(?:<a [^>]+>)?([^<]+)', contents) == [
        "Models",
        "1 Churn models",
        "2 Summary and recommendations",
        "Appendices",
        "Appendix A Details",
    ]
    # Each part starts a page whose running title names it; the first page has none.
    assert "section#chapter-churn { page: part-models; }" in printed
    assert "section#chapter-summary { page: part-models; }" in printed
    assert '@page part-models { @top-right { content: "Models";' in printed
    assert "@page part-summary:first { @top-left { content: none; }" in printed
    assert 'counter(page) " of " counter(pages)' in printed
    # Code, folded rows, Plotly toolbars and HTML-only blocks stay out of print.
    assert "details.code-fold, details.all-rows, .modebar-container { display: none !important; }" in printed
    assert '<div class="content-visible html-only">' in printed and ".html-only { display: none; }" in printed
