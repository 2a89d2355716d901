"""Loaders and writers at the edge of the pipeline: raw sources in, landed Parquet out.

Three sources (``data.source``): the generator's output (customers, events, sessions, orders), the Kaggle
"E Commerce Dataset" (customers only, .xlsx or .csv), and a user's own event log (events only, .csv or
.parquet, one file or a folder) read through the column and event-name mappings in ``params.yaml``.
Loaders check names and shapes and fail with the file, the column and the params key to fix; values are
landed as received (text stays text) so that cleaning can reject what does not parse, with a reason.
"""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from cba import schema
from cba.config import DataParams

__all__ = [
    "CUSTOMER_IDS",
    "LOG_SUFFIXES",
    "SYNTHETIC_TABLES",
    "SourceError",
    "canonical_event_values",
    "event_log_tables",
    "key_customer_ids",
    "land",
    "load",
    "load_event_log",
    "load_kaggle",
    "load_synthetic",
    "read_landed",
    "with_original_ids",
]

SYNTHETIC_TABLES: dict[str, schema.Table] = {
    "customers": schema.CUSTOMERS,
    "events": schema.RAW_EVENTS,
    "sessions": schema.SESSIONS,
    "orders": schema.ORDERS,
}
"""Every table the generator writes, with the schema it is validated against."""


LOG_SUFFIXES = (".parquet", ".csv", ".csv.gz", ".csv.bz2", ".csv.zst", ".zip")
"""File names an event log may have: Parquet, CSV, compressed CSV, or a zip archive holding one CSV."""


class SourceError(ValueError):
    """A source cannot be read as configured; the message names the file, the column and the params key."""


CUSTOMER_IDS = "customer_ids"
"""Landed table of an own log whose customer ids are not all integers: ``customer_id`` -> ``original_id``."""


def load(data: DataParams) -> dict[str, pa.Table]:
    """Read the source ``data.source`` at ``data.path``: a mapping of table name to raw table.

    An own event log whose customer ids are not all whole numbers (UUIDs, account codes) comes with a
    :data:`CUSTOMER_IDS` table: the events carry an integer key, and the table maps it back.
    """
    if data.source == "synthetic":
        return load_synthetic(data.path)
    if data.source == "kaggle":
        return {"customers": load_kaggle(data.path, data.sheet)}
    return event_log_tables(load_event_log(data.path, data.columns, data.event_types))


def event_log_tables(events: pa.Table) -> dict[str, pa.Table]:
    """The tables an own event log lands as: its events with integer customer ids, and their mapping.

    The ids are keyed by :func:`key_customer_ids`; :data:`CUSTOMER_IDS` is there when they were not all
    whole numbers.
    """
    keyed, customer_ids = key_customer_ids(events)
    return {"events": keyed} | ({CUSTOMER_IDS: customer_ids} if customer_ids is not None else {})


def load_synthetic(path: str | Path) -> dict[str, pa.Table]:
    """Read the generator's output (``customers.parquet`` and date-partitioned folders), validated.

    Columns come back in schema order with schema types; the date partition keys are dropped.
    """
    path = Path(path)
    tables = {}
    for name, table_schema in SYNTHETIC_TABLES.items():
        location = path / f"{name}.parquet" if name == "customers" else path / name
        _require(location, "run `cba generate`, or fix")
        table = ds.dataset(location, format="parquet", partitioning="hive").to_table()
        try:
            schema.validate(table, table_schema, location)
        except schema.SchemaError as err:
            raise schema.SchemaError(
                f"{err}; regenerate with `cba generate` or fix data.path in params.yaml"
            ) from None
        tables[name] = table.select(table_schema.names).cast(_keeping_dictionaries(table, table_schema))
    return tables


def _keeping_dictionaries(table: pa.Table, table_schema: schema.Table) -> pa.Schema:
    """The schema's types, but text the file stores dictionary-encoded stays so (cheaper to land)."""
    fields = []
    for field in table_schema.arrow_schema:
        stored = table.schema.field(field.name).type
        keep = pa.types.is_dictionary(stored) and stored.value_type == field.type
        fields.append(field.with_type(stored) if keep else field)
    return pa.schema(fields)


