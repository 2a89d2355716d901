"""The book: ``quarto render`` when Quarto is installed, else the built-in renderer.

The built-in renderer writes the same chapters, parts and appendices to an HTML book that works offline,
and headless Chromium, when installed, prints it to PDF.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from cba.figures import PRINT_FIGURE_HEIGHT
from cba.report.render.notebook import TEMPLATES, render_notebook
from cba.report.render.pdf import find_chromium, print_pdf
from cba.report.render.qmd import collect_labels, render_markdown
from cba.report.render.toc import BookEntry, Page, book_entries, number_pages

PRINT_PAGE = "print.html"
"""The whole book on one page, printed to PDF by Chromium and then removed."""


def render_book(root: Path, quarto: str | None = "quarto", chromium: str | None = "auto") -> Path:
    """Render the book described by ``root/_quarto.yml``; return the book directory.

    Parameters
    ----------
    root : Path
        The project root holding ``_quarto.yml``.
    quarto : str or None
        The Quarto executable, looked up on ``PATH``. When found, ``quarto render`` builds the HTML book
        and the Typst PDF. When not found (or None), the built-in renderer renders the same chapters, in
        the same order and parts, to an HTML book and prints one line saying so.
    chromium : str or None
        Built-in renderer only: the browser that prints the whole book to ``<book output-file>.pdf``;
        ``"auto"`` tries `CHROMIUM_CANDIDATES` on ``PATH``; None, or none found, means no PDF (the line
        says so).

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
    _render_html(root, book.get("title", "Book"), entries, book_dir)
    index = (book_dir / "index.html").relative_to(root).as_posix()
    browser = find_chromium() if chromium == "auto" else chromium and shutil.which(chromium)
    if browser:
        pdf = book_dir / f"{book.get('output-file', 'book')}.pdf"
        print_pdf(book_dir / PRINT_PAGE, pdf, browser)
        pdf_note = f"and printed it to {pdf.relative_to(root).as_posix()} with {Path(browser).name}"
    else:
        pdf_note = "(no PDF: Chromium not found)"
    (book_dir / PRINT_PAGE).unlink()
    print(
        f"Quarto not found on PATH: rendered the HTML book with the built-in fallback to {index} {pdf_note}. "
        "Install Quarto (https://quarto.org/docs/get-started/) for the Quarto HTML and Typst PDF book."
    )
    return book_dir


def _render_html(root: Path, title: str, entries: list[BookEntry], book_dir: Path) -> None:
    """Render ``entries`` to ``book_dir`` as one HTML page each, inside a shared book shell.

    Two passes: the first reads every Markdown chapter's cross-reference labels (``#fig-``, ``#tbl-``,
    ``#sec-``) so the second can turn ``@label`` into links to the right page; links to ``.qmd`` and
    ``.ipynb`` chapters become links to their pages. Also writes `PRINT_PAGE`, every chapter on one page.
    """
    pages = number_pages(entries)
    labels = collect_labels(root, pages)
    links = {Path(page.entry.path).as_posix(): page.file for page in pages}
    for page in pages:
        page.title, page.body = _render_chapter(root, root / page.entry.path, labels, links)

    book_dir.mkdir(parents=True, exist_ok=True)
    plotly_js = _plotly_js()
    shared_js = False
    for page in pages:
        if plotly_js and plotly_js in page.body:
            page.body = page.body.replace(
                f"<script>{plotly_js}</script>", '<script src="plotly.min.js"></script>'
            )
            shared_js = True
    templates = _templates()
    code_css = _pygments_css()
    for position, page in enumerate(pages):
        (book_dir / page.file).write_text(
            _page_html(templates, title, pages, position, code_css), encoding="utf-8"
        )
    if shared_js:
        (book_dir / "plotly.min.js").write_text(plotly_js, encoding="utf-8")
    (book_dir / PRINT_PAGE).write_text(
        _print_html(templates, title, pages, shared_js, code_css), encoding="utf-8"
    )


