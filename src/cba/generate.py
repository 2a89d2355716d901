"""Synthetic customers, sessions, events and orders that look like the Kaggle "E Commerce Dataset".

Customers carry the Kaggle attributes, drawn from the real file's marginal distributions. A latent churn
process driven by those attributes (complaints, satisfaction, distance, cashback, tenure, engagement)
decides who churns and when; each customer's sessions arrive at a rate that decays with time, fades out
before churn, and follows weekly and daily rhythms in local time. Sessions hold view, add-to-cart,
remove-from-cart and purchase events whose conversion differs by device and category; purchases make
orders. Faults (duplicates, blanks, bad timestamps, alias labels, local-time offsets) are injected at the
rates in ``params.yaml`` so cleaning has real work.

Everything is vectorised with NumPy and Arrow; the same params and seed give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cba import schema
from cba.config import FaultRates, GenerateParams

__all__ = ["SyntheticData", "churn_risk", "generate", "write"]

DAY = 86_400

# --- Kaggle marginals (measured on the 5,630 customers of the real file; aliases merged) ---------------

_CATEGORICAL: dict[str, dict] = {
    "PreferredLoginDevice": {"Mobile Phone": 0.7098, "Computer": 0.2902},
    "CityTier": {1: 0.6512, 2: 0.0430, 3: 0.3058},
    "PreferredPaymentMode": {
        "Debit Card": 0.4110,
        "Credit Card": 0.3151,
        "E wallet": 0.1091,
        "UPI": 0.0735,
        "Cash on Delivery": 0.0913,
    },
    "Gender": {"Male": 0.6011, "Female": 0.3989},
    "HourSpendOnApp": {0.0: 0.0005, 1.0: 0.0065, 2.0: 0.2737, 3.0: 0.4999, 4.0: 0.2189, 5.0: 0.0005},
    "NumberOfDeviceRegistered": {1: 0.0417, 2: 0.0490, 3: 0.3018, 4: 0.4222, 5: 0.1565, 6: 0.0288},
    "PreferedOrderCat": {
        "Laptop & Accessory": 0.3641,
        "Mobile Phone": 0.3695,
        "Fashion": 0.1467,
        "Grocery": 0.0728,
        "Others": 0.0469,
    },
    "SatisfactionScore": {1: 0.2067, 2: 0.1041, 3: 0.3016, 4: 0.1908, 5: 0.1968},
    "MaritalStatus": {"Married": 0.5304, "Single": 0.3190, "Divorced": 0.1506},
    "Complain": {0: 0.7151, 1: 0.2849},
}

# Quantiles at 0%, 5%, ..., 100%; values are drawn by inverse-CDF interpolation.
_QUANTILES: dict[str, list[float]] = {
    "Tenure": [0, 0, 1, 1, 1, 2, 4, 5, 6, 8, 9, 10, 11, 13, 14, 16, 18, 20, 23, 27, 61],
    "WarehouseToHome": [5, 6, 7, 8, 8, 9, 9, 10, 11, 12, 14, 14, 15, 16, 17, 20, 23, 26, 30, 33, 127],
    "NumberOfAddress": [1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 5, 5, 6, 6, 7, 8, 10, 22],
    "OrderAmountHikeFromlastYear": [
        11,
        11,
        12,
        12,
        12,
        13,
        13,
        14,
        14,
        14,
        15,
        15,
        16,
        17,
        17,
        18,
        19,
        20,
        21,
        23,
        26,
    ],
    "CouponUsed": [0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 4, 6, 16],
    "OrderCount": [1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 4, 6, 7, 9, 16],
    "DaySinceLastOrder": [0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 5, 7, 7, 8, 8, 9, 11, 46],
    "CashbackAmount": [
        0.0,
        123.03,
        126.86,
        133.06,
        140.8,
        145.77,
        148.33,
        150.92,
        153.65,
        157.7,
        163.28,
        167.94,
        173.07,
        179.04,
        187.09,
        196.39,
        208.81,
        229.42,
        259.72,
        291.94,
        324.99,
    ],
}

# Countries with fixed UTC offsets (no daylight saving), so local time is a constant shift.
_COUNTRIES = (
    # country, time zone, offset in minutes, share
    ("India", "Asia/Kolkata", 330, 0.70),
    ("United Arab Emirates", "Asia/Dubai", 240, 0.08),
    ("Singapore", "Asia/Singapore", 480, 0.07),
    ("Indonesia", "Asia/Jakarta", 420, 0.06),
    ("Kenya", "Africa/Nairobi", 180, 0.05),
    ("Brazil", "America/Sao_Paulo", -180, 0.04),
)

# --- behaviour ------------------------------------------------------------------------------------------

_DOW_WEIGHT = np.array([0.90, 0.88, 0.92, 0.97, 1.08, 1.25, 1.18])  # Monday .. Sunday, local time
_HOUR_WEIGHT = np.array(
    [
        2,
        1,
        0.6,
        0.4,
        0.4,
        0.6,
        1.2,
        2.2,
        3.2,
        3.8,
        4.0,
        4.2,
        4.6,
        4.4,
        4.0,
        3.9,
        4.1,
        4.6,
        5.4,
        6.4,
        7.2,
        7.0,
        5.4,
        3.4,
    ]
)
_DEVICE_GIVEN_LOGIN = {  # PreferredLoginDevice -> session device shares over schema.DEVICES
    "Mobile Phone": (0.80, 0.12, 0.08),
    "Computer": (0.15, 0.75, 0.10),
}
_MEAN_SESSION_VIEWS = np.array([1.8, 2.5, 2.2])  # by device
_CART_BY_DEVICE = np.array([0.85, 1.20, 1.00])
_BUY_BY_DEVICE = np.array([0.80, 1.25, 1.00])
_CATEGORY_POPULARITY = np.array([0.28, 0.30, 0.22, 0.12, 0.08])  # over schema.CATEGORIES
_CART_BY_CATEGORY = np.array([0.45, 0.50, 0.60, 0.75, 0.55])  # share of sessions that add to cart
_BUY_BY_CATEGORY = np.array([0.65, 0.70, 0.80, 0.90, 0.75])  # share of carts bought
_REMOVE_SHARE = 0.35  # share of abandoned carts removed explicitly
_PRICE_MEDIAN = np.array([650.0, 320.0, 35.0, 8.0, 22.0])
_PRICE_SIGMA = np.array([0.45, 0.50, 0.60, 0.50, 0.70])
_PRODUCT_PREFIX = ("LAP", "MOB", "FAS", "GRO", "OTH")
_PRODUCTS_PER_CATEGORY = 40
_CLOCK = np.array(  # "THH:MM:SS" for every second of a day
    [f"T{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)], dtype="S9"
)
_POPULARITY = 1.0 / np.arange(1, _PRODUCTS_PER_CATEGORY + 1) ** 1.1  # Zipf-like, within a category
_POPULARITY_TABLE = np.minimum(  # inverse CDF on a fine grid: one integer draw picks a product
    np.searchsorted(np.cumsum(_POPULARITY) / _POPULARITY.sum(), (np.arange(8192) + 0.5) / 8192),
    _PRODUCTS_PER_CATEGORY - 1,
).astype(np.int64)
_MEAN_EVENT_GAP_SECONDS = 45.0
_FADE_DAYS = 45.0  # engagement fades to zero over this many days before churn
_RISK_NOISE = 0.5  # standard deviation of the unexplained part of churn risk
_DAYS_PER_MONTH = 30.44
_PREFERRED_CATEGORY_SHARE = 0.55  # sessions in the customer's preferred order category
_MAX_STEP_RATE = 0.95  # cap on cart and purchase probabilities
_PRICE_SEED = 20_240_101  # product prices are fixed: their own stream, independent of the run's seed


@dataclass(frozen=True)
class SyntheticData:
    """The four raw tables, as Arrow tables in the raw schemas."""

    customers: pa.Table
    sessions: pa.Table
    events: pa.Table
    orders: pa.Table


def generate(params: GenerateParams, seed: int) -> SyntheticData:
    """Generate customers, sessions, events and orders.

    Parameters
    ----------
    params
        Size, window, churn level and fault rates.
    seed
        Seed of every random draw.
    """
    rng_customers, rng_sessions, rng_events, rng_faults = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)
    )
    start = _epoch_seconds(params.start_date)
    end = _epoch_seconds(params.end_date) + DAY
    people = _customers(rng_customers, params.num_customers, params.churn_rate, end)
    sessions = _sessions(rng_sessions, people, params.num_events, start, end)
    events = _events(rng_events, people, sessions, params.num_events, end)
    orders = _orders(people, sessions, events)
    return SyntheticData(
        customers=_faulty_customers(rng_faults, people, params.faults),
        sessions=_sessions_table(people, sessions, events),
        events=_faulty_events(rng_faults, people, events, params.faults),
        orders=orders,
    )


def write(data: SyntheticData, out: str | Path) -> None:
    """Write ``customers.parquet`` and ``events/``, ``sessions/``, ``orders/`` partitioned by UTC date."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(data.customers, out / "customers.parquet")
    events = data.events.drop_columns("event_date")
    _write_by_date(events, "event_date", data.events["event_date"], out / "events")
    _write_by_date(
        data.sessions, "session_date", data.sessions["session_start"].cast(pa.date32()), out / "sessions"
    )
    _write_by_date(
        data.orders, "order_date", data.orders["order_timestamp"].cast(pa.date32()), out / "orders"
    )


