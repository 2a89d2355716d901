"""The one place that names the columns, types and vocabularies of every table.

Raw tables come from a source as landed (the event ``timestamp`` is still text); clean tables have
parsed, validated types. Every stage checks its input with :func:`validate`, whose error names the file
and the column.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa

__all__ = [
    "BEHAVIOUR_DAILY_COLUMNS",
    "CATEGORIES",
    "CUSTOMERS",
    "Column",
    "DEVICES",
    "EVENTS",
    "EVENT_TYPES",
    "FEATURES",
    "KAGGLE_ATTRIBUTES",
    "KAGGLE_CUSTOMERS",
    "LABEL_ALIASES",
    "MissingFeaturesError",
    "ORDERS",
    "RAW_EVENTS",
    "SESSIONS",
    "SNAPSHOT",
    "SNAPSHOT_ATTRIBUTES",
    "STATIC",
    "TOP_ITEMS_COLUMNS",
    "SchemaError",
    "Table",
    "VOCABULARIES",
    "HUMAN_LABELS",
    "affinity_columns",
    "category_slug",
    "human_label",
    "segment_levels",
    "validate",
]

TIMESTAMP = pa.timestamp("us", tz="UTC")


class SchemaError(ValueError):
    """A table does not match its schema; the message names the file and the column."""


class MissingFeaturesError(SchemaError):
    """A table to score or value lacks columns the model or the value measure needs."""


@dataclass(frozen=True)
class Column:
    """One column: its name, Arrow type, whether it may hold nulls, and what it means.

    A customer attribute also says when it is known (``timing``): :data:`STATIC` from signup on, or
    :data:`SNAPSHOT`, describing the customer as of the day the table was taken.
    """

    name: str
    dtype: pa.DataType
    description: str
    nullable: bool = False
    timing: str | None = None


STATIC = "static"
"""An attribute known at signup and fixed since: true at every cutoff."""
SNAPSHOT = "snapshot"
"""An attribute that describes the customer on the day the table was taken (its snapshot date): joined to
an earlier cutoff it would tell the model about the future."""


@dataclass(frozen=True)
class Table:
    """A named table and its columns, in order."""

    name: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        """Column names in order."""
        return [c.name for c in self.columns]

    @property
    def arrow_schema(self) -> pa.Schema:
        """The Arrow schema the table is written with."""
        return pa.schema([pa.field(c.name, c.dtype, nullable=c.nullable) for c in self.columns])

    def column(self, name: str) -> Column:
        """Look up one column by name."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


# --- vocabularies -------------------------------------------------------------------------------------

EVENT_TYPES = ("view", "add_to_cart", "remove_from_cart", "purchase")
DEVICES = ("Mobile Phone", "Computer", "Tablet")
CATEGORIES = ("Laptop & Accessory", "Mobile Phone", "Fashion", "Grocery", "Others")

VOCABULARIES: dict[str, tuple[str, ...]] = {
    "PreferredLoginDevice": ("Mobile Phone", "Computer"),
    "PreferredPaymentMode": ("Debit Card", "Credit Card", "E wallet", "UPI", "Cash on Delivery"),
    "Gender": ("Female", "Male"),
    "PreferedOrderCat": CATEGORIES,
    "MaritalStatus": ("Single", "Married", "Divorced"),
}
"""Canonical levels of the Kaggle categorical attributes."""

LABEL_ALIASES: dict[str, dict[str, str]] = {
    "PreferredLoginDevice": {"Phone": "Mobile Phone"},
    "PreferredPaymentMode": {"CC": "Credit Card", "COD": "Cash on Delivery"},
    "PreferedOrderCat": {"Mobile": "Mobile Phone"},
}
"""Inconsistent labels found in the Kaggle file, mapped to their canonical level."""

# --- tables -------------------------------------------------------------------------------------------

_EVENT_COLUMNS = (
    Column("event_id", pa.int64(), "Unique id of the event"),
    Column("customer_id", pa.int64(), "Customer who acted"),
    Column("session_id", pa.int64(), "Session the event belongs to"),
    Column("event_type", pa.string(), f"One of {', '.join(EVENT_TYPES)}"),
    Column("product_id", pa.string(), "Product viewed, carted or bought", nullable=True),
    Column("category", pa.string(), f"Product category, one of {', '.join(CATEGORIES)}", nullable=True),
    Column("price", pa.float64(), "Unit price of the product", nullable=True),
    Column("device", pa.string(), f"Device used, one of {', '.join(DEVICES)}", nullable=True),
)

