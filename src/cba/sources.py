"""Loaders and writers at the edge of the pipeline: raw sources in, landed Parquet out."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from cba import schema

__all__ = ["RAW_TABLES", "SourceError", "land", "load_synthetic", "read_landed"]

RAW_TABLES: dict[str, schema.Table] = {
    "customers": schema.CUSTOMERS,
    "events": schema.RAW_EVENTS,
    "sessions": schema.SESSIONS,
    "orders": schema.ORDERS,
}
"""Every table a synthetic source holds, with the schema it is validated against."""


class SourceError(FileNotFoundError):
    """A source file or folder is missing; the message names it and the params key to fix."""


def load_synthetic(path: str | Path) -> dict[str, pa.Table]:
    """Read the generator's output (``customers.parquet`` and date-partitioned folders), validated.

    Columns come back in schema order with schema types; the date partition keys are dropped.
    """
    path = Path(path)
    tables = {}
    for name, table_schema in RAW_TABLES.items():
        location = path / f"{name}.parquet" if name == "customers" else path / name
        if not location.exists():
            raise SourceError(f"{location}: not found; run `cba generate` or fix data.path in params.yaml")
        table = ds.dataset(location, format="parquet", partitioning="hive").to_table()
        schema.validate(table, table_schema, location)
        tables[name] = table.select(table_schema.names).cast(table_schema.arrow_schema)
    return tables


def land(tables: dict[str, pa.Table], folder: str | Path) -> dict[str, Path]:
    """Write each table to ``folder/<name>.parquet`` and return the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, table in tables.items():
        paths[name] = folder / f"{name}.parquet"
        pq.write_table(table, paths[name])
    return paths


def read_landed(folder: str | Path, name: str, table_schema: schema.Table) -> pa.Table:
    """Read ``folder/<name>.parquet`` and check it against ``table_schema``."""
    path = Path(folder) / f"{name}.parquet"
    if not path.exists():
        raise SourceError(f"{path}: not found; run the stage that writes it (`dvc repro`)")
    table = pq.read_table(path)
    schema.validate(table, table_schema, path)
    return table
