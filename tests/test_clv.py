import math
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy.special import beta, gamma, hyp2f1

from cba import clv

# The CDNOW estimates of Fader, Hardie & Lee (2005), weeks as the time unit.
CDNOW = clv.BetaGeoParameters(r=0.243, alpha=4.414, a=0.793, b=2.426)


def two_customers() -> pd.DataFrame:
    """The paper's worked customer (2 repeat purchases, the last in week 30.43 of 38.86) and a one-timer."""
    return pd.DataFrame(
        {
            "customer_id": [1, 2],
            "frequency": [2.0, 0.0],
            "recency": [30.43, 0.0],
            "T": [38.86, 38.86],
            "monetary_value": [50.0, 0.0],
        }
    )


def expected_by_hand(p: clv.BetaGeoParameters, x: float, t_x: float, big_t: float, t: float) -> float:
    """E[X(T, T + t) | x, t_x, T], eq. (10) of Fader, Hardie & Lee (2005), one customer at a time."""
    r, alpha, a, b = p.r, p.alpha, p.a, p.b
    bracket = 1 - ((alpha + big_t) / (alpha + big_t + t)) ** (r + x) * hyp2f1(
        r + x, b + x, a + b + x - 1, t / (alpha + big_t + t)
    )
    dropout_odds = (a / (b + x - 1)) * ((alpha + big_t) / (alpha + t_x)) ** (r + x) if x > 0 else 0.0
    return (a + b + x - 1) / (a - 1) * bracket / (1 + dropout_odds)


def alive_by_hand(p: clv.BetaGeoParameters, x: float, t_x: float, big_t: float) -> float:
    """P(alive | x, t_x, T) (Fader, Hardie & Lee 2008, note 021)."""
    if x == 0:
        return 1.0
    return 1 / (1 + p.a / (p.b + x - 1) * ((p.alpha + big_t) / (p.alpha + t_x)) ** (p.r + x))


def likelihood_by_hand(p: clv.BetaGeoParameters, x: float, t_x: float, big_t: float) -> float:
    """The BG/NBD likelihood of one history, eq. (6) of Fader, Hardie & Lee (2005)."""
    r, alpha, a, b = p.r, p.alpha, p.a, p.b
    common = gamma(r + x) * alpha**r / gamma(r)
    alive = beta(a, b + x) / beta(a, b) * common / (alpha + big_t) ** (r + x)
    dropped = beta(a + 1, b + x - 1) / beta(a, b) * common / (alpha + t_x) ** (r + x) if x > 0 else 0.0
    return alive + dropped


def test_expected_purchases_and_alive_match_the_closed_forms_by_hand():
    summary = two_customers()
    expected = clv.expected_purchases(CDNOW, summary, 39)
    alive = clv.probability_alive(CDNOW, summary)
    for i, row in summary.iterrows():
        x, t_x, big_t = row.frequency, row.recency, row["T"]
        assert expected[i] == pytest.approx(expected_by_hand(CDNOW, x, t_x, big_t, 39), rel=1e-12)
        assert alive[i] == pytest.approx(alive_by_hand(CDNOW, x, t_x, big_t), rel=1e-12)
    assert expected[0] == pytest.approx(1.226, abs=5e-4)  # the value the paper reports for this customer
    assert alive[1] == 1.0


def test_probability_no_purchase_is_the_ratio_of_likelihoods():
    # No purchase in (T, T + t] is the same history observed until T + t.
    summary = two_customers()
    no_purchase = clv.probability_no_purchase(CDNOW, summary, 10)
    for i, row in summary.iterrows():
        x, t_x, big_t = row.frequency, row.recency, row["T"]
        ratio = likelihood_by_hand(CDNOW, x, t_x, big_t + 10) / likelihood_by_hand(CDNOW, x, t_x, big_t)
        assert no_purchase[i] == pytest.approx(ratio, rel=1e-10)
    # a one-timer, alive for sure: no purchase only if the Gamma-Poisson process stays silent
    assert no_purchase[1] == pytest.approx(((CDNOW.alpha + 38.86) / (CDNOW.alpha + 48.86)) ** CDNOW.r)