RAW_EVENTS = Table(
    "raw events",
    (Column("timestamp", pa.string(), "When the event happened, ISO 8601 text as received", True),)
    + _EVENT_COLUMNS,
)
EVENTS = Table("events", (Column("timestamp", TIMESTAMP, "When the event happened (UTC)"),) + _EVENT_COLUMNS)

KAGGLE_ATTRIBUTES = (
    Column("Tenure", pa.float64(), "Months as a customer", nullable=True, timing=SNAPSHOT),
    Column("PreferredLoginDevice", pa.string(), "Device the customer usually logs in with", timing=SNAPSHOT),
    Column("CityTier", pa.int64(), "Tier of the customer's city (1, 2, 3)", timing=STATIC),
    Column("WarehouseToHome", pa.float64(), "Distance from warehouse to home", nullable=True, timing=STATIC),
    Column("PreferredPaymentMode", pa.string(), "Usual payment method", timing=SNAPSHOT),
    Column("Gender", pa.string(), "Gender", timing=STATIC),
    Column(
        "HourSpendOnApp", pa.float64(), "Hours spent on the app or website", nullable=True, timing=SNAPSHOT
    ),
    Column("NumberOfDeviceRegistered", pa.int64(), "Devices registered to the account", timing=SNAPSHOT),
    Column("PreferedOrderCat", pa.string(), "Preferred order category of the last month", timing=SNAPSHOT),
    Column("SatisfactionScore", pa.int64(), "Satisfaction with the service (1 to 5)", timing=SNAPSHOT),
    Column("MaritalStatus", pa.string(), "Marital status", timing=STATIC),
    Column("NumberOfAddress", pa.int64(), "Addresses on the account", timing=SNAPSHOT),
    Column("Complain", pa.int64(), "1 if a complaint was raised in the last month", timing=SNAPSHOT),
    Column(
        "OrderAmountHikeFromlastYear",
        pa.float64(),
        "Percent increase in order value",
        nullable=True,
        timing=SNAPSHOT,
    ),
    Column("CouponUsed", pa.float64(), "Coupons used in the last month", nullable=True, timing=SNAPSHOT),
    Column("OrderCount", pa.float64(), "Orders placed in the last month", nullable=True, timing=SNAPSHOT),
    Column("DaySinceLastOrder", pa.float64(), "Days since the last order", nullable=True, timing=SNAPSHOT),
    Column("CashbackAmount", pa.float64(), "Average cashback of the last month", timing=SNAPSHOT),
)
"""The 18 customer attributes of the Kaggle "E Commerce Dataset", same names and meanings.

Static: the city tier, the distance to the warehouse, gender and marital status. Every other attribute is a
snapshot: tenure, usage, preferences, satisfaction, complaints and the "last month" counts describe the
customer on the day the table was taken.
"""

SNAPSHOT_ATTRIBUTES = tuple(c.name for c in KAGGLE_ATTRIBUTES if c.timing == SNAPSHOT)
"""The customer attributes that describe the day their table was taken, in :data:`KAGGLE_ATTRIBUTES` order."""

KAGGLE_CUSTOMERS = Table(
    "Kaggle customers",
    (
        Column("customer_id", pa.int64(), "Unique id of the customer (CustomerID in the Kaggle file)"),
        Column("Churn", pa.int64(), "1 if the customer churned (the dataset's own label)"),
    )
    + KAGGLE_ATTRIBUTES,
)
"""The customers table of the Kaggle file."""

CUSTOMERS = Table(
    "customers",
    KAGGLE_CUSTOMERS.columns
    + (
        Column("signup_date", pa.date32(), "Day the customer signed up", timing=STATIC),
        Column("country", pa.string(), "Country of residence", timing=STATIC),
        Column("timezone", pa.string(), "IANA time zone of the customer", timing=STATIC),
    ),
)

SESSIONS = Table(
    "sessions",
    (
        Column("session_id", pa.int64(), "Unique id of the session"),
        Column("customer_id", pa.int64(), "Customer of the session"),
        Column("session_start", TIMESTAMP, "First event of the session (UTC)"),
        Column("session_end", TIMESTAMP, "Last event of the session (UTC)"),
        Column("device", pa.string(), "Device used"),
        Column("num_events", pa.int64(), "Events in the session"),
    ),
)

