"""One configuration against another, over seeds: equivalence within a margin (TOST), the
probability that one beats the other with its bootstrap interval, and the seeds that would
decide a comparison still undecided.

The tests are the libraries' own (statsmodels' ``ttost_ind`` and ``TTestIndPower``, SciPy's
``mannwhitneyu`` statistic and ``bootstrap``), with the cases they leave undefined (too few
seeds, seeds that all agree) decided here.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from pipeline.compare.sequential import KINDS, START, nominal_levels, schedule
from pipeline.compare.sequential import Verdict as LookState

# The power at which :func:`seeds_to_decide` estimates the seeds a comparison needs.
POWER = 0.8
# Beyond this many seeds per configuration an estimate of the seeds that would decide says
# only "not with seeds": none is given.
MOST_SEEDS = 10_000
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


def welch_p_value(a: Iterable[float], b: Iterable[float]) -> float:
    """Two-sided p-value of Welch's t-test (unequal variances) of means ``a`` vs ``b``.

    Returns:
        The p-value; NaN when either side has fewer than two values.  When both
        sides have zero variance (deterministic runs) the t statistic is undefined:
        identical means give 1.0, different ones 0.0.
    """
    from scipy import stats  # lazy, for cost

    x, y = np.asarray(list(a), dtype=float), np.asarray(list(b), dtype=float)
    if len(x) < 2 or len(y) < 2:
        return math.nan
    if x.std(ddof=1) == 0 and y.std(ddof=1) == 0:
        return 1.0 if x.mean() == y.mean() else 0.0
    with warnings.catch_warnings():
        # Nearly identical samples only warn about precision; the p-value stands.
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_ind(x, y, equal_var=False).pvalue)


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
    return whole_seeds(n, now)


def whole_seeds(n: float | np.ndarray, now: int) -> int | None:
    """A power analysis' ``n`` as the seeds per configuration to state: rounded up, at least
    one more than the ``now`` there are (power enough already: the look was unlucky); None
    when not finite or over :data:`MOST_SEEDS`, where no estimate means anything."""
    n = float(np.asarray(n).ravel()[0])
    if not math.isfinite(n) or n > MOST_SEEDS:
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


@dataclass(frozen=True)
class Looks:
    """A group-sequential design over seeds (:mod:`~pipeline.compare.sequential`): look
    at ``start``, ``start + 1``, ..., ``max_seeds`` seeds per configuration, each look at
    its nominal level from the ``kind`` spending function."""

    start: int = START
    max_seeds: int = 10
    kind: str = "obrien_fleming"

    def seeds(self) -> list[int]:
        """The seeds per configuration at each look."""
        return schedule(self.start, self.max_seeds)

    def levels(self, alpha: float) -> list[float]:
        """Each look's nominal two-sided level, for ``alpha`` over all the looks."""
        return _levels(self.start, self.max_seeds, self.kind, alpha)

    def tag(self) -> str:
        """The design as :data:`~pipeline.config.contract.SEQUENTIAL_TAG` holds it."""
        return f"{self.start}:{self.max_seeds}:{self.kind}"

    @classmethod
    def from_tag(cls, text: str) -> Looks:
        """The design :meth:`tag` wrote.

        Raises:
            ValueError: ``text`` is not ``<start>:<max_seeds>:<kind>``.
        """
        start, max_seeds, kind = text.split(":")
        looks = cls(int(start), int(max_seeds), kind)
        schedule(looks.start, looks.max_seeds)  # checks the numbers
        if kind not in KINDS:
            raise ValueError(f"unknown spending function {kind!r}: use one of {KINDS}")
        return looks


@functools.cache
def _levels(start: int, max_seeds: int, kind: str, alpha: float) -> list[float]:
    # About 0.1 s each: a report tests every configuration with the same design.
    return nominal_levels(schedule(start, max_seeds), max_seeds, alpha, kind)


@dataclass(frozen=True)
class Sequential:
    """Where a comparison stands in its sequential design: ``decided`` at a look
    (``seeds`` a side), ``continue`` (undecided, a look still to come) or ``exhausted``
    (undecided at ``max_seeds``), with the p-values of its last look and that look's
    nominal level."""

    state: LookState
    seeds: int
    p_value: float = math.nan
    p_equivalence: float = math.nan
    level: float = math.nan
    ahead: bool = False  # the first side's mean is the better at that look


def replay(
    looks: Looks,
    alpha: float,
    available: int,
    test: Callable[[int], tuple[float, float, bool]],
) -> Sequential:
    """Replay the looks of a sequential design over ``available`` seeds per configuration:
    ``test(n)`` gives, on the first ``n`` seeds, the p-value of a difference, the p-value of
    equivalence (NaN: none tested) and whether the claimed side is ahead. The first look where
    either p-value is under the look's nominal level decides; the looks are a function of the
    seeds alone, so the same runs always give the same answer, however many rounds trained
    them."""
    last = Sequential("continue", available)
    for n, level in zip(looks.seeds(), looks.levels(alpha), strict=True):
        if n > available:
            return last
        p, e, ahead = test(n)
        state = "decided" if p < level or e < level else "continue"
        if state == "continue" and n >= looks.max_seeds:
            state = "exhausted"
        last = Sequential(state, n, p, e, level, ahead)
        if state != "continue":
            return last
    return last


def sequential_test(
    a: Sequence[float],
    b: Sequence[float],
    margin: float,
    alpha: float,
    looks: Looks,
    higher_is_better: bool = True,
) -> Sequential:
    """Replay the looks of a sequential comparison of ``a`` with ``b`` (each in seed order,
    :func:`replay`): at each look, the first ``n`` seeds of each side, Welch's test of a
    difference and TOST of equivalence within ``±margin``, each against the look's nominal
    level.

    Equivalence is tested at the same nominal level as a difference: each of TOST's two
    one-sided tests at the two-sided design's level, as a fixed TOST at ``alpha`` runs each
    at ``alpha`` (Jennison & Turnbull 2000, ch. 6). At most one of the two null hypotheses
    is true, so the two tests together keep ``alpha``.
    """
    x, y = _arrays(a, b)

    def test(n: int) -> tuple[float, float, bool]:
        difference = float(x[:n].mean() - y[:n].mean())
        ahead = difference > 0 if higher_is_better else difference < 0
        return welch_p_value(x[:n], y[:n]), tost_p_value(x[:n], y[:n], margin), ahead

    return replay(looks, alpha, min(len(x), len(y)), test)


def sequential_verdict(test: Sequential) -> Verdict | None:
    """The verdict of a replayed comparison (:func:`verdict` at its look's level); None
    before its first look (fewer than ``start`` seeds a side)."""
    if math.isnan(test.level):
        return None
    return verdict(test.p_value, test.p_equivalence, test.level, test.ahead)
