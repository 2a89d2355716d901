"""Customer features and the time-aware churn label, as ibis expressions over the event log.

Everything before a cutoff describes the customer; only purchases in ``[cutoff, cutoff + horizon)`` decide
the label, so no feature sees the period it predicts. Only customers active shortly before a cutoff can
churn after it (:func:`split_population`); the others are lapsed, a win-back group. Profile attributes that
describe a later day than the cutoff are withheld (:func:`withheld_attributes`). The labelled table stacks
several cutoffs: the evaluation cutoff (``churn.cutoff``, or the last event minus the horizon) and
``churn.training_cutoffs`` earlier ones, each a horizon before the next. The current table describes every
customer at the last event, unlabelled: the customers a model scores for action.

Feature families (names and meanings in :data:`cba.schema.FEATURES`):

- time: tenure, recency, the share of events by day part (UTC hours 0-5 night, 6-11 morning, 12-17
  afternoon, 18-23 evening) and on weekends, the preferred day part;
- RFM: frequency (orders, that is sessions with a purchase), monetary value, and quintile scores 1-5
  ranked among the customers of the same cutoff, named by :data:`RFM_SEGMENTS` (description only:
  :data:`MODEL_EXCLUDED`);
- sessions: count, mean length, events per session, cart abandonment;
- behaviour: events and shares per product category, the preferred device, and a product-affinity vector
  (:class:`ProductAffinity`, computed with numpy after the ibis part).

The ibis part runs on DuckDB or Spark alike: integer sums, ties broken by name, no engine-only function.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD

from cba import schema

__all__ = [
    "GENERATOR_SNAPSHOT_ATTRIBUTES",
    "DAY_PARTS",
    "PROFILE_EXCLUDED",
    "RFM_SEGMENTS",
    "CHURN_DEFINITIONS",
    "MODEL_EXCLUDED",
    "ProductAffinity",
    "behaviour_features",
    "churn_cutoff",
    "churn_definitions",
    "churn_definitions_sentence",
    "current_features",
    "customer_features",
    "cutoff_summary",
    "cutoff_sentence",
    "features_metrics",
    "features_sentence",
    "fit_product_affinity",
    "from_snapshot",
    "label_cutoffs",
    "labelled_features",
    "last_event_time",
    "model_features",
    "population",
    "population_sentence",
    "product_interactions",
    "rfm_segment_figure",
    "rfm_segment_sentence",
    "rfm_segments",
    "snapshot_attributes",
    "snapshot_attributes_sentence",
    "split_population",
    "with_profile",
    "withheld_attributes",
]

PROFILE_EXCLUDED = ("Churn", "signup_date")
"""Profile columns never used as features: the dataset's own label, and a date that Tenure encodes."""

DAY_PARTS = ("night", "morning", "afternoon", "evening")
"""Six-hour parts of the UTC day, from midnight; ties in the preferred day part go to the earlier one."""

RFM_SEGMENTS: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...] = (
    ("Champions", (5,), (4, 5)),
    ("Loyal", (3, 4), (4, 5)),
    ("Potential loyalists", (4, 5), (2, 3)),
    ("New customers", (5,), (1,)),
    ("Promising", (4,), (1,)),
    ("Need attention", (3,), (3,)),
    ("About to sleep", (3,), (1, 2)),
    ("Can't lose them", (1, 2), (5,)),
    ("At risk", (1, 2), (3, 4)),
    ("Hibernating", (1, 2), (1, 2)),
)
"""Named segments of the recency × frequency score grid, ``(segment, r scores, f scores)``.

The usual RFM map: each of the 25 (r, f) pairs falls in exactly one segment; the monetary score stays a
feature of its own. A customer who never bought has the lowest r and f and is Hibernating.
"""

_SECONDS_PER_DAY = 86_400
_NEVER = -1  # stands for "no purchase" when ranking last-purchase times: earlier than any instant