# --- customers ------------------------------------------------------------------------------------------


def _customers(rng: np.random.Generator, n: int, churn_rate: float, end: int) -> dict[str, np.ndarray]:
    people: dict[str, np.ndarray] = {"customer_id": np.arange(50_001, 50_001 + n, dtype=np.int64)}
    for name, shares in _CATEGORICAL.items():
        levels = np.array(list(shares))
        people[name] = levels[rng.choice(len(levels), size=n, p=_normalised(shares.values()))]
    grid = np.linspace(0.0, 1.0, 21)
    for name, quantiles in _QUANTILES.items():
        value = np.interp(rng.random(n), grid, quantiles)
        people[name] = value.round(2) if name == "CashbackAmount" else np.floor(value + 0.5)
    people["NumberOfAddress"] = people["NumberOfAddress"].astype(np.int64)

    country = rng.choice(len(_COUNTRIES), size=n, p=_normalised(c[3] for c in _COUNTRIES))
    people["country_index"] = country
    people["utc_offset"] = np.array([c[2] for c in _COUNTRIES], dtype=np.int64)[country] * 60
    signup_days = np.floor(people["Tenure"] * _DAYS_PER_MONTH + rng.random(n) * 30.0).astype(np.int64)
    people["signup"] = end - DAY - signup_days * DAY

    # Engagement: relative session rate, higher for customers who spend more time on the app.
    people["engagement"] = rng.lognormal(0.0, 0.45, n) * np.sqrt((people["HourSpendOnApp"] + 1.0) / 4.0)
    people["half_life_days"] = rng.gamma(4.0, 90.0, n)
    people["buy_propensity"] = rng.lognormal(0.0, 0.3, n)

    risk = churn_risk(people) + rng.normal(0.0, _RISK_NOISE, n)
    people["Churn"] = (rng.random(n) < _sigmoid(risk + _intercept_for(risk, churn_rate))).astype(np.int64)
    return people


