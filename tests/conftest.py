"""Shared fixtures: the project's params, a tiny configuration of the synthetic generator, local services,
and :func:`copy_project`, the committed tiny copy of the project that the end-to-end tests run `dvc repro` in.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cba.config import GenerateParams, Params, load_params

ROOT = Path(__file__).resolve().parents[1]
SERVICE_FIXTURES = {"kafka_bootstrap", "search_url"}  # each starts a local server for the session


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``services`` every test that needs a local server, so ``-m "not services"`` runs without one."""
    for item in items:
        if SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.services)


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run ``args`` in ``cwd`` with this interpreter's scripts (``cba``, ``dvc``) first on the PATH.

    Fails the test with the command's last output when it exits non-zero.
    """
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, (
        f"{' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result


def copy_project(
    destination: Path, update: dict | None = None, files: dict[str, Path | pd.DataFrame] | None = None
) -> Path:
    """A fresh git repository at ``destination`` holding the project as git sees it, with tiny params.

    The copy holds every file of the working tree that git does not ignore (so no datasets, models,
    built book, DVC cache or virtual environment) and no metrics files, so every metric a test reads
    was written by its own run. The generator makes 400 customers and 30,000 events, the churn search
    tries 2 settings and calibrates on 3 folds; ``update`` then replaces keys per params section, and
    ``files`` (path in the copy -> a file to copy or a frame to write as CSV) are added before the one
    commit.
    """
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT).stdout
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, destination / name)
    for metrics in (destination / "metrics").glob("*.json"):
        metrics.unlink()
    params = yaml.safe_load((destination / "params.yaml").read_text())
    params["generate"].update(num_customers=400, num_events=30_000)
    params["churn"]["search"]["budget"] = 2
    params["churn"]["calibration_folds"] = 3
    for section, values in (update or {}).items():
        params[section].update(values)
    (destination / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for name, content in (files or {}).items():
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, pd.DataFrame):
            content.to_csv(target, index=False)
        else:
            shutil.copy(content, target)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    run(["git", "init", "-q"], destination)
    run(["git", "add", "-A"], destination)
    run([*git, "commit", "-q", "-m", "tiny params"], destination)
    return destination


@pytest.fixture(scope="session")
def tiny_build(tmp_path_factory) -> Path:
    """The tiny copy of the project (:func:`copy_project`, no updates) after one `dvc repro`.

    Shared by the session: take a :func:`copy_build` of it before changing anything.
    """
    project = copy_project(tmp_path_factory.mktemp("tiny") / "repo")
    run(["dvc", "repro"], project)
    return project


def copy_build(build: Path, destination: Path) -> Path:
    """A copy of a built project at ``destination``: its git repository, outputs and DVC cache."""
    shutil.copytree(build, destination, symlinks=True)
    return destination


@pytest.fixture(scope="session")
def params() -> Params:
    """The project's own ``params.yaml``."""
    return load_params(ROOT / "params.yaml")


@pytest.fixture(scope="session")
def tiny_generate_params(params: Params) -> GenerateParams:
    """The project's generator settings (window, churn rate, fault rates) shrunk to a few seconds of work."""
    return params.generate.model_copy(update={"num_customers": 300, "num_events": 20_000})


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory) -> str:
    """``HOST:PORT`` of a Kafka-protocol broker (Tansu, in memory) on 127.0.0.1 for the session."""
    from services import kafka_broker

    with kafka_broker(tmp_path_factory.mktemp("tansu") / "tansu.log") as bootstrap:
        yield bootstrap


@pytest.fixture(scope="session")
def search_url(tmp_path_factory) -> str:
    """Base URL of an OpenSearch-compatible server (osmem, in memory) on 127.0.0.1 for the session."""
    from services import search_server

    with search_server(tmp_path_factory.mktemp("osmem") / "osmem.log") as url:
        yield url