def last_event_time(events: ibis.Table) -> dt.datetime:
    """The time of the last event, in UTC (naive timestamps are read as UTC)."""
    return _utc(events.timestamp.max().execute())


def churn_cutoff(events: ibis.Table, horizon_days: int) -> dt.datetime:
    """The last event time minus the horizon: the latest cutoff whose label window is fully observed."""
    return last_event_time(events) - dt.timedelta(days=horizon_days)


def label_cutoffs(
    events: ibis.Table, horizon_days: int, cutoff: dt.date | None, training_cutoffs: int
) -> list[dt.datetime]:
    """The label cutoffs, oldest first; the last is the evaluation cutoff.

    The evaluation cutoff is midnight (UTC) of ``cutoff`` when given, else :func:`churn_cutoff`; each of
    the ``training_cutoffs`` earlier ones lies ``horizon_days`` before the next, so the label window of a
    training cutoff ends where the next cutoff starts.

    Raises
    ------
    ValueError
        Naming ``churn.cutoff`` when its label window runs past the last event, or
        ``churn.training_cutoffs`` when the earliest cutoff is not after the first event.
    """
    bounds = events.aggregate(first=events.timestamp.min(), last=events.timestamp.max()).execute()
    first, last = _utc(bounds["first"].iloc[0]), _utc(bounds["last"].iloc[0])
    horizon = dt.timedelta(days=horizon_days)
    if cutoff is None:
        evaluation = last - horizon
    else:
        evaluation = dt.datetime.combine(cutoff, dt.time(), tzinfo=dt.UTC)
        if evaluation + horizon > last:
            raise ValueError(
                f"churn.cutoff {cutoff}: its {horizon_days}-day label window ends after the last event "
                f"({last:%Y-%m-%d %H:%M:%S} UTC); choose an earlier cutoff or null"
            )
    cutoffs = [evaluation - k * horizon for k in range(training_cutoffs, -1, -1)]
    if cutoffs[0] <= first:
        raise ValueError(
            f"churn.training_cutoffs {training_cutoffs}: the earliest cutoff ({cutoffs[0]:%Y-%m-%d} UTC) is "
            f"not after the first event ({first:%Y-%m-%d} UTC); lower churn.training_cutoffs or "
            "churn.horizon_days"
        )
    return cutoffs


