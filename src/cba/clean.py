"""Cleaning rules: every row is accepted or rejected with the rule that rejected it.

Events are cleaned as ibis expressions (they can be large); customers, one row each, with pandas.
Nothing is dropped silently: ``rows_in == rows_out + rows_rejected`` for every table, and every
rejected row is kept with its rule (and, for customers, the offending value).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis
import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from cba import schema
from cba.config import NearDuplicateParams

__all__ = [
    "CUSTOMER_RULES",
    "EVENT_RULES",
    "MISSING_VALUE_RULES",
    "REJECTION_DETAIL",
    "REJECTION_RULE",
    "RULE_PARAMS",
    "VALID_RANGES",
    "NoValidRowsError",
    "clean_customers",
    "clean_events",
    "customers_from_events",
    "duplicate_group_sentence",
    "missing_value_rules",
    "near_duplicate_groups",
    "near_duplicates",
    "near_duplicates_sentence",
    "quality_sentence",
    "quality_summary",
    "quality_table",
    "profile_attributes",
    "require_accepted_rows",
    "split_twin_sets",
    "split_twin_sets_sentence",
    "window_sentence",
]

REJECTION_RULE = "rejection_rule"
"""Column of a rejected table that names the rule that rejected the row."""
REJECTION_DETAIL = "rejection_detail"
"""Column of rejected customers that names the offending column and value."""

EVENT_RULES = (
    "exact_duplicate",
    "unparsable_customer_id",
    "unparsable_timestamp",
    "timestamp_before_start",
    "timestamp_in_future",
    "unknown_event_type",
    "unparsable_price",
    "negative_price",
)
"""Event rules in the order they are tried; the first that matches rejects the row."""

CUSTOMER_RULES = (
    "exact_duplicate",
    "missing_customer_id",
    "unparsable_value",
    "impossible_value",
    "duplicate_customer_id",
)
"""Customer rules in the order they are tried."""

RULE_PARAMS: dict[str, str] = {
    "exact_duplicate": "data.path (every row repeats an earlier one)",
    "unparsable_customer_id": "data.columns.customer_id",
    "unparsable_timestamp": "data.columns.timestamp (or data.timezone)",
    "timestamp_before_start": "clean.earliest_timestamp (null = no bound)",
    "timestamp_in_future": "clean.latest_timestamp (null = no bound)",
    "unknown_event_type": "data.event_types",
    "unparsable_price": "data.columns.amount",
    "negative_price": "data.columns.amount",
    "missing_customer_id": "data.path",
    "unparsable_value": "data.path",
    "impossible_value": "data.path",
    "duplicate_customer_id": "data.path",
}
"""The params key to look at when a rule rejects every row of a table."""


class NoValidRowsError(ValueError):
    """Cleaning rejected every row of a table; the message names the rule and the params key."""


VALID_RANGES: dict[str, tuple[float | None, float | None]] = {
    "customer_id": (0, None),
    "Churn": (0, 1),
    "Tenure": (0, None),
    "CityTier": (1, 3),
    "WarehouseToHome": (0, None),
    "HourSpendOnApp": (0, 24),
    "NumberOfDeviceRegistered": (0, None),
    "SatisfactionScore": (1, 5),
    "NumberOfAddress": (0, None),
    "Complain": (0, 1),
    "OrderAmountHikeFromlastYear": (None, None),
    "CouponUsed": (0, None),
    "OrderCount": (0, None),
    "DaySinceLastOrder": (0, None),
    "CashbackAmount": (0, None),
}
"""Numeric customer columns with their possible range (inclusive); values outside are impossible."""

MISSING_VALUE_RULES: dict[str, str] = {
    **{
        c.name: "left blank, with a <column>_missing indicator; models fill the median of their training rows"
        for c in schema.KAGGLE_ATTRIBUTES
        if c.nullable
    },
    "device, category, product_id, price (events)": "kept missing: features use the known values",
}
"""How each column with blanks is treated (shown in the report)."""


# --- events ---------------------------------------------------------------------------------------------


def clean_events(
    events: ibis.Table,
    earliest: dt.date | None,
    latest: dt.date | None,
    session_timeout_minutes: int,
    ids_are_row_numbers: bool = False,
) -> tuple[ibis.Table, ibis.Table]:
    """Split raw events into accepted (typed, UTC, in time order) and rejected (raw, with the rule).

    An exact duplicate is identical to an earlier row; when ``ids_are_row_numbers`` (an own log, whose
    event ids the loader numbered) the id is left out of the comparison, since a resent row got a new
    one. Text timestamps without an offset are read in the connection's time zone. Without a
    ``session_id`` column, sessions are derived: a gap of more than ``session_timeout_minutes`` starts
    a new one.

    Both results are lazy but for one small query run at once: the keys (``event_id``; for an own log
    ``customer_id`` and ``timestamp``) that occur more than once, the only rows that can be duplicates.
    """
    has_sessions = "session_id" in events.columns
    compared = [c for c in schema.RAW_EVENTS.names if not (ids_are_row_numbers and c == "event_id")]
    key = [
        c
        for c in (["customer_id", "timestamp"] if ids_are_row_numbers else ["event_id"])
        if c in events.columns
    ]
    once, repeated = _split_by_repeated_key(events, key or [c for c in events.columns if c in compared])
    judged = _judge(_complete(once), earliest, latest).union(
        _judge(_complete(repeated), earliest, latest, compared)
    )
    accepted = judged.filter(judged[REJECTION_RULE].isnull()).mutate(
        customer_id=judged._customer,
        timestamp=judged._timestamp,
        price=judged._price,
        session_id=judged._session,
        **{c: judged[c].cast("string") for c in ("event_type", "product_id", "category", "device")},
    )
    if not has_sessions:
        accepted = _derive_sessions(accepted, session_timeout_minutes)
    accepted = accepted.select(schema.EVENTS.names).order_by(["timestamp", "event_id"])
    rejected = judged.filter(judged[REJECTION_RULE].notnull()).select(
        *schema.RAW_EVENTS.names, REJECTION_RULE
    )
    return accepted, rejected.order_by(["event_id", REJECTION_RULE])


def _split_by_repeated_key(events: ibis.Table, key: list[str]) -> tuple[ibis.Table, ibis.Table]:
    """Events whose ``key`` occurs once, and those whose ``key`` occurs more than once.

    One aggregate and two hash joins on the key (blanks match blanks), so that only the few rows of a
    repeated key go through the comparison on every column. The repeated keys (a small table) are computed
    at once and kept by the connection, so that the accepted and the rejected rows, written one after the
    other, share them.
    """
    counted = events.group_by(key).aggregate(_rows=events.count())
    repeated_keys = counted.filter(counted._rows > 1).select(**{f"_key_{c}": counted[c] for c in key}).cache()
    matches = [events[c].identical_to(repeated_keys[f"_key_{c}"]) for c in key]
    return events.anti_join(repeated_keys, matches), events.semi_join(repeated_keys, matches)


def _judge(
    events: ibis.Table, earliest: dt.date | None, latest: dt.date | None, compared: list[str] | None = None
) -> ibis.Table:
    """Raw events with their typed values (``_customer``, ``_timestamp``, ...) and the rule that rejects them.

    With ``compared``, a row equal on those columns to one with a lower ``event_id`` is an exact duplicate
    (without, no row is); the other rules are tried after it, in :data:`EVENT_RULES` order.
    """
    is_copy = (
        ibis.row_number().over(group_by=[events[c] for c in compared], order_by=events.event_id) > 0
        if compared
        else ibis.literal(False)
    )
    typed = events.mutate(
        _customer=events.customer_id.try_cast("int64"),
        _timestamp=events.timestamp.try_cast("timestamp('UTC')"),
        _price=events.price.try_cast("float64"),
        _session=events.session_id.try_cast("int64"),
    )
    parsed, price = typed._timestamp, typed._price
    start = ibis.timestamp(dt.datetime.combine(earliest, dt.time()), timezone="UTC") if earliest else None
    last_instant = (
        ibis.timestamp(dt.datetime.combine(latest, dt.time()) - dt.timedelta(microseconds=1), timezone="UTC")
        if latest
        else None
    )
    # One test for the rows inside the period (nearly all), so that their text is parsed once; the three
    # timestamp rules are told apart only for the rows outside it. Timestamps are in microseconds.
    if start is not None and last_instant is not None:
        in_period = parsed.between(start, last_instant)
    elif start is not None:
        in_period = parsed >= start
    elif last_instant is not None:
        in_period = parsed <= last_instant
    else:
        in_period = parsed.notnull()
    outside_period = ibis.cases(
        (parsed.isnull(), "unparsable_timestamp"),
        (parsed < start if start is not None else ibis.literal(False), "timestamp_before_start"),
        else_="timestamp_in_future",
    )
    rule = ibis.cases(
        (is_copy, "exact_duplicate"),
        (typed._customer.isnull(), "unparsable_customer_id"),
        (~in_period.fill_null(False), outside_period),
        (typed.event_type.notin(schema.EVENT_TYPES) | typed.event_type.isnull(), "unknown_event_type"),
        (price.isnull() & typed.price.notnull(), "unparsable_price"),
        (price < 0, "negative_price"),
        else_=ibis.null("string"),
    )
    return typed.mutate(**{REJECTION_RULE: rule})


def _complete(events: ibis.Table) -> ibis.Table:
    """All raw event columns, in order; the optional ones a source lacks are null."""
    missing = {
        c.name: ibis.null(str(c.dtype) if c.name != "price" else "float64")
        for c in schema.RAW_EVENTS.columns
        if c.name not in events.columns
    }
    return events.mutate(**missing).select(schema.RAW_EVENTS.names)


def _derive_sessions(events: ibis.Table, timeout_minutes: int) -> ibis.Table:
    """Number sessions: per customer in time order, a gap above the timeout starts a new one."""
    order = ["timestamp", "event_id"]
    previous = events.timestamp.lag().over(ibis.window(group_by="customer_id", order_by=order))
    gap = events.timestamp.epoch_seconds() - previous.epoch_seconds()
    flagged = events.mutate(_new=(gap.isnull() | (gap > timeout_minutes * 60)).cast("int64"))
    numbered = flagged.mutate(_sequence=flagged._new.cumsum(group_by="customer_id", order_by=order))
    session = ibis.dense_rank().over(order_by=[numbered.customer_id, numbered._sequence]) + 1
    return numbered.mutate(session_id=session.cast("int64"))


# --- customers ------------------------------------------------------------------------------------------


def clean_customers(
    customers: pd.DataFrame, linking: NearDuplicateParams
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split customers into accepted and rejected (with rule and detail), in that order.

    Accepted customers have numeric types, canonical labels ("Phone" -> "Mobile Phone", ...), blanks
    kept blank beside a ``<column>_missing`` indicator (:data:`MISSING_VALUE_RULES`: a fill computed here
    would see every customer, test customers included), and a ``duplicate_group`` id shared by
    near-duplicate records, linked by ``linking`` (NA when unique).
    """
    frame = customers.copy()
    rule = pd.Series(pd.NA, index=frame.index, dtype="string")
    detail = pd.Series(pd.NA, index=frame.index, dtype="string")

    def reject(mask: pd.Series, name: str, column: str | None = None) -> None:
        """Reject the rows of ``mask`` not rejected yet; the detail names ``column`` and its raw value."""
        mask = mask & rule.isna()
        rule[mask] = name
        if column is not None and mask.any():
            detail[mask] = f"{column}=" + customers.loc[mask, column].astype("string")

    reject(frame.duplicated(keep="first"), "exact_duplicate")
    reject(frame["customer_id"].isna(), "missing_customer_id")
    for column in (c for c in VALID_RANGES if c in frame.columns):
        raw = frame[column]
        number = pd.to_numeric(raw, errors="coerce")
        if column == "customer_id":
            number = number.where(number % 1 == 0)
        reject(raw.notna() & number.isna(), "unparsable_value", column)
        low, high = VALID_RANGES[column]
        outside = (number < low if low is not None else False) | (
            number > high if high is not None else False
        )
        reject(outside, "impossible_value", column)
        frame[column] = number
    reject(frame["customer_id"].duplicated(keep="first"), "duplicate_customer_id")

    rejected = customers[rule.notna()].assign(
        **{REJECTION_RULE: rule[rule.notna()], REJECTION_DETAIL: detail[rule.notna()]}
    )
    accepted = frame[rule.isna()].replace(schema.LABEL_ALIASES)
    accepted = _with_integer_types(_with_missing_indicators(accepted))
    accepted["duplicate_group"] = near_duplicate_groups(
        accepted, "customer_id", profile_attributes(accepted), linking.max_differences, linking.max_group_size
    )
    return accepted.reset_index(drop=True), rejected.reset_index(drop=True)


