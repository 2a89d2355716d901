"""Where a book comes from: its version stamp, and what changed against a baseline revision.

The stamp names the git commit, the DVC lock hashes of the data, the params and the build time; the
comparison reads ``dvc metrics diff`` and ``dvc params diff``.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from cba.report.markdown import table

NUMERIC_LIBRARIES = (
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "xgboost",
    "imbalanced-learn",
    "lifelines",
    "statsmodels",
    "pymc-marketing",
    "pytensor",
    "statsforecast",
    "duckdb",
    "ibis-framework",
)
"""Distributions whose version can change a number in the book: arrays, tables, models, the engine."""


def library_versions() -> dict[str, str | None]:
    """``python`` and each of :data:`NUMERIC_LIBRARIES` -> its installed version (None when absent)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in NUMERIC_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def version_stamp(root: Path, params: dict[str, Any]) -> dict[str, Any]:
    """Describe exactly what a book was built from.

    Parameters
    ----------
    root : Path
        The project root (the directory holding ``dvc.lock`` and, usually, ``.git``).
    params : dict
        The parameters the build used, as read from ``params.yaml``.

    Returns
    -------
    dict
        ``commit`` (full sha, or None outside a git repository or before the first commit),
        ``dirty`` (True when tracked files have uncommitted changes), ``data`` (output path → md5 for
        every stage output in ``dvc.lock``; empty without one), ``params`` (as given),
        ``libraries`` (:func:`library_versions`) and ``built_at`` (UTC, ISO 8601, seconds).
    """
    commit = git(root, "rev-parse", "--verify", "--quiet", "HEAD")
    status = git(root, "status", "--porcelain", "--untracked-files=no")
    lock = root / "dvc.lock"
    return {
        "commit": commit.strip() if commit else None,
        "dirty": bool(status and status.strip()),
        "data": _dvc_lock_hashes(yaml.safe_load(lock.read_text())) if lock.exists() else {},
        "params": params,
        "libraries": library_versions(),
        "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def git(root: Path, *args: str) -> str | None:
    """Run ``git *args`` in ``root``; its stdout, or None when git is missing or the command fails."""
    try:
        result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return None
    return result.stdout if result.returncode == 0 else None


def _dvc_lock_hashes(lock: Mapping[str, Any] | None) -> dict[str, str | None]:
    """Output path → md5 for every ``outs`` entry in a parsed ``dvc.lock``, but the report stage's own.

    While the book is built, the report stage's entry still describes the previous book.
    """
    hashes: dict[str, str | None] = {}
    stages = dict((lock or {}).get("stages") or {})
    stages.pop("report", None)
    for stage in stages.values():
        for out in stage.get("outs") or []:
            md5 = out.get("md5")
            hashes[str(out["path"])] = None if md5 is None else str(md5)
    return hashes


def version_markdown(stamp: Mapping[str, Any]) -> str:
    """Render a version stamp (see `version_stamp`) as a "Version" Markdown section.

    Parameters
    ----------
    stamp : Mapping
        The mapping returned by `version_stamp`.

    Returns
    -------
    str
        Markdown: commit, uncommitted changes, build time, a table of data hashes and one of the
        library versions; the parameters are in their own appendix.
    """
    commit = f"`{stamp['commit']}`" if stamp["commit"] else "not a git repository (or no commit yet)"
    lines = [
        "## Version {#sec-version}",
        "",
        f"- Commit: {commit}",
        f"- Uncommitted changes to tracked files: {'yes' if stamp['dirty'] else 'no'}",
        f"- Built: {stamp['built_at']}",
        f"- Parameters: {len(stamp['params'])} sections, listed in @sec-params.",
        "",
        "### Data",
        "",
    ]
    if stamp["data"]:
        lines += table(
            ["Path", "MD5"],
            [(f"`{path}`", f"`{md5 or '-'}`") for path, md5 in sorted(stamp["data"].items())],
            "ll",
        )
    else:
        lines.append("No `dvc.lock` yet, so no data hashes are recorded.")
    if stamp.get("libraries"):
        lines += ["", "### Libraries", ""]
        lines += table(
            ["Library", "Version"],
            [(name, version or "not installed") for name, version in stamp["libraries"].items()],
            "ll",
        )
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Change:
    """One metric or parameter that differs between the baseline revision and this build."""

    kind: str  # "metric" or "param"
    file: str
    key: str
    old: Any
    new: Any

    @property
    def delta(self) -> float | None:
        """``new - old`` when both are numbers."""
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (self.old, self.new))
        return self.new - self.old if numbers else None


@dataclass(frozen=True)
class Comparison:
    """The build against a baseline revision: what changed, how many values stayed, or why no baseline."""

    revision: str | None
    baseline: str | None  # the baseline commit, None when there is none
    changes: tuple[Change, ...] = ()
    unchanged: int = 0
    reason: str | None = None  # why there is no baseline


def what_changed(root: Path, revision: str | None) -> Comparison:
    """Compare the workspace's metrics and params with ``revision`` through DVC.

    Runs ``dvc metrics diff REV --all --json`` and ``dvc params diff REV --all --json`` in ``root``. Both
    are read-only: they read the baseline's files from git and the workspace's from disk, and take no
    repository lock, so they also work inside ``dvc repro`` (which holds the lock while the report stage
    runs).

    Returns
    -------
    Comparison
        With ``reason`` set (and no changes) when ``revision`` is None, ``root`` is not a git
        repository, or the revision does not exist (e.g. ``HEAD~1`` on the first commit).
    """
    if revision is None:
        return Comparison(None, None, reason="`report.compare_to` is null in params.yaml")
    if git(root, "rev-parse", "--git-dir") is None:
        return Comparison(revision, None, reason=f"{root.name} is not a git repository")
    commit = git(root, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
    if commit is None:
        return Comparison(
            revision, None, reason=f"the revision `{revision}` does not exist in this repository"
        )
    changes: list[Change] = []
    unchanged = 0
    for kind, command in (("metric", "metrics"), ("param", "params")):
        for file, entries in _dvc_diff(root, command, revision).items():
            for key, entry in sorted(entries.items()):
                old, new = entry.get("old"), entry.get("new")
                if old == new:
                    unchanged += 1
                else:
                    changes.append(Change(kind, file, key, old, new))
    return Comparison(revision, commit.strip(), tuple(changes), unchanged)


def _dvc_diff(root: Path, command: str, revision: str) -> dict[str, dict[str, dict[str, Any]]]:
    result = subprocess.run(
        [sys.executable, "-m", "dvc", command, "diff", revision, "--all", "--json"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"dvc {command} diff {revision} failed in {root}: {result.stderr.strip()[-2000:]}")
    return json.loads(result.stdout or "{}")