def churn_risk(person: dict) -> np.ndarray:
    """The churn log-odds a customer's attributes and engagement explain (before the intercept and noise).

    Complaints, a first month, low satisfaction, a long way from the warehouse, little cashback, being
    single, a tier-3 city and low engagement raise it. Works on arrays (all customers) and on scalars.
    """
    return (
        1.1 * person["Complain"]
        + 1.6 * (person["Tenure"] <= 1)
        - 0.02 * person["Tenure"]
        + 0.35 * (3 - person["SatisfactionScore"])
        + 0.025 * (person["WarehouseToHome"] - 14.0)
        - 0.01 * (person["CashbackAmount"] - 163.0)
        + 0.8 * (person["MaritalStatus"] == "Single")
        + 0.4 * (person["CityTier"] == 3)
        - 0.6 * np.log(person["engagement"])
    )


def _intercept_for(risk: np.ndarray, rate: float) -> float:
    """Intercept that makes the mean churn probability equal ``rate`` (bisection)."""
    low, high = -20.0, 20.0
    for _ in range(60):
        mid = (low + high) / 2.0
        low, high = (mid, high) if _sigmoid(risk + mid).mean() < rate else (low, mid)
    return (low + high) / 2.0


# --- sessions -------------------------------------------------------------------------------------------


