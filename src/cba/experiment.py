"""A/B tests that verify a recommendation: how many subjects each arm needs to detect a change of a rate."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["AbTestPlan", "plan_ab_test", "sample_size_per_arm"]


def sample_size_per_arm(baseline_rate: float, target_rate: float, alpha: float, power: float) -> int:
    """Subjects per arm a two-sided test of two proportions needs to tell ``target_rate`` from the baseline.

    Cohen's effect size h of the two rates, solved for the sample size with statsmodels'
    ``NormalIndPower`` (equal arms), rounded up.

    Raises
    ------
    ValueError
        When a rate is outside (0, 1) or the two rates are equal.
    """
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    for name, rate in (("baseline_rate", baseline_rate), ("target_rate", target_rate)):
        if not 0.0 < rate < 1.0:
            raise ValueError(f"{name} must be strictly between 0 and 1, got {rate}")
    if baseline_rate == target_rate:
        raise ValueError(f"the target rate equals the baseline rate ({baseline_rate}): no effect to detect")
    effect = abs(float(proportion_effectsize(target_rate, baseline_rate)))
    size = NormalIndPower().solve_power(effect_size=effect, alpha=alpha, power=power, ratio=1.0)
    return math.ceil(float(size))


@dataclass(frozen=True)
class AbTestPlan:
    """An A/B test that verifies one recommendation: the rate it moves and the subjects each arm needs."""

    recommendation: str
    metric: str
    baseline_rate: float
    target_rate: float
    per_arm: int
    available: int
    unit: str

    @property
    def feasible(self) -> bool:
        """True when the population observed holds enough units for both arms."""
        return self.available >= 2 * self.per_arm


def plan_ab_test(
    recommendation: str,
    metric: str,
    baseline_rate: float,
    relative_change: float,
    available: int,
    unit: str,
    alpha: float,
    power: float,
) -> AbTestPlan | None:
    """The test that detects a ``relative_change`` of ``baseline_rate``; None when there is no rate to move.

    The target rate is kept inside (0, 1); a baseline of 0 or 1 (nothing to change) gives None.
    """
    target_rate = min(max(baseline_rate * (1 + relative_change), 1e-6), 1 - 1e-6)
    if not 0.0 < baseline_rate < 1.0 or target_rate == baseline_rate:
        return None
    per_arm = sample_size_per_arm(baseline_rate, target_rate, alpha, power)
    return AbTestPlan(recommendation, metric, baseline_rate, target_rate, per_arm, available, unit)