def _with_missing_indicators(customers: pd.DataFrame) -> pd.DataFrame:
    """A 0/1 ``<column>_missing`` indicator for each nullable Kaggle attribute; the blanks stay blank."""
    for column in (c.name for c in schema.KAGGLE_ATTRIBUTES if c.nullable and c.name in customers.columns):
        customers[f"{column}_missing"] = customers[column].isna().astype("int64")
    return customers


def _with_integer_types(customers: pd.DataFrame) -> pd.DataFrame:
    """Whole-number schema columns as int64 once they hold no blanks."""
    for column in schema.CUSTOMERS.columns:
        if (
            column.name in customers.columns
            and str(column.dtype) == "int64"
            and customers[column.name].notna().all()
        ):
            customers[column.name] = customers[column.name].astype(np.int64)
    return customers


def customers_from_events(events: ibis.Table) -> ibis.Table:
    """One row per customer of an event log: ``customer_id`` and ``signup_date`` (first event, UTC)."""
    return (
        events.group_by("customer_id")
        .aggregate(signup_date=events.timestamp.min().date())
        .order_by("customer_id")
    )


# --- near-duplicate customers ---------------------------------------------------------------------------


def near_duplicate_groups(
    customers: pd.DataFrame,
    id_column: str = "customer_id",
    columns: Sequence[str] | None = None,
    max_differences: int = 0,
    max_group_size: int = 10,
) -> pd.Series:
    """The near-duplicate group of each record: records that differ in at most ``max_differences`` attributes.

    Two records are twins when they hold the same value in all but at most ``max_differences`` of the
    compared columns (blanks count as equal values; the id is never compared), so the same customer
    entered twice under two ids is found even when a few attributes drifted between the entries. Twins
    are linked transitively into groups, strongest links first, and a link that would make a group larger
    than ``max_group_size`` is not made: a guard against chains of look-alikes swallowing a population.

    Candidate pairs come from blocking by the pigeonhole principle: with ``n`` columns split into
    ``max_differences + 1`` blocks, twins differ in at most ``max_differences`` columns, so they agree on
    every column of at least one block; only records that share a block's values are compared.

    Parameters
    ----------
    customers
        One row per record.
    id_column
        The identifier, left out of the comparison (ignored when absent).
    columns
        Attributes to compare; by default every column but ``id_column``. Absent names are skipped.
    max_differences
        Attributes in which twins may differ; 0 links only records equal on every attribute.
    max_group_size
        Largest group the transitive linking may build.

    Returns
    -------
    pandas.Series
        ``duplicate_group`` (nullable integer, same index as ``customers``): groups numbered from 0 in
        the order of their first row; NA for records in no group, and for every record when there is
        no attribute to compare.
    """
    groups = np.full(len(customers), -1, dtype="int64")
    first, second, matches = _twin_pairs(customers, id_column, columns, max_differences)
    if len(first):
        root = _link(len(customers), first, second, matches, max_group_size)
        sizes = np.bincount(root, minlength=len(customers))
        linked = sizes[root] > 1
        groups[linked] = pd.factorize(root[linked])[0]
    result = pd.Series(groups, index=customers.index, name="duplicate_group").astype("Int64")
    return result.mask(result < 0)


