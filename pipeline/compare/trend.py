"""A monotone trend across ordered configurations, and one configuration against a threshold.

A claim such as "a smaller batch is slower" is about the whole ordered set of batch sizes: the
measurement falls as the batch grows. Its test is the Jonckheere–Terpstra test of an ordered
alternative against "no difference" (Terpstra 1952, "The asymptotic normality and consistency of
Kendall's test against trend, when ties are present in one ranking", Indagationes Math. 14:327-333;
Jonckheere 1954, "A distribution-free k-sample test against ordered alternatives", Biometrika
41:133-145; Hollander, Wolfe & Chicken 2014, "Nonparametric Statistical Methods", §6.2). Its
statistic counts, over every pair of seeds of two configurations, the pairs where the later
configuration measures more; it is Kendall's S between a seed's configuration rank and its
measurement, and its normal approximation with ties is the one SciPy's ``kendalltau`` computes
for tau-b, so SciPy computes it here. Requiring every neighbouring pair to differ significantly
instead would ask for far more: an intersection of tests, each of which must reject.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

from pipeline.compare.pairwise import POWER, whole_seeds


def trend_test(groups: Sequence[Sequence[float]]) -> tuple[float, float]:
    """The two-sided p-value of the Jonckheere–Terpstra test (normal approximation, with ties)
    of the measurements in ``groups`` against their order, and Kendall's tau-b: positive when
    the measurements rise along ``groups``.

    Raises:
        ValueError: fewer than two groups, or fewer than three measurements in all.
    """
    sizes = [len(g) for g in groups]
    if len(groups) < 2 or sum(sizes) < 3:
        raise ValueError(f"a trend needs two groups and three measurements, not {sizes}")
    rank = np.repeat(np.arange(len(groups)), sizes)
    result = stats.kendalltau(rank, np.concatenate([np.asarray(g, float) for g in groups]))
    return float(result.pvalue), float(result.statistic)


def seeds_for(p_value: float, seeds: int, alpha: float, power: float = POWER) -> int | None:
    """An estimate of the seeds (per configuration) at which a test whose z grows as the root of
    the seeds, giving ``p_value`` (two-sided) at ``seeds`` now, would reject at ``alpha`` with
    ``power``, if the effect seen were the truth; None when nothing was seen (p = 1) or more
    than ten thousand seeds would be needed."""
    z = stats.norm.isf(p_value / 2)
    if not z > 0:
        return None
    wanted = stats.norm.isf(alpha / 2) + stats.norm.ppf(power)  # z to reject with power
    return whole_seeds(seeds * (wanted / z) ** 2, seeds)


def above_test(values: Sequence[float], threshold: float) -> float:
    """The two-sided p-value of a one-sample t-test of the mean of ``values`` against
    ``threshold`` (SciPy's ``ttest_1samp``); NaN with fewer than two values, 0 or 1 when they
    all agree (exactly on one side of the threshold, or on it)."""
    x = np.asarray(values, float)
    if len(x) < 2:
        return math.nan
    if np.ptp(x) == 0:
        return 1.0 if x[0] == threshold else 0.0
    return float(stats.ttest_1samp(x, threshold).pvalue)


def seeds_above(
    values: Sequence[float], threshold: float, alpha: float, power: float = POWER
) -> int | None:
    """An estimate of the seeds at which the one-sample t-test of :func:`above_test` would
    reject at ``alpha`` with ``power`` (statsmodels' ``TTestPower``), if the mean and spread
    seen were the truth; None when it cannot be estimated."""
    from statsmodels.stats.power import TTestPower  # lazy, for cost

    x = np.asarray(values, float)
    if len(x) < 2 or np.ptp(x) == 0 or x.mean() == threshold:
        return None
    effect = abs(float(x.mean()) - threshold) / float(x.std(ddof=1))
    try:
        n = TTestPower().solve_power(effect_size=effect, alpha=alpha, power=power)
    except (ValueError, RuntimeError):
        return None
    return whole_seeds(n, len(x))