def load_kaggle(path: str | Path, sheet: str) -> pa.Table:
    """Read the Kaggle customers (.xlsx sheet ``sheet``, or .csv) with ``CustomerID`` as ``customer_id``.

    Every column of :data:`cba.schema.KAGGLE_CUSTOMERS` must be present; values are kept as read (a
    column with text among its numbers stays text, for cleaning to reject the text with a reason).
    """
    path = Path(path)
    _require(path, "download the Kaggle file there, or fix")
    if path.suffix.lower() in (".xlsx", ".xls"):
        with pd.ExcelFile(path) as workbook:
            if sheet not in workbook.sheet_names:
                raise SourceError(
                    f"{path}: no sheet {sheet!r} (the workbook has {workbook.sheet_names}); "
                    "fix data.sheet in params.yaml"
                )
            frame = workbook.parse(sheet)
    elif path.suffix.lower() == ".csv":
        frame = pd.read_csv(path)
    else:
        raise SourceError(f"{path}: expected an .xlsx or .csv file; fix data.path in params.yaml")
    frame = frame.rename(columns={"CustomerID": "customer_id"})
    if frame.empty:
        raise SourceError(f"{path}: no rows; fix data.path in params.yaml")
    missing = [c for c in schema.KAGGLE_CUSTOMERS.names if c not in frame.columns]
    if missing:
        raise SourceError(
            f"{path}: missing column {missing[0]!r} of the Kaggle customers table; "
            "fix data.path in params.yaml"
        )
    frame = frame[schema.KAGGLE_CUSTOMERS.names]
    mixed = [c for c in frame.columns if frame[c].dtype == object]
    frame[mixed] = frame[mixed].astype("string")  # text with numbers in it stays text
    return pa.Table.from_pandas(frame, preserve_index=False)


def load_event_log(path: str | Path, columns: dict[str, str], event_types: dict[str, list[str]]) -> pa.Table:
    """Read an event log (one file or a folder of them) into the raw event columns.

    A file is Parquet, CSV, CSV compressed with gzip, bzip2 or zstandard, or a zip archive holding one CSV
    (:data:`LOG_SUFFIXES`).

    Mapped columns are renamed to their canonical names (``data.columns``); raw event names are mapped
    to canonical types (``data.event_types``; unmapped names are kept, for cleaning to reject); without
    an event-type column every row is a purchase; ``amount`` becomes ``price``. CSV values are read as
    text; compact dates (``19970101``, as in older transaction logs) are written ``1997-01-01`` so that
    they parse like any other date. Columns that are not mapped are left out; ``event_id`` numbers the
    rows in file order.
    """
    path = Path(path)
    _require(path, "put the event log there, or fix")
    files = sorted(path.rglob("*")) if path.is_dir() else [path]
    files = [f for f in files if f.name.lower().endswith(LOG_SUFFIXES)]
    if not files:
        raise SourceError(
            f"{path}: no event log file (one of {', '.join(LOG_SUFFIXES)}); fix data.path in params.yaml"
        )
    table = pa.concat_tables([_read_log_file(f) for f in files], promote_options="permissive")
    if table.num_rows == 0:
        raise SourceError(f"{path}: no rows; fix data.path in params.yaml")
    for canonical, raw in columns.items():
        if raw not in table.column_names:
            raise SourceError(
                f"{path}: no column {raw!r} (mapped as {canonical}); the log has {table.column_names}; "
                f"fix data.columns.{canonical} in params.yaml"
            )
    mapped = {canonical: table[raw] for canonical, raw in columns.items()}
    if "event_type" in mapped:
        mapped["event_type"] = _canonical_event_types(mapped["event_type"], event_types)
    else:
        mapped["event_type"] = pa.repeat("purchase", table.num_rows)
    mapped["timestamp"] = _iso_compact_dates(mapped["timestamp"])
    if "amount" in mapped:
        mapped["price"] = mapped.pop("amount")
    mapped.pop("order_id", None)
    mapped["event_id"] = pa.array(range(1, table.num_rows + 1), pa.int64())
    order = [
        "timestamp",
        "event_id",
        "customer_id",
        "session_id",
        "event_type",
        "product_id",
        "category",
        "price",
        "device",
    ]
    return pa.table({name: mapped[name] for name in order if name in mapped})


def canonical_event_values(events: pa.Table, event_types: dict[str, list[str]]) -> pa.Table:
    """Raw events with their event names and dates written as :func:`load_event_log` writes a log's.

    For events that come with the canonical columns already (a Kafka topic in place of an own log): raw
    event names are mapped through ``data.event_types`` and compact dates become ISO dates.
    """
    for name, canonical in (
        ("event_type", lambda raw: _canonical_event_types(raw, event_types)),
        ("timestamp", _iso_compact_dates),
    ):
        position = events.column_names.index(name)
        events = events.set_column(position, events.field(name), canonical(events.column(name)))
    return events


def _canonical_event_types(raw: pa.ChunkedArray, event_types: dict[str, list[str]]) -> pa.ChunkedArray:
    """Raw event names mapped to canonical types (``data.event_types``); unmapped names are kept."""
    lookup = {name: canonical for canonical, names in event_types.items() for name in names}
    raw_types = raw.cast(pa.string())
    position = pc.index_in(raw_types, pa.array(list(lookup), pa.string()))
    return pc.coalesce(pa.array(list(lookup.values()), pa.string()).take(position), raw_types)


