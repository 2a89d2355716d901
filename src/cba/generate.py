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
_POPULARITY = 1.0 / np.arange(1, _PRODUCTS_PER_CATEGORY + 1) ** 1.1  # Zipf-like, within a category
_MEAN_EVENT_GAP_SECONDS = 45.0
_FADE_DAYS = 45.0  # engagement fades to zero over this many days before churn
_RISK_NOISE = 0.5  # standard deviation of the unexplained part of churn risk
_DAYS_PER_MONTH = 30.44
_PREFERRED_CATEGORY_SHARE = 0.55  # sessions in the customer's preferred order category
_MAX_STEP_RATE = 0.95  # cap on cart and purchase probabilities
_PRICE_SEED = 20_240_101  # product prices are fixed: their own stream, independent of the run's seed
_EVENTS_PER_PROPOSAL = 2.2  # first guess of events per proposed session, to size the first batch

# Derived lookup tables. A level is drawn by the inverse CDF of one uniform draw; the CDF is a small table.
_CELLS = 4096  # grid cells of [0, 1): narrower than the rarest level, so each holds at most one CDF step


def _cdf(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The CDF of ``weights`` (from 0 to 1) and, per grid cell, the level at its left edge."""
    cdf = np.r_[0.0, np.cumsum(weights) / np.sum(weights)].astype(np.float32)
    cdf[-1] = 1.0
    assert np.diff(cdf).min() > 1.0 / _CELLS, "a level is rarer than a grid cell"
    level = np.searchsorted(cdf, np.arange(_CELLS) / _CELLS, side="right") - 1
    return cdf, level.astype(np.int8)


_HOUR = _cdf(_HOUR_WEIGHT)
_CATEGORY = _cdf(_CATEGORY_POPULARITY)
_PRODUCT = _cdf(_POPULARITY)
_HOUR_SECONDS_PER_SHARE = (3600.0 / np.diff(_HOUR[0].astype(np.float64))).astype(np.float32)
_DEVICE_CUTS = np.cumsum(  # by PreferredLoginDevice: two cuts of a uniform draw over schema.DEVICES
    [_DEVICE_GIVEN_LOGIN[login][:2] for login in _CATEGORICAL["PreferredLoginDevice"]], axis=1, dtype=np.float32
)
_CART_RATE = np.outer(_CART_BY_CATEGORY, _CART_BY_DEVICE).ravel().astype(np.float32)  # by category, device
_BUY_RATE = np.minimum(np.outer(_BUY_BY_CATEGORY, _BUY_BY_DEVICE), _MAX_STEP_RATE).ravel().astype(np.float32)
_REMOVE_BELOW = _BUY_RATE + (1.0 - _BUY_RATE) * np.float32(_REMOVE_SHARE)  # a draw in [buy, this) removes
_INVERSE_LOG_STAY = (1.0 / np.log1p(-1.0 / _MEAN_SESSION_VIEWS)).astype(np.float32)  # geometric, by device
_WEEKDAY_ACCEPT = (_DOW_WEIGHT / _DOW_WEIGHT.max()).astype(np.float32)

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
_ISO_RECORD = np.dtype({"names": ["minute", "second", "last"], "formats": ["V16", "u8", "u1"], "offsets": [0, 16, 24], "itemsize": 25})


@dataclass(frozen=True)
class SyntheticData:
    """The four raw tables, as Arrow tables in the raw schemas.

    ``events`` also carries ``event_date`` (the UTC day each event is filed under) and is ordered by it.
    """

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
    events = _events(rng_events, sessions, params.num_events, start, end)
    return SyntheticData(
        customers=_faulty_customers(rng_faults, people, params.faults),
        sessions=_sessions_table(people, sessions, start),
        events=_faulty_events(rng_faults, people, sessions, events, params.faults, start, end),
        orders=_orders(people, sessions, events, start),
    )


def write(data: SyntheticData, out: str | Path) -> None:
    """Write ``customers.parquet`` and ``events/``, ``sessions/``, ``orders/`` partitioned by UTC date."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(data.customers, out / "customers.parquet")
    events = data.events.drop_columns("event_date")
    _write_by_date(events, "event_date", data.events["event_date"], out / "events", free_text=["timestamp"])
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
    """Sessions of every customer, in time order, holding exactly ``num_events`` events.

    Each customer's sessions follow a Poisson process on the active window whose rate is engagement times
    an exponential decay with age (the customer's half-life), a fade over the last days before churn, and
    weekday and hour-of-day rhythms in local time. Start times are drawn from the decay exactly (inverse
    CDF of the truncated exponential) and the time of day from its hourly profile; the fade and the
    weekday rhythm thin them. Batches of proposals come until the sessions hold ``num_events`` events,
    then a random subset holding exactly that many is kept; the one session cut short keeps only views.
    """
    n = len(people["customer_id"])
    active_from = np.maximum(start, people["signup"]).astype(np.float64)
    churn_at = active_from + (0.1 + 0.9 * rng.random(n)) * (end - active_from)
    churned = people["Churn"] == 1
    active_until = np.where(churned, churn_at, float(end))
    decay_rate = np.log(2.0) / (people["half_life_days"] * DAY)  # per second
    decay_mass = -np.expm1(-decay_rate * (active_until - active_from))  # decay's share inside the window
    login = _level_index(people["PreferredLoginDevice"], list(_CATEGORICAL["PreferredLoginDevice"]))
    device_cumulative = np.cumsum([_DEVICE_GIVEN_LOGIN[d] for d in _CATEGORICAL["PreferredLoginDevice"]], 1)
    customer = {
        "active_from": active_from,
        "active_until": active_until,
        "fade_until": np.where(churned, active_until, np.inf),
        "decay_rate": decay_rate,
        "decay_mass": decay_mass,
        "offset": people["utc_offset"].astype(np.float64),
        "device_cumulative": device_cumulative[login],
        "preferred_category": _level_index(people["PreferedOrderCat"], list(schema.CATEGORIES)),
        "buy_propensity": people["buy_propensity"],
    }
    share = people["engagement"] * decay_mass / decay_rate
    share /= share.sum()

    batches: list[dict[str, np.ndarray]] = []
    held, events_per_proposal = 0, _EVENTS_PER_PROPOSAL
    while held < num_events:
        proposals = int(1.05 * (num_events - held) / events_per_proposal) + 1000
        batch = _session_batch(rng, customer, rng.poisson(proposals * share))
        batches.append(batch)
        held += int(batch["length"].sum())
        events_per_proposal = max(batch["length"].sum() / proposals, 0.01)
    sessions = {key: np.concatenate([batch[key] for batch in batches]) for key in batches[0]}

    # A random subset holding exactly num_events events, in time order.
    order = rng.permutation(len(sessions["start"]))
    cumulative = np.cumsum(sessions["length"][order])
    cut = int(np.searchsorted(cumulative, num_events))
    last = order[cut]
    sessions["length"][last] -= int(cumulative[cut] - num_events)
    sessions["views"][last] = sessions["length"][last]
    sessions["carted"][last] = sessions["bought"][last] = sessions["removed"][last] = False
    count, kept = len(order), order[: cut + 1]
    kept = np.sort(sessions["start"][kept] * count + kept) % count  # ordered by start, then by index
    return {key: values[kept] for key, values in sessions.items()}


def _session_batch(
    rng: np.random.Generator, customer: dict[str, np.ndarray], proposals: np.ndarray
) -> dict[str, np.ndarray]:
    """The sessions a batch of proposals (``proposals[i]`` for customer ``i``) leaves after thinning."""
    who = np.repeat(np.arange(len(proposals), dtype=np.int32), proposals)

    def per_proposal(values: np.ndarray) -> np.ndarray:
        return np.repeat(values, proposals, axis=0)

    draw = rng.random((3, len(who)))
    active_from, offset = per_proposal(customer["active_from"]), per_proposal(customer["offset"])
    age = -np.log1p(-draw[0] * per_proposal(customer["decay_mass"])) / per_proposal(customer["decay_rate"])
    local_day = np.floor((active_from + age + offset) / DAY)
    t = local_day * DAY + _time_of_day(draw[1]) - offset
    fade = np.clip((per_proposal(customer["fade_until"]) - t) / (_FADE_DAYS * DAY), 0.0, 1.0)
    weekday = _DOW_WEIGHT[(local_day.astype(np.int64) + 3) % 7] / _DOW_WEIGHT.max()  # 1970-01-01: Thursday
    keep = (draw[2] < weekday * fade) & (t >= active_from) & (t < per_proposal(customer["active_until"]))
    who, t = who[keep], t[keep].astype(np.int64)

    draw = rng.random((5, len(who)))
    device_cumulative = customer["device_cumulative"][who]
    device = (draw[0] >= device_cumulative[:, 0]).astype(np.int8) + (draw[0] >= device_cumulative[:, 1])
    other = (draw[1] - _PREFERRED_CATEGORY_SHARE) / (1.0 - _PREFERRED_CATEGORY_SHARE)
    category = np.where(
        draw[1] < _PREFERRED_CATEGORY_SHARE,
        customer["preferred_category"][who],
        np.minimum(np.searchsorted(_CATEGORY_CDF, other, side="right"), len(schema.CATEGORIES) - 1),
    ).astype(np.int8)
    # The funnel is decided per session: a cart, then either a purchase or (sometimes) a removal.
    step = category * len(schema.DEVICES) + device
    carted = draw[2] < np.minimum(_CART_RATE[step] * customer["buy_propensity"][who], _MAX_STEP_RATE)
    buy_rate = _BUY_RATE[step]
    bought = carted & (draw[3] < buy_rate)
    removed = carted & ~bought & (draw[3] < buy_rate + (1.0 - buy_rate) * _REMOVE_SHARE)
    views = 1 + np.floor(np.log1p(-draw[4]) * _INVERSE_LOG_STAY[device]).astype(np.int64)  # geometric
    return {
        "customer": who,
        "start": t,
        "device": device,
        "category": category,
        "views": views,
        "length": views + carted + bought + removed,
        "carted": carted,
        "bought": bought,
        "removed": removed,
    }


def _time_of_day(u: np.ndarray) -> np.ndarray:
    """Seconds into the local day for uniform draws ``u``: the inverse CDF of the hourly profile."""
    hour = np.minimum(np.searchsorted(_HOUR_CDF, u, side="right") - 1, 23)
    within = (u - _HOUR_CDF[hour]) / (_HOUR_CDF[hour + 1] - _HOUR_CDF[hour])
    return hour * 3600 + np.minimum(np.floor(within * 3600), 3599)


# --- events ---------------------------------------------------------------------------------------------


def _events(
    rng: np.random.Generator, sessions: dict[str, np.ndarray], num_events: int, start: int, end: int
) -> dict[str, np.ndarray]:
    """Events of every session, in session order: seconds from ``start``, type and product.

    Sessions are shifted to end before ``end``; ``sessions`` gains each one's first event, start and end.
    """
    length = sessions["length"]
    first = np.cumsum(length) - length
    views = sessions["views"]

    # Each session's views, then its add-to-cart, then its purchase or removal.
    kind = np.zeros(num_events, dtype=np.int8)  # index into schema.EVENT_TYPES
    cart = first[sessions["carted"]] + views[sessions["carted"]]
    ending = sessions["bought"] | sessions["removed"]
    tail = first[ending] + views[ending] + 1
    kind[cart] = 1
    kind[tail] = np.where(sessions["removed"][ending], 2, 3)

    # Views pick a product of the session's category by popularity; the funnel acts on the last view's.
    rank = _POPULARITY_TABLE[rng.integers(0, len(_POPULARITY_TABLE), num_events, dtype=np.int16)]
    rank[cart] = rank[cart - 1]
    rank[tail] = rank[tail - 2]

    gap = rng.standard_exponential(num_events, dtype=np.float32) * np.float32(_MEAN_EVENT_GAP_SECONDS)
    gap[first] = 0.0
    elapsed = np.cumsum(gap, dtype=np.float64)
    elapsed -= np.repeat(elapsed[first], length)
    last = first + length - 1
    duration = elapsed[last].astype(np.int64)
    session_start = np.minimum(sessions["start"], end - 1 - duration)
    sessions.update(first=first, start=session_start, end=session_start + duration)
    return {
        "second": np.repeat((session_start - start).astype(np.int32), length) + elapsed.astype(np.int32),
        "kind": kind,
        "rank": rank,
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
    people: dict[str, np.ndarray], sessions: dict[str, np.ndarray], events: dict[str, np.ndarray], start: int
) -> pa.Table:
    """One order per session with a purchase: its one purchase event, the session's last."""
    with_order = np.flatnonzero(sessions["bought"])
    purchase = (sessions["first"] + sessions["length"] - 1)[with_order]
    product = (
        sessions["category"][with_order].astype(np.int32) * _PRODUCTS_PER_CATEGORY + events["rank"][purchase]
    )
    customer = sessions["customer"][with_order]
    return pa.table(
        {
            "order_id": np.arange(1, len(with_order) + 1, dtype=np.int64),
            "customer_id": people["customer_id"][customer],
            "session_id": with_order.astype(np.int64) + 1,
            "order_timestamp": _timestamps(start + events["second"][purchase].astype(np.int64)),
            "num_items": np.ones(len(with_order), dtype=np.int64),
            "order_amount": _product_prices()[product],
            "payment_mode": people["PreferredPaymentMode"][customer],
        },
        schema=schema.ORDERS.arrow_schema,
    )


def _sessions_table(people: dict[str, np.ndarray], sessions: dict[str, np.ndarray], start: int) -> pa.Table:
    return pa.table(
        {
            "session_id": np.arange(1, len(sessions["start"]) + 1, dtype=np.int64),
            "customer_id": people["customer_id"][sessions["customer"]],
            "session_start": _timestamps(sessions["start"]),
            "session_end": _timestamps(sessions["end"]),
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
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    sessions: dict[str, np.ndarray],
    events: dict[str, np.ndarray],
    faults: FaultRates,
    start: int,
    end: int,
) -> pa.Table:
    """Raw events with faults, ordered by UTC day (then by event id); duplicates follow their original.

    Faults are drawn per event, so a duplicate is an exact copy: local time with the customer's offset,
    a bad timestamp (unparsable, 75 years ahead, or the epoch; it replaces a local one), a blank device.
    """
    n = len(events["second"])
    fault = np.zeros(n, dtype=np.uint8)
    fault[_bernoulli_rows(rng, n, faults.mixed_timezone_rate)] |= _LOCAL_TIME
    bad = _bernoulli_rows(rng, n, faults.bad_timestamp_rate)
    fault[bad] |= _BAD_TIMESTAMP | (rng.integers(0, 3, len(bad), dtype=np.uint8) << _BAD_KIND_SHIFT)
    fault[_bernoulli_rows(rng, n, faults.missing_rate)] |= _NO_DEVICE
    repeats = np.ones(n, dtype=np.int8)
    repeats[_bernoulli_rows(rng, n, faults.duplicate_rate)] = 2

    by_day = np.argsort(events["second"] // DAY, kind="stable")
    rows = np.repeat(by_day, repeats[by_day])
    session = np.repeat(np.arange(len(sessions["length"]), dtype=np.int32), sessions["length"])[rows]
    second, fault = events["second"][rows], fault[rows]
    customer = sessions["customer"][session]
    category = sessions["category"][session]
    product = category.astype(np.int32) * _PRODUCTS_PER_CATEGORY + events["rank"][rows]
    return pa.table(
        {
            "timestamp": _timestamp_text(people, customer, second, fault, start, end),
            "event_id": rows + 1,
            "customer_id": people["customer_id"][customer],
            "session_id": session.astype(np.int64) + 1,
            "event_type": _dictionary(events["kind"][rows], schema.EVENT_TYPES),
            "product_id": _dictionary(product, _product_ids()),
            "category": _dictionary(category, schema.CATEGORIES),
            "price": _product_prices()[product],
            "device": _dictionary(
                sessions["device"][session], schema.DEVICES, missing=(fault & _NO_DEVICE) > 0
            ),
            "event_date": pa.array(second // DAY + start // DAY).cast(pa.date32()),
        }
    )


def _timestamp_text(
    people: dict[str, np.ndarray],
    customer: np.ndarray,
    second: np.ndarray,
    fault: np.ndarray,
    start: int,
    end: int,
) -> pa.Array:
    """ISO 8601 text ``YYYY-MM-DDTHH:MM:SS+HH:MM`` for seconds from ``start``, with the timestamp faults.

    Every text has the same 25 characters: UTC as ``+00:00``, local time with the customer's offset, and
    bad timestamps (an impossible zero date, a date 75 years ahead, the epoch) in the same layout.
    Assembled from lookup tables of ``YYYY-MM-DDTHH:`` per hour and ``MM:SS+HH:MM`` per second and zone.
    """
    shown = second.copy()
    zone = np.zeros(len(second), dtype=np.int32)  # 0 is UTC, 1 + i the i-th of _COUNTRIES
    local = np.flatnonzero((fault & (_LOCAL_TIME | _BAD_TIMESTAMP)) == _LOCAL_TIME)
    country = people["country_index"][customer[local]]
    shown[local] += people["utc_offset"][customer[local]].astype(np.int32)
    zone[local] = country + 1

    hour = (shown + DAY) // 3600  # hours since the day before the window, so local times stay positive
    hours = np.datetime64(start - DAY, "s") + np.timedelta64(3600, "s") * np.arange(
        (end - start) // 3600 + 49
    )
    prefixes = np.char.add(np.datetime_as_string(hours, unit="h").astype("S13"), b":").view("V14")
    text = np.empty(len(second), dtype=[("hour", "V14"), ("rest", "V11")])
    text["hour"] = prefixes[hour]
    text["rest"] = _MINUTE_SECOND_ZONE[zone * 3600 + (shown + DAY - hour * 3600)]

    bad = np.flatnonzero(fault & _BAD_TIMESTAMP)
    kind = fault[bad] >> _BAD_KIND_SHIFT
    future = np.datetime64(start, "s") + (second[bad].astype(np.int64) + 75 * 365 * DAY) * np.timedelta64(
        1, "s"
    )
    text.view("S25")[bad] = np.where(
        kind == 0,
        b"0000-00-00T00:00:00+00:00",
        np.where(kind == 1, np.char.add(np.datetime_as_string(future).astype("S19"), b"+00:00"), _EPOCH_TEXT),
    )
    offsets = np.arange(0, (len(second) + 1) * 25, 25, dtype=np.int32)
    return pa.StringArray.from_buffers(len(second), pa.py_buffer(offsets), pa.py_buffer(text))


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


# --- helpers --------------------------------------------------------------------------------------------


def _write_by_date(
    table: pa.Table, key: str, days: pa.Array, folder: Path, free_text: list[str] | None = None
) -> None:
    """Write one ``folder/key=YYYY-MM-DD/part-0.parquet`` file per UTC day, rows in their original order.

    Files are independent, so they are written in parallel; each one's bytes depend only on its rows.
    Text columns are dictionary-encoded except the ``free_text`` ones, which also get no statistics.
    """
    day = days.cast(pa.int32()).to_numpy()
    order = np.argsort(day, kind="stable")
    bounds = np.flatnonzero(np.diff(day[order])) + 1
    free_text = free_text or []
    text = [f.name for f in table.schema if f.name not in free_text and _is_text(f.type)]
    summarised = [name for name in table.column_names if name not in free_text]

    def write_day(lo: int, hi: int) -> None:
        rows = order[lo:hi]
        contiguous = rows[-1] - rows[0] == len(rows) - 1  # already in order: a zero-copy slice
        part = table.slice(int(rows[0]), len(rows)) if contiguous else table.take(rows)
        path = folder / f"{key}={np.datetime64(int(day[rows[0]]), 'D')}"
        path.mkdir(parents=True, exist_ok=True)
        pq.write_table(part, path / "part-0.parquet", use_dictionary=text, write_statistics=summarised)

    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        list(pool.map(write_day, np.r_[0, bounds], np.r_[bounds, len(day)]))


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or (pa.types.is_dictionary(kind) and pa.types.is_string(kind.value_type))


def _dictionary(indices: np.ndarray, levels, missing: np.ndarray | None = None) -> pa.DictionaryArray:
    """Dictionary-encoded text: cheap to build and to write, read back as text."""
    return pa.DictionaryArray.from_arrays(
        pa.array(indices.astype(np.int32, copy=False), mask=missing), pa.array(levels)
    )


def _timestamps(seconds: np.ndarray) -> pa.Array:
    return pa.array(seconds.astype("datetime64[s]").astype("datetime64[us]"), type=schema.TIMESTAMP)


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
