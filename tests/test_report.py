import copy
import json
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import plotly.graph_objects as go
import pytest
from plotly.io._base_renderers import NotebookRenderer
from plotly.offline import get_plotlyjs

from cba import report

FALLBACK_LINE = (
    "Quarto not found on PATH: rendered the HTML book with the built-in fallback to "
    "report/_book/index.html (no PDF). Install Quarto (https://quarto.org/docs/get-started/) for the "
    "Quarto HTML and PDF book."
)

CHURN = {
    "best_model": "xgboost",
    "roc_auc": 0.8734,
    "pr_auc": 0.6123,
    "precision": 0.5432,
    "recall": 0.7012,
    "f1": 0.6121,
    "brier": 0.0987,
    "threshold": 0.35,
    "n_train": 8000,
    "n_test": 2000,
    "test_churn_rate": 0.1705,
    "models": {
        "logistic_regression": {
            "roc_auc": 0.8123,
            "pr_auc": 0.5011,
            "precision": 0.4,
            "recall": 0.6,
            "f1": 0.48,
            "brier": 0.11,
        },
        "xgboost": {
            "roc_auc": 0.8734,
            "pr_auc": 0.6123,
            "precision": 0.5432,
            "recall": 0.7012,
            "f1": 0.6121,
            "brier": 0.0987,
        },
    },
    "top_drivers": [
        {"feature": "tenure", "importance": 0.31},
        {"feature": "complain", "importance": 0.22},
        {"feature": "recency_days", "importance": 0.12},
        {"feature": "cashback_amount", "importance": 0.05},
    ],
}
SURVIVAL = {
    "duration": "days from signup to last activity",
    "segment": "Complain",
    "n_customers": 10000,
    "n_churned": 1700,
    "median_lifetime": {"overall": 250.0, "0": None, "1": 120.0},
    "logrank_p_value": 0.0001,
    "churn_rate_by_segment": {"0": 0.11, "1": 0.32},
}
DATA_QUALITY = {
    "customers": {"rows_in": 10000, "rows_out": 9990, "rows_rejected": 10, "rules": {"duplicate_id": 10}},
    "events": {
        "rows_in": 500000,
        "rows_out": 498000,
        "rows_rejected": 2000,
        "rules": {"bad_timestamp": 500, "duplicate": 1500, "never_fired": 0},
    },
}
FEATURES = {"customers": 9990, "churn_rate": 0.1689, "horizon_days": 30, "cutoff": "2024-12-01"}


def _summary(churn=CHURN, survival=SURVIVAL, data_quality=DATA_QUALITY, features=FEATURES) -> str:
    return report.summary_markdown(churn, survival, data_quality, features)


def _recommendations(text: str) -> str:
    return text.split("## Recommendations", 1)[1]


# -- version stamp ----------------------------------------------------------------------------------


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


DVC_LOCK = """\
schema: '2.0'
stages:
  generate:
    cmd: cba generate
    deps:
    - path: src/cba/generate.py
      hash: md5
      md5: '11111111111111111111111111111111'
      size: 10
    params:
      params.yaml:
        seed: 42
    outs:
    - path: datasets/raw/synthetic
      hash: md5
      md5: 22222222222222222222222222222222.dir
      size: 100
      nfiles: 3
  features:
    cmd: cba stage features
    outs:
    - path: datasets/processed/features.parquet
      hash: md5
      md5: '33333333333333333333333333333333'
      size: 50
    - path: metrics/features.json
      hash: md5
      md5: '44444444444444444444444444444444'
      size: 5
  report:
    cmd: cba report
    outs:
    - path: report/_book
      hash: md5
      md5: 55555555555555555555555555555555.dir
      size: 70
"""


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_version_stamp_in_git_repo_reads_commit_dirty_and_dvc_lock(tmp_path):
    _git(tmp_path, "init", "--quiet")
    (tmp_path / "params.yaml").write_text("seed: 42\n")
    (tmp_path / "dvc.lock").write_text(DVC_LOCK)
    _git(tmp_path, "add", "params.yaml", "dvc.lock")
    _git(tmp_path, "commit", "--quiet", "-m", "first")
    head = _git(tmp_path, "rev-parse", "HEAD")

    clean = report.version_stamp(tmp_path, {"seed": 42})
    (tmp_path / "untracked.txt").write_text("not tracked, so not dirty\n")
    still_clean = report.version_stamp(tmp_path, {"seed": 42})
    (tmp_path / "params.yaml").write_text("seed: 7\n")
    dirty = report.version_stamp(tmp_path, {"seed": 7})

    assert clean["commit"] == head and len(head) == 40
    assert clean["dirty"] is False
    assert still_clean["dirty"] is False
    assert dirty["dirty"] is True
    assert clean["data"] == {
        "datasets/raw/synthetic": "22222222222222222222222222222222.dir",
        "datasets/processed/features.parquet": "33333333333333333333333333333333",
        "metrics/features.json": "44444444444444444444444444444444",
    }  # the report stage's own entry describes the previous book, so it is left out
    assert dirty["params"] == {"seed": 7}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", clean["built_at"])


