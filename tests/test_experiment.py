import math

import pytest
from scipy.stats import norm

from cba.experiment import sample_size_per_arm


@pytest.mark.parametrize(
    ("baseline", "target"), [(0.2, 0.16), (0.4333, 0.52), (0.05, 0.04)], ids=["churn", "funnel", "rare"]
)
def test_sample_size_per_arm_matches_the_closed_form(baseline, target):
    h = 2 * math.asin(math.sqrt(target)) - 2 * math.asin(math.sqrt(baseline))  # Cohen's h
    closed_form = 2 * ((norm.ppf(0.975) + norm.ppf(0.8)) / h) ** 2

    assert sample_size_per_arm(baseline, target, 0.05, 0.8) == math.ceil(closed_form)


def test_sample_size_grows_with_power_and_shrinks_with_the_effect():
    base = sample_size_per_arm(0.2, 0.16, 0.05, 0.8)

    assert sample_size_per_arm(0.2, 0.16, 0.05, 0.9) > base
    assert sample_size_per_arm(0.2, 0.12, 0.05, 0.8) < base


@pytest.mark.parametrize(
    ("baseline", "target"), [(0.0, 0.1), (0.2, 1.0), (0.3, 0.3)], ids=["zero", "one", "same"]
)
def test_sample_size_rejects_impossible_rates(baseline, target):
    with pytest.raises(ValueError, match="rate"):
        sample_size_per_arm(baseline, target, 0.05, 0.8)
