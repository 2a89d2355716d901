import datetime as dt

import ibis
import numpy as np
import pandas as pd
import pytest
from lifelines.utils import concordance_index

from cba import cox, survival
from test_survival import lives_frame

DAY_0 = pd.Timestamp("2024-01-01", tz="UTC")


def event_log(days_by_customer: dict[int, list[int]]) -> ibis.Table:
    """Events at midnight of the given days after 2024-01-01, per customer."""
    rows = [
        (customer, DAY_0 + pd.Timedelta(days=day))
        for customer, days in days_by_customer.items()
        for day in days
    ]
    return ibis.memtable(pd.DataFrame(rows, columns=["customer_id", "timestamp"]))


def signups(days: dict[int, int]) -> pd.DataFrame:
    """Customers signed up the given number of days after 2024-01-01 (negative: before)."""
    return pd.DataFrame(
        {
            "customer_id": list(days),
            "signup_date": [dt.date(2024, 1, 1) + dt.timedelta(days=day) for day in days.values()],
        }
    )


def test_everyone_not_seen_to_churn_is_censored_where_a_churn_could_last_be_seen():
    events = event_log(
        {
            1: [0, 50],  # the log's first event (day 0)
            2: [20, 100],
            3: [30, 150],
            4: [120, 200],  # the log's last event (day 200)
            5: [140],
            6: [180],
            8: [110],
        }
    )
    customers = signups({1: -30, 2: 10, 3: 10, 4: 20, 5: 130, 6: -60, 7: 0, 8: 10})
    lives = survival.lifetimes(events, customers, horizon_days=90)
    # The log runs from day 0 to day 200; a churn (no activity for 90 days) is seen only up to day 110.
    # 1: signed up 30 days before the log, so enters 30 days in; last seen on day 50: churned 80 days in.
    # 2: last seen on day 100, before day 110: churned 90 days in.
    # 3: last seen on day 150: censored on day 110, 100 days in (not at the end of the log, 190 days in).
    # 4: last seen at the end of the log: censored on day 110, 90 days in.
    # 5: signed up on day 130, after day 110: no churn of theirs could be seen; left out.
    # 6: signed up 60 days before the log: enters 60 days in, censored on day 110, 170 days in.
    # 7: no events; left out.
    # 8: last seen on day 110 itself, active within the final 90 days: censored there, 100 days in.
    expected = lives_frame(
        [80.0, 90.0, 100.0, 90.0, 170.0, 100.0], [1, 1, 0, 0, 0, 0], entry=[30.0, 0, 0, 0, 60.0, 0]
    ).assign(customer_id=[1, 2, 3, 4, 6, 8])
    pd.testing.assert_frame_equal(lives, expected)
    # Kaplan-Meier: at day 80 of a life all six are at risk (one churns), at day 90 five (one churns).
    curves, _ = survival.kaplan_meier(lives, step=10)
    assert curves.set_index("time").loc[[80.0, 90.0, 170.0], "overall"].tolist() == [
        round(5 / 6, 4),
        round(5 / 6 * 4 / 5, 4),
        round(5 / 6 * 4 / 5, 4),
    ]


def test_a_log_no_longer_than_the_horizon_shows_no_churn():
    events = event_log({1: [0], 2: [90]})
    with pytest.raises(ValueError, match="churn.horizon_days: the event log spans 90 days"):
        survival.lifetimes(events, signups({1: 0, 2: 0}), horizon_days=90)


def pairwise_concordance(lives: pd.DataFrame, relative_hazard: np.ndarray) -> float:
    """Concordance from every pair: customer j at risk when customer i churns and not churned then."""
    entry, duration = lives["entry"].to_numpy(), lives["duration"].to_numpy()
    churned = lives["churned"].to_numpy() == 1
    ever_at_risk = (entry == 0) | (entry < duration)
    score = pairs = 0.0
    for i in np.flatnonzero(churned & ever_at_risk):
        t = duration[i]
        for j in np.flatnonzero(ever_at_risk):
            at_risk = (entry[j] == 0 or entry[j] < t) and t <= duration[j]
            if j != i and at_risk and not (churned[j] and duration[j] == t):
                pairs += 1
                if relative_hazard[i] > relative_hazard[j]:
                    score += 1.0
                elif relative_hazard[i] == relative_hazard[j]:
                    score += 0.5
    return score / pairs