def test_version_stamp_outside_git_without_dvc_lock(tmp_path):
    stamp = report.version_stamp(tmp_path, {"seed": 1})

    assert stamp["commit"] is None
    assert stamp["dirty"] is False
    assert stamp["data"] == {}


def test_version_markdown_shows_commit_hashes_params_and_time():
    stamp = {
        "commit": "a" * 40,
        "dirty": True,
        "data": {"datasets/raw/synthetic": "22222222222222222222222222222222.dir"},
        "params": {"seed": 42, "report": {"title": "Churn"}},
        "built_at": "2025-01-02T03:04:05+00:00",
    }

    text = report.version_markdown(stamp)

    assert text.startswith("## Version")
    assert f"`{'a' * 40}`" in text
    assert "Uncommitted changes to tracked files: yes" in text
    assert "| `datasets/raw/synthetic` | `22222222222222222222222222222222.dir` |" in text
    assert "```yaml\nseed: 42\nreport:\n  title: Churn\n```" in text
    assert "2025-01-02T03:04:05+00:00" in text


def test_version_markdown_without_git_or_hashes():
    stamp = {
        "commit": None,
        "dirty": False,
        "data": {},
        "params": {},
        "built_at": "2025-01-02T03:04:05+00:00",
    }

    text = report.version_markdown(stamp)

    assert "not a git repository" in text
    assert "Uncommitted changes to tracked files: no" in text
    assert "No `dvc.lock` yet" in text


# -- summary ----------------------------------------------------------------------------------------


def test_summary_formats_every_number_from_the_inputs():
    text = _summary()

    for expected in [
        "16.9% churned",  # features churn_rate
        "9,990 customers",
        "30 days",
        "2024-12-01",
        "**XGBoost**",
        "ROC-AUC 0.873",
        "PR-AUC 0.612",
        "0.812 ROC-AUC",  # the logistic baseline
        "+0.061 ROC-AUC",  # the gain over it
        "`tenure`",
        "`complain`",
        "`recency_days`",
        "Complain = 1",
        "32.0%",
        "11.0%",
        "120 days",
        "not reached",
        "| events | 500,000 | 498,000 | 2,000 | 0.40% | yes |",
        "| customers | 10,000 | 9,990 | 10 | 0.10% | yes |",
        "All 2 tables reconcile",
    ]:
        assert expected in text, expected
    assert "cashback_amount" not in text  # only the top three drivers
    assert "never_fired" not in text  # rules that rejected nothing


def test_summary_recommendations_follow_the_numbers():
    bullets = _recommendations(_summary())

    assert "Focus retention on customers with Complain = 1" in bullets
    assert "`tenure`" in bullets
    assert "Score customers with XGBoost" in bullets
    assert "Fix the data feed" not in bullets  # no table rejects more than 1%
    assert "caution" not in bullets  # the log-rank test is significant
    assert 2 <= bullets.count("\n- ") <= 4


def test_summary_recommendation_changes_with_the_top_segment_level():
    survival = copy.deepcopy(SURVIVAL)
    survival["churn_rate_by_segment"] = {"0": 0.40, "1": 0.05}

    before = _recommendations(_summary())
    after = _recommendations(_summary(survival=survival))

    assert "Focus retention on customers with Complain = 0: they churn at 40.0%" in after
    assert before != after


def test_summary_prefers_the_simpler_model_when_the_gain_is_small():
    churn = copy.deepcopy(CHURN)
    churn["models"]["logistic_regression"]["roc_auc"] = 0.8700

    bullets = _recommendations(_summary(churn=churn))

    assert "Use the logistic-regression model" in bullets
    assert "0.003 ROC-AUC" in bullets


def test_summary_flags_a_feed_with_many_rejections_and_an_unbalanced_table():
    data_quality = copy.deepcopy(DATA_QUALITY)
    data_quality["events"].update(rows_out=480000, rows_rejected=20000, rules={"duplicate": 20000})
    data_quality["customers"]["rows_out"] = 9980  # 10 rows unaccounted for

    text = _summary(data_quality=data_quality)
    bullets = _recommendations(text)

    assert (
        "Fix the data feed first: events loses 4.0% of its rows (20,000), mostly by the rule duplicate"
        in bullets
    )
    assert "customers do not reconcile" in bullets
    assert "1 of 2 tables do not reconcile: customers." in text


def test_summary_warns_when_segments_do_not_differ_significantly():
    survival = {**SURVIVAL, "logrank_p_value": 0.42}

    bullets = _recommendations(_summary(survival=survival))

    assert "Treat the Complain split with caution" in bullets
    assert "p = 0.42" in bullets