def split_twin_sets(
    customers: pd.DataFrame,
    id_column: str = "customer_id",
    columns: Sequence[str] | None = None,
    max_differences: int = 0,
    max_group_size: int = 10,
) -> int:
    """Connected sets of twins (see :func:`near_duplicate_groups`) that ``max_group_size`` broke apart.

    A set of records joined by twin links, directly or through others, is one group unless it holds
    more than ``max_group_size`` records; then the linking splits it into several groups (or leaves some
    of its records in none). Returns how many sets were split.
    """
    first, second, matches = _twin_pairs(customers, id_column, columns, max_differences)
    if not len(first):
        return 0
    n = len(customers)
    links = coo_matrix((np.ones(len(first)), (first, second)), shape=(n, n))
    connected = connected_components(links, directed=False)[1]
    root = _link(n, first, second, matches, max_group_size)
    pieces = pd.Series(root).groupby(connected).nunique()
    return int((pieces > 1).sum())


def split_twin_sets_sentence(split_sets: int, linking: NearDuplicateParams) -> str | None:
    """One line on the connected sets of twins the group size bound split; ``None`` when none was."""
    if not split_sets:
        return None
    return (
        f"{split_sets:,} connected sets of near-duplicate records hold more than {linking.max_group_size} "
        "records and were split into several groups (`clean.near_duplicates.max_group_size`)."
    )


