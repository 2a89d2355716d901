"""Helpers of the generator: buffers in Arrow's memory pool, blocks run in parallel, Arrow columns."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa

from cba import schema

DAY = 86_400

# Work is done in blocks of a fixed size (so results never depend on the machine), in parallel; the
# temporaries of a block stay small and in cache.
_CUSTOMER_BLOCK = 1 << 10  # customers whose sessions are proposed together
_SESSION_BLOCK = 1 << 15  # sessions whose events are drawn together
_BLOCK_ROWS = 1 << 17  # raw event rows filled together


def _empty(n: int, dtype) -> np.ndarray:
    """An uninitialised array in Arrow's memory pool.

    Arrow arrays wrap it without a copy, and it is not advised into huge pages as NumPy's large arrays are
    (their first touch can stall on memory compaction).
    """
    dtype = np.dtype(dtype)
    return np.frombuffer(pa.allocate_buffer(n * dtype.itemsize), dtype=dtype)


def _concatenate(parts: list[np.ndarray]) -> np.ndarray:
    """``np.concatenate``, into Arrow's memory pool."""
    return np.concatenate(parts, out=_empty(sum(len(part) for part in parts), parts[0].dtype))


def _take(values: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """``values[indices]``, into Arrow's memory pool (valid indices: "clip" writes straight to ``out``)."""
    return np.take(values, indices, out=_empty(len(indices), values.dtype), mode="clip")


def _compress(kept: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values[kept]``, into Arrow's memory pool."""
    return np.compress(kept, values, out=_empty(np.count_nonzero(kept), values.dtype))


def _in_parallel(task, *arguments) -> list:
    """``task`` over the argument sequences on every core (NumPy and Arrow release the GIL), in order."""
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        return list(pool.map(task, *arguments))


def _dictionary(indices: np.ndarray, levels, missing: np.ndarray | None = None) -> pa.DictionaryArray:
    """Dictionary-encoded text: cheap to build and to write, read back as text."""
    return pa.DictionaryArray.from_arrays(pa.array(indices, mask=missing), pa.array(levels))


def _timestamps(seconds: np.ndarray) -> pa.Array:
    """UTC timestamps (microseconds) for epoch seconds."""
    micros = np.multiply(seconds, 1_000_000, out=_empty(len(seconds), np.int64), dtype=np.int64)
    return pa.Array.from_buffers(schema.TIMESTAMP, len(micros), [None, pa.py_buffer(micros)])


def _level_index(values: np.ndarray, levels: list[str]) -> np.ndarray:
    """Position of each value in ``levels``."""
    index = np.full(len(values), -1, dtype=np.int64)
    for i, level in enumerate(levels):
        index[values == level] = i
    return index
