"""Customer lifetime value: BG/NBD for repeat purchases, Gamma-Gamma for spend, validated on a holdout.

Time runs in days. A customer's history at an observation end is summarised the way BG/NBD and
Gamma-Gamma read it (Fader, Hardie & Lee 2005; the ``lifetimes`` definitions, as in PyMC-Marketing's
``rfm_summary``): purchases are counted per day, the first purchase day starts the customer, and

- ``frequency``: repeat purchase days (purchase days after the first),
- ``recency``: days from the first to the last purchase day,
- ``T``: days from the first purchase day to the observation end,
- ``monetary_value``: mean revenue of a repeat purchase day (0 without repeats).

Both models are fitted with PyMC-Marketing by maximum a posteriori under flat priors, which is the
maximum-likelihood fit of the papers; only the point estimates are kept (four numbers for BG/NBD, three
for Gamma-Gamma), and every prediction is the papers' closed form of them, so scoring many customers
needs no posterior draws. The validation fits on a calibration period and predicts the repeat purchases
of the following ``holdout_days``, against a naive baseline that carries each customer's past repeat
purchase rate forward.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from scipy.special import betaln, expit, hyp2f1

__all__ = [
    "DAYS_PER_MONTH",
    "RFM_COLUMNS",
    "BetaGeoParameters",
    "GammaGammaParameters",
    "calibration_holdout",
    "calibration_purchases",
    "calibration_purchases_figure",
    "calibration_purchases_sentence",
    "customer_value",
    "expected_purchases",
    "expected_spend",
    "fit_beta_geo",
    "fit_gamma_gamma",
    "holdout_sentence",
    "holdout_validation",
    "lifetime_value",
    "naive_purchases",
    "probability_alive",
    "probability_alive_figure",
    "probability_alive_sentence",
    "probability_alive_table",
    "value_summary",
    "probability_no_purchase",
    "rfm_summary",
    "transactions_from_events",
    "transactions_from_orders",
]

RFM_COLUMNS = ("frequency", "recency", "T", "monetary_value")
DAYS_PER_MONTH = 30
"""Length of a CLV month in days (PyMC-Marketing's and ``lifetimes``' convention)."""
CALIBRATION_PURCHASES_MAX = 7
"""The calibration check groups customers by repeat purchases 0 .. 6 and 7 or more."""


@dataclass(frozen=True)
class BetaGeoParameters:
    """Point estimates of BG/NBD: purchase rate ~ Gamma(r, alpha), dropout probability ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float

    def as_dict(self) -> dict[str, float]:
        """The parameters by name, rounded for a metrics file."""
        return {k: round(v, 6) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class GammaGammaParameters:
    """Point estimates of Gamma-Gamma: spend per purchase ~ Gamma(p, nu), nu ~ Gamma(q, v)."""

    p: float
    q: float
    v: float

    def as_dict(self) -> dict[str, float]:
        """The parameters by name, rounded for a metrics file."""
        return {k: round(v, 6) for k, v in asdict(self).items()}


def transactions_from_orders(orders: pd.DataFrame) -> pd.DataFrame:
    """``customer_id``, ``timestamp``, ``amount`` of each order (the landed orders table)."""
    return pd.DataFrame(
        {
            "customer_id": orders["customer_id"].to_numpy(),
            "timestamp": orders["order_timestamp"].to_numpy(),
            "amount": orders["order_amount"].to_numpy(),
        }
    )


def transactions_from_events(events: pd.DataFrame) -> pd.DataFrame:
    """``customer_id``, ``timestamp``, ``amount`` of each purchase event (its price; blank prices count 0)."""
    purchases = events[events["event_type"] == "purchase"]
    return pd.DataFrame(
        {
            "customer_id": purchases["customer_id"].to_numpy(),
            "timestamp": purchases["timestamp"].to_numpy(),
            "amount": purchases["price"].fillna(0.0).to_numpy(),
        }
    )


def _days(transactions: pd.DataFrame) -> pd.DataFrame:
    """Transactions with ``day``: the UTC calendar day of the timestamp (naive timestamps are UTC)."""
    stamp = pd.to_datetime(transactions["timestamp"])
    if stamp.dt.tz is not None:
        stamp = stamp.dt.tz_convert("UTC").dt.tz_localize(None)
    return pd.DataFrame(
        {
            "customer_id": transactions["customer_id"].to_numpy(),
            "day": stamp.dt.floor("D").to_numpy(),
            "amount": transactions["amount"].astype(float).to_numpy(),
        }
    )


def _utc_day(value: object) -> pd.Timestamp:
    """The UTC calendar day of ``value`` as a naive timestamp."""
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.floor("D")


def _pymc_marketing_clv():
    """PyMC-Marketing's ``clv`` module, imported without ArviZ's once-a-day notice.

    ArviZ prints that notice on the first import of each calendar day only, so a chapter's bytes would
    depend on whether its build was the day's first.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"\s*ArviZ is undergoing", category=FutureWarning)
        from pymc_marketing import clv

    return clv


def rfm_summary(transactions: pd.DataFrame, observation_end: object) -> pd.DataFrame:
    """One row per customer who bought on or before the day ``observation_end``: the BG/NBD summary.

    The columns are ``customer_id`` and :data:`RFM_COLUMNS`, defined in the module docstring; purchases
    after the observation end's day are ignored.
    """
    summary = _pymc_marketing_clv().utils.rfm_summary(
        _days(transactions), "customer_id", "day", "amount", observation_period_end=_utc_day(observation_end)
    )
    return summary.sort_values("customer_id", ignore_index=True)


def calibration_holdout(transactions: pd.DataFrame, holdout_days: int) -> tuple[pd.DataFrame, pd.Timestamp]:
    """The calibration summary with each customer's ``holdout_purchases``, and the calibration's last day.

    The holdout is the last ``holdout_days`` days of the log (up to its last purchase day); the
    calibration is everything before. Customers whose first purchase falls in the holdout are left out,
    as the models know nothing of them. ``holdout_purchases`` counts purchase days in the holdout.

    Raises
    ------
    ValueError
        Naming ``clv.holdout_days`` when the calibration or the holdout holds no purchase.
    """
    utils = _pymc_marketing_clv().utils
    days = _days(transactions)
    last_day = days["day"].max()
    calibration_end = last_day - pd.Timedelta(days=holdout_days)
    if not (days["day"] <= calibration_end).any() or not (days["day"] > calibration_end).any():
        raise ValueError(
            f"clv.holdout_days {holdout_days}: the log ({days['day'].min():%Y-%m-%d} to {last_day:%Y-%m-%d}) "
            "needs purchases both before and within the holdout; choose a shorter holdout"
        )
    split = utils.rfm_train_test_split(
        days, "customer_id", "day", calibration_end, last_day, monetary_value_col="amount"
    )
    summary = split[["customer_id", *RFM_COLUMNS]].assign(holdout_purchases=split["test_frequency"])
    return summary.sort_values("customer_id", ignore_index=True), calibration_end


def _map_point(model, data: pd.DataFrame, names: tuple[str, ...], seed: int) -> dict[str, float]:
    """Fit ``model`` to ``data`` by maximum a posteriori and return the named point estimates."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyMC-Marketing's notices about its own API, not about the fit
        model.fit(data, method="map", progressbar=False, seed=seed)
    return {name: float(model.fit_result[name].values.ravel()[0]) for name in names}


def fit_beta_geo(summary: pd.DataFrame, seed: int) -> BetaGeoParameters:
    """BG/NBD fitted by MAP (flat priors) to ``summary`` (its id, frequency, recency, T)."""
    BetaGeoModel = _pymc_marketing_clv().BetaGeoModel
    from pymc_extras.prior import Prior

    names = ("r", "alpha", "a", "b")
    model = BetaGeoModel(model_config={name: Prior("HalfFlat") for name in names})
    data = summary[["customer_id", "frequency", "recency", "T"]]
    return BetaGeoParameters(**_map_point(model, data, names, seed))


def fit_gamma_gamma(summary: pd.DataFrame, seed: int) -> GammaGammaParameters:
    """Gamma-Gamma fitted by MAP (flat priors) to the customers of ``summary`` with repeat purchases.

    Raises
    ------
    ValueError
        When no customer has a repeat purchase with a positive value.
    """
    GammaGammaModel = _pymc_marketing_clv().GammaGammaModel
    from pymc_extras.prior import Prior

    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    if repeat.empty:
        raise ValueError("Gamma-Gamma needs a customer with a repeat purchase of positive value; none has")
    names = ("p", "q", "v")
    model = GammaGammaModel(model_config={name: Prior("HalfFlat") for name in names})
    data = repeat[["customer_id", "frequency", "monetary_value"]]
    return GammaGammaParameters(**_map_point(model, data, names, seed))


def _history(summary: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        summary["frequency"].to_numpy(float),
        summary["recency"].to_numpy(float),
        summary["T"].to_numpy(float),
    )


def expected_purchases(params: BetaGeoParameters, summary: pd.DataFrame, days: float) -> np.ndarray:
    """Expected purchases in the next ``days`` days given each history (Fader, Hardie & Lee 2005, eq. 10)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x, t_x, big_t = _history(summary)
    ratio = (alpha + big_t) / (alpha + big_t + days)
    numerator = (
        (a + b + x - 1)
        / (a - 1)
        * (1 - ratio ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, days / (alpha + big_t + days)))
    )
    denominator = 1 + (x > 0) * a / (b + np.maximum(x, 1) - 1) * ((alpha + big_t) / (alpha + t_x)) ** (r + x)
    return numerator / denominator


def probability_alive(params: BetaGeoParameters, summary: pd.DataFrame) -> np.ndarray:
    """Probability that each customer has not dropped out by the observation end (1 without repeats)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x, t_x, big_t = _history(summary)
    log_odds_dead = np.log(a / (b + np.maximum(x, 1) - 1)) + (r + x) * np.log((alpha + big_t) / (alpha + t_x))
    return np.where(x > 0, expit(-log_odds_dead), 1.0)


def probability_no_purchase(params: BetaGeoParameters, summary: pd.DataFrame, days: float) -> np.ndarray:
    """Probability of no purchase in the next ``days`` days given each history.

    Fader & Hardie (2019), "A step-by-step derivation of the BG/NBD model", eq. 34, with its indicator:
    a customer without repeat purchases cannot have dropped out at the last one.
    """
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x, t_x, big_t = _history(summary)
    alive_term = betaln(a, b + x) - (r + x) * np.log(alpha + big_t)
    dropped_term = np.where(
        x > 0, betaln(a + 1, b + np.maximum(x, 1) - 1) - (r + x) * np.log(alpha + t_x), -np.inf
    )
    future_term = betaln(a, b + x) - (r + x) * np.log(alpha + big_t + days)
    return np.exp(np.logaddexp(future_term, dropped_term) - np.logaddexp(alive_term, dropped_term))


def expected_spend(params: GammaGammaParameters, summary: pd.DataFrame) -> np.ndarray:
    """Expected revenue of a future purchase (Fader & Hardie 2013, eq. 5), or the population mean."""
    p, q, v = params.p, params.q, params.v
    x = summary["frequency"].to_numpy(float)
    mean_spend = summary["monetary_value"].to_numpy(float)
    weight = p * x / (p * x + q - 1)
    return (1 - weight) * (v * p / (q - 1)) + weight * mean_spend


def lifetime_value(
    beta_geo: BetaGeoParameters,
    gamma_gamma: GammaGammaParameters,
    summary: pd.DataFrame,
    months: int,
    discount_rate: float,
) -> np.ndarray:
    """Discounted revenue expected over the next ``months`` (30-day) months.

    Each month's expected purchases times the expected spend, discounted by ``(1 + discount_rate) ** m``
    for month ``m`` (``discount_rate`` is monthly), as PyMC-Marketing's ``customer_lifetime_value``.
    """
    spend = expected_spend(gamma_gamma, summary)
    cumulative = [np.zeros(len(summary))]
    cumulative += [expected_purchases(beta_geo, summary, DAYS_PER_MONTH * m) for m in range(1, months + 1)]
    value = np.zeros(len(summary))
    for month in range(1, months + 1):
        value += spend * (cumulative[month] - cumulative[month - 1]) / (1 + discount_rate) ** month
    return value


def naive_purchases(summary: pd.DataFrame, days: float) -> np.ndarray:
    """The naive baseline: each customer's repeat purchases per day so far (``frequency / T``) times ``days``.

    A customer whose first purchase is on the observation end (``T`` = 0) has no rate yet and gets 0.
    """
    x, _, big_t = _history(summary)
    rate = np.divide(x, big_t, out=np.zeros_like(x), where=big_t > 0)
    return rate * days


def _errors(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    total_actual = float(actual.sum())
    total_predicted = float(predicted.sum())
    return {
        "holdout_purchases_predicted": round(total_predicted, 2),
        "holdout_error": round((total_predicted - total_actual) / total_actual, 4),
        "mae_per_customer": round(float(np.abs(predicted - actual).mean()), 4),
        "rmse_per_customer": round(float(np.sqrt(((predicted - actual) ** 2).mean())), 4),
    }


def holdout_validation(
    summary: pd.DataFrame, params: BetaGeoParameters, holdout_days: int
) -> dict[str, object]:
    """BG/NBD's and the naive baseline's holdout purchases against the actual, in total and per customer.

    ``summary`` is :func:`calibration_holdout`'s; ``holdout_error`` is the relative error of the total
    (positive: more predicted than bought); ``mae_reduction_vs_naive`` is the share of the naive
    baseline's per-customer MAE that BG/NBD removes.
    """
    actual = summary["holdout_purchases"].to_numpy(float)
    model = _errors(actual, expected_purchases(params, summary, holdout_days))
    naive = _errors(actual, naive_purchases(summary, holdout_days))
    return {
        "customers": len(summary),
        "holdout_days": holdout_days,
        "holdout_purchases_actual": int(actual.sum()),
        **model,
        "naive": naive,
        "mae_reduction_vs_naive": round(1 - model["mae_per_customer"] / naive["mae_per_customer"], 4),
        "rmse_reduction_vs_naive": round(1 - model["rmse_per_customer"] / naive["rmse_per_customer"], 4),
        "bg_nbd": params.as_dict(),
    }


def calibration_purchases(
    summary: pd.DataFrame, params: BetaGeoParameters, holdout_days: int
) -> pd.DataFrame:
    """Mean actual, BG/NBD and naive holdout purchases by repeat purchases in the calibration.

    The standard check of a BG/NBD fit: customers grouped by calibration ``frequency`` 0 .. 6 and 7 or
    more (the last row, labelled ``7+``).
    """
    group = np.minimum(summary["frequency"].to_numpy(int), CALIBRATION_PURCHASES_MAX)
    frame = pd.DataFrame(
        {
            "group": group,
            "actual": summary["holdout_purchases"].to_numpy(float),
            "bg_nbd": expected_purchases(params, summary, holdout_days),
            "naive": naive_purchases(summary, holdout_days),
        }
    )
    table = frame.groupby("group").agg(
        customers=("actual", "size"),
        actual=("actual", "mean"),
        bg_nbd=("bg_nbd", "mean"),
        naive=("naive", "mean"),
    )
    labels = [f"{g}+" if g == CALIBRATION_PURCHASES_MAX else str(g) for g in table.index]
    table.insert(0, "calibration_purchases", labels)
    return table.reset_index(drop=True).round(4)


def customer_value(
    beta_geo: BetaGeoParameters,
    gamma_gamma: GammaGammaParameters,
    summary: pd.DataFrame,
    months: int,
    discount_rate: float,
) -> pd.DataFrame:
    """Per customer: the summary, expected purchases over ``months`` months, P(alive), expected spend, CLV."""
    return summary[["customer_id", *RFM_COLUMNS]].assign(
        expected_purchases=expected_purchases(beta_geo, summary, DAYS_PER_MONTH * months),
        probability_alive=probability_alive(beta_geo, summary),
        expected_spend=expected_spend(gamma_gamma, summary),
        clv=lifetime_value(beta_geo, gamma_gamma, summary, months, discount_rate),
    )


def calibration_purchases_figure(table: pd.DataFrame) -> go.Figure:
    """Mean holdout purchases, actual against BG/NBD and naive, by calibration repeat purchases."""
    long = table.melt(
        id_vars=["calibration_purchases", "customers"],
        value_vars=["actual", "bg_nbd", "naive"],
        var_name="series",
        value_name="holdout_purchases",
    )
    long["series"] = long["series"].map({"actual": "actual", "bg_nbd": "BG/NBD", "naive": "naive"})
    return px.line(
        long,
        x="calibration_purchases",
        y="holdout_purchases",
        color="series",
        markers=True,
        hover_data=["customers"],
        title="Holdout purchases by repeat purchases in the calibration period",
        labels={
            "calibration_purchases": "repeat purchases in the calibration period",
            "holdout_purchases": "mean purchases in the holdout",
        },
    )


def calibration_purchases_sentence(table: pd.DataFrame) -> str:
    """Where BG/NBD is furthest from the actual, and how far the naive baseline is there."""
    gap = (table["bg_nbd"] - table["actual"]).abs()
    worst = table.loc[gap.idxmax()]
    return (
        f"Across groups of customers by repeat purchases in the calibration period, BG/NBD's mean holdout "
        f"purchases are furthest from the actual for {worst.calibration_purchases} repeat purchases "
        f"({worst.bg_nbd:.2f} predicted against {worst.actual:.2f}, {worst.customers:,} customers), where "
        f"the naive baseline predicts {worst.naive:.2f}."
    )


def holdout_sentence(validation: dict[str, object]) -> str:
    """The holdout totals and per-customer errors of BG/NBD and the naive baseline, in one sentence."""
    naive, model = validation["naive"], validation
    reduction = model["mae_reduction_vs_naive"]
    return (
        f"Over the {model['holdout_days']}-day holdout the {model['customers']:,} calibration customers "
        f"made {model['holdout_purchases_actual']:,} repeat purchases; BG/NBD predicted "
        f"{model['holdout_purchases_predicted']:,.0f} ({model['holdout_error']:+.1%}) and the naive "
        f"baseline {naive['holdout_purchases_predicted']:,.0f} ({naive['holdout_error']:+.1%}). Per "
        f"customer, BG/NBD's mean absolute error is {model['mae_per_customer']:.2f} purchases against the "
        f"naive {naive['mae_per_customer']:.2f}, {abs(reduction):.0%} "
        f"{'lower' if reduction >= 0 else 'higher'}."
    )


def probability_alive_table(values: pd.DataFrame, bins: int = 20) -> pd.DataFrame:
    """Customers per P(alive) bin of width ``1 / bins``; ``probability_alive`` is the lower edge."""
    counts, edges = np.histogram(values["probability_alive"], bins=bins, range=(0.0, 1.0))
    return pd.DataFrame({"probability_alive": edges[:-1].round(4), "customers": counts})


def value_summary(
    beta_geo: BetaGeoParameters, gamma_gamma: GammaGammaParameters, values: pd.DataFrame, months: int
) -> dict[str, object]:
    """The fitted parameters and the totals of :func:`customer_value`'s table, for the metrics file."""
    return {
        "customers_valued": len(values),
        "months": months,
        "expected_purchases": round(float(values["expected_purchases"].sum()), 2),
        "clv_total": round(float(values["clv"].sum()), 2),
        "clv_mean": round(float(values["clv"].mean()), 4),
        "clv_median": round(float(values["clv"].median()), 4),
        "probability_alive_median": round(float(values["probability_alive"].median()), 4),
        "bg_nbd": beta_geo.as_dict(),
        "gamma_gamma": gamma_gamma.as_dict(),
    }


def probability_alive_figure(values: pd.DataFrame) -> go.Figure:
    """Histogram of the probability of being alive over customers."""
    return px.histogram(
        values,
        x="probability_alive",
        nbins=20,
        range_x=[0, 1],
        title="Probability that a customer is still active (BG/NBD)",
        labels={"probability_alive": "P(alive)"},
    )


def probability_alive_sentence(values: pd.DataFrame, threshold: float = 0.5) -> str:
    """The share of customers likely gone, and the expected value they hold against the rest."""
    alive = values["probability_alive"]
    gone = alive < threshold
    return (
        f"{gone.mean():.1%} of {len(values):,} customers are more likely gone than active "
        f"(P(alive) below {threshold:.0%}; median P(alive) {alive.median():.2f}); they hold "
        f"{values.loc[gone, 'clv'].sum() / values['clv'].sum():.1%} of the expected lifetime value."
    )