def behaviour_features(
    events: ibis.Table, cutoff: dt.datetime, signups: ibis.Table | None = None
) -> ibis.Table:
    """One row per customer active before ``cutoff``: every ibis feature of :data:`schema.FEATURES`.

    ``signups`` (``customer_id``, ``signup_date``), when given, dates the start of tenure: the earlier of
    signup and first event. Without it, tenure starts at the first event.
    """
    at = ibis.literal(cutoff, type="timestamp('UTC', 6)")
    before = events.filter(events.timestamp < at)
    purchase = before.event_type == "purchase"
    hour = before.timestamp.hour()
    category = before.category

    per_session = before.group_by(["customer_id", "session_id"]).aggregate(
        first=before.timestamp.min(), last=before.timestamp.max(), events=before.count()
    )
    # Sums are of whole seconds, whole cents and counts: exact, so parallel engines give the same bytes.
    seconds = (per_session["last"].epoch_seconds() - per_session["first"].epoch_seconds()).cast("int64")
    sessions = per_session.group_by("customer_id").aggregate(
        num_sessions=per_session.count(),
        session_seconds=seconds.sum(),
        session_events=per_session.events.sum(),
    )
    named = list(schema.CATEGORIES[:-1])
    activity = before.group_by("customer_id").aggregate(
        events=before.count(),
        first_event=before.timestamp.min(),
        last_event=before.timestamp.max(),
        last_purchase=before.timestamp.max(where=purchase),
        frequency=before.session_id.nunique(where=purchase),
        monetary_cents=(before.price * 100).round().cast("int64").sum(where=purchase).fill_null(0),
        carts=(before.event_type == "add_to_cart").sum(),
        purchases=purchase.sum(),
        weekend_events=(before.timestamp.day_of_week.index() >= 5).sum(),
        **{
            f"{part}_events": ((hour >= 6 * i) & (hour < 6 * (i + 1))).sum()
            for i, part in enumerate(DAY_PARTS)
        },
        **{f"{schema.category_slug(c)}_count": (category == c).fill_null(False).sum() for c in named},
        # categories outside the vocabulary (an own event log's) count as Others
        **{
            f"{schema.category_slug(schema.CATEGORIES[-1])}_count": (
                category.notnull() & ~category.isin(named)
            )
            .fill_null(False)
            .sum()
        },
    )
    joined = activity.join(sessions, "customer_id").left_join(_preferred_device(before), "customer_id")
    if signups is not None:
        joined = joined.left_join(signups.select("customer_id", "signup_date"), "customer_id")

    cutoff_seconds = at.epoch_seconds().cast("int64")
    first_seconds = joined.first_event.epoch_seconds().cast("int64")
    if signups is not None:
        # a date, or a naive timestamp (as an own event log's derived customers carry it): its day counts
        signup_seconds = joined.signup_date.cast("date").epoch_days().cast("int64") * _SECONDS_PER_DAY
        first_seconds = ibis.least(first_seconds, signup_seconds.fill_null(first_seconds))
    last_purchase_seconds = joined.last_purchase.epoch_seconds().cast("int64")
    day_parts = [joined[f"{part}_events"] for part in DAY_PARTS]
    busiest = ibis.greatest(*day_parts)
    categories = [joined[f"{schema.category_slug(c)}_count"] for c in schema.CATEGORIES]
    categorised = sum(categories[1:], categories[0])
    scores = {
        # 1 + floor(5 * customers strictly behind / customers): ties share a score, 1 to 5
        "r_score": last_purchase_seconds.fill_null(_NEVER),
        "f_score": joined.frequency,
        "m_score": joined.monetary_cents,
    }
    customers = joined.customer_id.count().over()
    table = joined.select(
        customer_id=joined.customer_id,
        cutoff=at,
        tenure_days=(cutoff_seconds - first_seconds) / _SECONDS_PER_DAY,
        recency_days=(cutoff_seconds - last_purchase_seconds) / _SECONDS_PER_DAY,
        frequency=joined.frequency.cast("int64"),
        monetary=joined.monetary_cents / 100.0,
        days_since_last_event=(cutoff_seconds - joined.last_event.epoch_seconds()) / _SECONDS_PER_DAY,
        num_sessions=joined.num_sessions.cast("int64"),
        avg_session_length=joined.session_seconds / joined.num_sessions / 60.0,
        events_per_session=joined.session_events / joined.num_sessions,
        cart_abandon_rate=ibis.ifelse(
            joined.carts > 0,
            1.0 - ibis.least(joined.purchases, joined.carts) / joined.carts,
            ibis.null("float64"),
        ),
        **{
            name: (1 + 5 * ibis.rank().over(order_by=value) // customers).cast("int64")
            for name, value in scores.items()
        },
        preferred_day_part=ibis.cases(
            *[(count == busiest, part) for count, part in zip(day_parts, DAY_PARTS, strict=True)]
        ),
        **{f"{part}_share": count / joined.events for count, part in zip(day_parts, DAY_PARTS, strict=True)},
        weekend_share=joined.weekend_events / joined.events,
        preferred_device=joined.preferred_device,
        **{
            f"events_{schema.category_slug(c)}": count.cast("int64")
            for count, c in zip(categories, schema.CATEGORIES, strict=True)
        },
        **{
            f"share_{schema.category_slug(c)}": ibis.ifelse(
                categorised > 0, count / categorised, ibis.null("float64")
            )
            for count, c in zip(categories, schema.CATEGORIES, strict=True)
        },
    )
    segment = ibis.cases(
        *[(table.r_score.isin(r) & table.f_score.isin(f), name) for name, r, f in RFM_SEGMENTS]
    )
    return table.mutate(rfm_segment=segment).select(*schema.FEATURES.names[:-1]).order_by("customer_id")


def _preferred_device(before: ibis.Table) -> ibis.Table:
    """Each customer's device with the most events (ties: the first by name); customers without one absent."""
    known = before.filter(before.device.notnull())
    counts = known.group_by(["customer_id", "device"]).aggregate(device_events=known.count())
    rank = ibis.row_number().over(group_by="customer_id", order_by=[ibis.desc("device_events"), "device"])
    ranked = counts.mutate(device_rank=rank)
    return ranked.filter(ranked.device_rank == 0).select("customer_id", preferred_device=ranked.device)


def customer_features(
    events: ibis.Table, cutoff: dt.datetime, horizon_days: int, signups: ibis.Table | None = None
) -> ibis.Table:
    """:func:`behaviour_features` at ``cutoff`` plus ``churn``: 1 when no purchase in the horizon after it."""
    start = ibis.literal(cutoff, type="timestamp('UTC', 6)")
    end = ibis.literal(cutoff + dt.timedelta(days=horizon_days), type="timestamp('UTC', 6)")
    after = events.filter(
        (events.timestamp >= start) & (events.timestamp < end) & (events.event_type == "purchase")
    )
    buyers = after.select("customer_id").distinct().mutate(bought_after=ibis.literal(1))
    behaviour = behaviour_features(events, cutoff, signups)
    joined = behaviour.left_join(buyers, "customer_id")
    return joined.select(
        *behaviour.columns, churn=(1 - joined.bought_after.fill_null(0)).cast("int64")
    ).order_by("customer_id")


def product_interactions(events: ibis.Table, cutoff: dt.datetime) -> ibis.Table:
    """Events per (customer, product) before ``cutoff``: the input of the product-affinity vector."""
    at = ibis.literal(cutoff, type="timestamp('UTC', 6)")
    before = events.filter((events.timestamp < at) & events.product_id.notnull())
    return (
        before.group_by(["customer_id", "product_id"])
        .aggregate(interactions=before.count())
        .order_by(["customer_id", "product_id"])
    )


@dataclass(frozen=True)
class ProductAffinity:
    """A fitted product-affinity basis: ``components[k, j]`` weighs product ``products[j]`` in dimension k.

    A customer's vector is the projection of their interaction profile (log of one plus events per
    product, scaled to unit length) on the basis; products the basis never saw are ignored, and a
    customer without product events gets zeros.
    """

    products: tuple[str, ...]
    components: np.ndarray

    @property
    def dimensions(self) -> int:
        """Length of the affinity vector."""
        return self.components.shape[0]

    def transform(self, interactions: pd.DataFrame, customer_ids: Sequence[int]) -> pd.DataFrame:
        """Affinity vectors of ``customer_ids`` (in that order) from their product ``interactions``."""
        customer_ids = pd.Index(customer_ids)
        known = interactions[interactions["product_id"].isin(self.products)]
        profile = _profile_matrix(known, customer_ids, pd.Index(self.products))
        vectors = np.round(profile @ self.components.T, 6) + 0.0  # rounded: stable bytes; + 0.0: no -0.0
        return pd.DataFrame(vectors, columns=schema.affinity_columns(self.dimensions))


def fit_product_affinity(interactions: pd.DataFrame, dimensions: int, seed: int) -> ProductAffinity:
    """A truncated SVD (seeded, signs fixed) of the customer × product interaction profiles.

    Fit on the events before the earliest cutoff and applied to every cutoff, so every row shares one
    basis and no affinity sees events after any label window opens. With fewer products or customers than
    ``dimensions``, the missing dimensions are zeros.
    """
    products = pd.Index(sorted(interactions["product_id"].unique()), dtype=object)
    customers = pd.Index(sorted(interactions["customer_id"].unique()))
    rank = min(dimensions, len(products), len(customers))
    components = np.zeros((dimensions, len(products)))
    if rank >= 1:
        svd = TruncatedSVD(n_components=rank, random_state=seed)
        with np.errstate(invalid="ignore"):  # explained-variance ratio (unused) of a single customer: 0 / 0
            components[:rank] = svd.fit(_profile_matrix(interactions, customers, products)).components_
    return ProductAffinity(tuple(products), components)


def _profile_matrix(interactions: pd.DataFrame, customers: pd.Index, products: pd.Index) -> sp.csr_matrix:
    rows = customers.get_indexer(interactions["customer_id"])
    columns = products.get_indexer(interactions["product_id"])
    values = np.log1p(interactions["interactions"].to_numpy(dtype=float))
    matrix = sp.csr_matrix((values, (rows, columns)), shape=(len(customers), len(products)))
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1))).ravel()
    return sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ matrix