def random_lives(n: int, seed: int, late_entry: bool) -> tuple[pd.DataFrame, np.ndarray]:
    """Lifetimes and hazards on a coarse grid, so that times, entries and hazards tie often."""
    rng = np.random.default_rng(seed)
    entry = rng.integers(0, 6, n) * (rng.random(n) < 0.5) if late_entry else np.zeros(n)
    frame = lives_frame(rng.integers(1, 10, n), rng.integers(0, 2, n), entry=entry)
    return frame, rng.integers(0, 4, n).astype(float)


@pytest.mark.parametrize("seed", range(5))
def test_concordance_is_lifelines_without_late_entry(seed):
    lives, hazard = random_lives(300, seed, late_entry=False)
    expected = concordance_index(lives["duration"], -hazard, lives["churned"])
    assert cox.concordance(lives, hazard) == expected


def test_concordance_with_late_entry_compares_only_customers_at_risk_together():
    # Customer 2 enters at 20, so was not under observation when customer 1 churned at 10; customer 2
    # leaves at 30, before customer 3 churns at 40.
    lives = lives_frame([10, 30, 40, 50], [1, 0, 1, 0], entry=[0, 20, 0, 0])
    hazard = np.array([1.0, 3.0, 2.0, 0.5])
    # Comparable: (1, 3) discordant (1 churned first with the lower hazard), (1, 4) and (3, 4) concordant.
    assert cox.concordance(lives, hazard) == pytest.approx(2 / 3)
    # Ignoring the entry adds (1, 2), discordant: one half.
    assert concordance_index(lives["duration"], -hazard, lives["churned"]) == 0.5


def test_concordance_counts_hazard_ties_as_half_and_leaves_out_customers_never_at_risk():
    # Customer 3 entered at 12 and left at 11: never at risk, never compared.
    lives = lives_frame([5, 8, 11, 9], [1, 1, 1, 0], entry=[0, 0, 12, 6])
    hazard = np.array([2.0, 2.0, 9.0, 1.0])
    # Churn at 5: customer 2 (tie, one half); customer 4 enters at 6, later. Churn at 8: customer 4,
    # concordant. (2 churned at 8 vs 1 at 5 is not a pair: 1 had left.) (0.5 + 1) / 2.
    assert cox.concordance(lives, hazard) == pytest.approx(0.75)


@pytest.mark.parametrize("seed", range(5))
def test_concordance_with_late_entry_matches_every_pair(seed):
    lives, hazard = random_lives(60, seed, late_entry=True)
    assert cox.concordance(lives, hazard) == pytest.approx(pairwise_concordance(lives, hazard), abs=1e-12)


def test_concordance_without_comparable_pairs_fails():
    with pytest.raises(ValueError, match="no comparable pairs"):
        cox.concordance(lives_frame([1, 2], [0, 1]), np.array([1.0, 2.0]))


def test_lifetimes_from_a_simulated_log_recover_the_median_lifetime():
    # Exponential lifetimes (mean 400 days, median 277) from signups over 500 days before and during a
    # 365-day log; each customer is seen when they start being observed and at their last activity (or
    # the log's end). Censoring everyone active at the log's end there instead would put the median
    # near 367 days.
    rng = np.random.default_rng(0)
    signup = rng.integers(-500, 365, 6000)
    last_activity = signup + rng.exponential(400.0, len(signup))
    seen = last_activity >= 0
    first_seen, last_seen = np.maximum(signup, 0)[seen], np.minimum(last_activity, 365)[seen]
    customer = np.flatnonzero(seen)
    events = pd.DataFrame(
        {
            "customer_id": np.concatenate([customer, customer]),
            "timestamp": (DAY_0 + pd.to_timedelta(np.concatenate([first_seen, last_seen]), unit="D")).floor(
                "s"
            ),
        }
    )
    customers = signups(dict(enumerate(signup.tolist())))
    lives = survival.lifetimes(ibis.memtable(events), customers, horizon_days=90)
    _, summary = survival.kaplan_meier(lives, step=10)
    assert summary["median_lifetime"]["overall"] == pytest.approx(400 * np.log(2), rel=0.05)
