"""The ibis connection that runs the heavy table work: DuckDB (the default) or PySpark, chosen by params.

The same ibis expressions (:mod:`cba.clean`, :mod:`cba.features`, the event tables of :mod:`cba.eda`) run
on either backend and give the same results.

- **DuckDB** runs in process on every core. Outputs are ordered and sums that feed them are exact
  (whole seconds, whole cents), so parallel work still gives the same bytes and the same metrics. Under
  ``engine.memory_limit`` it spills joins, sorts and aggregations to ``engine.temp_directory``.
- **Spark** (``engine.name: spark``, ``pip install '.[spark]'``) runs on ``engine.spark_master``: ``local[2]``
  on a laptop, or any cluster master. There is one Spark session per process, so one time zone at a time.
  :func:`local_spark_cluster` starts a standalone cluster on this machine with the launcher pyspark ships.

Both read text timestamps without an offset in the session time zone (``timezone``).
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import ibis
import pandas as pd
from ibis.backends import BaseBackend

if TYPE_CHECKING:
    from cba.config import EngineParams

__all__ = ["SPARK_CONF", "connect", "is_spark", "local_spark_cluster", "read_parquet"]

SPARK_CONF: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.shuffle.partitions": "4",
    # Parquet timestamps as INT64 microseconds marked UTC (not legacy INT96), as DuckDB writes them.
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    # Spark 4 turns ANSI mode on by default; the expressions expect the lenient (DuckDB-like) semantics.
    "spark.sql.ansi.enabled": "false",
}
"""Settings of the Spark session :func:`connect` builds (besides master, app name and time zone)."""


def connect(timezone: str = "UTC", engine: EngineParams | None = None) -> BaseBackend:
    """An ibis connection: in-memory DuckDB (the default) or PySpark (``engine.name == "spark"``).

    ``timezone`` is the session time zone: text timestamps without an offset are read in it. DuckDB takes
    ``engine.memory_limit`` and ``engine.temp_directory`` when they are set.
    """
    if engine is None or engine.name == "duckdb":
        con = ibis.duckdb.connect()
        con.raw_sql(f"SET TimeZone = '{timezone}'")
        for setting, value in _duckdb_settings(engine).items():
            con.raw_sql(f"SET {setting} = '{value}'")
        return con
    if engine.name == "spark":
        return _connect_spark(timezone, engine.spark_master)
    raise ValueError(f"unknown engine {engine.name!r}; use duckdb or spark")


def _duckdb_settings(engine: EngineParams | None) -> dict[str, str]:
    """DuckDB settings from params: those left null keep DuckDB's defaults."""
    if engine is None:
        return {}
    settings = {"memory_limit": engine.memory_limit, "temp_directory": engine.temp_directory}
    return {key: value.replace("'", "''") for key, value in settings.items() if value is not None}


def _connect_spark(timezone: str, master: str) -> BaseBackend:
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ImportError(
            "engine.name is spark but pyspark is not installed: "
            "pip install 'customer-behaviour-analysis[spark]'"
        ) from None
    settings = {**SPARK_CONF, "spark.sql.session.timeZone": timezone}
    builder = SparkSession.builder.master(master).appName("cba")
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    # ibis sets the session time zone to UTC on connect, then applies these (an existing session keeps
    # its master and driver settings, but takes the SQL ones).
    ibis.pyspark  # noqa: B018 (loads the backend, which registers its options)
    return _spark_backend_class()().connect(
        session, **{k: v for k, v in settings.items() if k.startswith("spark.sql.")}
    )