def _sessions(
    rng: np.random.Generator, people: dict[str, np.ndarray], num_events: int, start: int, end: int
) -> dict[str, np.ndarray]:
    """Session starts by thinning a Poisson process; exactly enough sessions to hold ``num_events``."""
    n = len(people["customer_id"])
    active_from = np.maximum(start, people["signup"])
    churn_at = active_from + (0.1 + 0.9 * rng.random(n)) * (end - active_from)
    active_until = np.where(people["Churn"] == 1, churn_at, end).astype(np.float64)
    weight = people["engagement"] * np.maximum(active_until - active_from, 0.0) / DAY

    device_shares = np.array([_DEVICE_GIVEN_LOGIN[d] for d in _CATEGORICAL["PreferredLoginDevice"]])[
        _level_index(people["PreferredLoginDevice"], list(_CATEGORICAL["PreferredLoginDevice"]))
    ]
    preferred_category = _level_index(people["PreferedOrderCat"], list(schema.CATEGORIES))
    mean_length = float(_MEAN_SESSION_VIEWS.mean()) + 1.0
    proposals = int(2.0 * num_events / mean_length) + 1000
    while True:
        customer = np.repeat(np.arange(n), rng.poisson(proposals * weight / weight.sum()))
        offset = people["utc_offset"][customer]
        span = active_until[customer] - active_from[customer]
        local_day = np.floor((active_from[customer] + rng.random(len(customer)) * span + offset) / DAY)
        hour = rng.choice(24, size=len(customer), p=_HOUR_WEIGHT / _HOUR_WEIGHT.sum())
        t = local_day * DAY + hour * 3600 + rng.integers(0, 3600, len(customer)) - offset
        age_days = (t - active_from[customer]) / DAY
        fade = np.where(
            people["Churn"][customer] == 1,
            np.clip((active_until[customer] - t) / (_FADE_DAYS * DAY), 0, 1),
            1.0,
        )
        dow = ((local_day.astype(np.int64) + 3) % 7).astype(np.int64)  # 1970-01-01 was a Thursday
        keep = (
            (rng.random(len(customer)) < np.exp2(-age_days / people["half_life_days"][customer]) * fade)
            & (rng.random(len(customer)) < _DOW_WEIGHT[dow] / _DOW_WEIGHT.max())
            & (t >= active_from[customer])
            & (t < active_until[customer])
            & (t < end)
        )
        customer, t = customer[keep], t[keep]
        device = _choose_rows(rng, device_shares[customer])
        category = np.where(
            rng.random(len(customer)) < _PREFERRED_CATEGORY_SHARE,
            preferred_category[customer],
            rng.choice(len(schema.CATEGORIES), len(customer), p=_CATEGORY_POPULARITY),
        )
        # The funnel is decided per session: a cart, then either a purchase or (sometimes) a removal.
        p_cart = _CART_BY_CATEGORY[category] * _CART_BY_DEVICE[device] * people["buy_propensity"][customer]
        carted = rng.random(len(customer)) < np.minimum(p_cart, _MAX_STEP_RATE)
        bought = carted & (
            rng.random(len(customer))
            < np.minimum(_BUY_BY_CATEGORY[category] * _BUY_BY_DEVICE[device], _MAX_STEP_RATE)
        )
        removed = carted & ~bought & (rng.random(len(customer)) < _REMOVE_SHARE)
        views = rng.geometric(1.0 / _MEAN_SESSION_VIEWS[device])
        length = views + carted + bought + removed
        if length.sum() >= num_events:
            break
        proposals = int(proposals * 1.2 * num_events / max(length.sum(), 1))

    # Keep a random subset of sessions holding exactly num_events events, then order them in time.
    # The one session cut short keeps only views.
    order = rng.permutation(len(customer))
    cumulative = np.cumsum(length[order])
    kept = order[: int(np.searchsorted(cumulative, num_events)) + 1]
    last = kept[-1]
    length[last] -= int(cumulative[len(kept) - 1] - num_events)
    carted[last] = bought[last] = removed[last] = False
    kept = kept[np.argsort(t[kept], kind="stable")]
    return {
        "customer": customer[kept],
        "start": t[kept].astype(np.int64),
        "device": device[kept],
        "category": category[kept],
        "length": length[kept].astype(np.int64),
        "carted": carted[kept],
        "bought": bought[kept],
        "removed": removed[kept],
    }


# --- events ---------------------------------------------------------------------------------------------


