"""Synthetic customers, sessions, events and orders that look like the Kaggle "E Commerce Dataset".

Customers carry the Kaggle attributes, drawn from the real file's marginal distributions. A latent churn
process driven by those attributes (complaints, satisfaction, distance, cashback, tenure, engagement)
decides who churns and when; each customer's sessions arrive at a rate that decays with time, fades out
before churn, and follows weekly and daily rhythms in local time. Sessions hold view, add-to-cart,
remove-from-cart and purchase events whose conversion differs by device and category; purchases make
orders. Faults (duplicates, blanks, bad timestamps, alias labels, local-time offsets) are injected at the
rates in ``params.yaml`` so cleaning has real work.

Everything is vectorised with NumPy and Arrow, in blocks of a fixed size run on every core; the same
params and seed give the same bytes on any machine.
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
_POPULARITY = 1.0 / np.arange(1, _PRODUCTS_PER_CATEGORY + 1) ** 1.1  # Zipf-like, within a category
_MEAN_EVENT_GAP_SECONDS = 45.0
_FADE_DAYS = 45.0  # engagement fades to zero over this many days before churn
_RISK_NOISE = 0.5  # standard deviation of the unexplained part of churn risk
_DAYS_PER_MONTH = 30.44
_PREFERRED_CATEGORY_SHARE = 0.55  # sessions in the customer's preferred order category
_MAX_STEP_RATE = 0.95  # cap on cart and purchase probabilities
_PRICE_SEED = 20_240_101  # product prices are fixed: their own stream, independent of the run's seed
_EVENTS_PER_PROPOSAL = 2.4  # first guess of events per proposed session (about 2.42), to size a batch

# Derived lookup tables. A level is drawn by the inverse CDF of one uniform draw; the CDF is a small table.
_CELLS = 4096  # grid cells of [0, 1): narrower than the rarest level, so each holds at most one CDF step


def _cdf(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The CDF of ``weights`` (from 0 to 1) and, per grid cell, the level at its left edge."""
    cdf = np.r_[0.0, np.cumsum(weights) / np.sum(weights)].astype(np.float32)
    cdf[-1] = 1.0
    if np.diff(cdf).min() <= 1.0 / _CELLS:
        raise ValueError("a level is rarer than a grid cell")
    level = np.searchsorted(cdf, np.arange(_CELLS) / _CELLS, side="right") - 1
    return cdf, level.astype(np.uint8)


_HOUR = _cdf(_HOUR_WEIGHT)
_CATEGORY = _cdf(_CATEGORY_POPULARITY)
_PRODUCT = _cdf(_POPULARITY)
_HOUR_SECONDS_PER_SHARE = (3600.0 / np.diff(_HOUR[0].astype(np.float64))).astype(np.float32)
_DEVICE_CUTS = np.cumsum(  # by PreferredLoginDevice: two cuts of a uniform draw over schema.DEVICES
    [_DEVICE_GIVEN_LOGIN[login][:2] for login in _CATEGORICAL["PreferredLoginDevice"]],
    axis=1,
    dtype=np.float32,
)
_CART_RATE = np.outer(_CART_BY_CATEGORY, _CART_BY_DEVICE).ravel().astype(np.float32)  # by category, device
_BUY_RATE = np.minimum(np.outer(_BUY_BY_CATEGORY, _BUY_BY_DEVICE), _MAX_STEP_RATE).ravel().astype(np.float32)
_REMOVE_BELOW = _BUY_RATE + (1.0 - _BUY_RATE) * np.float32(_REMOVE_SHARE)  # a draw in [buy, this) removes
_INVERSE_LOG_STAY = (1.0 / np.log1p(-1.0 / _MEAN_SESSION_VIEWS)).astype(np.float32)  # geometric, by device
_WEEKDAY_ACCEPT = (_DOW_WEIGHT / _DOW_WEIGHT.max()).astype(np.float32)

