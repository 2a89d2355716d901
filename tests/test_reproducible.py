"""Rebuilding a commit gives that commit's bytes: executed notebooks, dvc.lock, metrics and plots."""

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from cba.notebooks import normalise, stage_summary
from conftest import copy_build
from test_pipeline import run

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("ingest", "eda", "clean", "features", "churn", "survival")
GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid"]


def executed(root: Path, uuids: tuple[str, str, str], started: str, venv: str) -> nbformat.NotebookNode:
    """A notebook as papermill leaves it after a run in ``root``, with the given random ids, time and venv."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata.update(
        language_info={"name": "python", "version": "3.11.7"},
        papermill={
            "parameters": {"params": {"seed": 42}},
            "input_path": f"{root}/stages/eda.ipynb",
            "output_path": f"{root}/report/chapters/eda.ipynb",
            "start_time": started,
            "end_time": started,
            "duration": 1.5,
            "exception": None,
            "environment_variables": {},
            "version": "2.7.0",
        },
    )
    timing = {
        "papermill": {"start_time": started, "duration": 0.1, "status": "completed", "exception": False}
    }
    injected = nbformat.v4.new_code_cell("params = {'seed': 42}", id=uuids[0][:8])
    injected.metadata.update(tags=["injected-parameters"], **copy.deepcopy(timing))
    figure = nbformat.v4.new_code_cell("fig", id="eda-figure")
    figure.metadata.update(execution={"iopub.execute_input": started}, **copy.deepcopy(timing))
    html = f'<div id="{uuids[1]}"></div><script>Plotly.newPlot("{uuids[1]}", [])</script>'
    table = f'<style>#T_{uuids[2]}_row0_col0 {{color: red}}</style><table id="T_{uuids[2]}"></table>'
    figure.outputs = [
        nbformat.v4.new_output("display_data", data={"text/html": html}),
        nbformat.v4.new_output(
            "display_data", data={"text/html": table, "text/plain": f"<Styler at {id(root):#x}>"}
        ),
        nbformat.v4.new_output("stream", name="stderr", text=f"{root}/src/cba/eda.py:10: UserWarning\n"),
        nbformat.v4.new_output("stream", name="stderr", text=f"{venv}/site-packages/tqdm/auto.py:21: Tqdm\n"),
    ]
    notebook.cells = [injected, figure]
    return notebook


def test_normalise_gives_the_same_bytes_for_runs_in_two_folders_at_two_times():
    first = executed(
        Path("/tmp/a"),
        ("3f2b8a1c", "7fa3950c-4e75-43ae-9b78-53888c1fc57d", "6eef3"),
        "2026-01-01T10:00:00",
        "/tmp/a/.venv/lib/python3.11",
    )
    second = executed(
        Path("/home/x/clone"),
        ("9d0e1f2a", "1bdd3bbd-e152-4787-b177-9635a50d4308", "ab6eb"),
        "2026-02-03T04:05:06",
        "/opt/venv/lib/python3.11",
    )
    texts = [
        nbformat.writes(normalise(notebook, Path(root)))
        for notebook, root in ((first, "/tmp/a"), (second, "/home/x/clone"))
    ]
    assert texts[0] == texts[1]
    notebook = nbformat.reads(texts[0], as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata.papermill == {
        "parameters": {"params": {"seed": 42}},
        "environment_variables": {},
        "version": "2.7.0",
        "input_path": "stages/eda.ipynb",
        "output_path": "report/chapters/eda.ipynb",
    }
    assert "version" not in notebook.metadata.language_info
    injected, figure = notebook.cells
    assert injected.id == "injected-parameters"
    assert figure.metadata == {"papermill": {"status": "completed", "exception": False}}
    assert figure.outputs[0].data["text/html"] == (
        '<div id="eda-figure-1"></div><script>Plotly.newPlot("eda-figure-1", [])</script>'
    )
    assert figure.outputs[1].data["text/html"] == (
        '<style>#T_eda-figure-2_row0_col0 {color: red}</style><table id="T_eda-figure-2"></table>'
    )
    assert figure.outputs[1].data["text/plain"] == "<Styler>"
    assert figure.outputs[2].text == "src/cba/eda.py:10: UserWarning\n"
    assert figure.outputs[3].text == "site-packages/tqdm/auto.py:21: Tqdm\n"


@pytest.mark.parametrize(
    ("stage", "metrics", "expected"),
    [
        (
            "clean",
            {"events": {"rows_in": 1200, "rows_out": 1150, "rows_rejected": 50, "rules": {}}},
            "clean: events 1,200 in, 1,150 out (50 rejected)",
        ),
        (
            "churn",
            {"best_model": "xgboost_focal", "roc_auc": 0.81234, "roc_auc_ci": [0.79, 0.83], "n_test": 2000},
            "churn: best model xgboost_focal, ROC AUC 0.812 (95% CI 0.790-0.830) on 2,000 held-out rows",
        ),
        ("survival", None, "survival: executed report/chapters/survival.ipynb"),
    ],
    ids=["clean", "churn", "no-metrics"],
)
def test_stage_summary_reads_what_the_stage_wrote(tmp_path, stage, metrics, expected):
    files = {"clean": "data_quality", "churn": "churn"}
    if metrics is not None:
        (tmp_path / "metrics").mkdir()
        (tmp_path / "metrics" / f"{files[stage]}.json").write_text(json.dumps(metrics))
    assert stage_summary(stage, tmp_path) == expected


def test_the_venv_path_hook_puts_the_venv_first_on_path_once():
    hook = re.search(r"^VENV_PATH_HOOK := (.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)[1]
    bin_dir = str(Path(sys.prefix) / "bin")
    check = f"{hook}\nimport os; print(os.environ['PATH'])"
    for path in ("/usr/bin:/bin", f"/usr/bin:{bin_dir}:/bin"):
        result = subprocess.run(
            [sys.executable, "-c", check], env={"PATH": path}, capture_output=True, text=True
        )
        assert result.stdout.strip().split(os.pathsep) == [bin_dir, "/usr/bin", "/bin"]


@pytest.fixture(scope="module")
def rebuilt(tiny_build, tmp_path_factory) -> tuple[Path, Path]:
    """A tiny project built and committed in one folder, then cloned and rebuilt in another."""
    original = copy_build(tiny_build, tmp_path_factory.mktemp("original") / "project")
    run(["git", "add", "-A"], original)
    run([*GIT, "commit", "-q", "-m", "tiny params: metrics, plots and dvc.lock"], original)
    clone = tmp_path_factory.mktemp("elsewhere") / "deeper" / "clone"
    run(["git", "clone", "-q", str(original), str(clone)], clone.parent.parent)
    run(["dvc", "repro"], clone)
    return original, clone


@pytest.mark.e2e
def test_a_clone_rebuilds_the_commit_byte_for_byte(rebuilt):
    original, clone = rebuilt
    changed = run(["git", "status", "--porcelain"], clone).stdout
    assert changed == "", run(["git", "diff", "--", "dvc.lock"], clone).stdout or changed
    assert (clone / "dvc.lock").read_bytes() == (original / "dvc.lock").read_bytes()
    for stage in STAGES:
        chapter = Path("report") / "chapters" / f"{stage}.ipynb"
        assert (clone / chapter).read_bytes() == (original / chapter).read_bytes(), chapter
        assert str(clone) not in (clone / chapter).read_text()
    assert "Uncommitted changes to tracked files: no" in (clone / "report/_generated/version.md").read_text()


@pytest.mark.e2e
def test_a_second_repro_finds_every_stage_unchanged(rebuilt):
    _, clone = rebuilt
    output = run(["dvc", "repro"], clone).stdout
    assert "Running stage" not in output
    assert "Data and pipelines are up to date." in output


@pytest.mark.e2e
def test_an_experiment_on_one_param_shows_in_the_metrics_diff(rebuilt):
    _, clone = rebuilt
    run(["dvc", "exp", "run", "-S", "churn.horizon_days=60"], clone)
    diff = run(["dvc", "metrics", "diff", "--json"], clone).stdout
    assert '"horizon_days"' in diff and "60" in diff
    assert "churn.horizon_days" in run(["dvc", "params", "diff"], clone).stdout