def fixed_models(summary: pd.DataFrame, bg: clv.BetaGeoParameters, gg: clv.GammaGammaParameters):
    """PyMC-Marketing's BG/NBD and Gamma-Gamma with a one-draw posterior at the given parameters."""
    import arviz as az
    from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

    beta_geo = BetaGeoModel()
    beta_geo.build_model(summary[["customer_id", "frequency", "recency", "T"]])
    beta_geo.idata = az.from_dict(posterior={k: np.full((1, 1), v) for k, v in bg.as_dict().items()})
    gamma_gamma = GammaGammaModel()
    gamma_gamma.build_model(summary[["customer_id", "frequency", "monetary_value"]])
    gamma_gamma.idata = az.from_dict(posterior={k: np.full((1, 1), v) for k, v in gg.as_dict().items()})
    return beta_geo, gamma_gamma


def test_predictions_match_pymc_marketing():
    from pymc_marketing.clv import customer_lifetime_value

    summary = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4],
            "frequency": [2.0, 0.0, 5.0, 1.0],
            "recency": [30.0, 0.0, 200.0, 12.0],
            "T": [90.0, 40.0, 210.0, 300.0],
            "monetary_value": [50.0, 0.0, 20.0, 80.0],
        }
    )
    bg = clv.BetaGeoParameters(r=2.3, alpha=77.0, a=1.9, b=87.0)
    gg = clv.GammaGammaParameters(p=6.0, q=4.0, v=15.0)
    beta_geo, gamma_gamma = fixed_models(summary, bg, gg)
    np.testing.assert_allclose(
        clv.expected_purchases(bg, summary, 45), beta_geo.expected_purchases(future_t=45).values.ravel()
    )
    np.testing.assert_allclose(
        clv.probability_alive(bg, summary), beta_geo.expected_probability_alive().values.ravel()
    )
    repeat = summary["frequency"].to_numpy() > 0  # PyMC-Marketing 0.19 keeps the dropout term at x = 0
    np.testing.assert_allclose(
        clv.probability_no_purchase(bg, summary, 30)[repeat],
        beta_geo.expected_probability_no_purchase(30).values.ravel()[repeat],
    )
    spend = gamma_gamma.expected_customer_spend(summary).values.ravel()
    np.testing.assert_allclose(clv.expected_spend(gg, summary), spend)
    reference = customer_lifetime_value(beta_geo, summary.assign(future_spend=spend), 6, 0.01)
    np.testing.assert_allclose(clv.lifetime_value(bg, gg, summary, 6, 0.01), reference.values.ravel())


def test_expected_spend_and_value_by_hand():
    gg = clv.GammaGammaParameters(p=6.0, q=4.0, v=15.0)
    summary = two_customers()
    # population mean v p / (q - 1) = 30; the repeat buyer's weight p x / (p x + q - 1) = 12 / 15
    np.testing.assert_allclose(clv.expected_spend(gg, summary), [0.2 * 30 + 0.8 * 50, 30.0])
    undiscounted = clv.lifetime_value(CDNOW, gg, summary, months=2, discount_rate=0.0)
    np.testing.assert_allclose(undiscounted, [46, 30] * clv.expected_purchases(CDNOW, summary, 60))


