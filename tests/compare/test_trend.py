"""The trend and threshold tests of the lessons, against the formulas computed by hand."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from pipeline.compare.trend import above_test, seeds_above, seeds_for, trend_test


def _jonckheere(groups) -> tuple[float, float]:
    """Jonckheere's J (pairs where the later group's value is higher) with its two-sided
    normal p-value, by the textbook formulas (Hollander, Wolfe & Chicken 2014, §6.2: values
    without ties), and J's excess over its mean."""
    j = sum(
        sum(float(b > a) for a in x for b in y)
        for x, y in itertools.combinations([list(g) for g in groups], 2)
    )
    sizes = np.array([len(g) for g in groups])
    n = sizes.sum()
    mean = (n**2 - (sizes**2).sum()) / 4
    variance = (n**2 * (2 * n + 3) - (sizes**2 * (2 * sizes + 3)).sum()) / 72
    z = (j - mean) / math.sqrt(variance)
    return 2 * stats.norm.sf(abs(z)), j - mean


@pytest.mark.parametrize("seed", range(12))
def test_the_trend_test_is_jonckheere_terpstras(seed):
    """SciPy's Kendall tau-b between a seed's group and its value gives Jonckheere's p, on
    groups of unequal sizes with a trend, without one, and against one."""
    rng = np.random.default_rng(seed)
    slope = (-0.5, 0.0, 0.4)[seed % 3]
    groups = [rng.normal(slope * k, 1.0, size=3 + (seed + k) % 4) for k in range(2 + seed % 5)]
    p, tau = trend_test(groups)
    expected, excess = _jonckheere(groups)
    assert p == pytest.approx(expected, rel=1e-9, abs=1e-15)
    assert np.sign(tau) == np.sign(excess)


def test_a_perfect_fall_over_six_groups_of_three_is_far_below_any_look():
    groups = [[10 - k + d for d in (0.1, 0.2, 0.3)] for k in range(6)]
    p, tau = trend_test(groups)
    # tau-b: all 135 pairs across groups discordant, over √(135 × 153) (153 pairs in all).
    assert tau == pytest.approx(-math.sqrt(135 / 153))
    assert p == pytest.approx(_jonckheere(groups)[0]) and p < 1e-5


def test_a_trend_needs_two_groups_and_three_values():
    with pytest.raises(
        ValueError, match=r"a trend needs two groups and three measurements, not \[3\]"
    ):
        trend_test([[1.0, 2.0, 3.0]])
    with pytest.raises(ValueError, match=r"not \[1, 1\]"):
        trend_test([[1.0], [2.0]])


def test_seeds_for_scales_the_seeds_by_the_square_of_the_z_wanted_over_the_z_seen():
    # z = 1 seen at 4 seeds; 1.95996 + 0.84162 wanted: 4 × 2.80158² = 31.4 → 32.
    assert seeds_for(2 * stats.norm.sf(1.0), 4, 0.05) == 32
    assert seeds_for(2 * stats.norm.sf(3.0), 4, 0.05) == 5  # enough power now: one more
    assert seeds_for(1.0, 4, 0.05) is None  # nothing seen
    assert seeds_for(0.999, 4, 0.05) is None  # over ten thousand


def test_the_threshold_test_is_a_one_sample_t_test():
    x = [0.95, 0.93, 0.97, 0.91]
    t = (np.mean(x) - 0.9) / (np.std(x, ddof=1) / math.sqrt(len(x)))
    assert above_test(x, 0.9) == pytest.approx(2 * stats.t.sf(abs(t), len(x) - 1), rel=1e-12)
    assert math.isnan(above_test([0.95], 0.9))
    assert above_test([0.95, 0.95], 0.9) == 0.0  # every seed above it, no spread
    assert above_test([0.9, 0.9], 0.9) == 1.0


def _power(effect: float, n: int, alpha: float) -> float:
    """A two-sided one-sample t-test's power, from the noncentral t."""
    crit = stats.t.isf(alpha / 2, n - 1)
    nc = effect * math.sqrt(n)
    return stats.nct.sf(crit, n - 1, nc) + stats.nct.cdf(-crit, n - 1, nc)


def test_seeds_above_are_the_fewest_with_80_percent_power():
    x = [0.91, 0.89, 0.93, 0.90, 0.92]  # mean 0.91, sd 0.0158: effect 0.632 over 0.9
    n = seeds_above(x, 0.9, 0.05)
    effect = 0.01 / np.std(x, ddof=1)
    assert _power(effect, n, 0.05) >= 0.8 > _power(effect, n - 1, 0.05)
    assert n == 22
    assert seeds_above([0.9, 0.9], 0.9, 0.05) is None
    assert seeds_above([0.95], 0.9, 0.05) is None
