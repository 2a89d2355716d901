"""The `cba` command on good and bad input: exit codes and messages that name what to fix."""

import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CBA = [str(Path(sys.executable).parent / "cba")]


def cba(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*CBA, *args], cwd=cwd, capture_output=True, text=True)


@pytest.fixture
def project(tmp_path) -> Path:
    """The params and stage notebooks of the project, in a scratch folder."""
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(ROOT / "stages", tmp_path / "stages")
    return tmp_path


def set_params(project: Path, section: str, **values) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params[section].update(values)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def test_generate_writes_the_tables_it_reports(project):
    result = cba(
        ["generate", "--num-customers", "50", "--num-events", "2000", "--seed", "1", "--out", "raw"], project
    )
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stdout and "2,0" in result.stdout
    events = ds.dataset(project / "raw" / "events", format="parquet", partitioning="hive").to_table()
    assert events.num_rows >= 2000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--num-customers", "-5"], "--num-customers must be >= 1, got -5"),
        (["--seed", "-1"], "--seed must be >= 0, got -1"),
    ],
    ids=["negative-customers", "negative-seed"],
)
def test_generate_refuses_bad_flags(project, args, message):
    result = cba(["generate", *args, "--out", "raw"], project)
    assert result.returncode == 2
    assert message in result.stderr


def test_a_bad_param_stops_before_any_work(project):
    set_params(project, "churn", horizon_days=-3)
    result = cba(["stage", "features"], project)
    assert result.returncode == 2
    assert "churn.horizon_days must be >= 1, got -3" in result.stderr


def test_a_missing_source_file_names_the_file_and_the_key(project):
    set_params(project, "data", source="kaggle", path="nowhere/ecommerce.xlsx")
    result = cba(["stage", "ingest"], project)
    assert result.returncode == 1
    assert "error: stage ingest failed: SourceError: nowhere/ecommerce.xlsx: not found" in result.stderr
    assert "data.path in params.yaml" in result.stderr


def test_an_unknown_stage_is_refused(project):
    result = cba(["stage", "publish"], project)
    assert result.returncode != 0
    assert "unknown stage 'publish'" in result.stderr + result.stdout