def test_naive_baseline_and_holdout_errors_by_hand():
    summary = pd.DataFrame(
        {
            "customer_id": [1, 2, 3],
            "frequency": [2.0, 0.0, 3.0],
            "recency": [8.0, 0.0, 0.0],
            "T": [10.0, 5.0, 0.0],
            "monetary_value": [10.0, 0.0, 5.0],
            "holdout_purchases": [4, 1, 0],
        }
    )
    # rates 2/10, 0/5 and none yet (T = 0), carried over 30 days
    np.testing.assert_allclose(clv.naive_purchases(summary, 30), [6.0, 0.0, 0.0])
    naive = clv.holdout_validation(summary, CDNOW, 30)["naive"]
    assert naive == {
        "holdout_purchases_predicted": 6.0,
        "holdout_error": 0.2,  # 6 predicted against 5 bought
        "mae_per_customer": 1.0,  # (2 + 1 + 0) / 3
        "rmse_per_customer": round(math.sqrt(5 / 3), 4),
    }


def test_rfm_summary_of_a_literal_log():
    log = pd.DataFrame(
        {
            "customer_id": [1, 1, 1, 1, 2, 3, 2],
            "timestamp": pd.to_datetime(
                [
                    "2024-01-01T09:00Z",
                    "2024-01-01T17:00Z",  # same day: one purchase day worth 15
                    "2024-01-04T01:00+02:00",  # 3 January in UTC
                    "2024-01-11T08:00Z",
                    "2024-01-06T12:00Z",
                    "2024-01-12T10:00Z",  # after the observation end
                    "2024-01-12T11:00Z",
                ],
                utc=True,
            ),
            "amount": [10.0, 5.0, 20.0, 30.0, 7.0, 9.0, 4.0],
        }
    )
    summary = clv.rfm_summary(log, pd.Timestamp("2024-01-11T18:00Z"))
    expected = pd.DataFrame(
        {
            "customer_id": [1, 2],
            "frequency": [2.0, 0.0],
            "recency": [10.0, 0.0],
            "T": [10.0, 5.0],
            "monetary_value": [25.0, 0.0],
        }
    )
    pd.testing.assert_frame_equal(summary, expected, check_dtype=False)


