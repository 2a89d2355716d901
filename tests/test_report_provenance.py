import json
import platform
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from book_cases import git
from cba import report

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
    git(tmp_path, "init", "--quiet")
    (tmp_path / "params.yaml").write_text("seed: 42\n")
    (tmp_path / "dvc.lock").write_text(DVC_LOCK)
    git(tmp_path, "add", "params.yaml", "dvc.lock")
    git(tmp_path, "commit", "--quiet", "-m", "first")
    head = git(tmp_path, "rev-parse", "HEAD")

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
    assert clean["libraries"]["python"] == platform.python_version()
    assert clean["libraries"]["scikit-learn"] == metadata.version("scikit-learn")


def test_version_stamp_outside_git_without_dvc_lock(tmp_path):
    stamp = report.version_stamp(tmp_path, {"seed": 1})

    assert stamp["commit"] is None
    assert stamp["dirty"] is False
    assert stamp["data"] == {}


def test_version_markdown_shows_commit_hashes_and_time():
    stamp = {
        "commit": "a" * 40,
        "dirty": True,
        "data": {"datasets/raw/synthetic": "22222222222222222222222222222222.dir"},
        "params": {"seed": 42, "report": {"title": "Churn"}},
        "libraries": {"python": "3.11.7", "scikit-learn": "1.9.0", "statsforecast": None},
        "built_at": "2025-01-02T03:04:05+00:00",
    }

    text = report.version_markdown(stamp)

    assert "| scikit-learn | 1.9.0 |" in text
    assert "| statsforecast | not installed |" in text
    assert text.startswith("## Version {#sec-version}")
    assert f"`{'a' * 40}`" in text
    assert "Uncommitted changes to tracked files: yes" in text
    assert "| `datasets/raw/synthetic` | `22222222222222222222222222222222.dir` |" in text
    assert "Parameters: 2 sections, listed in @sec-params." in text
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


DVC_YAML = """\
stages:
  train:
    cmd: echo train
    params:
      - churn.horizon_days
    metrics:
      - metrics/churn.json:
          cache: false
"""


def _dvc(root: Path, *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _two_commit_repo(root: Path) -> None:
    git(root, "init", "--quiet")
    _dvc(root, "init", "--quiet")
    (root / "dvc.yaml").write_text(DVC_YAML)
    (root / "params.yaml").write_text("churn:\n  horizon_days: 90\n")
    (root / "metrics").mkdir()
    (root / "metrics" / "churn.json").write_text(
        json.dumps({"roc_auc": 0.8, "n_test": 100, "best_model": "lr"})
    )
    git(root, "add", "-A")
    git(root, "commit", "--quiet", "-m", "baseline")
    (root / "params.yaml").write_text("churn:\n  horizon_days: 60\n")
    (root / "metrics" / "churn.json").write_text(
        json.dumps({"roc_auc": 0.85, "n_test": 100, "best_model": "xgb"})
    )
    git(root, "add", "-A")
    git(root, "commit", "--quiet", "-m", "shorter horizon")


def test_what_changed_compares_metrics_and_params_with_the_previous_commit(tmp_path):
    _two_commit_repo(tmp_path)
    baseline = git(tmp_path, "rev-parse", "HEAD~1")

    comparison = report.what_changed(tmp_path, "HEAD~1")
    text = report.changes_markdown(comparison)

    assert comparison.baseline == baseline
    changes = {(change.kind, change.key): change for change in comparison.changes}
    assert set(changes) == {("metric", "roc_auc"), ("metric", "best_model"), ("param", "churn.horizon_days")}
    assert changes["metric", "roc_auc"].delta == pytest.approx(0.05)
    assert changes["param", "churn.horizon_days"].delta == -30
    assert changes["metric", "best_model"].delta is None
    assert comparison.unchanged == 1  # n_test
    assert f"Against `HEAD~1` (commit `{baseline[:12]}`): 2 metrics and 1 parameters changed" in text
    assert "| metric | `metrics/churn.json` | `roc_auc` | 0.8 | 0.85 | +0.05 |" in text
    assert "| param | `params.yaml` | `churn.horizon_days` | 90 | 60 | -30 |" in text


def test_what_changed_sees_the_uncommitted_workspace(tmp_path):
    _two_commit_repo(tmp_path)
    (tmp_path / "metrics" / "churn.json").write_text(json.dumps({"roc_auc": 0.9, "n_test": 120}))

    comparison = report.what_changed(tmp_path, "HEAD")

    changes = {change.key: (change.old, change.new) for change in comparison.changes}
    assert changes == {"roc_auc": (0.85, 0.9), "n_test": (100, 120), "best_model": ("xgb", None)}


def test_no_baseline_on_the_first_commit_outside_git_or_when_switched_off(tmp_path):
    first = tmp_path / "first"
    first.mkdir()
    git(first, "init", "--quiet")
    _dvc(first, "init", "--quiet")
    git(first, "commit", "--quiet", "-m", "only")
    plain = tmp_path / "plain"
    plain.mkdir()

    on_first = report.what_changed(first, "HEAD~1")
    outside = report.what_changed(plain, "HEAD~1")
    off = report.what_changed(first, None)

    assert on_first.baseline is None and "`HEAD~1` does not exist" in on_first.reason
    assert outside.baseline is None and "not a git repository" in outside.reason
    assert "`report.compare_to` is null" in off.reason
    assert report.changes_markdown(on_first).splitlines()[-1].startswith("No baseline: the revision `HEAD~1`")