def _twin_pairs(
    customers: pd.DataFrame, id_column: str, columns: Sequence[str] | None, max_differences: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows ``first < second`` of twin records and the number of attributes each pair shares."""
    attributes = [
        c
        for c in (customers.columns if columns is None else columns)
        if c in customers.columns and c != id_column
    ]
    if not attributes or not len(customers):
        empty = np.empty(0, dtype="int64")
        return empty, empty, empty
    required = max(len(attributes) - max_differences, 1)
    codes = np.stack(
        [pd.factorize(customers[c], use_na_sentinel=False)[0] for c in attributes], axis=1
    ).astype("int64")
    blocks = len(attributes) - required + 1
    pairs = np.unique(
        _twins(codes, np.arange(len(codes)), list(range(len(attributes))), blocks, required), axis=0
    )
    return pairs[:, 0], pairs[:, 1], pairs[:, 2]


_MAX_BLOCK_ROWS = 256
"""Records sharing a block's values beyond this many are split further before their pairs are compared."""
_PAIRS_PER_BATCH = 1_000_000


def _twins(codes: np.ndarray, rows: np.ndarray, free: list[int], blocks: int, required: int) -> np.ndarray:
    """Twin pairs ``(first, second, attributes shared)``, ``first < second``, among ``rows`` (ascending).

    ``rows`` agree on every column not in ``free``. By the pigeonhole principle, twins that differ in fewer
    than ``blocks`` columns agree on every column of at least one of ``blocks`` blocks of the free columns,
    so only records sharing a block's values are compared, and a crowd sharing them is split the same way
    on the columns left. The free columns are dealt to the blocks by their entropy, most informative first,
    each to the block with the least so far. Identical records beyond :data:`_MAX_BLOCK_ROWS` are linked
    as a chain, which joins them as all their pairs would; the work stays near-linear in the records.
    """
    if len(rows) <= _MAX_BLOCK_ROWS:
        return _pairs_within(codes, rows[None, :], required)
    if not free:
        return np.stack([rows[:-1], rows[1:], np.full(len(rows) - 1, codes.shape[1])], axis=1)
    if len(free) < blocks:
        return _pairs_within(codes, rows[None, :], required)
    found = [np.empty((0, 3), "int64")]
    for columns in _deal_columns(codes[rows][:, free], free, blocks):
        key = pd.factorize(pd.MultiIndex.from_arrays([codes[rows, c] for c in columns]))[0]
        order = np.argsort(key, kind="stable")
        ordered, sorted_key = rows[order], key[order]
        starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
        sizes = np.diff(np.r_[starts, len(ordered)])
        rest = [c for c in free if c not in columns]
        for size in np.unique(sizes[(sizes > 1) & (sizes <= _MAX_BLOCK_ROWS)]):
            members = ordered[starts[sizes == size][:, None] + np.arange(size)]
            found.append(_pairs_within(codes, members, required))
        for start, size in zip(starts[sizes > _MAX_BLOCK_ROWS], sizes[sizes > _MAX_BLOCK_ROWS], strict=True):
            found.append(_twins(codes, ordered[start : start + size], rest, blocks, required))
    return np.concatenate(found)


def _deal_columns(codes: np.ndarray, columns: list[int], blocks: int) -> list[list[int]]:
    """``columns`` (of which ``codes`` holds the values) dealt to ``blocks`` blocks of similar entropy."""
    entropy = [
        -(share * np.log2(share)).sum()
        for share in (np.unique(c, return_counts=True)[1] / len(c) for c in codes.T)
    ]
    members: list[list[int]] = [[] for _ in range(blocks)]
    totals = np.zeros(blocks)
    for dealt, position in enumerate(np.argsort(entropy, kind="stable")[::-1]):
        block = dealt if dealt < blocks else int(np.argmin(totals))  # every block gets a column
        members[block].append(columns[position])
        totals[block] += entropy[position]
    return members


def _pairs_within(codes: np.ndarray, members: np.ndarray, required: int) -> np.ndarray:
    """Pairs among the rows of each line of ``members`` (ascending) that share ``required`` columns."""
    left, right = np.triu_indices(members.shape[1], k=1)
    batch = max(_PAIRS_PER_BATCH // max(len(left), 1), 1)
    found = [np.empty((0, 3), "int64")]
    for start in range(0, len(members), batch):
        first, second = (
            members[start : start + batch, left].ravel(),
            members[start : start + batch, right].ravel(),
        )
        matches = (codes[first] == codes[second]).sum(axis=1)
        twins = matches >= required
        found.append(np.stack([first[twins], second[twins], matches[twins]], axis=1))
    return np.concatenate(found)


def _link(n: int, first: np.ndarray, second: np.ndarray, strength: np.ndarray, max_size: int) -> np.ndarray:
    """Union-find over the pairs, strongest first (ties by row order); a link over ``max_size`` is skipped."""
    parent = np.arange(n)
    size = np.ones(n, dtype="int64")

    def find(row: int) -> int:
        while parent[row] != row:
            parent[row] = parent[parent[row]]
            row = parent[row]
        return row

    for k in np.lexsort((second, first, -strength)):
        a, b = find(first[k]), find(second[k])
        if a != b and size[a] + size[b] <= max_size:
            a, b = min(a, b), max(a, b)
            parent[b] = a
            size[a] += size[b]
    while not np.array_equal(parent, parent[parent]):  # point every row at its root
        parent = parent[parent]
    return parent


def near_duplicates(
    customers: pd.DataFrame,
    linking: NearDuplicateParams,
    id_column: str = "customer_id",
    label: str = "Churn",
) -> pd.DataFrame:
    """Groups of near-duplicate records (see :func:`near_duplicate_groups`), one row per group.

    Returns
    -------
    pandas.DataFrame
        ``duplicate_group``, ``size`` (records), ``ids`` (their ids, sorted; the row labels when
        ``id_column`` is absent) and ``mixed_labels`` (True when the group's ``label`` values differ; False
        without a label), in group order; empty when no group exists.
    """
    attributes = profile_attributes(customers, id_column, label)
    groups = near_duplicate_groups(
        customers, id_column, attributes, linking.max_differences, linking.max_group_size
    )
    ids = customers[id_column] if id_column in customers.columns else customers.index.to_series()
    labels = customers[label] if label in customers.columns else pd.Series(0, index=customers.index)
    members = pd.DataFrame(
        {"duplicate_group": groups.to_numpy(), "id": ids.to_numpy(), "label": labels.to_numpy()}
    ).dropna(subset=["duplicate_group"])
    table = members.groupby("duplicate_group").agg(
        size=("id", "size"), ids=("id", lambda s: sorted(s.tolist())), labels=("label", "nunique")
    )
    table = table.reset_index().astype({"duplicate_group": "int64", "size": "int64"})
    return table.assign(mixed_labels=table["labels"] > 1)[["duplicate_group", "size", "ids", "mixed_labels"]]


def profile_attributes(
    customers: pd.DataFrame, id_column: str = "customer_id", label: str = "Churn"
) -> list[str]:
    """The columns near-duplicate linking compares: all but the id, the label, indicators and groups."""
    skipped = {id_column, label, "duplicate_group"}
    return [c for c in customers.columns if c not in skipped and not c.endswith("_missing")]


def duplicate_group_sentence(customers: pd.DataFrame) -> str | None:
    """How many accepted customers share a ``duplicate_group``; ``None`` when the table has no groups."""
    if "duplicate_group" not in customers:
        return None
    grouped = customers["duplicate_group"].notna()
    return (
        f"{int(grouped.sum()):,} customers fall in {customers['duplicate_group'].nunique():,} groups of "
        "near-duplicate records; each group stays together in model validation."
    )


def near_duplicates_sentence(groups: pd.DataFrame, records: int, linking: NearDuplicateParams) -> str:
    """How many records were linked, the group sizes, and how many groups mix the source's labels."""
    rule = (
        "equal on every attribute but their id"
        if linking.max_differences == 0
        else (
            f"differing in at most {linking.max_differences} attributes "
            "(`clean.near_duplicates.max_differences`)"
        )
    )
    if groups.empty:
        return f"No two of the {records:,} records are near-duplicates ({rule})."
    sizes = groups["size"].value_counts().sort_index()
    linked = int(groups["size"].sum())
    mixed = int(groups["mixed_labels"].sum())
    return (
        f"{linked:,} of {records:,} records ({linked / records:.1%}) are linked as near-duplicates ({rule}), "
        f"in {len(groups):,} groups: "
        + ", ".join(f"{count:,} of {size}" for size, count in sizes.items())
        + f" (groups of at most {linking.max_group_size}, `clean.near_duplicates.max_group_size`). "
        + (
            f"{mixed:,} groups mix churned and retained records."
            if mixed
            else "No group mixes churned and retained records."
        )
        + " Each group stays on one side of every split and is resampled whole in the intervals."
    )


# --- reconciliation ------------------------------------------------------------------------------------


def quality_summary(rows_in: int, rejected_rules: pd.Series, rules: tuple[str, ...]) -> dict:
    """``rows_in``, ``rows_out``, ``rows_rejected`` and a count per rule, for one table."""
    counts = rejected_rules.value_counts()
    per_rule = {r: int(counts.get(r, 0)) for r in rules}
    rejected = sum(per_rule.values())
    if rejected != len(rejected_rules):
        unknown = sorted(set(rejected_rules) - set(rules))
        raise ValueError(f"rejected rows carry rules that are not declared: {unknown}")
    return {"rows_in": rows_in, "rows_out": rows_in - rejected, "rows_rejected": rejected, "rules": per_rule}


def require_accepted_rows(table: str, summary: dict) -> None:
    """Raise :class:`NoValidRowsError` when cleaning accepted no row of ``table`` (a :func:`quality_summary`).

    The message is one line: the rule that rejected the most rows and the params key to change.
    """
    if summary["rows_out"] > 0:
        return
    rule, rejected = max(summary["rules"].items(), key=lambda item: item[1])
    raise NoValidRowsError(
        f"no {table} row passes cleaning: all {summary['rows_in']:,} rows were rejected, {rejected:,} of "
        f"them by the rule {rule}; check {RULE_PARAMS[rule]} in params.yaml"
    )


def window_sentence(
    before: int, after: int, rows: int, earliest: dt.date | None, latest: dt.date | None
) -> str | None:
    """One line naming the event window when it leaves out more than half of ``rows``; else ``None``.

    ``before`` and ``after`` are the rows before ``earliest`` and on or after ``latest`` (the window's
    first day and the day after its last, as in :func:`clean_events`).
    """
    outside = before + after
    if rows == 0 or outside * 2 <= rows:
        return None
    bounds = [
        f"{count:,} before clean.earliest_timestamp ({earliest})"
        if side == "before"
        else f"{count:,} on or after clean.latest_timestamp ({latest})"
        for side, count in (("before", before), ("after", after))
        if count
    ]
    return (
        f"The event window leaves out {outside:,} of {rows:,} events ({outside / rows:.0%}): "
        f"{' and '.join(bounds)}; set those params to the data's dates, or to null for the data's own window."
    )


def quality_table(quality: dict[str, dict]) -> pd.DataFrame:
    """One row per table and rule: the rows the rule rejected."""
    return pd.DataFrame(
        [{"table": t, "rule": r, "rows": n} for t, q in quality.items() for r, n in q["rules"].items()]
    )


def quality_sentence(quality: dict[str, dict], derived_customers: int | None = None) -> str:
    """Rows in, accepted and rejected per table; and how many customers were derived from the events."""
    derived = (
        ""
        if derived_customers is None
        else f" The source has no customers table: {derived_customers:,} customers were derived from the "
        "accepted events."
    )
    return (
        " ".join(
            f"**{table}**: {q['rows_in']:,} rows in, {q['rows_out']:,} accepted and {q['rows_rejected']:,} "
            f"rejected ({q['rows_rejected'] / q['rows_in']:.2%})."
            for table, q in quality.items()
        )
        + derived
    )


def missing_value_rules() -> pd.DataFrame:
    """The declared rule for blanks, per column (:data:`MISSING_VALUE_RULES`)."""
    return pd.DataFrame({"column": list(MISSING_VALUE_RULES), "rule": list(MISSING_VALUE_RULES.values())})