def test_a_chapter_does_not_depend_on_the_first_import_of_the_day(tmp_path):
    """ArviZ prints a notice on the day's first import (a stamp in the user cache): never into a chapter."""
    fresh_cache = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "first"), "PYTHONWARNINGS": "default"}
    script = (
        "import pandas as pd; from cba import clv; "
        "log = pd.DataFrame({'customer_id': [1, 1], 'amount': [1.0, 2.0], "
        "'timestamp': pd.to_datetime(['2024-01-01', '2024-01-05'], utc=True)}); "
        "clv.rfm_summary(log, pd.Timestamp('2024-01-09', tz='UTC'))"
    )
    built = subprocess.run([sys.executable, "-c", script], env=fresh_cache, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    assert "ArviZ" not in built.stderr
    fresh_cache["XDG_CACHE_HOME"] = str(tmp_path / "second")
    bare = subprocess.run(
        [sys.executable, "-c", "import arviz"], env=fresh_cache, capture_output=True, text=True
    )
    assert "ArviZ is undergoing" in bare.stderr  # the notice the import above keeps out


def test_calibration_holdout_of_a_literal_log():
    log = pd.DataFrame(
        {
            "customer_id": [1, 1, 1, 1, 2, 2, 3],
            "timestamp": pd.to_datetime(
                [
                    "2024-01-01",
                    "2024-01-05",
                    "2024-01-12",
                    "2024-01-12",
                    "2024-01-03",
                    "2024-01-20",
                    "2024-01-15",
                ],
                utc=True,
            ),
            "amount": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
        }
    )
    summary, calibration_end = clv.calibration_holdout(log, holdout_days=10)
    assert calibration_end == pd.Timestamp("2024-01-10")  # the log ends on 20 January
    assert summary["customer_id"].tolist() == [1, 2]  # customer 3 first buys in the holdout
    assert summary["holdout_purchases"].tolist() == [1, 1]  # two orders on 12 January are one purchase day
    assert summary["T"].tolist() == [9.0, 7.0]
    with pytest.raises(ValueError, match="clv.holdout_days 30"):
        clv.calibration_holdout(log, holdout_days=30)


def simulate_histories(params: clv.BetaGeoParameters, customers: int, days: float, seed: int) -> pd.DataFrame:
    """BG/NBD histories: Poisson purchases at a Gamma rate, a Beta chance of leaving after each repeat."""
    rng = np.random.default_rng(seed)
    rates = rng.gamma(params.r, 1 / params.alpha, customers)
    leave = rng.beta(params.a, params.b, customers)
    rows = []
    for customer, (rate, p) in enumerate(zip(rates, leave, strict=True)):
        t, last, repeats = 0.0, 0.0, 0
        while True:  # alive: the next purchase, then a chance of leaving after it
            t += rng.exponential(1 / rate)
            if t > days:
                break
            last, repeats = t, repeats + 1
            if rng.random() < p:
                break
        rows.append((customer, repeats, last, days))
    return pd.DataFrame(rows, columns=["customer_id", "frequency", "recency", "T"])


def test_fit_beta_geo_recovers_the_simulated_parameters_and_repeats():
    truth = clv.BetaGeoParameters(r=2.0, alpha=60.0, a=1.5, b=20.0)
    histories = simulate_histories(truth, customers=3000, days=300, seed=7)
    fitted = clv.fit_beta_geo(histories, seed=1)
    assert fitted == clv.fit_beta_geo(histories, seed=1)
    assert fitted.r / fitted.alpha == pytest.approx(truth.r / truth.alpha, rel=0.1)  # mean purchase rate
    assert fitted.a / (fitted.a + fitted.b) == pytest.approx(truth.a / (truth.a + truth.b), rel=0.25)


def test_fit_gamma_gamma_recovers_the_mean_spend():
    rng = np.random.default_rng(3)
    p, q, v = 6.0, 4.0, 15.0
    frequency = rng.integers(1, 8, 3000)
    nu = rng.gamma(q, 1 / v, 3000)
    mean_spend = np.array([rng.gamma(p, 1 / n, k).mean() for n, k in zip(nu, frequency, strict=True)])
    summary = pd.DataFrame(
        {"customer_id": np.arange(3000), "frequency": frequency.astype(float), "monetary_value": mean_spend}
    )
    fitted = clv.fit_gamma_gamma(summary, seed=1)
    assert fitted.v * fitted.p / (fitted.q - 1) == pytest.approx(v * p / (q - 1), rel=0.1)


def test_calibration_table_and_sentences():
    summary = pd.DataFrame(
        {
            "customer_id": range(10),
            "frequency": [0.0, 0, 1, 1, 2, 8, 9, 3, 4, 5],
            "recency": [0.0, 0, 5, 6, 20, 80, 90, 30, 40, 50],
            "T": [100.0] * 10,
            "monetary_value": [0.0, 0, 5, 5, 5, 5, 5, 5, 5, 5],
            "holdout_purchases": [0, 1, 1, 0, 2, 6, 4, 1, 2, 3],
        }
    )
    table = clv.calibration_purchases(summary, clv.BetaGeoParameters(2.0, 60.0, 1.5, 20.0), 30)
    assert table["calibration_purchases"].tolist() == ["0", "1", "2", "3", "4", "5", "7+"]
    assert table["customers"].tolist() == [2, 2, 1, 1, 1, 1, 2]
    assert table["actual"].tolist() == [0.5, 0.5, 2.0, 1.0, 2.0, 3.0, 5.0]
    assert "7+" in clv.calibration_purchases_sentence(
        table.assign(bg_nbd=table["actual"] + [0, 0, 0, 0, 0, 0, 1])
    )
    assert clv.calibration_purchases_figure(table).data
    values = pd.DataFrame({"probability_alive": [0.2, 0.9, 0.95, 0.4], "clv": [10.0, 50.0, 30.0, 10.0]})
    assert clv.probability_alive_sentence(values).startswith("50.0% of 4 customers")
    assert "20.0% of the expected lifetime value" in clv.probability_alive_sentence(values)
