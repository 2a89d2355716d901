"""Sessions, events and orders: the customers' behaviour over the window, vectorised in blocks."""

from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa

from cba import schema
from cba.generate.arrays import (
    _BLOCK_ROWS,
    _CUSTOMER_BLOCK,
    _SESSION_BLOCK,
    DAY,
    _compress,
    _concatenate,
    _dictionary,
    _empty,
    _in_parallel,
    _level_index,
    _take,
    _timestamps,
)
from cba.generate.marginals import _CATEGORICAL

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
    proposed = np.zeros(n, dtype=np.int64)
    while held < num_events:
        proposals = int(1.03 * (num_events - held) / events_per_proposal) + 1000
        counts = rng.poisson(proposals * share)
        proposed += counts
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
    kept_share = 1.0 - (len(dropped) - (1 if short_by else 0)) / max(count, 1)
    truth = _truth(people, proposed, customer, kept_share)
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
        "truth": truth,
    }


def _truth(
    people: dict[str, np.ndarray], proposed: np.ndarray, customer: dict[str, np.ndarray], kept_share: float
) -> pa.Table:
    """Each customer's proposals and the chances that decide its purchases (see :mod:`cba.generate.truth`).

    A session's purchase chance is the cart-then-buy chance averaged over the customer's device shares
    and category shares (the preferred category, else one by popularity), as :func:`_session_block` draws.
    """
    device = np.array([_DEVICE_GIVEN_LOGIN[login] for login in _CATEGORICAL["PreferredLoginDevice"]])
    device = device[customer["login"]]  # customer, device
    popularity = _CATEGORY_POPULARITY / _CATEGORY_POPULARITY.sum()
    category = np.tile((1 - _PREFERRED_CATEGORY_SHARE) * popularity, (len(device), 1))
    category[np.arange(len(device)), customer["preferred_category"]] += _PREFERRED_CATEGORY_SHARE
    cart = np.minimum(
        _CART_RATE.astype(np.float64).reshape(len(popularity), -1)[None]
        * customer["buy_propensity"][:, None, None],
        _MAX_STEP_RATE,
    )
    buy = cart * _BUY_RATE.astype(np.float64).reshape(len(popularity), -1)[None]  # customer, category, device
    purchase_share = np.einsum("kcd,kc,kd->k", buy, category, device)
    return pa.table(
        {
            "customer_id": people["customer_id"],
            "proposals": proposed,
            "local_from": customer["local_from"],
            "local_until": customer["local_until"],
            "local_fade_until": customer["local_fade_until"],
            "utc_offset": customer["offset"],
            "decay_rate": customer["decay_rate"],
            "decay_mass": customer["decay_mass"],
            "purchase_share": purchase_share * kept_share,
        }
    )


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
