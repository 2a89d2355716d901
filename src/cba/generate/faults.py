"""Data-quality faults at the rates in ``params.yaml``: blanks, aliases, duplicates, bad or local times."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cba import schema
from cba.config import FaultRates
from cba.generate.arrays import (
    _BLOCK_ROWS,
    DAY,
    _dictionary,
    _empty,
    _in_parallel,
    _level_index,
)
from cba.generate.marginals import _CATEGORICAL, _COUNTRIES
from cba.generate.simulation import _PRODUCTS_PER_CATEGORY, _product_ids, _product_prices

# Event faults, as bits of one code per event.
_LOCAL_TIME, _BAD_TIMESTAMP, _NO_DEVICE, _BAD_KIND_SHIFT = 1, 2, 4, 3
_ZERO_DATE_TEXT = b"0000-00-00T00:00:00+00:00"  # an unparsable timestamp, as some databases write one
_EPOCH_TEXT = b"1970-01-01T00:00:00+00:00"
_ZONE_SUFFIXES = ["+00:00"] + [  # UTC, then each country's fixed offset
    f"{'-' if c[2] < 0 else '+'}{abs(c[2]) // 60:02d}:{abs(c[2]) % 60:02d}" for c in _COUNTRIES
]
# ISO 8601 text is assembled from three lookups: "YYYY-MM-DDTHH:MM" per minute, ":SS+HH:M" per second and
# zone, and the zone's last character; widths 16, 8 and 1 copy fast.
_SECOND_ZONE = np.array(
    [f":{second:02d}{suffix[:5]}" for suffix in _ZONE_SUFFIXES for second in range(60)], dtype="S8"
).view(np.uint64)
_ZONE_LAST = np.array([suffix[5] for suffix in _ZONE_SUFFIXES], dtype="S1").view(np.uint8)
_ISO_RECORD = np.dtype(
    {
        "names": ["minute", "second", "last"],
        "formats": ["V16", "u8", "u1"],
        "offsets": [0, 16, 24],
        "itemsize": 25,
    }
)
_TEXT_CHUNK_ROWS = (2**31 - 1) // _ISO_RECORD.itemsize
"""Timestamp texts in one Arrow string array (about 85.9 million): its int32 offsets end at 2^31 - 1."""


def _faulty_customers(
    rng: np.random.Generator, people: dict[str, np.ndarray], faults: FaultRates
) -> pa.Table:
    """Customers with blanks, alias labels, exact duplicates (after the original) and re-registrations."""
    n = len(people["customer_id"])
    rows = np.repeat(np.arange(n), _duplicate_repeats(rng, n, faults.duplicate_rate))
    columns: dict[str, object] = {"customer_id": people["customer_id"][rows], "Churn": people["Churn"][rows]}
    for column in schema.KAGGLE_ATTRIBUTES:
        values = people[column.name]
        if column.dtype == pa.string():
            levels = list(_CATEGORICAL[column.name])
            level = _level_index(values, levels)
            for alias, canonical in schema.LABEL_ALIASES.get(column.name, {}).items():
                chosen = (level == levels.index(canonical)) & (
                    rng.random(n) < faults.label_inconsistency_rate
                )
                level[chosen] = len(levels)
                levels.append(alias)
            columns[column.name] = pa.array(levels).take(level[rows])
        elif column.nullable:
            blank = rng.random(n) < faults.missing_rate
            columns[column.name] = pa.array(values.astype(np.float64)[rows], mask=blank[rows])
        else:
            columns[column.name] = values[rows]
    columns["signup_date"] = (people["signup"] // DAY).astype("datetime64[D]")[rows]
    columns["country"] = pa.array([c[0] for c in _COUNTRIES]).take(people["country_index"][rows])
    columns["timezone"] = pa.array([c[1] for c in _COUNTRIES]).take(people["country_index"][rows])
    table = pa.table(columns, schema=schema.CUSTOMERS.arrow_schema)
    return pa.concat_tables([table, _reregistered(rng, table, faults.near_duplicate_rate)])


def _reregistered(rng: np.random.Generator, customers: pa.Table, rate: float) -> pa.Table:
    """Copies of a ``rate`` share of customers under new ids (the same person signing up again)."""
    copies = customers.filter(pa.array(rng.random(customers.num_rows) < rate))
    first_new_id = int(pc.max(customers["customer_id"]).as_py()) + 1
    new_ids = pa.array(np.arange(first_new_id, first_new_id + copies.num_rows, dtype=np.int64))
    return copies.set_column(0, customers.schema.field("customer_id"), new_ids)


def _faulty_events(
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    sessions: dict[str, np.ndarray],
    events: dict[str, np.ndarray],
    faults: FaultRates,
    start: int,
    end: int,
) -> pa.Table:
    """Raw events with faults, ordered by UTC day (then by event id); a duplicate follows its original.

    Faults are drawn per event, so a duplicate is an exact copy: local time with the customer's offset,
    a bad timestamp (unparsable, 75 years ahead, or the epoch; it replaces a local one), a blank device.
    The rows are filled in blocks, in parallel.
    """
    n = len(events["second"])
    fault = _empty(n, np.uint8)
    fault.fill(0)
    fault[_bernoulli_rows(rng, n, faults.mixed_timezone_rate)] |= _LOCAL_TIME
    bad = _bernoulli_rows(rng, n, faults.bad_timestamp_rate)
    fault[bad] |= _BAD_TIMESTAMP | (rng.integers(0, 3, len(bad), dtype=np.uint8) << _BAD_KIND_SHIFT)
    fault[_bernoulli_rows(rng, n, faults.missing_rate)] |= _NO_DEVICE

    day = np.floor_divide(events["second"], DAY, out=_empty(n, np.int32))
    by_day = pc.sort_indices(pa.array(day)).to_numpy().view(np.int64)  # stable: by id within a day
    del day
    twice = _bernoulli_rows(rng, n, faults.duplicate_rate)  # positions, in day order, written twice
    rows = n + len(twice)
    event_id = _empty(rows, np.int64)
    column = {
        "customer_id": _empty(rows, np.int64),
        "session_id": _empty(rows, np.int64),
        "event_type": _empty(rows, np.int8),
        "product_id": _empty(rows, np.int16),
        "category": _empty(rows, np.int8),
        "price": _empty(rows, np.float64),
        "device": _empty(rows, np.int8),
        "event_date": _empty(rows, np.int32),
    }
    no_device = _empty(rows, np.bool_)
    text = _empty(rows, _ISO_RECORD)
    minutes = _minute_texts(start - DAY, end + DAY)  # local times stay inside a day around the window
    prices = _product_prices()

    def fill(first: int) -> None:
        """Rows of the events at positions first.. (one block) in day order."""
        after = min(first + _BLOCK_ROWS, n)
        copied = twice[np.searchsorted(twice, first) : np.searchsorted(twice, after)] - first
        lo = first + int(np.searchsorted(twice, first))
        hi = lo + (after - first) + len(copied)
        event = np.insert(by_day[first:after], copied + 1, by_day[first:after][copied])
        in_session = events["session"][event]
        who = sessions["customer"][in_session]
        category = sessions["category"][in_session]
        product = category * np.int16(_PRODUCTS_PER_CATEGORY) + events["rank"][event]
        second = events["second"][event]
        code = fault[event]
        np.add(event, 1, out=event_id[lo:hi])
        # Indices are valid, so "clip" mode, which writes straight into ``out``.
        np.take(people["customer_id"], who, out=column["customer_id"][lo:hi], mode="clip")
        np.add(in_session, 1, out=column["session_id"][lo:hi])
        np.take(events["kind"], event, out=column["event_type"][lo:hi], mode="clip")
        column["product_id"][lo:hi] = product
        column["category"][lo:hi] = category
        np.take(prices, product, out=column["price"][lo:hi], mode="clip")
        np.take(sessions["device"], in_session, out=column["device"][lo:hi], mode="clip")
        np.not_equal(code & _NO_DEVICE, 0, out=no_device[lo:hi])
        np.floor_divide(second, DAY, out=column["event_date"][lo:hi])
        column["event_date"][lo:hi] += start // DAY
        _fill_timestamp_text(text[lo:hi], second, code, people, who, minutes, start)

    _in_parallel(fill, range(0, n, _BLOCK_ROWS))
    return pa.table(
        {
            "timestamp": _fixed_width_text(text),
            "event_id": event_id,
            "customer_id": column["customer_id"],
            "session_id": column["session_id"],
            "event_type": _dictionary(column["event_type"], schema.EVENT_TYPES),
            "product_id": _dictionary(column["product_id"], _product_ids()),
            "category": _dictionary(column["category"], schema.CATEGORIES),
            "price": column["price"],
            "device": _dictionary(column["device"], schema.DEVICES, missing=no_device),
            "event_date": pa.Array.from_buffers(
                pa.date32(), rows, [None, pa.py_buffer(column["event_date"])]
            ),
        }
    )


def _fixed_width_text(records: np.ndarray, chunk_rows: int = _TEXT_CHUNK_ROWS) -> pa.ChunkedArray:
    """Arrow strings over fixed-width text records, without a copy: one string array per ``chunk_rows``.

    A string array's offsets are int32, so one array holds at most 2^31 - 1 bytes of text; longer
    columns are split into arrays that each start their offsets at zero.
    """
    width = records.dtype.itemsize
    chunk_rows = max(min(chunk_rows, len(records)), 1)
    offsets = pa.py_buffer(np.arange(0, (chunk_rows + 1) * width, width, dtype=np.int32))
    text = pa.py_buffer(records)
    chunks = [
        pa.StringArray.from_buffers(
            count, offsets.slice(0, (count + 1) * 4), text.slice(first * width, count * width)
        )
        for first in range(0, len(records), chunk_rows)
        for count in [min(chunk_rows, len(records) - first)]
    ]
    return pa.chunked_array(chunks, pa.string())


def _fill_timestamp_text(
    text: np.ndarray,
    second: np.ndarray,
    fault: np.ndarray,
    people: dict[str, np.ndarray],
    customer: np.ndarray,
    minutes: np.ndarray,
    start: int,
) -> None:
    """Write ISO 8601 text ``YYYY-MM-DDTHH:MM:SS+HH:MM`` for ``second`` (from ``start``), with the faults.

    Every text has the same 25 characters: UTC as ``+00:00``, local time with the customer's offset, and
    the bad timestamps (an unparsable zero date, a date 75 years ahead, the epoch) alike. ``minutes``
    starts the day before ``start``.
    """
    _fill_iso(text, second + DAY, np.zeros(1, dtype=np.int64), minutes)
    local = np.flatnonzero((fault & (_LOCAL_TIME | _BAD_TIMESTAMP)) == _LOCAL_TIME)
    local_text = np.empty(len(local), dtype=_ISO_RECORD)
    country = people["country_index"][customer[local]]
    _fill_iso(local_text, second[local] + DAY + people["utc_offset"][customer[local]], country + 1, minutes)
    text.view("S25")[local] = local_text.view("S25")

    bad = np.flatnonzero(fault & _BAD_TIMESTAMP)
    kind = fault[bad] >> _BAD_KIND_SHIFT
    future = np.datetime64(start, "s") + (second[bad] + np.int64(75 * 365 * DAY)) * np.timedelta64(1, "s")
    future_text = np.char.add(np.datetime_as_string(future).astype("S19"), b"+00:00")
    text.view("S25")[bad] = np.where(
        kind == 0, _ZERO_DATE_TEXT, np.where(kind == 1, future_text, _EPOCH_TEXT)
    )


def _fill_iso(text: np.ndarray, second: np.ndarray, zone: np.ndarray, minutes: np.ndarray) -> None:
    """ISO text records for ``second`` (from the first of ``minutes``) in ``zone`` (0 is UTC)."""
    minute = second // 60
    text["minute"] = minutes[minute]
    text["second"] = _SECOND_ZONE[zone * 60 + (second - minute * 60)]
    text["last"] = _ZONE_LAST[zone]


def _minute_texts(first: int, after: int) -> np.ndarray:
    """``YYYY-MM-DDTHH:MM`` for every minute from ``first`` (midnight) to ``after``, 16-byte records."""
    days = np.arange(first // DAY, -(-after // DAY)).astype("datetime64[D]")
    clock = np.array([f"T{m // 60:02d}:{m % 60:02d}" for m in range(1440)], dtype="S6")
    text = np.empty((len(days), 1440), dtype=[("day", "S10"), ("clock", "S6")])
    text["day"] = np.datetime_as_string(days).astype("S10")[:, None]
    text["clock"] = clock
    return text.ravel().view("V16")


def _duplicate_repeats(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    """How often each row is written: twice for a ``rate`` share of rows (an exact duplicate), else once."""
    return np.where(rng.random(n) < rate, 2, 1)


def _bernoulli_rows(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    """The rows, of ``n``, that a Bernoulli(``rate``) trial per row picks: drawn as geometric gaps."""
    if rate <= 0.0 or n == 0:
        return np.zeros(0, dtype=np.int64)
    if rate >= 1.0:
        return np.arange(n, dtype=np.int64)
    expected = n * rate
    rows = np.cumsum(rng.geometric(rate, int(expected + 6.0 * np.sqrt(expected)) + 10)) - 1
    while rows[-1] < n:
        more = np.cumsum(rng.geometric(rate, int(expected / 10.0) + 10)) + rows[-1]
        rows = np.concatenate([rows, more])
    return rows[: np.searchsorted(rows, n)]