def _events(
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    sessions: dict[str, np.ndarray],
    num_events: int,
    end: int,
) -> dict[str, np.ndarray]:
    """Events of every session, in session order; sessions are shifted to end before ``end``."""
    length = sessions["length"]
    per_event = functools.partial(np.take, indices=np.repeat(np.arange(len(length)), length))
    first = np.cumsum(length) - length
    position = np.arange(num_events, dtype=np.int64) - per_event(first)
    views = length - sessions["carted"] - sessions["bought"] - sessions["removed"]
    funnel_step = position - per_event(views)
    kind = np.zeros(num_events, dtype=np.int8)  # index into schema.EVENT_TYPES
    kind[funnel_step == 0] = 1
    tail = funnel_step == 1
    kind[tail] = np.where(per_event(sessions["removed"])[tail], 2, 3)

    # Views pick a product by popularity; carts, removals and purchases act on the last viewed product.
    category = per_event(sessions["category"])
    product = (
        category * _PRODUCTS_PER_CATEGORY
        + _POPULARITY_TABLE[rng.integers(0, len(_POPULARITY_TABLE), num_events)]
    )
    product = product[np.maximum.accumulate(np.where(kind == 0, np.arange(num_events), 0))]

    gap = rng.standard_exponential(num_events, dtype=np.float32) * np.float32(_MEAN_EVENT_GAP_SECONDS)
    gap[first] = 0.0
    elapsed = np.cumsum(gap, dtype=np.float64)
    elapsed -= per_event(elapsed[first])
    elapsed_at_end = elapsed[first + length - 1].astype(np.int64)
    start = np.minimum(sessions["start"], end - 1 - elapsed_at_end)
    return {
        "event_id": np.arange(1, num_events + 1, dtype=np.int64),
        "customer": per_event(sessions["customer"]),
        "session": per_event(np.arange(len(length), dtype=np.int64)),
        "timestamp": per_event(start) + elapsed.astype(np.int64),
        "kind": kind,
        "product": product,
        "price": _product_prices()[product],
        "category": category,
        "device": per_event(sessions["device"]),
        "session_start": start,
        "session_end": start + elapsed_at_end,
    }


def _product_prices() -> np.ndarray:
    """One fixed price per product, log-normal around its category's median (its own seeded stream)."""
    rng = np.random.default_rng(_PRICE_SEED)
    category = np.repeat(np.arange(len(schema.CATEGORIES)), _PRODUCTS_PER_CATEGORY)
    return np.round(_PRICE_MEDIAN[category] * rng.lognormal(0.0, _PRICE_SIGMA[category]), 2)


def _product_ids() -> list[str]:
    return [f"{p}-{j:03d}" for p in _PRODUCT_PREFIX for j in range(1, _PRODUCTS_PER_CATEGORY + 1)]


# --- orders and sessions --------------------------------------------------------------------------------


def _orders(
    people: dict[str, np.ndarray], sessions: dict[str, np.ndarray], events: dict[str, np.ndarray]
) -> pa.Table:
    bought = events["kind"] == 3
    n_sessions = len(sessions["start"])
    items = np.bincount(events["session"], weights=bought, minlength=n_sessions).astype(np.int64)
    amount = np.bincount(
        events["session"], weights=np.where(bought, events["price"], 0.0), minlength=n_sessions
    )
    first = np.cumsum(sessions["length"]) - sessions["length"]
    placed = np.maximum.reduceat(np.where(bought, events["timestamp"], -1), first)
    with_order = np.flatnonzero(items > 0)
    customer = sessions["customer"][with_order]
    return pa.table(
        {
            "order_id": np.arange(1, len(with_order) + 1, dtype=np.int64),
            "customer_id": people["customer_id"][customer],
            "session_id": with_order.astype(np.int64) + 1,
            "order_timestamp": _timestamps(placed[with_order]),
            "num_items": items[with_order],
            "order_amount": np.round(amount[with_order], 2),
            "payment_mode": people["PreferredPaymentMode"][customer],
        },
        schema=schema.ORDERS.arrow_schema,
    )


def _sessions_table(
    people: dict[str, np.ndarray], sessions: dict[str, np.ndarray], events: dict[str, np.ndarray]
) -> pa.Table:
    return pa.table(
        {
            "session_id": np.arange(1, len(sessions["start"]) + 1, dtype=np.int64),
            "customer_id": people["customer_id"][sessions["customer"]],
            "session_start": _timestamps(events["session_start"]),
            "session_end": _timestamps(events["session_end"]),
            "device": pa.array(schema.DEVICES).take(sessions["device"]),
            "num_events": sessions["length"],
        },
        schema=schema.SESSIONS.arrow_schema,
    )


