"""Seeds until decided: a group-sequential Welch test of two configurations over seeds.

Start with a few seeds per configuration, test, and add seeds only while the comparison
is undecided, up to ``max_seeds``.  Testing at ``alpha`` after every added seed would
reject a true null far more often than ``alpha`` (each look is another chance); here each
look k, at ``n_k`` seeds per configuration, tests at a smaller *nominal* level so that the
chance of any false rejection over all looks stays at ``alpha``.

The method is Lan & DeMets' alpha spending (Lan, K. K. G. & DeMets, D. L. (1983),
"Discrete sequential boundaries for clinical trials", Biometrika 70:659-663).  A spending
function ``a(t)`` (``a(0) = 0``, ``a(1) = alpha``, increasing) says how much of ``alpha``
may be spent by information fraction ``t_k = n_k / max_seeds``; look k spends
``a(t_k) - a(t_{k-1})``.  The test is two-sided and symmetric, and as in gsDesign,
ldbounds and rpact each side spends the spending function of ``alpha / 2``, so the two
sides together spend:

- ``"obrien_fleming"`` (the default): ``a(t) = 2 * (2 - 2 Phi(z_{1 - alpha/4} / sqrt(t)))``,
  Lan-DeMets' O'Brien-Fleming-type function of ``alpha / 2`` on each side.  It spends
  almost nothing early (3 seeds of 10 reject only at p < 8.5e-5), so stopping early
  takes an overwhelming difference and the last look keeps a level close to ``alpha``;
- ``"pocock"``: ``a(t) = alpha * ln(1 + (e - 1) t)``, which spends evenly: earlier
  decisions, a stricter last look.

The z boundaries ``c_k`` are exact for the canonical joint distribution of the z
statistics at the looks (Brownian motion: ``corr(Z_i, Z_j) = sqrt(t_i / t_j)``, i <= j):
``P(|Z_j| < c_j for j < k, |Z_k| >= c_k | H0) = a(t_k) - a(t_{k-1})``, solved for ``c_k``
one look at a time by root finding (Brent) on that probability, which is computed by the
recursive numerical integration of Armitage, McPherson & Rowe (1969, "Repeated
significance tests on accumulating data", J. R. Statist. Soc. A 132:235-244), as set out
by Jennison & Turnbull (2000, "Group Sequential Methods with Applications to Clinical
Trials", ch. 19): the sub-density of the score ``S_k = Z_k sqrt(t_k)`` on the paths not
yet stopped is carried from look to look on a Simpson grid.  Look k's boundary depends on
looks 1..k only, so adding or moving later looks never changes a decision already taken.
With the default spending and five equal looks this gives gsDesign's z boundaries 4.877,
3.357, 2.680, 2.290, 2.031.

The nominal level of look k is the two-sided normal p of its boundary,
``p_k = 2 (1 - Phi(c_k))``, and look k rejects when Welch's p-value is below ``p_k``:
Jennison & Turnbull's "significance level approach" for t statistics (2000, sec. 3.8),
the usual practice, which refers each look's statistic to its own null distribution.
Comparing ``|t|`` with ``c_k`` itself would be liberal with 3 seeds (a t with 2 to 4
degrees of freedom has heavy tails); comparing p-values is not: at 3 seeds Welch's test
rejects a true null at a third of its nominal level.  What remains is that the variance
estimates make t statistics less correlated from look to look than the z theory assumes,
so later looks spend a little more than planned.  Simulated (4 million null comparisons
of normal accuracies, equal variances, ``alpha = 0.05``) the false-rejection rate over
all looks is 0.0511 for looks at 3, 4, ..., 10 of 10 seeds, 0.0495 for 3, 5, 7, 10 (a
single Welch test at 10 seeds: 0.0485), against 0.145 for testing at ``alpha`` at every
look; tests/compare/test_sequential.py checks it within its Monte-Carlo error.  A caller
who wants a bound rather than ``alpha`` within two percent can refer Welch's ``t`` to a t
with ``n - 1`` degrees of freedom (the least Welch's can have): 0.033, at the cost of
about 5 points of power.

With several comparisons tested together, give each its share of ``alpha`` (e.g.
``alpha / m``, Bonferroni) here; the Holm step-down of :func:`~pipeline.compare.stats.holm`
does not carry over to sequential looks as it is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

KINDS = ("obrien_fleming", "pocock")
"""The spending functions :func:`spent` knows."""

START = 3
"""Seeds per configuration at the first look: the fewest that give Welch's test two
degrees of freedom a side and an interval worth reading."""

Verdict = Literal["decided", "continue", "exhausted"]

# Grid points per standard deviation of the smallest increment between neighbouring looks:
# Simpson's rule's error then falls as (1/16)**4, far below what brentq resolves.
_POINTS_PER_SD = 16
# Beyond this |z| the paths still running carry less than 1e-32 of the probability.
_Z_CAP = 12.0
# Brent's bracket for a boundary: no look spends less than P(|Z| >= 40) in floating point.
_Z_MAX = 40.0


def spent(
    fractions: Sequence[float], alpha: float = 0.05, kind: str = "obrien_fleming"
) -> list[float]:
    """Cumulative two-sided alpha spent by each information fraction.

    Args:
        fractions: Information fractions ``t`` in (0, 1] (``n_k / max_seeds``).
        alpha: Two-sided significance level over all looks, in (0, 1).
        kind: ``"obrien_fleming"`` or ``"pocock"`` (see the module docstring).

    Returns:
        ``a(t)`` for each fraction; ``a(1)`` is ``alpha`` exactly.

    Raises:
        ValueError: ``alpha``, ``kind`` or a fraction out of range.
    """
    from scipy.special import ndtr, ndtri

    _check_alpha(alpha)
    _check_kind(kind)
    t = np.asarray(fractions, dtype=float)
    bad = t[~((t > 0) & (t <= 1))]
    if bad.size:
        raise ValueError(f"information fraction {bad[0]} must be in (0, 1]")
    if kind == "obrien_fleming":
        # Each side spends 2 - 2 Phi(z_{1 - (alpha/2)/2} / sqrt(t)); sf form keeps tiny values.
        a = 4 * ndtr(-ndtri(1 - alpha / 4) / np.sqrt(t))
    else:
        a = alpha * np.log1p((math.e - 1) * t)
    # Rounding must not leave a(1) a hair off alpha, nor push a(t) above it.
    return [alpha if f >= 1 else min(float(v), alpha) for f, v in zip(t, a, strict=True)]


def boundaries(
    fractions: Sequence[float], alpha: float = 0.05, kind: str = "obrien_fleming"
) -> list[float]:
    """Two-sided z boundaries ``c_k`` of looks at increasing information fractions.

    ``P(|Z_j| < c_j for j < k, |Z_k| >= c_k | H0)`` is the alpha look k spends, for z
    statistics with ``corr(Z_i, Z_j) = sqrt(t_i / t_j)``; ``inf`` where a look spends
    nothing (in floating point).

    Raises:
        ValueError: As :func:`spent`, or fractions not strictly increasing.
    """
    from scipy.special import ndtri

    cumulative = spent(fractions, alpha, kind)
    t = [float(f) for f in fractions]
    for before, after in zip(t, t[1:], strict=False):
        if not after > before:
            raise ValueError(f"information fractions must increase: {after} after {before}")
    c = [float(-ndtri(cumulative[0] / 2)) if cumulative[0] > 0 else math.inf]
    grid = mass = np.zeros(0)
    for k in range(1, len(t)):
        grid, mass = _running(grid, mass, t, c, k)
        c.append(_boundary(grid, mass, t[k - 1], t[k], cumulative[k] - cumulative[k - 1]))
    return c


def _boundary(
    grid: np.ndarray, mass: np.ndarray, t_before: float, t_now: float, increment: float
) -> float:
    """The z boundary through which the running paths exit with probability ``increment``."""
    from scipy.optimize import brentq
    from scipy.special import ndtr

    sd, root_t = math.sqrt(t_now - t_before), math.sqrt(t_now)

    def exit_probability(z: float) -> float:
        # Paths at S = grid now that step outside (-b, b) at this look.
        b = z * root_t
        return float(mass @ (ndtr((-b - grid) / sd) + ndtr((grid - b) / sd)))

    if not exit_probability(_Z_MAX) < increment:
        return math.inf  # nothing to spend (an increment of 0 in floating point)
    return float(brentq(lambda z: exit_probability(z) - increment, 0.0, _Z_MAX, xtol=1e-12))


def _running(
    grid: np.ndarray, mass: np.ndarray, t: list[float], c: list[float], k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Where ``S_{k-1}`` of the paths not stopped by look k-1 may be, and their mass there.

    Returns a grid over ``(-c_{k-1} sqrt(t_{k-1}), c_{k-1} sqrt(t_{k-1}))`` and the
    sub-density there times Simpson's weights, from look k-2's ``grid`` and ``mass``.  The
    grid is as fine as the increments into and out of look k-1 ask, so look k's boundary
    depends on looks 1..k alone.
    """
    into = math.sqrt(t[k - 1] - (t[k - 2] if k > 1 else 0.0))
    out = math.sqrt(t[k] - t[k - 1])
    half_width = min(c[k - 1], _Z_CAP) * math.sqrt(t[k - 1])
    intervals = 2 * max(8, math.ceil(half_width * _POINTS_PER_SD / min(into, out)))
    new_grid = np.linspace(-half_width, half_width, intervals + 1)
    weights = np.full(intervals + 1, 2.0)
    weights[1::2] = 4.0
    weights[[0, -1]] = 1.0
    weights *= (new_grid[1] - new_grid[0]) / 3
    if k == 1:
        density = _normal_pdf(new_grid, into)
    else:
        density = _normal_pdf(new_grid[:, None] - grid[None, :], into) @ mass
    return new_grid, weights * density