ORDERS = Table(
    "orders",
    (
        Column("order_id", pa.int64(), "Unique id of the order"),
        Column("customer_id", pa.int64(), "Customer who ordered"),
        Column("session_id", pa.int64(), "Session the order was placed in"),
        Column("order_timestamp", TIMESTAMP, "When the order was placed (UTC)"),
        Column("num_items", pa.int64(), "Items bought"),
        Column("order_amount", pa.float64(), "Order value"),
        Column("payment_mode", pa.string(), "Payment method"),
    ),
)

BEHAVIOUR_DAILY_COLUMNS = ("date", "events", "sessions", "orders", "revenue", "active_customers")
"""Columns of ``plots/behaviour_daily.csv``: activity and revenue per UTC day."""

TOP_ITEMS_COLUMNS = ("product_id", "views", "carts", "purchases", "revenue", "conversion")
"""Columns of ``plots/behaviour_top_products_*.csv``: the top products by revenue and by conversion."""


def category_slug(category: str) -> str:
    """The column-name form of a category: ``"Laptop & Accessory"`` -> ``"laptop_accessory"``."""
    return "_".join("".join(ch if ch.isalnum() else " " for ch in category.lower()).split())


def affinity_columns(dimensions: int) -> list[str]:
    """Names of the product-affinity vector's columns, ``product_affinity_1`` onwards."""
    return [f"product_affinity_{k}" for k in range(1, dimensions + 1)]


FEATURES = Table(
    "features",
    (
        Column("customer_id", pa.int64(), "Unique id of the customer"),
        Column("cutoff", TIMESTAMP, "The instant the features describe; only events before it count"),
        Column("tenure_days", pa.float64(), "Days from signup (or an earlier first event) to the cutoff"),
        Column("recency_days", pa.float64(), "Days from the last purchase to the cutoff", nullable=True),
        Column("frequency", pa.int64(), "Orders (sessions with a purchase) before the cutoff"),
        Column("monetary", pa.float64(), "Revenue before the cutoff"),
        Column("days_since_last_event", pa.float64(), "Days from the last event to the cutoff"),
        Column("num_sessions", pa.int64(), "Sessions before the cutoff"),
        Column("avg_session_length", pa.float64(), "Mean session length in minutes"),
        Column("events_per_session", pa.float64(), "Mean events per session"),
        Column("cart_abandon_rate", pa.float64(), "Share of carted items not bought", nullable=True),
        Column("r_score", pa.int64(), "Recency quintile 1-5 among the cutoff's customers (5: most recent)"),
        Column("f_score", pa.int64(), "Frequency quintile 1-5 among the cutoff's customers"),
        Column("m_score", pa.int64(), "Monetary quintile 1-5 among the cutoff's customers"),
        Column("rfm_segment", pa.string(), "Named segment of the recency and frequency scores"),
        Column("preferred_day_part", pa.string(), "Part of the UTC day with the most events"),
        Column("night_share", pa.float64(), "Share of events 00:00-05:59 UTC"),
        Column("morning_share", pa.float64(), "Share of events 06:00-11:59 UTC"),
        Column("afternoon_share", pa.float64(), "Share of events 12:00-17:59 UTC"),
        Column("evening_share", pa.float64(), "Share of events 18:00-23:59 UTC"),
        Column("weekend_share", pa.float64(), "Share of events on Saturday or Sunday (UTC)"),
        Column("preferred_device", pa.string(), "Device with the most events", nullable=True),
        *(Column(f"events_{category_slug(c)}", pa.int64(), f"Events on {c} products") for c in CATEGORIES),
        *(
            Column(f"share_{category_slug(c)}", pa.float64(), f"Share of categorised events on {c}", True)
            for c in CATEGORIES
        ),
        Column("churn", pa.int64(), "1 if no purchase within the horizon after the cutoff"),
    ),
)
"""Event-derived features with the label. The product-affinity vector (:func:`affinity_columns`) and the
profile attributes follow the last feature; ``churn`` comes last."""


def segment_levels(values: pd.Series) -> pd.Series:
    """Segment levels as text: whole numbers without a decimal point, blanks as "missing"."""
    if pd.api.types.is_float_dtype(values) and (values.dropna() % 1 == 0).all():
        values = values.astype("Int64")
    return values.astype("string").fillna("missing")


