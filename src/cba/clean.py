"""Cleaning rules: every row is accepted or rejected with the rule that rejected it.

Events are cleaned as ibis expressions (they can be large); customers, one row each, with pandas.
Nothing is dropped silently: ``rows_in == rows_out + rows_rejected`` for every table, and every
rejected row is kept with its rule (and, for customers, the offending value).
"""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from cba import schema
from cba.eda import near_duplicate_groups

__all__ = [
    "CUSTOMER_RULES",
    "EVENT_RULES",
    "MISSING_VALUE_RULES",
    "REJECTION_DETAIL",
    "REJECTION_RULE",
    "VALID_RANGES",
    "clean_customers",
    "clean_events",
    "customers_from_events",
    "quality_summary",
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
    **{c.name: "median, with a <column>_missing indicator" for c in schema.KAGGLE_ATTRIBUTES if c.nullable},
    "device, category, product_id, price (events)": "kept missing: features use the known values",
}
"""How each column with blanks is treated (shown in the report)."""


# --- events ---------------------------------------------------------------------------------------------


def clean_events(
    events: ibis.Table,
    earliest: dt.date,
    latest: dt.date,
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
    events: ibis.Table, earliest: dt.date, latest: dt.date, compared: list[str] | None = None
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
    start = ibis.timestamp(dt.datetime.combine(earliest, dt.time()), timezone="UTC")
    last_instant = dt.datetime.combine(latest, dt.time()) - dt.timedelta(microseconds=1)
    # One test for the rows inside the period (nearly all), so that their text is parsed once; the three
    # timestamp rules are told apart only for the rows outside it. Timestamps are in microseconds.
    in_period = parsed.between(start, ibis.timestamp(last_instant, timezone="UTC"))
    outside_period = ibis.cases(
        (parsed.isnull(), "unparsable_timestamp"),
        (parsed < start, "timestamp_before_start"),
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


def clean_customers(customers: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split customers into accepted and rejected (with rule and detail), in that order.

    Accepted customers have numeric types, canonical labels ("Phone" -> "Mobile Phone", ...), blanks
    imputed by :data:`MISSING_VALUE_RULES` with indicator columns, and a ``duplicate_group`` id shared
    by records identical on every attribute but the id (NA when unique).
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
    accepted = _with_integer_types(_impute(accepted))
    attributes = [
        c for c in accepted.columns if c not in ("customer_id", "Churn") and not c.endswith("_missing")
    ]
    accepted["duplicate_group"] = near_duplicate_groups(accepted, columns=attributes)
    return accepted.reset_index(drop=True), rejected.reset_index(drop=True)


def _impute(customers: pd.DataFrame) -> pd.DataFrame:
    """Median for the nullable Kaggle attributes, each with a 0/1 ``<column>_missing`` indicator."""
    for column in (c.name for c in schema.KAGGLE_ATTRIBUTES if c.nullable and c.name in customers.columns):
        blank = customers[column].isna()
        customers[f"{column}_missing"] = blank.astype("int64")
        customers[column] = customers[column].fillna(customers[column].median())
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


def pass_rate_figure(levels: dict[str, dict[str, float]], by: str) -> go.Figure:
    """Share of sessions passing each funnel step, per level of ``by`` (the "funnel drop-offs" panel)."""
    import plotly.express as px

    from cba.eda import FUNNEL_STEPS

    steps = [f"{before}_to_{after}" for before, after in zip(FUNNEL_STEPS, FUNNEL_STEPS[1:], strict=False)]
    rows = [
        {by: level, "step": step.replace("_to_", " → "), "pass_rate": rates[step]}
        for level, rates in levels.items()
        for step in steps
    ]
    return px.bar(
        pd.DataFrame(rows),
        x="step",
        y="pass_rate",
        color=by,
        barmode="group",
        title=f"Share of sessions passing each funnel step, by {by}",
    )
