"""The four raw tables, and :func:`generate`, which draws them in order from one seed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from cba.config import GenerateParams
from cba.generate.arrays import DAY
from cba.generate.faults import _faulty_customers, _faulty_events
from cba.generate.marginals import _customers
from cba.generate.simulation import _events, _orders, _sessions, _sessions_table


@dataclass(frozen=True)
class SyntheticData:
    """The four raw tables, as Arrow tables in the raw schemas.

    ``events`` also carries ``event_date`` (the UTC day each event is filed under) and is ordered by it.
    ``truth`` holds what decides each customer's purchases (:mod:`cba.generate.truth`), for the oracle.
    """

    customers: pa.Table
    sessions: pa.Table
    events: pa.Table
    orders: pa.Table
    truth: pa.Table


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
    truth = sessions.pop("truth")
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
        truth=truth,
    )


def _epoch_seconds(day: dt.date) -> int:
    return int((day - dt.date(1970, 1, 1)).days) * DAY
