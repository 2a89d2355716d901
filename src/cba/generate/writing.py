"""The raw tables as Parquet: customers in one file, the others partitioned by UTC date."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cba.generate.arrays import _in_parallel
from cba.generate.synthetic import SyntheticData


def write(data: SyntheticData, out: str | Path) -> None:
    """Write ``customers.parquet``, ``truth.parquet``, and ``events/``, ``sessions/``, ``orders/`` by day."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(data.customers, out / "customers.parquet")
    pq.write_table(data.truth, out / "truth.parquet")
    events = data.events.drop_columns("event_date")
    _write_by_date(events, "event_date", data.events["event_date"], out / "events", free_text=["timestamp"])
    _write_by_date(
        data.sessions, "session_date", data.sessions["session_start"].cast(pa.date32()), out / "sessions"
    )
    _write_by_date(
        data.orders, "order_date", data.orders["order_timestamp"].cast(pa.date32()), out / "orders"
    )


def _write_by_date(
    table: pa.Table, key: str, days: pa.Array, folder: Path, free_text: list[str] | None = None
) -> None:
    """Write one ``folder/key=YYYY-MM-DD/part-0.parquet`` file per UTC day, rows in their original order.

    Files are independent, so they are written in parallel; each one's bytes depend only on its rows.
    Text columns are dictionary-encoded except the ``free_text`` ones, integers and timestamps are
    delta-encoded (small, and cheap to write), and only numbers and times get statistics.
    """
    if table.num_rows == 0:
        return
    day = days.cast(pa.int32()).to_numpy()
    order = None if (day[1:] >= day[:-1]).all() else np.argsort(day, kind="stable")  # None: in order
    by_day = day if order is None else day[order]
    bounds = np.searchsorted(by_day, np.arange(by_day[0], by_day[-1] + 2))
    free_text = free_text or []
    text = [f.name for f in table.schema if f.name not in free_text and _is_text(f.type)]
    summarised = [f.name for f in table.schema if f.name not in free_text and not _is_text(f.type)]
    delta = {
        f.name: "DELTA_BINARY_PACKED"
        for f in table.schema
        if pa.types.is_integer(f.type) or pa.types.is_timestamp(f.type)
    }

    def write_day(lo: int, hi: int) -> None:
        rows = np.arange(lo, hi) if order is None else order[lo:hi]
        contiguous = rows[-1] - rows[0] == len(rows) - 1  # already in order: a zero-copy slice
        part = table.slice(int(rows[0]), len(rows)) if contiguous else table.take(rows)
        path = folder / f"{key}={np.datetime64(int(by_day[lo]), 'D')}"
        path.mkdir(parents=True, exist_ok=True)
        encoded = pa.BufferOutputStream()  # in memory, then one write: cheaper than Arrow's file sink
        pq.write_table(part, encoded, use_dictionary=text, write_statistics=summarised, column_encoding=delta)
        (path / "part-0.parquet").write_bytes(encoded.getvalue())

    days_with_rows = np.flatnonzero(bounds[1:] > bounds[:-1])
    _in_parallel(write_day, bounds[days_with_rows], bounds[days_with_rows + 1])


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or (pa.types.is_dictionary(kind) and pa.types.is_string(kind.value_type))
