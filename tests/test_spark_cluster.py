"""The ingest, clean and features stages on a real Spark standalone cluster give DuckDB's outputs.

A master and two workers (one core, 1 GB each) start on 127.0.0.1 from the launcher the pyspark package
ships; the tiny synthetic data is landed once and cleaned and turned into features on each engine. Files
the stages write with pandas (customers, features) and the metrics must be equal byte for byte; the events
Spark writes itself (a folder of part files, Spark's own Parquet metadata) must be equal value for value.
"""

import shutil
from pathlib import Path

import pandas as pd
import pytest

from cba import engine
from cba.config import Params, Paths
from cba.generate import generate, write
from cba.stages import clean as clean_stage
from cba.stages import features as features_stage
from cba.stages import ingest as ingest_stage

pytest.importorskip("pyspark", reason="pyspark is not installed (pip install '.[spark]')")
pytestmark = pytest.mark.spark

WRITTEN_BY_PANDAS = [
    "datasets/processed/customers.parquet",
    "datasets/features/customers.parquet",
    "datasets/features/current.parquet",
    "metrics/data_quality.json",
    "metrics/features.json",
]
WRITTEN_BY_THE_ENGINE = ["datasets/processed/events.parquet", "datasets/interim/rejected/events.parquet"]


def run_table_stages(params: Params, root: Path) -> None:
    """Clean and features, in ``root`` (which holds the landed tables)."""
    paths = Paths(root)
    clean_stage.run(params, paths)
    features_stage.run(params, paths)


@pytest.fixture(scope="module")
def projects(tmp_path_factory, params: Params, tiny_generate_params) -> dict[str, Path]:
    """The tiny pipeline's outputs from DuckDB and from the cluster, each in its own project folder."""
    base = tmp_path_factory.mktemp("cluster")
    raw = base / "raw"
    write(generate(tiny_generate_params, params.seed), raw)
    tiny = params.model_copy(update={"data": params.data.model_copy(update={"path": str(raw)})})
    ingest_stage.run(tiny, Paths(base / "duckdb"))
    shutil.copytree(base / "duckdb" / "datasets", base / "spark" / "datasets")
    run_table_stages(tiny, base / "duckdb")
    with engine.local_spark_cluster(base / "daemons") as master:
        on_cluster = tiny.engine.model_copy(update={"name": "spark", "spark_master": master})
        _stop_any_spark_session()  # one session per process: this one must be on the cluster
        con = engine.connect(engine=on_cluster)
        try:
            assert con._session.sparkContext.master == master
            run_table_stages(tiny.model_copy(update={"engine": on_cluster}), base / "spark")
        finally:
            con.disconnect()
    return {"duckdb": base / "duckdb", "spark": base / "spark"}


def _stop_any_spark_session() -> None:
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()


@pytest.mark.parametrize("name", WRITTEN_BY_PANDAS)
def test_cluster_writes_duckdbs_bytes(projects: dict[str, Path], name: str):
    assert (projects["spark"] / name).read_bytes() == (projects["duckdb"] / name).read_bytes()


@pytest.mark.parametrize("name", WRITTEN_BY_THE_ENGINE)
def test_cluster_writes_duckdbs_values(projects: dict[str, Path], name: str):
    on_duckdb = pd.read_parquet(projects["duckdb"] / name)
    on_cluster = pd.read_parquet(projects["spark"] / name)  # a folder of part files
    assert (projects["spark"] / name).is_dir()
    assert len(on_duckdb) > 0
    key = list(on_duckdb.columns)
    pd.testing.assert_frame_equal(
        on_cluster[key].sort_values(key, ignore_index=True), on_duckdb.sort_values(key, ignore_index=True)
    )