def _normal_pdf(x: np.ndarray, sd: float) -> np.ndarray:
    return np.exp(-0.5 * (x / sd) ** 2) / (sd * math.sqrt(2 * math.pi))


def nominal_levels(
    seeds_at_looks: Sequence[int],
    max_seeds: int = 10,
    alpha: float = 0.05,
    kind: str = "obrien_fleming",
) -> list[float]:
    """Per-look nominal two-sided p-value thresholds: look k rejects when ``p < p_k``.

    Args:
        seeds_at_looks: Seeds per configuration at each look, increasing, each at least 2
            and at most ``max_seeds`` (e.g. ``schedule()``, or the looks taken so far).
        max_seeds: The budget of seeds per configuration; ``t_k = n_k / max_seeds``.
        alpha: Two-sided false-rejection rate over all looks, in (0, 1).
        kind: The spending function, one of :data:`KINDS`.

    Returns:
        ``p_k = 2 (1 - Phi(c_k))`` for the z boundaries of :func:`boundaries`.  One look at
        ``max_seeds`` gives ``[alpha]``.

    Raises:
        ValueError: An argument out of range (the message names it and the range).
    """
    from scipy.special import ndtr

    _check_looks(seeds_at_looks, max_seeds)
    c = boundaries([n / max_seeds for n in seeds_at_looks], alpha, kind)
    levels = [float(2 * ndtr(-z)) for z in c]
    if seeds_at_looks[-1] == max_seeds and len(seeds_at_looks) == 1:
        levels[-1] = alpha  # the fixed-sample test, exactly
    return levels