def _iso_compact_dates(timestamps: pa.ChunkedArray) -> pa.ChunkedArray:
    """Text (or whole numbers) of the form ``YYYYMMDD``, optionally followed by a time, as ``YYYY-MM-DD``."""
    if not (pa.types.is_string(timestamps.type) or pa.types.is_integer(timestamps.type)):
        return timestamps
    return pc.replace_substring_regex(
        timestamps.cast(pa.string()), r"^(\d{4})(\d{2})(\d{2})(\s|T|$)", r"\1-\2-\3\4"
    )


def key_customer_ids(events: pa.Table) -> tuple[pa.Table, pa.Table | None]:
    """Events keyed by an integer ``customer_id``, and the original ids when they were not whole numbers.

    Ids that are all whole numbers (as text or numbers) are kept as they are, with no mapping. Otherwise
    every distinct id, as text, gets a key ``1, 2, ...`` in sorted order (the same log gives the same
    keys); the mapping has ``customer_id`` (int64) and ``original_id`` (string). Blank ids stay blank,
    for cleaning to reject.
    """
    column = events.column("customer_id")
    if pa.types.is_integer(column.type):
        return events, None
    text = column.cast(pa.string())
    if pc.all(pc.match_substring_regex(pc.drop_null(text), r"^\s*[+-]?\d+\s*$")).as_py() in (True, None):
        return events, None
    originals = pc.unique(pc.drop_null(text)).sort()
    keys = pa.array(range(1, len(originals) + 1), pa.int64())
    keyed = keys.take(pc.index_in(text, originals))
    mapping = pa.table({"customer_id": keys, "original_id": originals.cast(pa.string())})
    position = events.column_names.index("customer_id")
    return events.set_column(position, "customer_id", keyed), mapping


def with_original_ids(frame: pd.DataFrame, landed: str | Path) -> pd.DataFrame:
    """``frame`` with its ``customer_id`` keys replaced by the source's own ids, when the source had others.

    Reads :data:`CUSTOMER_IDS` from the ``landed`` folder; without it (whole-number ids), ``frame`` is
    returned as it is. A key the mapping lacks raises ValueError naming it.
    """
    customer_ids = read_landed(landed, CUSTOMER_IDS)
    if customer_ids is None or "customer_id" not in frame.columns:
        return frame
    lookup = customer_ids.to_pandas().set_index("customer_id")["original_id"]
    original = frame["customer_id"].map(lookup)
    unknown = frame["customer_id"][original.isna() & frame["customer_id"].notna()]
    if len(unknown):
        raise ValueError(
            f"customer_id {unknown.iloc[0]} is not in {Path(landed) / (CUSTOMER_IDS + '.parquet')}; "
            "score customers of the landed source"
        )
    return frame.assign(customer_id=original.astype("string"))


def land(tables: dict[str, pa.Table], folder: str | Path) -> dict[str, Path]:
    """Write each table to ``folder/<name>.parquet`` and return the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, table in tables.items():
        paths[name] = folder / f"{name}.parquet"
        pq.write_table(table, paths[name])
    return paths


def read_landed(folder: str | Path, name: str) -> pa.Table | None:
    """Read ``folder/<name>.parquet``, or None when the source has no such table."""
    path = Path(folder) / f"{name}.parquet"
    return pq.read_table(path) if path.exists() else None


def _read_log_file(path: Path) -> pa.Table:
    if path.suffix.lower() == ".parquet":
        return pq.read_table(path)
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if m.lower().endswith(".csv")]
            if len(members) != 1:
                raise SourceError(
                    f"{path}: a zipped event log must hold exactly one .csv file, not {members}"
                )
            member = members[0]
            return _read_csv(lambda: pa.PythonFile(archive.open(member), mode="r"), f"{path}:{member}")
    return _read_csv(lambda: pa.input_stream(str(path), compression="detect"), str(path))


def _read_csv(open_stream: Callable[[], pa.NativeFile], source: str) -> pa.Table:
    """Every column as text, so cleaning sees values exactly as written; the stream undoes compression."""
    with open_stream() as stream:
        header_line = stream.read(1 << 16).split(b"\n", 1)[0].decode("utf-8-sig", errors="replace")
    header = next(csv.reader([header_line]), [])
    as_text = pacsv.ConvertOptions(column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=True)
    try:
        with open_stream() as stream:
            return pacsv.read_csv(stream, convert_options=as_text)
    except (pa.ArrowInvalid, OSError) as err:
        raise SourceError(f"{source}: not a readable CSV file ({err})") from None


def _require(path: Path, hint: str) -> None:
    if not path.exists():
        raise SourceError(f"{path}: not found; {hint} data.path in params.yaml")