def validate(frame: pd.DataFrame | pa.Table, table: Table, source: str | Path) -> None:
    """Check that ``frame`` has every column of ``table`` with a compatible type.

    Raises
    ------
    SchemaError
        Naming ``source`` (the file read) and the first offending column.
    """
    schema = (
        frame.schema if isinstance(frame, pa.Table) else pa.Schema.from_pandas(frame, preserve_index=False)
    )
    if len(frame) == 0:
        raise SchemaError(f"{source}: the {table.name} table is empty")
    for col in table.columns:
        if col.name not in schema.names:
            raise SchemaError(f"{source}: missing column {col.name!r} required by the {table.name} table")
        actual = schema.field(col.name).type
        if not _compatible(actual, col.dtype):
            raise SchemaError(
                f"{source}: column {col.name!r} of the {table.name} table has type {actual}, "
                f"expected {col.dtype}"
            )


def _compatible(actual: pa.DataType, expected: pa.DataType) -> bool:
    if actual == expected or pa.types.is_null(actual):
        return True
    if pa.types.is_dictionary(actual):
        return _compatible(actual.value_type, expected)
    if pa.types.is_integer(expected):
        return pa.types.is_integer(actual)
    if pa.types.is_floating(expected):
        return pa.types.is_integer(actual) or pa.types.is_floating(actual)
    if pa.types.is_string(expected):
        return pa.types.is_string(actual) or pa.types.is_large_string(actual)
    if pa.types.is_timestamp(expected):
        return pa.types.is_timestamp(actual)
    if pa.types.is_date(expected):
        return pa.types.is_date(actual) or pa.types.is_timestamp(actual)
    return False


HUMAN_LABELS: dict[str, str] = {
    "customer_id": "customer",
    "cutoff": "cutoff",
    "tenure_days": "tenure (days)",
    "recency_days": "recency (days since last purchase)",
    "frequency": "purchase frequency",
    "monetary": "spend to date",
    "days_since_last_event": "days since last visit",
    "num_sessions": "sessions",
    "avg_session_length": "session length (minutes)",
    "events_per_session": "events per session",
    "cart_abandon_rate": "cart abandonment",
    "r_score": "recency",
    "f_score": "purchase frequency score",
    "m_score": "spend score",
    "rfm_segment": "RFM segment",
    "preferred_day_part": "preferred time of day",
    "night_share": "night-time activity",
    "morning_share": "morning activity",
    "afternoon_share": "afternoon activity",
    "evening_share": "evening activity",
    "weekend_share": "weekend activity",
    "preferred_device": "preferred device",
    "churn": "churned",
    "Churn": "churned (source flag)",
    "Tenure": "tenure (months)",
    "PreferredLoginDevice": "login device",
    "CityTier": "city tier",
    "WarehouseToHome": "delivery distance",
    "PreferredPaymentMode": "payment method",
    "Gender": "gender",
    "HourSpendOnApp": "hours on the app",
    "NumberOfDeviceRegistered": "registered devices",
    "PreferedOrderCat": "preferred category",
    "SatisfactionScore": "satisfaction score",
    "MaritalStatus": "marital status",
    "NumberOfAddress": "saved addresses",
    "Complain": "complaint raised",
    "OrderAmountHikeFromlastYear": "order value growth",
    "CouponUsed": "coupons used",
    "OrderCount": "recent orders",
    "DaySinceLastOrder": "days since last order",
    "CashbackAmount": "cashback",
    "signup_date": "signup date",
    "country": "country",
    "timezone": "time zone",
}
"""What a reader calls each column: the labels the book, its tables and its advice use."""


def human_label(name: str) -> str:
    """The reader's name for a column or feature (``r_score`` -> ``recency``); the name itself if unknown.

    Derived names are labelled by their parts: category counts and shares, affinity dimensions, and
    one-hot levels written ``column_level`` or ``column=level``.
    """
    if name in HUMAN_LABELS:
        return HUMAN_LABELS[name]
    for category in CATEGORIES:
        slug = category_slug(category)
        if name == f"events_{slug}":
            return f"{category} events"
        if name == f"share_{slug}":
            return f"share of {category} events"
    if name.startswith("product_affinity_"):
        return f"product affinity {name.removeprefix('product_affinity_')}"
    for column, label in HUMAN_LABELS.items():
        for separator in ("=", "_"):
            if name.startswith(column + separator) and len(name) > len(column) + 1:
                return f"{label}: {name[len(column) + 1 :]}"
    return name