def _render_chapter(
    root: Path, path: Path, labels: Mapping[str, tuple[str, str]], links: Mapping[str, str]
) -> tuple[str, str]:
    """(title, body HTML) of one chapter file."""
    if path.suffix == ".ipynb":
        return render_notebook(path)
    if path.suffix in (".qmd", ".md"):
        return render_markdown(root, path, labels, links)
    raise ValueError(f"cannot render chapter {path.name}: only .qmd, .md and .ipynb are supported")


def _title_heading(page: Page) -> str:
    """The chapter title of a Markdown chapter; a notebook's own first heading is its title."""
    if Path(page.entry.path).suffix == ".ipynb":
        return ""
    return f'<h1 class="title">{html.escape(page.heading)}</h1>'


def _plotly_js() -> str | None:
    """The plotly.js bundle the installed Plotly embeds, to share it between pages."""
    try:
        from plotly.offline import get_plotlyjs
    except ImportError:
        return None
    return get_plotlyjs()


def _pygments_css() -> str:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(style="default").get_style_defs(".highlight")


def _templates() -> Any:
    """The Jinja2 environment of the page templates (``page.html.j2``, ``print.html.j2``, ``book.css``)."""
    from jinja2 import Environment, FileSystemLoader

    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=False, keep_trailing_newline=True)


def _page_html(templates: Any, title: str, pages: list[Page], position: int, code_css: str) -> str:
    """One page of the book: sidebar with every chapter under its part, the body, previous/next links."""
    page = pages[position]
    sidebar: list[dict[str, object]] = []
    part, appendices = None, False
    for number, other in enumerate(pages):
        if other.entry.appendix and not appendices:
            appendices = True
            sidebar.append({"part": "Appendices"})
        elif other.entry.part != part and other.entry.part is not None:
            sidebar.append({"part": other.entry.part})
        part = other.entry.part
        sidebar.append({"file": other.file, "heading": other.heading, "current": number == position})
    return templates.get_template("page.html.j2").render(
        page_title=title if position == 0 else f"{page.title} – {title}",
        title=title,
        index=pages[0].file,
        sidebar=sidebar,
        heading=_title_heading(page),
        body=page.body,
        previous=pages[position - 1] if position > 0 else None,
        next=pages[position + 1] if position + 1 < len(pages) else None,
        code_css=code_css,
    )


def _print_html(templates: Any, title: str, pages: list[Page], shared_js: bool, code_css: str) -> str:
    """Every chapter on one page, links to other pages turned into anchors, for printing to PDF.

    Each part (and each chapter outside a part, and the appendices together) starts a new printed page
    and names the running title at the top of its pages.
    """
    chapters = []
    part, appendices = None, False
    for page in pages:
        body = page.body.replace('<script src="plotly.min.js"></script>', "")
        body = re.sub(r'href="([\w.-]+\.html)#', 'href="#', body)
        body = re.sub(r'href="([\w.-]+)\.html"', r'href="#chapter-\1"', body)
        part_start = None
        if page.entry.appendix and not appendices:
            appendices, part_start = True, "Appendices"
        elif page.entry.part != part and page.entry.part is not None:
            part_start = page.entry.part
        part = page.entry.part
        heading = re.sub(r"\s+", " ", page.heading)
        group = "Appendices" if page.entry.appendix else page.entry.part or heading
        if page.number is None:
            group = "Summary"
        chapters.append(
            {
                "id": Path(page.file).stem,
                "heading": _title_heading(page),
                "body": body,
                "toc_title": heading,
                "part_start": part_start,
                "running_title": group,
                "page_name": "part-" + re.sub(r"[^a-z0-9]+", "-", group.lower()).strip("-"),
                "appendix": page.entry.appendix,
            }
        )
    return templates.get_template("print.html.j2").render(
        title=title,
        chapters=chapters,
        shared_js=shared_js,
        code_css=code_css,
        figure_height=PRINT_FIGURE_HEIGHT,
    )
