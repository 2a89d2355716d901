"""Customer features and the time-aware churn label, as ibis expressions over the event log.

Everything before the cutoff describes the customer; only purchases in ``[cutoff, cutoff + horizon)``
decide the label, so no feature sees the period it predicts.
"""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd

from cba import schema

__all__ = ["PROFILE_EXCLUDED", "churn_cutoff", "customer_features", "from_snapshot", "with_profile"]

PROFILE_EXCLUDED = ("Churn", "signup_date")
"""Profile columns never used as features: the dataset's own label, and a date that Tenure encodes."""


def churn_cutoff(events: ibis.Table, horizon_days: int) -> dt.datetime:
    """The last event time minus the horizon: the latest cutoff whose label window is fully observed."""
    last = pd.Timestamp(events.timestamp.max().execute())
    last = last.tz_localize("UTC") if last.tzinfo is None else last.tz_convert("UTC")  # naive: UTC
    return last.to_pydatetime() - dt.timedelta(days=horizon_days)


def customer_features(events: ibis.Table, cutoff: dt.datetime, horizon_days: int) -> ibis.Table:
    """One row per customer active before ``cutoff``: recency, frequency, monetary, sessions, label."""
    start = ibis.timestamp(cutoff)
    end = ibis.timestamp(cutoff + dt.timedelta(days=horizon_days))
    before = events.filter(events.timestamp < start)
    purchase = before.event_type == "purchase"

    per_session = before.group_by(["customer_id", "session_id"]).aggregate(
        first=before.timestamp.min(), last=before.timestamp.max(), events=before.count()
    )
    # Sums are of whole seconds and whole cents: exact, so parallel engines give the same bytes.
    seconds = (per_session["last"].epoch_seconds() - per_session["first"].epoch_seconds()).cast("int64")
    sessions = per_session.group_by("customer_id").aggregate(
        num_sessions=per_session.count(),
        avg_session_length=seconds.sum() / per_session.count() / 60.0,
        events_per_session=per_session.events.sum() / per_session.count(),
    )
    activity = before.group_by("customer_id").aggregate(
        last_event=before.timestamp.max(),
        last_purchase=before.timestamp.max(where=purchase),
        frequency=before.session_id.nunique(where=purchase),
        monetary=(before.price * 100).round().cast("int64").sum(where=purchase).fill_null(0) / 100.0,
        carts=(before.event_type == "add_to_cart").sum(),
        purchases=purchase.sum(),
    )
    after = events.filter(
        (events.timestamp >= start) & (events.timestamp < end) & (events.event_type == "purchase")
    )
    buyers = after.select("customer_id").distinct().mutate(bought_after=ibis.literal(1))

    joined = activity.join(sessions, "customer_id").left_join(buyers, "customer_id")
    cutoff_seconds = start.epoch_seconds()
    return joined.select(
        customer_id=joined.customer_id,
        recency_days=(cutoff_seconds - joined.last_purchase.epoch_seconds()) / 86_400.0,
        frequency=joined.frequency.cast("int64"),
        monetary=joined.monetary,
        days_since_last_event=(cutoff_seconds - joined.last_event.epoch_seconds()) / 86_400.0,
        num_sessions=joined.num_sessions.cast("int64"),
        avg_session_length=joined.avg_session_length,
        events_per_session=joined.events_per_session,
        cart_abandon_rate=ibis.ifelse(
            joined.carts > 0,
            1.0 - ibis.least(joined.purchases, joined.carts) / joined.carts,
            ibis.null("float64"),
        ),
        churn=(1 - joined.bought_after.fill_null(0)).cast("int64"),
    ).order_by("customer_id")


def from_snapshot(customers: pd.DataFrame) -> pd.DataFrame:
    """Features of a customer snapshot without events (the Kaggle file): its attributes, its own label."""
    profile = customers.drop(columns=[c for c in PROFILE_EXCLUDED if c in customers.columns])
    return profile.assign(churn=customers["Churn"])


def with_profile(features: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """Add the customers' profile attributes (minus :data:`PROFILE_EXCLUDED`) to the behaviour features."""
    profile = customers.drop(columns=[c for c in PROFILE_EXCLUDED if c in customers.columns])
    merged = features.merge(profile, on="customer_id", how="left", validate="one_to_one")
    return merged[schema.FEATURES.names[:-1] + [c for c in profile.columns if c != "customer_id"] + ["churn"]]