def schedule(start: int = START, max_seeds: int = 10, step: int = 1) -> list[int]:
    """Seeds per configuration at which to look: ``start``, ``start + step``, ...,
    ``max_seeds`` (always the last, even where the steps overshoot it).

    Raises:
        ValueError: ``start`` under 2 (Welch's test needs two seeds a side),
            ``max_seeds`` under ``start`` or ``step`` under 1.
    """
    _check_int("start", start, 2)
    _check_int("max_seeds", max_seeds, start, f"start ({start})")
    _check_int("step", step, 1)
    return [*range(start, max_seeds, step), max_seeds]


def sequential_verdict(
    p_values: Sequence[float],
    seeds_at_looks: Sequence[int],
    max_seeds: int = 10,
    alpha: float = 0.05,
    kind: str = "obrien_fleming",
) -> Verdict:
    """Whether a comparison is decided, needs more seeds, or has used its budget.

    Args:
        p_values: Welch's two-sided p-value at each look taken so far (NaN: untestable,
            never rejects).
        seeds_at_looks: The seeds per configuration at those looks, as many as
            ``p_values``.  Only looks taken matter: later ones do not move their levels.
        max_seeds, alpha, kind: As :func:`nominal_levels`.

    Returns:
        ``"decided"`` when a look rejected at its nominal level (a sequential test stops
        there: the direction is the sign of the difference of means), else
        ``"exhausted"`` when the last look had ``max_seeds`` seeds, else ``"continue"``.

    Raises:
        ValueError: An argument out of range, or lengths that differ.
    """
    if len(p_values) != len(seeds_at_looks):
        raise ValueError(
            f"{len(p_values)} p-values for {len(seeds_at_looks)} looks: one p-value per look"
        )
    for p in p_values:
        if not (math.isnan(p) or 0 <= p <= 1):
            raise ValueError(f"p-value {p} must be in [0, 1] (or NaN)")
    levels = nominal_levels(seeds_at_looks, max_seeds, alpha, kind)
    if any(p < level for p, level in zip(p_values, levels, strict=True)):
        return "decided"
    return "exhausted" if seeds_at_looks[-1] >= max_seeds else "continue"


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha {alpha} must be in (0, 1)")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown spending function {kind!r}: use one of {', '.join(KINDS)}")


def _check_int(name: str, value: int, low: int, low_text: str | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{name} {value!r} must be an integer >= {low_text or low}")


def _check_looks(seeds_at_looks: Sequence[int], max_seeds: int) -> None:
    _check_int("max_seeds", max_seeds, 2)
    if len(seeds_at_looks) == 0:
        raise ValueError("seeds_at_looks is empty: give at least one look")
    for n in seeds_at_looks:
        _check_int("seeds at a look", n, 2)
        if n > max_seeds:
            raise ValueError(f"seeds at a look {n} must be <= max_seeds ({max_seeds})")
    for before, after in zip(seeds_at_looks, seeds_at_looks[1:], strict=False):
        if not after > before:
            raise ValueError(f"seeds_at_looks must increase: {after} after {before}")