@functools.cache
def _spark_backend_class() -> type:
    """Built on first use: pyspark is an optional dependency."""
    from ibis.backends.pyspark import Backend
    from ibis.backends.pyspark.converter import PySparkPandasData
    from pyspark.sql import functions as F
    from pyspark.sql.types import TimestampType

    class SparkBackend(Backend):
        """ibis's PySpark backend, with results that keep the instant of every timestamp.

        ibis collects with ``toPandas``, which writes Spark timestamps as wall-clock times in the session
        time zone, and then reads them as UTC: wrong in any other session time zone. Here they travel as
        microseconds since the epoch instead, so results match DuckDB in every time zone.
        """

        def execute(self, expr, /, *, params=None, limit=None, **kwargs):  # noqa: D102
            self._run_pre_execute_hooks(expr)
            table = expr.as_table()
            schema = table.schema()
            frame = self.raw_sql(self.compile(table, params=params, limit=limit, **kwargs))
            instants = [f.name for f in frame.schema.fields if isinstance(f.dataType, TimestampType)]
            frame = frame.withColumns({name: F.unix_micros(frame[name]) for name in instants})
            result = frame.toPandas()
            for name in instants:
                utc = pd.to_datetime(result[name], unit="us", utc=True)
                result[name] = utc if schema[name].timezone is not None else utc.dt.tz_localize(None)
            result = PySparkPandasData.convert_table(result, schema)
            for name in instants:  # microseconds, as DuckDB gives them (and as Spark reads Parquet)
                result[name] = result[name].dt.as_unit("us")
            return expr.__pandas_result__(result)

    return SparkBackend


def is_spark(con: BaseBackend) -> bool:
    """Whether ``con`` runs on Spark."""
    return con.name == "pyspark"


def read_parquet(con: BaseBackend, path: str | Path) -> ibis.Table:
    """A lazy ibis table over one Parquet file or a folder of them (as Spark writes them).

    Timestamps stored as instants (UTC) are ``timestamp('UTC', 6)`` columns on both engines.
    """
    path = Path(path)
    if not is_spark(con):
        return con.read_parquet(str(path / "**" / "*.parquet") if path.is_dir() else str(path))
    table = con.read_parquet(str(path))
    # Spark's TIMESTAMP is an instant in microseconds, but ibis types it without a zone or scale; DuckDB
    # reads the same file as TIMESTAMPTZ (microseconds).
    from pyspark.sql.types import TimestampType

    instants = [
        f.name
        for f in con.raw_sql(f"SELECT * FROM `{table.get_name()}`").schema.fields
        if isinstance(f.dataType, TimestampType)
    ]
    return table.cast(dict.fromkeys(instants, "timestamp('UTC', 6)")) if instants else table


@contextlib.contextmanager
def local_spark_cluster(
    folder: str | Path, workers: int = 2, cores: int = 1, memory: str = "1g", timeout: float = 120.0
) -> Iterator[str]:
    """A Spark standalone cluster on 127.0.0.1: a master and ``workers`` workers; yields its master URL.

    The daemons are started with the ``spark-class`` launcher that the pyspark package ships (Java 17 or
    later on the path), log to ``folder`` and keep their scratch files there; every one is stopped on exit.
    Executors run this Python. Point the pipeline at the URL with ``engine.spark_master``.
    """
    import pyspark

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    launcher = Path(pyspark.__file__).parent / "bin" / "spark-class"
    environment = {
        **os.environ,
        "SPARK_HOME": str(launcher.parent.parent),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": str(folder),
        "PYSPARK_PYTHON": sys.executable,
    }
    port, web_port = _free_port(), _free_port()
    master_url = f"spark://127.0.0.1:{port}"
    daemons = [("master", ["org.apache.spark.deploy.master.Master", "--port", str(port)], web_port)]
    daemons += [
        (
            f"worker-{number}",
            ["org.apache.spark.deploy.worker.Worker", master_url, "--cores", str(cores), "--memory", memory],
            _free_port(),
        )
        for number in range(1, workers + 1)
    ]
    processes: list[subprocess.Popen] = []
    try:
        for name, arguments, ui_port in daemons:
            work = folder / name
            work.mkdir(exist_ok=True)
            command = [str(launcher), *arguments, "--host", "127.0.0.1", "--webui-port", str(ui_port)]
            if name != "master":
                command += ["--work-dir", str(work)]
            with (folder / f"{name}.log").open("wb") as log:
                processes.append(
                    subprocess.Popen(
                        command,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                        env=environment,
                    )
                )
        _wait_for_workers(folder, processes, workers, timeout)
        yield master_url
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_workers(folder: Path, processes: list[subprocess.Popen], workers: int, timeout: float) -> None:
    """Wait until the master's log shows ``workers`` registered workers (or a daemon exits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(
                    f"a Spark daemon exited with {process.returncode}; see the logs in {folder}"
                )
        if (folder / "master.log").read_text(errors="replace").count("Registering worker") >= workers:
            return
        time.sleep(0.5)
    raise RuntimeError(f"the Spark workers did not register within {timeout:.0f} s; see the logs in {folder}")