def labelled_features(
    events: ibis.Table,
    cutoffs: Sequence[dt.datetime],
    horizon_days: int,
    affinity: ProductAffinity,
    signups: ibis.Table | None = None,
) -> pd.DataFrame:
    """:func:`customer_features` at every cutoff, with the affinity vector, stacked oldest first."""
    frames = []
    for cutoff in cutoffs:
        table = customer_features(events, cutoff, horizon_days, signups).to_pandas()
        frames.append(_with_affinity(table, events, cutoff, affinity))
    return pd.concat(frames, ignore_index=True)


def current_features(
    events: ibis.Table, affinity: ProductAffinity, signups: ibis.Table | None = None
) -> pd.DataFrame:
    """Every customer's features at the last event, unlabelled (cutoff one second after the last event)."""
    cutoff = last_event_time(events) + dt.timedelta(seconds=1)
    return _with_affinity(behaviour_features(events, cutoff, signups).to_pandas(), events, cutoff, affinity)


def _with_affinity(
    table: pd.DataFrame, events: ibis.Table, cutoff: dt.datetime, affinity: ProductAffinity
) -> pd.DataFrame:
    """``table`` with the affinity vector inserted before ``churn`` (or at the end)."""
    table = table.assign(cutoff=table["cutoff"].dt.tz_convert("UTC").dt.as_unit("us"))
    vectors = affinity.transform(product_interactions(events, cutoff).to_pandas(), table["customer_id"])
    label = table[["churn"]] if "churn" in table.columns else table.iloc[:, :0]
    behaviour = table.drop(columns=label.columns)
    return pd.concat([behaviour, vectors.set_index(table.index), label], axis=1)


