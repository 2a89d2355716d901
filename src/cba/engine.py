"""The ibis connection that runs the heavy table work: DuckDB, in process, in UTC, on one thread.

One thread keeps floating-point sums in a fixed order and output files in a fixed layout, so the same
input always gives the same bytes (and the same metrics downstream).
"""

from __future__ import annotations

from pathlib import Path

import ibis
from ibis.backends import BaseBackend

__all__ = ["connect", "read_parquet"]


def connect(timezone: str = "UTC") -> BaseBackend:
    """An in-memory DuckDB connection, deterministic (one thread).

    ``timezone`` is the session time zone: text timestamps without an offset are read in it.
    """
    con = ibis.duckdb.connect(threads=1)
    con.raw_sql(f"SET TimeZone = '{timezone}'")
    return con


def read_parquet(con: BaseBackend, path: str | Path) -> ibis.Table:
    """A lazy ibis table over one Parquet file or a folder of them."""
    path = Path(path)
    pattern = str(path / "**" / "*.parquet") if path.is_dir() else str(path)
    return con.read_parquet(pattern)
