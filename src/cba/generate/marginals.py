"""The Kaggle marginals, and the customers drawn from them with their latent churn."""

from __future__ import annotations

import numpy as np

from cba.generate.arrays import DAY

# --- Kaggle marginals (measured on the 5,630 customers of the real file; aliases merged) ----------------

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

# --- customers ------------------------------------------------------------------------------------------

_RISK_NOISE = 0.5  # standard deviation of the unexplained part of churn risk
_DAYS_PER_MONTH = 30.44


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


def _choose(rng: np.random.Generator, n: int, shares) -> np.ndarray:
    """``n`` draws of a level, with probabilities proportional to ``shares`` (by the inverse CDF)."""
    cdf = np.cumsum(np.fromiter(shares, dtype=np.float64))
    return np.searchsorted(cdf / cdf[-1], rng.random(n), side="right")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