def from_snapshot(customers: pd.DataFrame) -> pd.DataFrame:
    """Features of a customer snapshot without events (the Kaggle file): its attributes, its own label."""
    profile = customers.drop(columns=[c for c in PROFILE_EXCLUDED if c in customers.columns])
    return profile.assign(churn=customers["Churn"])


def with_profile(
    features: pd.DataFrame, customers: pd.DataFrame, withheld: Sequence[str] = ()
) -> pd.DataFrame:
    """Add the customers' profile attributes (minus :data:`PROFILE_EXCLUDED`) to the behaviour features.

    ``withheld`` attributes (see :func:`withheld_attributes`) are left out with their ``_missing``
    indicators. The label, when present, stays last. A customer may appear at several cutoffs; the profile
    must hold each customer once.
    """
    dropped = [*PROFILE_EXCLUDED, *withheld, *(f"{name}_missing" for name in withheld)]
    profile = customers.drop(columns=[c for c in dropped if c in customers.columns])
    merged = features.merge(profile, on="customer_id", how="left", validate="many_to_one")
    label = ["churn"] if "churn" in features.columns else []
    behaviour = [c for c in features.columns if c != "churn"]
    return merged[behaviour + [c for c in profile.columns if c != "customer_id"] + label]


GENERATOR_SNAPSHOT_ATTRIBUTES = ("Tenure",)
"""The generator's snapshot attributes: it draws every attribute at signup and never changes it, except
``Tenure``, the months from signup to the end of the data (signup is drawn as the end minus the tenure),
which tells a model how far a cutoff lies from the end of the data."""