# --- faults ---------------------------------------------------------------------------------------------


def _faulty_customers(
    rng: np.random.Generator, people: dict[str, np.ndarray], faults: FaultRates
) -> pa.Table:
    n = len(people["customer_id"])
    columns: dict[str, object] = {"customer_id": people["customer_id"], "Churn": people["Churn"]}
    for column in schema.KAGGLE_ATTRIBUTES:
        values = people[column.name]
        if column.nullable:
            values = pa.array(values.astype(np.float64), mask=rng.random(n) < faults.missing_rate)
        if column.name in schema.LABEL_ALIASES:
            values = values.astype(object)
            for alias, canonical in schema.LABEL_ALIASES[column.name].items():
                values[(values == canonical) & (rng.random(n) < faults.label_inconsistency_rate)] = alias
        columns[column.name] = values
    columns["signup_date"] = (people["signup"] // DAY).astype("datetime64[D]")
    columns["country"] = np.array([c[0] for c in _COUNTRIES])[people["country_index"]]
    columns["timezone"] = np.array([c[1] for c in _COUNTRIES])[people["country_index"]]
    table = pa.table(columns, schema=schema.CUSTOMERS.arrow_schema)
    table = table.take(np.repeat(np.arange(n), _duplicate_repeats(rng, n, faults.duplicate_rate)))
    return pa.concat_tables([table, _reregistered(rng, table, faults.near_duplicate_rate)])


def _reregistered(rng: np.random.Generator, customers: pa.Table, rate: float) -> pa.Table:
    """Copies of a ``rate`` share of customers under new ids (the same person signing up again)."""
    copies = customers.filter(pa.array(rng.random(customers.num_rows) < rate))
    first_new_id = int(pc.max(customers["customer_id"]).as_py()) + 1
    new_ids = pa.array(np.arange(first_new_id, first_new_id + copies.num_rows, dtype=np.int64))
    return copies.set_column(0, customers.schema.field("customer_id"), new_ids)


def _faulty_events(
    rng: np.random.Generator, people: dict[str, np.ndarray], events: dict[str, np.ndarray], faults: FaultRates
) -> pa.Table:
    n = len(events["event_id"])
    local = rng.random(n) < faults.mixed_timezone_rate
    bad = rng.random(n) < faults.bad_timestamp_rate
    bad_kind = rng.integers(0, 3, n)
    no_device = rng.random(n) < faults.missing_rate
    rows = np.repeat(np.arange(n), _duplicate_repeats(rng, n, faults.duplicate_rate))
    per_row = functools.partial(np.take, indices=rows)

    seconds, customer, bad_kind = per_row(events["timestamp"]), per_row(events["customer"]), per_row(bad_kind)
    bad_rows = np.flatnonzero(per_row(bad))
    local_rows = np.flatnonzero(per_row(local & ~bad))
    offset = people["utc_offset"][customer[local_rows]]
    suffixes = np.array([_offset_suffix(c[2]) for c in _COUNTRIES], dtype="S6")
    bad_text = pc.if_else(
        pa.array(bad_kind[bad_rows] == 0),
        "not a timestamp",
        pc.if_else(
            pa.array(bad_kind[bad_rows] == 1),
            _iso(seconds[bad_rows] + 75 * 365 * DAY, np.bytes_(b"Z")),
            "1970-01-01T00:00:00Z",
        ),
    )
    text = _replace(
        _iso(seconds, np.bytes_(b"Z")),
        np.r_[local_rows, bad_rows],
        pa.concat_arrays(
            [
                _iso(seconds[local_rows] + offset, suffixes[people["country_index"][customer[local_rows]]]),
                bad_text,
            ]
        ),
    )
    return pa.table(
        {
            "timestamp": text,
            "event_id": per_row(events["event_id"]),
            "customer_id": people["customer_id"][customer],
            "session_id": per_row(events["session"]) + 1,
            "event_type": _dictionary(per_row(events["kind"]), schema.EVENT_TYPES),
            "product_id": _dictionary(per_row(events["product"]), _product_ids()),
            "category": _dictionary(per_row(events["category"]), schema.CATEGORIES),
            "price": per_row(events["price"]),
            "device": _dictionary(per_row(events["device"]), schema.DEVICES, missing=per_row(no_device)),
            "event_date": pa.array((seconds // DAY).astype(np.int32)).cast(pa.date32()),
        }
    )


def _duplicate_repeats(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    """How often each row is written: twice for a ``rate`` share of rows (an exact duplicate), else once."""
    return np.where(rng.random(n) < rate, 2, 1)


# --- helpers --------------------------------------------------------------------------------------------


def _write_by_date(table: pa.Table, key: str, days: pa.Array, folder: Path) -> None:
    """Write one ``folder/key=YYYY-MM-DD/part-0.parquet`` file per UTC day, rows in their original order.

    Files are independent, so they are written in parallel; each one's bytes depend only on its rows.
    """
    day = days.cast(pa.int32()).to_numpy()
    order = np.argsort(day, kind="stable")
    bounds = np.flatnonzero(np.diff(day[order])) + 1

    def write_day(lo: int, hi: int) -> None:
        rows = order[lo:hi]
        contiguous = rows[-1] - rows[0] == len(rows) - 1  # already in order: a zero-copy slice
        part = table.slice(int(rows[0]), len(rows)) if contiguous else table.take(rows)
        path = folder / f"{key}={np.datetime64(int(day[rows[0]]), 'D')}"
        path.mkdir(parents=True, exist_ok=True)
        pq.write_table(part, path / "part-0.parquet")

    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        list(pool.map(write_day, np.r_[0, bounds], np.r_[bounds, len(day)]))


def _iso(seconds: np.ndarray, suffix: np.ndarray) -> pa.Array:
    """``YYYY-MM-DDTHH:MM:SS`` + ``suffix`` text for epoch seconds, assembled from lookup tables.

    ``suffix`` is a NumPy bytes array: one value for every row, or one per row.
    """
    n = len(seconds)
    if n == 0:
        return pa.array([], type=pa.string())
    day, clock = np.divmod(seconds, DAY)
    first_day = int(day.min())
    dates = np.datetime_as_string(np.arange(first_day, int(day.max()) + 1).astype("datetime64[D]")).astype(
        "S10"
    )
    suffix = np.broadcast_to(suffix, n)
    row = np.dtype([("date", "S10"), ("clock", "S9"), ("suffix", suffix.dtype)])
    text = np.empty(n, dtype=row)
    text["date"] = dates[day - first_day]
    text["clock"] = _CLOCK[clock]
    text["suffix"] = suffix
    offsets = pa.py_buffer(np.arange(0, (n + 1) * row.itemsize, row.itemsize, dtype=np.int32))
    return pa.StringArray.from_buffers(n, offsets, pa.py_buffer(text))


def _offset_suffix(offset_minutes: int) -> str:
    sign = "-" if offset_minutes < 0 else "+"
    return f"{sign}{abs(offset_minutes) // 60:02d}:{abs(offset_minutes) % 60:02d}"


def _replace(values: pa.Array, rows: np.ndarray, replacement: pa.Array) -> pa.Array:
    """``values`` with ``values[rows[i]]`` replaced by ``replacement[i]``."""
    order = np.argsort(rows, kind="stable")
    mask = np.zeros(len(values), dtype=bool)
    mask[rows] = True
    return pc.replace_with_mask(values, pa.array(mask), replacement.take(pa.array(order)))


def _dictionary(indices: np.ndarray, levels, missing: np.ndarray | None = None) -> pa.DictionaryArray:
    """Dictionary-encoded text: cheap to build and to write, read back as text."""
    return pa.DictionaryArray.from_arrays(pa.array(indices.astype(np.int32), mask=missing), pa.array(levels))


def _timestamps(seconds: np.ndarray) -> pa.Array:
    return pa.array(seconds.astype("datetime64[s]").astype("datetime64[us]"), type=schema.TIMESTAMP)


def _choose_rows(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """One draw per row of a matrix of probabilities."""
    return (rng.random(len(probabilities))[:, None] > np.cumsum(probabilities, axis=1)[:, :-1]).sum(axis=1)


def _level_index(values: np.ndarray, levels: list[str]) -> np.ndarray:
    """Position of each value in ``levels``."""
    index = np.full(len(values), -1, dtype=np.int64)
    for i, level in enumerate(levels):
        index[values == level] = i
    return index


def _normalised(shares) -> np.ndarray:
    p = np.fromiter(shares, dtype=np.float64)
    return p / p.sum()


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _epoch_seconds(day: dt.date) -> int:
    return int((day - dt.date(1970, 1, 1)).days) * DAY
