"""The rendered book in a real browser, built by a real `dvc repro` of a tiny copy of the project.

Playwright drives Debian's Chromium (``/usr/bin/chromium``; ``.ci/run`` installs it) against the book
served from 127.0.0.1: every page opens, every Plotly figure draws, the console stays clean, every
internal link resolves, and each page is saved as a screenshot under ``test-artifacts/book/``. Read as
print (Chromium's print media at the printed page's width) and as the printed PDF (poppler's
``pdftotext``/``pdftoppm``, page images saved beside the screenshots), no table is wider than its page,
the Plotly toolbars are hidden and the first page is the executive summary. The same build checks
that the executive summary's numbers are the metrics files' values, that "What changed" works inside
`dvc repro`, and that DVC sees every metric and plot the stages write.
"""

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path
from urllib.parse import urldefrag, urlparse

import pytest
import yaml

from book_cases import check_traced
from cba import report
from conftest import copy_build
from test_pipeline import ROOT, run

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "book"
PRINTED_TEXT_WIDTH = 684
"""Pixels across the printed text: letter (8.5 in) less the 2 x 17 mm print margins, at 96 dpi."""
PDF = "customer-behaviour-and-churn.pdf"

WIDER_THAN_THE_PAGE = """() => {
  const page = document.querySelector("main").getBoundingClientRect();
  return [...document.querySelectorAll("main table")]
    .filter(table => table.offsetParent !== null && !table.closest("details:not([open])"))
    .filter(table => table.getBoundingClientRect().right > page.right + 1
      || table.scrollWidth > table.clientWidth + 1
      || table.parentElement.scrollWidth > table.parentElement.clientWidth + 1)
    .map(table => (table.closest("[id]") || {}).id + ": " + table.innerText.slice(0, 60));
}"""

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("CI"),
        reason="/usr/bin/chromium is not installed (apt-get install chromium; .ci/run does it in CI)",
    ),
]


@pytest.fixture(scope="module")
def project(tiny_build, tmp_path_factory) -> Path:
    """A tiny build, committed, then rebuilt with another survival segment against that commit."""
    project = copy_build(tiny_build, tmp_path_factory.mktemp("book") / "repo")
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    run(["git", "add", "-A"], project)
    run([*git, "commit", "-q", "-m", "first build"], project)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["survival"]["segment"] = "CityTier"
    params["report"]["compare_to"] = "HEAD"
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["dvc", "repro"], project)
    return project