def snapshot_attributes(source: str, configured: Sequence[str] | None) -> list[str]:
    """The customer attributes treated as snapshots: ``configured`` when given, else by ``source``.

    The generator's are :data:`GENERATOR_SNAPSHOT_ATTRIBUTES`; any other customers table has
    :data:`cba.schema.SNAPSHOT_ATTRIBUTES`.
    """
    if configured is not None:
        return list(configured)
    return list(GENERATOR_SNAPSHOT_ATTRIBUTES) if source == "synthetic" else list(schema.SNAPSHOT_ATTRIBUTES)


def withheld_attributes(
    snapshots: Sequence[str], snapshot_date: dt.datetime, cutoffs: Sequence[dt.datetime]
) -> list[str]:
    """The snapshot attributes the models may not see: all of them when a cutoff precedes the snapshot.

    A snapshot attribute describes the customer on ``snapshot_date``; joined to an earlier cutoff it tells
    the model about the period it predicts. The models learn from every cutoff and score with the columns
    they learned from, so a snapshot attribute is used only when every cutoff is at or after its date.
    """
    return list(snapshots) if min(cutoffs) < snapshot_date else []


def snapshot_attributes_sentence(source: str, snapshots: Sequence[str], withheld: Sequence[str]) -> str:
    """Which profile attributes are snapshots here, and which the models may not see."""
    rule = (
        "A snapshot attribute (one that describes the day the customers table was taken) joins only cutoffs "
        "at or after that day (`data.snapshot_date`; null: the last event), so it never tells a model "
        "about the period it predicts."
    )
    if source == "synthetic" and list(snapshots) == list(GENERATOR_SNAPSHOT_ATTRIBUTES):
        listed = ", ".join(schema.SNAPSHOT_ATTRIBUTES)
        return (
            f"{rule} The generator draws every profile attribute at signup and never changes it, except "
            "Tenure, which it states at the end of the data: Tenure is its one snapshot"
            + (", withheld from the models here" if withheld else "")
            + f". In a real customers table {listed} are snapshots (`data.snapshot_attributes`)."
        )
    if not withheld:
        return f"{rule} Every cutoff is at or after the snapshot, so every attribute joins the features."
    return f"{rule} Withheld from the models: {', '.join(withheld)}."


MODEL_EXCLUDED = ("r_score", "f_score", "m_score", "rfm_segment")
"""Features that describe but never feed a model: the RFM quintile scores rank each customer among every
customer of the same cutoff, test customers included, so they would carry the test rows into training.
Recency, frequency and monetary value themselves stay features."""