def test_summary_missing_key_names_the_file():
    churn = {key: value for key, value in CHURN.items() if key != "pr_auc"}

    with pytest.raises(KeyError, match=r"metrics/churn\.json has no key 'pr_auc'"):
        _summary(churn=churn)


def test_write_generated_writes_version_and_summary(tmp_path):
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    for name, content in [
        ("churn", CHURN),
        ("survival", SURVIVAL),
        ("data_quality", DATA_QUALITY),
        ("features", FEATURES),
    ]:
        (metrics / f"{name}.json").write_text(json.dumps(content))

    report.write_generated(tmp_path, {"seed": 3})

    generated = tmp_path / "report" / "_generated"
    assert "seed: 3" in (generated / "version.md").read_text()
    assert (generated / "summary.md").read_text() == _summary()


# -- the book ---------------------------------------------------------------------------------------


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


def _tiny_project(root: Path) -> None:
    (root / "report" / "chapters").mkdir(parents=True)
    (root / "report" / "_generated").mkdir()
    (root / "_quarto.yml").write_text(
        "project:\n  type: book\n  output-dir: report/_book\n"
        'book:\n  title: "Tiny churn book"\n  chapters:\n'
        "    - index.qmd\n    - report/chapters/churn.ipynb\n    - report/summary.qmd\n"
    )
    (root / "index.qmd").write_text(
        '---\ntitle: "About this report"\n---\n\nAn introduction.\n\n'
        "{{< include report/_generated/version.md >}}\n"
    )
    (root / "report" / "_generated" / "version.md").write_text(
        "## Version\n\n| Path | MD5 |\n|---|---|\n| `datasets/raw` | `abc123` |\n"
    )
    (root / "report" / "summary.qmd").write_text(
        '---\ntitle: "Summary and recommendations"\n---\n\n{{< include _generated/summary.md >}}\n'
    )
    (root / "report" / "_generated" / "summary.md").write_text("## Recommendations\n\n- Fix the feed.\n")

    notebook = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("fig = churn_figure()\nfig", execution_count=1)
    code.outputs = _plotly_outputs()
    notebook.cells = [nbformat.v4.new_markdown_cell("# Churn models\n\nWho leaves, and why."), code]
    nbformat.write(notebook, root / "report" / "chapters" / "churn.ipynb")


def test_fallback_renders_the_book(tmp_path, capsys):
    _tiny_project(tmp_path)

    book = report.render_book(tmp_path, quarto=None)

    assert book == tmp_path / "report" / "_book"
    assert capsys.readouterr().out == FALLBACK_LINE + "\n"
    index = (book / "index.html").read_text()
    chapter = (book / "churn.html").read_text()
    summary = (book / "summary.html").read_text()

    assert "<title>Tiny churn book</title>" in index
    assert "About this report" in index
    assert "<code>abc123</code>" in index  # the include was expanded and the table converted
    assert "{{<" not in index + summary
    assert "<li>Fix the feed.</li>" in summary
    assert "<title>Churn models" in chapter
    for page in (index, chapter, summary):
        links = re.findall(r'href="([^"#:]+)"', page)
        assert {"index.html", "churn.html", "summary.html"} <= set(links)
        assert all((book / link).is_file() for link in links)
    assert 'class="previous" href="index.html"' in chapter
    assert 'class="next" href="summary.html"' in chapter

    # The figure draws offline: the figure div, Plotly.newPlot, and plotly.js served by the book itself.
    assert "plotly-graph-div" in chapter and "Plotly.newPlot" in chapter
    assert '<script src="plotly.min.js"></script>' in chapter
    assert (book / "plotly.min.js").read_text() == get_plotlyjs()
    assert not re.search(r"<script[^>]+src=\"https?://", chapter)
    assert "<details" in chapter and "churn_figure" in chapter  # the code is folded, not lost


def test_fallback_is_used_when_quarto_is_not_on_path(tmp_path, capsys):
    _tiny_project(tmp_path)

    report.render_book(tmp_path, quarto="quarto-that-does-not-exist")

    assert capsys.readouterr().out.startswith("Quarto not found on PATH")


def test_missing_chapter_names_it_and_the_config(tmp_path):
    _tiny_project(tmp_path)
    (tmp_path / "report" / "chapters" / "churn.ipynb").unlink()

    with pytest.raises(FileNotFoundError, match=r"report/chapters/churn\.ipynb.*_quarto\.yml"):
        report.render_book(tmp_path, quarto=None)


def test_configure_figures_embeds_plotly_offline():
    import plotly.io as pio

    previous = pio.renderers.default
    try:
        report.configure_figures()
        assert pio.renderers.default == "plotly_mimetype+notebook"
    finally:
        pio.renderers.default = previous