@pytest.fixture(scope="module")
def server(project):
    """The book served over HTTP on 127.0.0.1; its base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(project / "report" / "_book"))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=list(report.CHROMIUM_OFFLINE_FLAGS)
        )
        yield chromium
        chromium.close()


def pages(project: Path) -> list[str]:
    return sorted(path.name for path in (project / "report" / "_book").glob("*.html"))


def test_every_page_draws_its_figures_without_console_errors(project, server, browser):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    figures = {}
    for name in pages(project):
        page.goto(server + name, wait_until="load")
        count = page.locator(".plotly-graph-div").count()
        page.wait_for_function(
            "n => document.querySelectorAll('.plotly-graph-div .main-svg').length >= n", arg=count
        )
        drawn = page.evaluate(
            "() => [...document.querySelectorAll('.plotly-graph-div')]"
            ".filter(div => div.querySelector('.main-svg')).length"
        )
        assert drawn == count, f"{name}: {drawn} of {count} figures drew"
        duplicates = page.evaluate(
            "() => { const ids = [...document.querySelectorAll('[id]')].map(e => e.id)"
            ".filter(id => /^(fig|tbl|sec)-/.test(id));"
            " return [...new Set(ids.filter((id, i) => ids.indexOf(id) !== i))]; }"
        )
        assert duplicates == [], f"{name}: cross-reference ids used twice: {duplicates}"
        figures[name] = count
        page.screenshot(path=str(ARTIFACTS / f"{Path(name).stem}.png"), full_page=True)
        assert errors == [], f"{name}: {errors}"
    assert {
        "index.html",
        "dashboards.html",
        "recommendations.html",
        "changes.html",
        "model-card.html",
        "methodology.html",
        "data-dictionary.html",
        "params.html",
        "data-quality.html",
    } <= set(figures)
    assert figures["dashboards.html"] >= 6  # active customers, revenue, risk segments, funnel x2, products
    assert figures["eda.html"] > 0 and figures["churn.html"] > 0
    page.close()


def test_no_table_is_wider_than_its_page_on_screen_or_in_print(project, server, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    checked = toolbars_on_screen = 0
    for name in pages(project):
        page.emulate_media(media="screen")
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(server + name, wait_until="load")
        assert page.evaluate(WIDER_THAN_THE_PAGE) == [], f"{name} on screen"
        toolbars_on_screen += page.locator(".modebar-container").count()
        page.emulate_media(media="print")
        page.set_viewport_size({"width": PRINTED_TEXT_WIDTH, "height": 900})
        assert page.evaluate(WIDER_THAN_THE_PAGE) == [], f"{name} in print"
        toolbars = page.evaluate(
            "() => [...document.querySelectorAll('.modebar-container, .modebar')]"
            ".filter(bar => getComputedStyle(bar).display !== 'none' && bar.offsetParent !== null).length"
        )
        assert toolbars == 0, f"{name}: {toolbars} Plotly toolbars show in print"
        checked += page.locator("main table").count()
        if name in ("index.html", "churn.html", "recommendations.html"):
            page.screenshot(path=str(ARTIFACTS / f"print-{Path(name).stem}.png"), full_page=True)
    assert checked > 20
    assert toolbars_on_screen > 0  # the figures have toolbars on screen, which print hides
    page.close()


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="poppler-utils is not installed")
def test_the_printed_pdf_leads_with_the_summary_and_fits_its_pages(project):
    pdf = project / "report" / "_book" / PDF
    text = run(["pdftotext", "-layout", str(pdf), "-"], project).stdout
    pages_text = text.split("\f")
    first, last = pages_text[0], [page for page in pages_text if page.strip()][-1]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    first_five = ["-png", "-r", "50", "-f", "1", "-l", "5"]
    subprocess.run(["pdftoppm", *first_five, str(pdf), str(ARTIFACTS / "pdf-page")], check=True)

    assert "In brief" in first and "Who is at risk" in first
    assert any("Contents" in page for page in pages_text[:3])  # right after the summary
    assert "Version" in last and "Page" in last
    assert re.search(r"Page 2 of \d+", pages_text[1])
    assert "Download plot as a png" not in text and "Produced with Plotly" not in text
    # Nothing runs into the right margin or off the page: every word ends inside the printed text width.
    boxes = run(["pdftotext", "-bbox", str(pdf), "-"], project).stdout
    width = float(re.search(r'<page width="([\d.]+)"', boxes).group(1))
    right_margin = 17 / 25.4 * 72
    beyond = [
        (word, float(x_max))
        for x_max, word in re.findall(r'<word [^>]*?xMax="([\d.]+)"[^>]*>([^<]*)<', boxes)
        if float(x_max) > width - right_margin + 2
    ]
    assert beyond == []


def test_every_internal_link_resolves(project, server, browser):
    page = browser.new_page()
    checked = 0
    for name in pages(project):
        page.goto(server + name, wait_until="load")
        hrefs = page.eval_on_selector_all("a[href]", "links => links.map(link => link.href)")
        for href in hrefs:
            if not href.startswith(server):
                assert urlparse(href).scheme in ("http", "https", "mailto"), f"{name}: {href}"
                continue
            target, fragment = urldefrag(href)
            response = page.request.get(target)
            assert response.ok, f"{name}: {href} -> {response.status}"
            if fragment:
                assert f'id="{fragment}"' in response.text(), f"{name}: no #{fragment} in {target}"
            checked += 1
    assert checked > 50
    page.close()


def test_executive_summary_numbers_are_the_metrics_files_values(project, server, browser):
    metrics = {
        f"metrics/{path.name}": json.loads(path.read_text()) for path in (project / "metrics").glob("*.json")
    }
    page = browser.new_page()
    page.goto(server + "index.html", wait_until="load")
    rows = page.eval_on_selector_all(
        "#tbl-key-numbers tbody tr", "rows => rows.map(row => [...row.cells].map(cell => cell.innerText))"
    )
    page.close()

    assert [row[0] for row in rows] == [
        "Churn rate",
        "Revenue at risk",
        "Model quality",
        "Biggest churn driver",
        "Expected value of the recommended campaign",
    ]
    checked = 0
    for name, value, source in rows:
        sources = re.findall(r"(metrics/[\w.]+\.json) → ([\w.]+)", source)
        checked += check_traced(name, value, sources, metrics)
    assert checked == 10


def test_what_changed_runs_inside_dvc_repro(project):
    changes = (project / "report" / "_generated" / "changes.md").read_text()
    head = run(["git", "rev-parse", "HEAD"], project).stdout.strip()

    assert f"Against `HEAD` (commit `{head[:12]}`)" in changes
    assert "| param | `params.yaml` | `survival.segment` | `Complain` | `CityTier` | - |" in changes
    assert "| metric | `metrics/survival.json` | `segment` | `Complain` | `CityTier` | - |" in changes
    assert "changes.html" in pages(project)


def test_the_book_has_a_pdf(project):
    pdf = project / "report" / "_book" / "customer-behaviour-and-churn.pdf"
    assert pdf.read_bytes().startswith(b"%PDF-")


def test_dvc_sees_every_metric_and_plot_the_stages_write(project):
    metrics = json.loads(run(["dvc", "metrics", "show", "--json"], project).stdout)
    plots = json.loads(run(["dvc", "plots", "show", "--json"], project).stdout)
    declared_metrics = {Path(path).name for revision in metrics.values() for path in revision["data"]}
    plotted = {Path(path).name for path in re.findall(r"plots/[\w.-]+\.csv", json.dumps(plots["data"]))}

    assert declared_metrics == {path.name for path in (project / "metrics").glob("*.json")}
    assert "errors" not in plots  # every declared plot file loads
    assert plotted == {path.name for path in (project / "plots").glob("*.csv")}
    assert "survival.segment" in run(["dvc", "params", "diff", "HEAD", "--json"], project).stdout
    assert "metrics/survival.json" in run(["dvc", "metrics", "diff", "HEAD", "--json"], project).stdout