def model_features(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` without :data:`MODEL_EXCLUDED`: the columns the models learn from and score with."""
    return table.drop(columns=[c for c in MODEL_EXCLUDED if c in table.columns])


def split_population(table: pd.DataFrame, active_days: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The customers at risk and the lapsed ones, at each cutoff of a feature table.

    A customer is active at a cutoff when their last event falls in the ``active_days`` before it
    (``days_since_last_event <= active_days``); only they can churn in the period after it and are scored.
    The others stopped before the cutoff: a win-back group, never a churn risk.
    """
    active = table["days_since_last_event"] <= active_days
    return table[active].reset_index(drop=True), table[~active].reset_index(drop=True)


def population(active: pd.DataFrame, lapsed: pd.DataFrame, active_days: int) -> dict | None:
    """Active and lapsed customers at the evaluation cutoff (the latest of ``active``); ``None`` without one.

    ``returned`` counts the lapsed customers who bought again within the horizon anyway.
    """
    if "cutoff" not in active.columns or active.empty:
        return None
    evaluation = active["cutoff"].max()
    lapsed_now = lapsed[lapsed["cutoff"] == evaluation] if "cutoff" in lapsed.columns else lapsed.iloc[:0]
    returned = int((lapsed_now["churn"] == 0).sum()) if "churn" in lapsed_now.columns else 0
    return {
        "active_days": active_days,
        "active": int((active["cutoff"] == evaluation).sum()),
        "lapsed": len(lapsed_now),
        "lapsed_returned": returned,
    }


def population_sentence(counts: dict | None, win_back: int) -> str:
    """Who is scored and who is lapsed, at the evaluation cutoff and today."""
    if counts is None:
        return (
            "A snapshot has no cutoff to measure activity against: every customer is scored "
            f"({win_back:,} lapsed)."
        )
    share = counts["lapsed"] / (counts["active"] + counts["lapsed"]) if counts["lapsed"] else 0.0
    returned = counts["lapsed_returned"] / counts["lapsed"] if counts["lapsed"] else 0.0
    return (
        f"Only customers with an event in the {counts['active_days']} days before a cutoff are at risk of "
        f"churn (`churn.active_days`): {counts['active']:,} at the evaluation cutoff. The other "
        f"{counts['lapsed']:,} ({share:.1%}) had already stopped; they are a win-back group, not churn risk "
        f"({returned:.1%} of them bought again in the horizon anyway). Today {win_back:,} customers are "
        "lapsed."
    )


CHURN_DEFINITIONS = {
    "source flag": ("the customers table's own `Churn` column", "EDA churn by segment"),
    "model label": ("no purchase in the horizon after a cutoff, among active customers", "features, churn"),
    "survival event": ("the last activity falls before the data end minus the horizon", "survival"),
}
"""The three things called churn in the book: what each means and the chapters that use it."""


def churn_definitions(
    source_flag: pd.Series | None, model_label: pd.Series | None, survival_event: pd.Series | None
) -> pd.DataFrame:
    """The three churn definitions side by side: meaning, chapters, customers counted and rate.

    Each argument holds one 0/1 value per customer under its definition (``None`` when the source lacks
    it, or, for a snapshot without events, when the definition is the source flag itself); the model
    label is the evaluation cutoff's.
    """
    values = {"source flag": source_flag, "model label": model_label, "survival event": survival_event}
    rows = [
        {
            "definition": name,
            "meaning": CHURN_DEFINITIONS[name][0],
            "used_by": CHURN_DEFINITIONS[name][1],
            "customers": len(flag),
            "churned": int(flag.sum()),
            "churn_rate": round(float(flag.mean()), 4),
        }
        for name, flag in values.items()
        if flag is not None and len(flag)
    ]
    return pd.DataFrame(rows)


def churn_definitions_sentence(definitions: pd.DataFrame) -> str:
    """One sentence: the rate under each definition, and which one the models predict."""
    if definitions["definition"].tolist() == ["source flag"]:
        row = definitions.iloc[0]
        return (
            f"Churn here is the source's own flag, {row.churn_rate:.1%} of {row.customers:,} customers: the "
            "models predict it and survival uses it as its event."
        )
    rates = ", ".join(
        f"{row.definition} {row.churn_rate:.1%} of {row.customers:,}" for row in definitions.itertuples()
    )
    return (
        f"Three things are called churn here, with different rates: {rates}. The models predict the model "
        "label; the EDA's churn by segment describes the source flag and survival uses its own event."
    )


def cutoff_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Customers, churners and churn rate at each cutoff of a labelled table, oldest first."""
    summary = table.groupby("cutoff", sort=True)["churn"].agg(customers="size", churned="sum").reset_index()
    return summary.assign(churn_rate=summary["churned"] / summary["customers"])


def features_metrics(table: pd.DataFrame, current: pd.DataFrame, horizon_days: int | None) -> dict:
    """``metrics/features.json``: the evaluation cutoff's customers and churn rate, and each cutoff's.

    A snapshot (no ``cutoff`` column) has no cutoff, no horizon and an empty list of cutoffs.
    """
    if "cutoff" not in table.columns:
        return {
            "customers": len(table),
            "churn_rate": round(float(table["churn"].mean()), 4),
            "horizon_days": None,
            "cutoff": None,
            "cutoffs": [],
            "current_customers": len(current),
        }
    per_cutoff = [
        {
            "cutoff": row.cutoff.isoformat(),
            "customers": int(row.customers),
            "churned": int(row.churned),
            "churn_rate": round(float(row.churn_rate), 4),
        }
        for row in cutoff_summary(table).itertuples()
    ]
    evaluation = per_cutoff[-1]
    return {
        "customers": evaluation["customers"],
        "churn_rate": evaluation["churn_rate"],
        "horizon_days": horizon_days,
        "cutoff": pd.Timestamp(evaluation["cutoff"]).date().isoformat(),
        "cutoffs": per_cutoff,
        "current_customers": len(current),
    }


def features_sentence(table: pd.DataFrame, summary: dict, label: str) -> str:
    """Labelled rows (and cutoffs), customers and churn rate at the evaluation cutoff, customers to score."""
    if summary["cutoffs"]:
        rows = (
            f"{len(table):,} labelled rows over {len(summary['cutoffs'])} cutoffs; at the evaluation cutoff, "
        )
    else:
        rows = f"{len(table):,} labelled rows; "
    return (
        f"{rows}{summary['customers']:,} customers, {summary['churn_rate']:.1%} churned by {label}; "
        f"{table.shape[1]} columns; {summary['current_customers']:,} customers to score now."
    )


def cutoff_sentence(by_cutoff: pd.DataFrame) -> str:
    """The churn rate at the earliest and at the evaluation cutoff, from :func:`cutoff_summary`."""
    first, last = by_cutoff.iloc[0], by_cutoff.iloc[-1]
    return (
        f"The churn rate is {first.churn_rate:.1%} of {first.customers:,} customers at the earliest cutoff "
        f"({first.cutoff:%Y-%m-%d}) and {last.churn_rate:.1%} of {last.customers:,} at the evaluation "
        f"cutoff ({last.cutoff:%Y-%m-%d}); models train on the earlier cutoffs and are tested on the last."
    )


def rfm_segments(table: pd.DataFrame) -> pd.DataFrame:
    """Customers, share, churn rate and mean R, F, M per RFM segment, in :data:`RFM_SEGMENTS` order."""
    grouped = table.groupby("rfm_segment")
    summary = pd.DataFrame(
        {
            "customers": grouped.size(),
            "churn_rate": grouped["churn"].mean(),
            "median_recency_days": grouped["recency_days"].median(),
            "mean_frequency": grouped["frequency"].mean(),
            "mean_monetary": grouped["monetary"].mean(),
        }
    )
    order = [name for name, _, _ in RFM_SEGMENTS if name in summary.index]
    summary = summary.loc[order].rename_axis("rfm_segment").reset_index()
    summary.insert(2, "share", summary["customers"] / summary["customers"].sum())
    return summary


def rfm_segment_figure(segments: pd.DataFrame) -> go.Figure:
    """Churn rate per RFM segment (bars), with the segment's customers on hover."""
    return px.bar(
        segments,
        x="rfm_segment",
        y="churn_rate",
        hover_data=["customers", "share"],
        title="Churn rate by RFM segment",
        labels={"rfm_segment": "RFM segment", "churn_rate": "churn rate"},
    )


def rfm_segment_sentence(segments: pd.DataFrame) -> str:
    """One sentence: the segments that churn most and least, and the largest one."""
    worst = segments.loc[segments["churn_rate"].idxmax()]
    best = segments.loc[segments["churn_rate"].idxmin()]
    largest = segments.loc[segments["customers"].idxmax()]
    return (
        f"{worst.rfm_segment} churn most ({worst.churn_rate:.1%} of {worst.customers:,} customers), "
        f"{best.rfm_segment} least ({best.churn_rate:.1%} of {best.customers:,}); "
        f"the largest segment is {largest.rfm_segment} ({largest.share:.1%} of customers)."
    )


def _utc(value: object) -> dt.datetime:
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")  # naive: UTC
    return stamp.to_pydatetime()
