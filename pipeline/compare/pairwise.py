"""One configuration against another, over seeds: equivalence within a margin (TOST), the
probability that one beats the other with its bootstrap interval, and the seeds that would
decide a comparison still undecided.

The tests are the libraries' own (statsmodels' ``ttost_ind`` and ``TTestIndPower``, SciPy's
``mannwhitneyu`` statistic and ``bootstrap``), with the cases they leave undefined (too few
seeds, seeds that all agree) decided here, as :func:`pipeline.compare.stats.welch_p_value`
does for Welch's test.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from enum import StrEnum

import numpy as np

# The power at which :func:`seeds_to_decide` estimates the seeds a comparison needs.
POWER = 0.8
# The bootstrap's resamples and its one seed: a report is the same each time it is made.
RESAMPLES = 2000
BOOTSTRAP_SEED = 0


class Verdict(StrEnum):
    """A configuration against the best of its group (or A against B)."""

    best = "best"
    better = "better"
    worse = "worse"
    equivalent = "equivalent"
    undecided = "undecided"


# What the UI's metric verdict/<configuration> holds for each (NaN: undecided).
VERDICT_VALUES = {
    Verdict.best: 1.0,
    Verdict.better: 1.0,
    Verdict.equivalent: 0.0,
    Verdict.worse: -1.0,
    Verdict.undecided: math.nan,
}


def _arrays(a: Iterable[float], b: Iterable[float]) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(list(a), dtype=float), np.asarray(list(b), dtype=float)


def tost_p_value(a: Iterable[float], b: Iterable[float], margin: float) -> float:
    """The p-value of the two one-sided tests (TOST, Schuirmann 1987) that the difference
    of the means ``a − b`` lies within ``±margin``, with Welch's unequal variances
    (statsmodels' ``ttost_ind``, ``usevar="unequal"``): small means equivalent.

    Returns:
        The p-value; NaN when either side has fewer than two values. When both sides
        have zero variance the statistic is undefined: a difference within the margin
        gives 0.0, another 1.0.

    Raises:
        ValueError: ``margin`` not positive.
    """
    if not margin > 0:
        raise ValueError(f"margin={margin!r}: must be a positive number (in the metric's units)")
    from statsmodels.stats.weightstats import ttost_ind  # lazy, for cost

    x, y = _arrays(a, b)
    if len(x) < 2 or len(y) < 2:
        return math.nan
    if x.std(ddof=1) == 0 and y.std(ddof=1) == 0:
        return 0.0 if abs(x.mean() - y.mean()) < margin else 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # one side constant: precision only
        p, _, _ = ttost_ind(x, y, -margin, margin, usevar="unequal")
    return float(p)


def _beats(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """P(a value of x exceeds one of y), ties counted half, over the last axis (vectorised
    for the bootstrap): the Mann–Whitney U statistic over the number of pairs."""
    x, y = np.moveaxis(x, axis, -1), np.moveaxis(y, axis, -1)
    diff = x[..., :, None] - y[..., None, :]
    return (diff > 0).mean(axis=(-2, -1)) + 0.5 * (diff == 0).mean(axis=(-2, -1))


def probability_of_improvement(
    a: Iterable[float], b: Iterable[float], higher_is_better: bool = True, level: float = 0.95
) -> tuple[float, float, float]:
    """P(A > B): the probability that a seed of A scores better than a seed of B (ties
    half), as rliable reports it (Agarwal et al. 2021), with a percentile bootstrap
    interval that resamples each side's seeds (SciPy's ``bootstrap``, a fixed seed).

    Returns:
        ``(probability, low, high)``; all NaN when a side has no value, the interval NaN
        when a side has a single value. Seeds that all agree give a degenerate interval:
        the probability itself at both ends.
    """
    from scipy import stats  # lazy, for cost

    x, y = _arrays(a, b)
    if not higher_is_better:  # lower is better: A improves on B where it is lower
        x, y = -x, -y
    if len(x) == 0 or len(y) == 0:
        return (math.nan,) * 3
    p = float(_beats(x, y))
    if len(x) < 2 or len(y) < 2:
        return p, math.nan, math.nan
    if np.ptp(x) == 0 and np.ptp(y) == 0:
        return p, p, p
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few seeds: SciPy warns the distribution is coarse
        result = stats.bootstrap(
            (x, y),
            _beats,
            vectorized=True,
            paired=False,
            n_resamples=RESAMPLES,
            confidence_level=level,
            method="percentile",
            rng=np.random.default_rng(BOOTSTRAP_SEED),
        )
    interval = result.confidence_interval
    return p, float(interval.low), float(interval.high)


def seeds_to_decide(
    a: Iterable[float], b: Iterable[float], margin: float, alpha: float, power: float = POWER
) -> int | None:
    """An estimate of the seeds per configuration that would decide the comparison with
    ``power``, if the observed means and variances were the truth (statsmodels'
    ``TTestIndPower``): Welch's test of a difference at least the margin (two-sided, level
    ``alpha``), else TOST's equivalence (each one-sided test at ``alpha`` with power
    ``1 − (1 − power) / 2``, so that both reject with at least ``power``).

    Returns:
        At least the seeds there are now plus one; None when it cannot be estimated (fewer
        than two seeds a side, no spread, or more than ten thousand seeds).
    """
    from statsmodels.stats.power import NormalIndPower, TTestIndPower  # lazy, for cost

    x, y = _arrays(a, b)
    if len(x) < 2 or len(y) < 2:
        return None
    spread = math.sqrt((x.var(ddof=1) + y.var(ddof=1)) / 2)
    if spread == 0:
        return None
    difference = abs(float(x.mean() - y.mean()))
    if difference >= margin:
        effect, alternative, wanted = difference / spread, "two-sided", power
    else:
        effect, alternative, wanted = (margin - difference) / spread, "larger", 1 - (1 - power) / 2
    now = max(len(x), len(y))
    analysis = TTestIndPower()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no root: handled below
        reached = analysis.power(effect, now, alpha, alternative=alternative)
        if math.isnan(reached):  # the noncentral t fails for large effects: the normal's
            reached = NormalIndPower().power(effect, now, alpha, alternative=alternative)
        if reached >= wanted:
            return now + 1  # power enough already: this look was unlucky, one more seed
        try:
            n = analysis.solve_power(
                effect_size=effect, alpha=alpha, power=wanted, alternative=alternative
            )
        except (ValueError, RuntimeError):
            return None
    n = float(np.asarray(n).ravel()[0])
    if not math.isfinite(n) or n > 10_000:
        return None
    return max(math.ceil(n), now + 1)


def verdict(p_difference: float, p_equivalence: float, alpha: float, ahead: bool) -> Verdict | None:
    """The verdict of one comparison from its (Holm-adjusted) p-values: equivalent within
    the margin, else a difference (``better`` when ``ahead``, else ``worse``), else
    undecided; None when untestable (a NaN p-value: too few seeds).

    Equivalence comes first: a difference Welch's test detects but TOST shows to lie
    within the margin is real and too small to matter, which is what the margin says.
    """
    if math.isnan(p_difference) or math.isnan(p_equivalence):
        return None
    if p_equivalence < alpha:
        return Verdict.equivalent
    if p_difference < alpha:
        return Verdict.better if ahead else Verdict.worse
    return Verdict.undecided
