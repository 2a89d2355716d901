"""The generator's ground truth: each customer's chance of making no purchase in a window (the oracle).

Every customer's sessions are proposals, a fixed number drawn by the simulation, each kept or thinned on
its own: its start follows the customer's exponential decay from ``local_from``, is kept with the weekday
weight times the fade before churn, must fall in the active span, and becomes a purchase with the
customer's expected cart-then-buy chance over devices and categories; a random share of sessions is then
dropped to hit the event count. Given those numbers, the count of purchase sessions starting in a window
is binomial, so the chance of none is ``(1 - q) ** proposals``, where ``q`` is one proposal's chance of
being a purchase session that starts in the window (summed hour by hour over the window).

This is the best any model could do, knowing the hidden state (engagement, half-life, churn date); no
model sees it.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from cba.generate.arrays import DAY
from cba.generate.simulation import _FADE_DAYS, _HOUR_WEIGHT, _WEEKDAY_ACCEPT

__all__ = ["TRUTH_COLUMNS", "no_purchase_probability"]

TRUTH_COLUMNS = (
    "customer_id",
    "proposals",
    "local_from",
    "local_until",
    "local_fade_until",
    "utc_offset",
    "decay_rate",
    "decay_mass",
    "purchase_share",
)
"""``truth.parquet``: per customer, the simulation's numbers that decide its purchases (times in seconds)."""

_HOURS = np.arange(24)


def no_purchase_probability(truth: pd.DataFrame, cutoff: dt.datetime, horizon_days: int) -> pd.Series:
    """Each customer's chance of no purchase in ``[cutoff, cutoff + horizon_days)``, by customer_id."""
    start = pd.Timestamp(cutoff).timestamp()
    end = start + horizon_days * DAY
    hour_share = _HOUR_WEIGHT / _HOUR_WEIGHT.sum()
    chances = []
    for lo in range(0, len(truth), 512):
        part = truth.iloc[lo : lo + 512]
        offset = part["utc_offset"].to_numpy(float)[:, None]
        local_from = part["local_from"].to_numpy(float)[:, None]
        rate = part["decay_rate"].to_numpy(float)[:, None]
        mass = part["decay_mass"].to_numpy(float)[:, None]
        first_day = np.floor((start + offset.min()) / DAY) - 1
        days = first_day + np.arange(horizon_days + 3)[None, :]  # local days that can reach the window
        # The day is the floor of a truncated exponential time from local_from.
        cdf = -np.expm1(-rate * np.clip(np.stack([days, days + 1]) * DAY - local_from, 0.0, None)) / mass
        day_share = np.clip(cdf[1] - cdf[0], 0.0, None)
        weekday = _WEEKDAY_ACCEPT[(days.astype(np.int64) + 3) % 7]
        local_time = (days[..., None] * DAY + (_HOURS + 0.5) * 3600).astype(float)  # customer, day, hour
        fade = np.clip(
            (part["local_fade_until"].to_numpy(float)[:, None, None] - local_time) / (_FADE_DAYS * DAY), 0, 1
        )
        utc = local_time - offset[..., None]
        inside = (
            (local_time >= local_from[..., None])
            & (local_time < part["local_until"].to_numpy(float)[:, None, None])
            & (utc >= start)
            & (utc < end)
        )
        kept = (fade * inside * hour_share).sum(axis=2) * weekday * day_share
        q = kept.sum(axis=1) * part["purchase_share"].to_numpy(float)
        chances.append(np.exp(part["proposals"].to_numpy(float) * np.log1p(-np.minimum(q, 1 - 1e-12))))
    return pd.Series(np.concatenate(chances), index=truth["customer_id"].to_numpy(), name="no_purchase")
