"""End to end: copy the project, shrink the params, run `dvc repro`, check the book and the metrics."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SKIP = {
    ".git",
    ".venv",
    "datasets",
    "models",
    ".pytest_cache",
    ".ruff_cache",
    "__pycache__",
    "_book",
    "chapters",
    "_generated",
    "results",
    ".quarto",
    "test-artifacts",
}

pytestmark = pytest.mark.e2e


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, (
        f"{' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A git copy of the project with tiny params, after one `dvc repro`."""
    copy = tmp_path_factory.mktemp("project") / "repo"
    shutil.copytree(ROOT, copy, ignore=lambda _, names: [n for n in names if n in SKIP])
    params = yaml.safe_load((copy / "params.yaml").read_text())
    params["generate"].update(num_customers=400, num_events=30_000)
    params["churn"]["xgboost"]["n_estimators"] = 30
    (copy / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for metrics in (copy / "metrics").glob("*.json"):
        metrics.unlink()
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    run(["git", "init", "-q"], copy)
    run(["git", "add", "-A"], copy)
    run([*git, "commit", "-q", "-m", "tiny params"], copy)
    run(["dvc", "repro"], copy)
    return copy


def test_book_and_chapters_exist(project):
    index = (project / "report" / "_book" / "index.html").read_text()
    assert "Version" in index
    for stage in ("ingest", "eda", "clean", "features", "churn", "survival"):
        assert (project / "report" / "chapters" / f"{stage}.ipynb").stat().st_size > 0
        assert (project / "report" / "_book" / f"{stage}.html").exists()


def test_metrics_are_sane(project):
    churn = json.loads((project / "metrics" / "churn.json").read_text())
    for name in ("roc_auc", "pr_auc", "precision", "recall", "f1", "brier"):
        assert 0.0 <= churn[name] <= 1.0, name
    assert churn["roc_auc"] > 0.6
    assert churn["brier"] < 0.25
    quality = json.loads((project / "metrics" / "data_quality.json").read_text())
    for table, counts in quality.items():
        assert counts["rows_in"] == counts["rows_out"] + counts["rows_rejected"], table
        assert counts["rows_rejected"] == sum(counts["rules"].values()), table
    survival = json.loads((project / "metrics" / "survival.json").read_text())
    assert 0 < survival["n_churned"] < survival["n_customers"]
    features = json.loads((project / "metrics" / "features.json").read_text())
    assert 0.0 < features["churn_rate"] < 1.0


def test_nothing_reruns_when_nothing_changed(project):
    assert "up to date" in run(["dvc", "status"], project).stdout


def test_a_rebuild_reproduces_metrics_and_plots_byte_for_byte(project):
    def committed_outputs() -> dict[str, bytes]:
        return {
            str(p.relative_to(project)): p.read_bytes()
            for d in ("metrics", "plots")
            for p in (project / d).iterdir()
        }

    before = committed_outputs()
    run(["dvc", "repro", "--force"], project)
    assert committed_outputs() == before


def test_a_param_change_reruns_only_its_dependents(project):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["survival"]["segment"] = "CityTier"
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = run(["dvc", "status", "--json"], project).stdout
    assert set(json.loads(status)) == {"survival"}
