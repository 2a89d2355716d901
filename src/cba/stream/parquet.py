"""The Parquet landing sink: each batch one file, written atomically, never two copies of an event id."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from cba import schema
from cba.stream.messages import concat_events

__all__ = ["ParquetSink", "read_parquet_sink"]

_PATTERN = "part-*.parquet"


class ParquetSink:
    """Lands events in ``folder/part-NNNNNNNN.parquet`` files of the raw event schema.

    A batch is written to a hidden temporary file, flushed to disk, then renamed into place, so a file
    is either complete or absent. Event ids already landed (read back when the sink opens) and repeats
    within a batch are skipped: redelivered messages after a crash land once. One consumer process
    owns a folder at a time.
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        for leftover in self.folder.glob(".part-*.tmp"):
            leftover.unlink()
        parts = sorted(self.folder.glob(_PATTERN))
        self._next = int(parts[-1].stem.removeprefix("part-")) + 1 if parts else 1
        self._seen: set[int] = set()
        for part in parts:
            self._seen.update(pq.read_table(part, columns=["event_id"])["event_id"].to_pylist())

    @property
    def landed(self) -> int:
        """Distinct events in the folder."""
        return len(self._seen)

    def write(self, events: pa.Table) -> int:
        """Durably land the events (a raw event table) whose id is new; return how many were written."""
        seen, taken, keep = self._seen, set(), []
        for event_id in events.column("event_id").to_pylist():
            keep.append(event_id not in seen and event_id not in taken)
            taken.add(event_id)
        fresh = events if all(keep) else events.filter(pa.array(keep, pa.bool_()))
        if not fresh.num_rows:
            return 0
        target = self.folder / f"part-{self._next:08d}.parquet"
        temporary = self.folder / f".{target.name}.tmp"
        with temporary.open("wb") as handle:
            pq.write_table(fresh, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
        _fsync_directory(self.folder)
        self._next += 1
        seen |= taken
        return fresh.num_rows

    def close(self) -> None:
        """Nothing is buffered: every :meth:`write` is already on disk."""


def read_parquet_sink(folder: str | Path) -> pa.Table:
    """Every event landed in ``folder``, in landing order (an empty raw-event table when none).

    Customer ids are text when any part holds text ids, integers otherwise.
    """
    parts = sorted(Path(folder).glob(_PATTERN))
    if not parts:
        return schema.RAW_EVENTS.arrow_schema.empty_table()
    return concat_events([pq.read_table(part) for part in parts])


def _fsync_directory(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
