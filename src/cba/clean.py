"""Cleaning rules: every row is either accepted or rejected with the rule that rejected it.

Events are cleaned as ibis expressions (they can be large); customers, one row each, with pandas.
Nothing is dropped silently: ``rows_in == rows_out + rows_rejected`` for every table.
"""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd

from cba import schema

__all__ = [
    "CUSTOMER_RULES",
    "EVENT_RULES",
    "REJECTION_RULE",
    "clean_customers",
    "clean_events",
    "quality_summary",
]

REJECTION_RULE = "rejection_rule"
"""Column of a rejected table that names the rule that rejected the row."""

EVENT_RULES = (
    "exact_duplicate",
    "unparsable_timestamp",
    "timestamp_before_start",
    "timestamp_in_future",
    "negative_price",
)
CUSTOMER_RULES = ("exact_duplicate", "negative_tenure")


def clean_events(events: ibis.Table, earliest: dt.date, latest: dt.date) -> tuple[ibis.Table, ibis.Table]:
    """Split raw events into accepted (typed, UTC) and rejected (raw, with the rule), in that order.

    Rules, first match wins: exact duplicate of an earlier row; timestamp that does not parse; timestamp
    before ``earliest``; timestamp on or after ``latest``; negative price.
    """
    columns = schema.RAW_EVENTS.names
    copy = ibis.row_number().over(group_by=[events[c] for c in columns], order_by=events.event_id)
    parsed = events.timestamp.try_cast("timestamp('UTC')")
    start = ibis.timestamp(dt.datetime.combine(earliest, dt.time()), timezone="UTC")
    end = ibis.timestamp(dt.datetime.combine(latest, dt.time()), timezone="UTC")
    rule = ibis.cases(
        (copy > 0, "exact_duplicate"),
        (parsed.isnull(), "unparsable_timestamp"),
        (parsed < start, "timestamp_before_start"),
        (parsed >= end, "timestamp_in_future"),
        (events.price < 0, "negative_price"),
        else_=ibis.null("string"),
    )
    judged = events.mutate(parsed_timestamp=parsed, **{REJECTION_RULE: rule})
    accepted = (
        judged.filter(judged[REJECTION_RULE].isnull())
        .mutate(timestamp=judged.parsed_timestamp)
        .select(schema.EVENTS.names)
        .order_by(["timestamp", "event_id"])
    )
    rejected = (
        judged.filter(judged[REJECTION_RULE].notnull()).select(*columns, REJECTION_RULE).order_by("event_id")
    )
    return accepted, rejected


def clean_customers(customers: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split customers into accepted (canonical labels) and rejected (with the rule), in that order.

    Exact duplicate rows and negative tenure are rejected; Kaggle alias labels ("Phone", "CC", "COD",
    "Mobile") are mapped to their canonical level.
    """
    customers = customers.copy()
    rule = pd.Series(pd.NA, index=customers.index, dtype="string")
    rule[customers.duplicated(keep="first")] = "exact_duplicate"
    rule[rule.isna() & (customers["Tenure"] < 0)] = "negative_tenure"
    rejected = customers[rule.notna()].assign(**{REJECTION_RULE: rule[rule.notna()]})
    accepted = customers[rule.isna()].replace(schema.LABEL_ALIASES)
    return accepted.reset_index(drop=True), rejected.reset_index(drop=True)


def quality_summary(rows_in: int, rejected_rules: pd.Series, rules: tuple[str, ...]) -> dict:
    """``rows_in``, ``rows_out``, ``rows_rejected`` and a count per rule, for one table."""
    counts = rejected_rules.value_counts()
    per_rule = {r: int(counts.get(r, 0)) for r in rules}
    rejected = sum(per_rule.values())
    if rejected != len(rejected_rules):
        unknown = sorted(set(rejected_rules) - set(rules))
        raise ValueError(f"rejected rows carry rules that are not declared: {unknown}")
    return {"rows_in": rows_in, "rows_out": rows_in - rejected, "rows_rejected": rejected, "rules": per_rule}
