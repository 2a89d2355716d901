"""The rendered book in a real browser, built by a real `dvc repro` of a tiny copy of the project.

Playwright drives Debian's Chromium (``/usr/bin/chromium``; ``.ci/run`` installs it) against the book
served from 127.0.0.1: every page opens, every Plotly figure draws, the console stays clean, every
internal link resolves, and each page is saved as a screenshot under ``test-artifacts/book/``. The same
build checks that the executive summary's numbers are the metrics files' values, that "What changed"
works inside `dvc repro`, and that DVC sees every metric and plot the stages write.
"""

import functools
import http.server
import json
import os
import re
import threading
from pathlib import Path
from urllib.parse import urldefrag, urlparse

import pytest
import yaml

from book_cases import check_traced
from cba import report
from test_pipeline import ROOT, build, run

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "book"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("CI"),
        reason="/usr/bin/chromium is not installed (apt-get install chromium; .ci/run does it in CI)",
    ),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A tiny build, committed, then rebuilt with another survival segment against that commit."""
    project = build(tmp_path_factory.mktemp("book") / "repo", {})
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