# A session's device, category and funnel, as bits of one code.
_DEVICE_MASK, _CATEGORY_SHIFT, _CATEGORY_MASK, _CARTED, _BOUGHT, _REMOVED = 3, 2, 7, 32, 64, 128

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

# Work is done in blocks of a fixed size (so results never depend on the machine), in parallel; the
# temporaries of a block stay small and in cache.
_CUSTOMER_BLOCK = 1 << 10  # customers whose sessions are proposed together
_SESSION_BLOCK = 1 << 15  # sessions whose events are drawn together
_BLOCK_ROWS = 1 << 17  # raw event rows filled together


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
    # The largest table first, then the others in the memory its intermediates leave free.
    orders = _orders(people, sessions, events, start)
    raw_events = _faulty_events(rng_faults, people, sessions, events, params.faults, start, end)
    del events
    return SyntheticData(
        customers=_faulty_customers(rng_faults, people, params.faults),
        sessions=_sessions_table(people, sessions, start),
        events=raw_events,
        orders=orders,
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
        people[name] = np.array(list(shares))[_choose(rng, n, shares.values())]
    grid = np.linspace(0.0, 1.0, 21)
    for name, quantiles in _QUANTILES.items():
        value = np.interp(rng.random(n), grid, quantiles)
        people[name] = value.round(2) if name == "CashbackAmount" else np.floor(value + 0.5)
    people["NumberOfAddress"] = people["NumberOfAddress"].astype(np.int64)

    country = _choose(rng, n, (c[3] for c in _COUNTRIES))
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
    """Intercept that makes the mean churn probability equal ``rate``.

    Newton's method on the mean probability, which rises with the intercept; a step that would leave
    the bracket known to hold the root bisects it instead.
    """
    low, high, intercept = -20.0, 20.0, 0.0
    for _ in range(100):
        probability = _sigmoid(risk + intercept)
        excess = probability.mean() - rate
        if abs(excess) < 1e-12:
            break
        low, high = (intercept, high) if excess < 0 else (low, intercept)
        step = intercept - excess / max(float((probability * (1.0 - probability)).mean()), 1e-300)
        intercept = step if low < step < high else (low + high) / 2.0
    return intercept


# --- sessions -------------------------------------------------------------------------------------------


def _sessions(
    rng: np.random.Generator, people: dict[str, np.ndarray], num_events: int, start: int, end: int
) -> dict[str, np.ndarray]:
    """Sessions of every customer, in time order, holding exactly ``num_events`` events.

    Each customer's sessions follow a Poisson process on the active window whose rate is engagement times
    an exponential decay with age (the customer's half-life), a fade over the last days before churn, and
    weekday and hour-of-day rhythms in local time. Start days are drawn from the decay exactly (inverse
    CDF of the truncated exponential) and times of day from the hourly profile; the fade and the weekday
    rhythm thin them. Batches of proposals come until the sessions hold ``num_events`` events, then
    random sessions holding the surplus are dropped; the last one dropped keeps, as views, the events
    still needed.
    """
    n = len(people["customer_id"])
    active_from = np.maximum(start, people["signup"]).astype(np.float64)
    churn_at = active_from + (0.1 + 0.9 * rng.random(n)) * (end - active_from)
    churned = people["Churn"] == 1
    active_until = np.where(churned, churn_at, float(end))
    decay_rate = np.log(2.0) / (people["half_life_days"] * DAY)  # per second
    decay_mass = -np.expm1(-decay_rate * (active_until - active_from))  # decay's share inside the window
    offset = people["utc_offset"].astype(np.float64)
    customer = {  # times on the customer's local clock
        "local_from": active_from + offset,
        "local_until": active_until + offset,
        "local_fade_until": np.where(churned, active_until + offset, np.inf),
        "offset": offset,
        "decay_rate": decay_rate,
        "decay_mass": decay_mass,
        "login": _level_index(people["PreferredLoginDevice"], list(_CATEGORICAL["PreferredLoginDevice"])),
        "preferred_category": _level_index(people["PreferedOrderCat"], list(schema.CATEGORIES)).astype(
            np.uint8
        ),
        "buy_propensity": people["buy_propensity"].astype(np.float32),
    }
    share = people["engagement"] * decay_mass / decay_rate
    share /= share.sum()

    batches: list[tuple[np.ndarray, ...]] = []
    held, events_per_proposal = 0, _EVENTS_PER_PROPOSAL
    while held < num_events:
        proposals = int(1.03 * (num_events - held) / events_per_proposal) + 1000
        counts = rng.poisson(proposals * share)
        blocks = range(0, n, _CUSTOMER_BLOCK)
        batch = _in_parallel(
            functools.partial(_session_block, customer, counts),
            rng.spawn(len(blocks)),
            blocks,
            [min(lo + _CUSTOMER_BLOCK, n) for lo in blocks],
        )
        batches.extend(batch)
        length = sum(int(part[3].sum()) for part in batch)
        held += length
        events_per_proposal = max(length / proposals, 0.01)
    who, t, code, length = (_concatenate(parts) for parts in zip(*batches, strict=True))

    # In time order (ties by proposal): sort (start, proposal) packed in one integer.
    count, bits = len(who), max(len(who) - 1, 1).bit_length()
    key = t
    key -= start
    key <<= bits
    for lo in range(0, count, _BLOCK_ROWS):
        key[lo : lo + _BLOCK_ROWS] |= np.arange(lo, min(lo + _BLOCK_ROWS, count))
    key.sort()
    by_time = np.bitwise_and(key, (1 << bits) - 1, out=_empty(count, np.int64))
    key >>= bits
    key += start
    t, who, code, length = key, _take(who, by_time), _take(code, by_time), _take(length, by_time)

    # Drop random sessions holding the surplus events; the last one dropped keeps what is still needed.
    dropped, short_by = _random_sessions_holding(rng, length, int(length.sum()) - num_events)
    kept = _empty(count, np.bool_)
    kept.fill(True)
    kept[dropped] = False
    if short_by:
        last = dropped[-1]
        kept[last] = True
        length[last] = short_by
        code[last] &= _DEVICE_MASK | _CATEGORY_MASK << _CATEGORY_SHIFT  # cut short: only views
    code, length = _compress(kept, code), _compress(kept, length)
    carted, ending = (code & _CARTED) > 0, (code & (_BOUGHT | _REMOVED)) > 0
    return {
        "customer": _compress(kept, who),
        "start": _compress(kept, t),
        "device": (code & _DEVICE_MASK).view(np.int8),
        "category": (code >> _CATEGORY_SHIFT & _CATEGORY_MASK).view(np.int8),
        "length": length,
        "views": length - carted - ending,
        "carted": carted,
        "bought": (code & _BOUGHT) > 0,
        "removed": (code & _REMOVED) > 0,
    }


def _session_block(
    customer: dict[str, np.ndarray], proposals: np.ndarray, rng: np.random.Generator, lo: int, hi: int
) -> tuple[np.ndarray, ...]:
    """Customer, start, code (device, category, funnel) and length of the sessions of customers lo..hi.

    ``proposals[i]`` sessions are proposed for customer ``i``; thinning keeps some.
    """
    proposals = proposals[lo:hi]
    mine = {key: values[lo:hi] for key, values in customer.items()}
    who = np.repeat(np.arange(lo, hi, dtype=np.int32), proposals)

    def per_proposal(key: str) -> np.ndarray:
        return np.repeat(mine[key], proposals)

    local_from = per_proposal("local_from")
    decayed = np.log1p(-rng.random(len(who)) * per_proposal("decay_mass"))
    local_day = np.floor((local_from - decayed / per_proposal("decay_rate")) / DAY)
    local_time = local_day * DAY + _time_of_day(rng.random(len(who), dtype=np.float32))
    fade = np.clip((per_proposal("local_fade_until") - local_time) / (_FADE_DAYS * DAY), 0.0, 1.0)
    weekday = _WEEKDAY_ACCEPT[(local_day.astype(np.int64) + 3) % 7]  # 1970-01-01 was a Thursday
    keep = (
        (rng.random(len(who), dtype=np.float32) < weekday * fade)
        & (local_time >= local_from)
        & (local_time < per_proposal("local_until"))
    )
    who = who[keep]
    t = (local_time[keep] - customer["offset"][who]).astype(np.int64)

    # Device, category, then the funnel: a cart, then either a purchase or (sometimes) a removal.
    draw = rng.random((5, len(who)), dtype=np.float32)
    cuts = _DEVICE_CUTS[customer["login"][who]]
    device = (draw[0] >= cuts[:, 0]).astype(np.uint8) + (draw[0] >= cuts[:, 1])
    other = (draw[1] - np.float32(_PREFERRED_CATEGORY_SHARE)) / np.float32(1.0 - _PREFERRED_CATEGORY_SHARE)
    category = np.where(
        draw[1] < _PREFERRED_CATEGORY_SHARE,
        customer["preferred_category"][who],
        _draw_level(np.maximum(other, 0.0), _CATEGORY),
    )
    step = category * len(schema.DEVICES) + device
    carted = draw[2] < np.minimum(_CART_RATE[step] * customer["buy_propensity"][who], _MAX_STEP_RATE)
    bought = carted & (draw[3] < _BUY_RATE[step])
    removed = carted & ~bought & (draw[3] < _REMOVE_BELOW[step])
    views = 1 + np.floor(np.log1p(-draw[4]) * _INVERSE_LOG_STAY[device]).astype(np.int32)  # geometric
    flags = (
        carted.view(np.uint8) * _CARTED | bought.view(np.uint8) * _BOUGHT | removed.view(np.uint8) * _REMOVED
    )
    code = device | category << _CATEGORY_SHIFT | flags
    return who, t, code, views + carted + (bought | removed)


def _random_sessions_holding(
    rng: np.random.Generator, length: np.ndarray, events: int
) -> tuple[np.ndarray, int]:
    """Distinct sessions in random order, until their ``length`` adds up to ``events`` or more.

    Returns them and how many events the last one holds beyond ``events`` (0 when they add up exactly).
    Uniform draws with repeats dropped give a uniformly random order without building a permutation.
    """
    if events <= 0:
        return np.zeros(0, dtype=np.int64), 0
    chosen = np.zeros(0, dtype=np.int64)
    while True:
        wanted = int(1.2 * events / max(float(length.mean()), 1.0)) + 100
        drawn = np.concatenate([chosen, rng.integers(0, len(length), wanted)])
        chosen = drawn[np.sort(np.unique(drawn, return_index=True)[1])]
        cumulative = np.cumsum(length[chosen])
        if cumulative[-1] >= events:
            cut = int(np.searchsorted(cumulative, events))
            return chosen[: cut + 1], int(cumulative[cut] - events)


def _time_of_day(u: np.ndarray) -> np.ndarray:
    """Seconds into the local day for uniform draws ``u``: the inverse CDF of the hourly profile."""
    hour = _draw_level(u, _HOUR)
    within = (u - _HOUR[0][hour]) * _HOUR_SECONDS_PER_SHARE[hour]
    return hour.astype(np.int32) * 3600 + np.minimum(within.astype(np.int32), 3599)


def _draw_level(u: np.ndarray, table: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The level whose CDF interval holds each uniform draw in ``u`` (float32, in [0, 1))."""
    cdf, level_at_cell = table
    level = level_at_cell[(u * _CELLS).astype(np.int32)]
    return level + (u >= cdf[level + 1])


# --- events ---------------------------------------------------------------------------------------------


def _events(
    rng: np.random.Generator, sessions: dict[str, np.ndarray], num_events: int, start: int, end: int
) -> dict[str, np.ndarray]:
    """Events of every session, in session order: second from ``start``, session, type and product rank.

    Gaps between a session's events are exponential (in whole milliseconds). Sessions are shifted to end
    before ``end``; ``sessions`` gains each one's first event and its final start and end.
    """
    length = sessions["length"]
    first = np.cumsum(length, dtype=np.int64, out=_empty(len(length), np.int64))
    first -= length
    sessions.update(first=first, end=_empty(len(length), np.int64))
    events = {
        "second": _empty(num_events, np.int32),
        "session": _empty(num_events, np.int32),
        "kind": _empty(num_events, np.int8),  # index into schema.EVENT_TYPES
        "rank": _empty(num_events, np.uint8),
    }
    blocks = range(0, len(length), _SESSION_BLOCK)
    _in_parallel(
        lambda lo, block_rng: _event_block(
            block_rng, sessions, events, lo, min(lo + _SESSION_BLOCK, len(length)), start, end
        ),
        blocks,
        rng.spawn(len(blocks)),
    )
    return events


def _event_block(
    rng: np.random.Generator,
    sessions: dict[str, np.ndarray],
    events: dict[str, np.ndarray],
    lo: int,
    hi: int,
    start: int,
    end: int,
) -> None:
    """Fill ``events`` for sessions lo..hi: times, session, type and product rank."""
    first = sessions["first"][lo:hi]
    begin, after = int(first[0]), int(first[-1] + sessions["length"][hi - 1])
    first = first - begin
    count = after - begin

    # Each session's views, then its add-to-cart, then its purchase or removal, acting on the last view.
    kind, rank = events["kind"][begin:after], events["rank"][begin:after]
    kind.fill(0)
    carted, removed, views = sessions["carted"][lo:hi], sessions["removed"][lo:hi], sessions["views"][lo:hi]
    ending = carted & (sessions["bought"][lo:hi] | removed)
    cart = first[carted] + views[carted]
    tail = first[ending] + views[ending] + 1
    kind[cart] = 1
    kind[tail] = np.where(removed[ending], 2, 3)
    rank[:] = _draw_level(rng.random(count, dtype=np.float32), _PRODUCT)
    rank[cart] = rank[cart - 1]
    rank[tail] = rank[tail - 2]

    gap = rng.standard_exponential(count, dtype=np.float32) * np.float32(_MEAN_EVENT_GAP_SECONDS * 1000)
    step = (gap + np.float32(0.5)).astype(np.int64)  # milliseconds from the previous event
    step[first] = 0
    duration = np.add.reduceat(step, first)
    session_start = np.minimum(sessions["start"][lo:hi], end - 1 - duration // 1000)
    sessions["start"][lo:hi] = session_start
    sessions["end"][lo:hi] = session_start + duration // 1000
    # One running sum gives every event's time: a session's first step jumps to its start.
    start_ms = (session_start - start) * 1000
    step[first] = start_ms - np.r_[0, start_ms[:-1] + duration[:-1]]
    np.floor_divide(np.cumsum(step), 1000, out=events["second"][begin:after], casting="unsafe")
    marker = np.zeros(count, dtype=np.int32)
    marker[first[1:]] = 1
    np.cumsum(marker, out=events["session"][begin:after])
    events["session"][begin:after] += lo


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
    levels = list(_CATEGORICAL["PreferredPaymentMode"])
    payment = _level_index(people["PreferredPaymentMode"], levels).astype(np.int8)
    return pa.table(
        {
            "order_id": np.arange(1, len(with_order) + 1, dtype=np.int64),
            "customer_id": people["customer_id"][customer],
            "session_id": with_order.astype(np.int64) + 1,
            "order_timestamp": _timestamps(start + events["second"][purchase].astype(np.int64)),
            "num_items": np.ones(len(with_order), dtype=np.int64),
            "order_amount": _product_prices()[product],
            "payment_mode": _dictionary(payment[customer], levels),
        }
    )


def _sessions_table(people: dict[str, np.ndarray], sessions: dict[str, np.ndarray], start: int) -> pa.Table:
    """One row per session: customer, start, end, device and number of events."""
    return pa.table(
        {
            "session_id": np.arange(1, len(sessions["start"]) + 1, dtype=np.int64),
            "customer_id": _take(people["customer_id"], sessions["customer"]),
            "session_start": _timestamps(sessions["start"]),
            "session_end": _timestamps(sessions["end"]),
            "device": _dictionary(sessions["device"], schema.DEVICES),
            "num_events": sessions["length"].astype(np.int64, copy=False),
        }
    )


# --- faults ---------------------------------------------------------------------------------------------


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
    offsets = _empty(rows + 1, np.int32)
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
        np.multiply(np.arange(lo, hi, dtype=np.int32), _ISO_RECORD.itemsize, out=offsets[lo:hi])

    _in_parallel(fill, range(0, n, _BLOCK_ROWS))
    offsets[rows] = rows * _ISO_RECORD.itemsize
    return pa.table(
        {
            "timestamp": pa.StringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(text)),
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


# --- helpers --------------------------------------------------------------------------------------------


def _write_by_date(
    table: pa.Table, key: str, days: pa.Array, folder: Path, free_text: list[str] | None = None
) -> None:
    """Write one ``folder/key=YYYY-MM-DD/part-0.parquet`` file per UTC day, rows in their original order.

    Files are independent, so they are written in parallel; each one's bytes depend only on its rows.
    Text columns are dictionary-encoded except the ``free_text`` ones, integers and timestamps are
    delta-encoded (small, and cheap to write), and only numbers and times get statistics.
    """
    if table.num_rows == 0:
        return
    day = days.cast(pa.int32()).to_numpy()
    order = None if (day[1:] >= day[:-1]).all() else np.argsort(day, kind="stable")  # None: in order
    by_day = day if order is None else day[order]
    bounds = np.searchsorted(by_day, np.arange(by_day[0], by_day[-1] + 2))
    free_text = free_text or []
    text = [f.name for f in table.schema if f.name not in free_text and _is_text(f.type)]
    summarised = [f.name for f in table.schema if f.name not in free_text and not _is_text(f.type)]
    delta = {
        f.name: "DELTA_BINARY_PACKED"
        for f in table.schema
        if pa.types.is_integer(f.type) or pa.types.is_timestamp(f.type)
    }

    def write_day(lo: int, hi: int) -> None:
        rows = np.arange(lo, hi) if order is None else order[lo:hi]
        contiguous = rows[-1] - rows[0] == len(rows) - 1  # already in order: a zero-copy slice
        part = table.slice(int(rows[0]), len(rows)) if contiguous else table.take(rows)
        path = folder / f"{key}={np.datetime64(int(by_day[lo]), 'D')}"
        path.mkdir(parents=True, exist_ok=True)
        encoded = pa.BufferOutputStream()  # in memory, then one write: cheaper than Arrow's file sink
        pq.write_table(part, encoded, use_dictionary=text, write_statistics=summarised, column_encoding=delta)
        (path / "part-0.parquet").write_bytes(encoded.getvalue())

    days_with_rows = np.flatnonzero(bounds[1:] > bounds[:-1])
    _in_parallel(write_day, bounds[days_with_rows], bounds[days_with_rows + 1])


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


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or (pa.types.is_dictionary(kind) and pa.types.is_string(kind.value_type))


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


def _choose(rng: np.random.Generator, n: int, shares) -> np.ndarray:
    """``n`` draws of a level, with probabilities proportional to ``shares`` (by the inverse CDF)."""
    cdf = np.cumsum(np.fromiter(shares, dtype=np.float64))
    return np.searchsorted(cdf / cdf[-1], rng.random(n), side="right")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _epoch_seconds(day: dt.date) -> int:
    return int((day - dt.date(1970, 1, 1)).days) * DAY
