"""Seeds until decided: alpha spending and its group-sequential Welch test
(pipeline.compare.sequential)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from pipeline.compare.sequential import (
    KINDS,
    boundaries,
    nominal_levels,
    schedule,
    sequential_verdict,
    spent,
)

LOOKS = list(range(3, 11))  # 3 seeds per configuration, one more per round, up to 10


def test_spending_functions_match_their_closed_forms():
    t = np.array([0.05, 0.3, 0.5, 0.8, 0.95])
    for alpha in (0.01, 0.05, 0.1):
        # O'Brien-Fleming type, alpha / 2 a side: 2 * (2 - 2 Phi(z_{1-alpha/4} / sqrt(t))).
        z = stats.norm.ppf(1 - alpha / 4)
        expected = 2 * (2 - 2 * stats.norm.cdf(z / np.sqrt(t)))
        assert spent(t, alpha) == pytest.approx(expected, rel=1e-9, abs=1e-15)
        assert spent(t, alpha, "pocock") == pytest.approx(
            alpha * np.log(1 + (math.e - 1) * t), rel=1e-12
        )
        for kind in KINDS:
            assert spent([1.0], alpha, kind) == [alpha]  # exactly, not within rounding
    # By hand: z_{0.9875} = 2.241402728 / sqrt(0.5) = 3.169828; 1 - Phi(3.169828) = 7.626e-4.
    assert spent([0.5])[0] == pytest.approx(4 * 7.6266e-4, rel=1e-3)


def test_spending_is_increasing_and_obrien_fleming_spends_late():
    t = np.linspace(0.01, 1, 100)
    for kind in KINDS:
        a = np.array(spent(t, 0.05, kind))
        assert np.all(np.diff(a) > 0) and a[-1] == 0.05 and a[0] > 0
    early = spent([0.3], 0.05, "obrien_fleming")[0]
    assert early < 1e-4 < spent([0.3], 0.05, "pocock")[0]


def test_one_look_is_the_fixed_sample_test():
    for alpha in (0.01, 0.05, 0.2):
        for kind in KINDS:
            assert nominal_levels([10], 10, alpha, kind) == [alpha]
            # One look before the budget's end spends only a(t).
            level = nominal_levels([5], 10, alpha, kind)[0]
            assert level == pytest.approx(spent([0.5], alpha, kind)[0], rel=1e-12)
    assert boundaries([1.0]) == pytest.approx([stats.norm.ppf(0.975)], rel=1e-12)


def test_obrien_fleming_levels_rise_from_tiny_to_just_under_alpha():
    levels = nominal_levels(LOOKS, 10, 0.05)
    assert len(levels) == 8
    assert levels[0] < 1e-4
    assert np.all(np.diff(levels) > 0)
    assert 0.035 < levels[-1] < 0.05
    pocock = nominal_levels(LOOKS, 10, 0.05, "pocock")
    assert pocock[0] > 100 * levels[0] and pocock[-1] < 0.015 < levels[-1]


def test_levels_of_looks_taken_do_not_move_when_looks_are_added():
    full = nominal_levels(LOOKS, 10)
    assert nominal_levels([3, 4, 5], 10) == full[:3]
    assert nominal_levels([3, 5], 10) == nominal_levels([3, 5, 7, 10], 10)[:2]
    assert (
        nominal_levels([3, 5, 6], 10, kind="pocock")
        == nominal_levels([3, 5, 6, 9, 10], 10, kind="pocock")[:3]
    )


def test_published_obrien_fleming_boundaries():
    # K = 5 equal looks, two-sided alpha = 0.05, Lan-DeMets O'Brien-Fleming spending of
    # 0.025 a side: gsDesign (sfLDOF, test.type = 2) and ldbounds give these.
    published = [4.877, 3.357, 2.680, 2.290, 2.031]
    assert boundaries([0.2, 0.4, 0.6, 0.8, 1.0], 0.05) == pytest.approx(published, abs=1e-3)


@pytest.mark.parametrize("kind", KINDS)
def test_crossing_probabilities_are_the_spent_alpha_exactly(kind):
    # An independent computation of P(|Z_j| >= c_j for some j <= k): the multivariate
    # normal rectangle probability (Genz's algorithm) with corr sqrt(t_i / t_j).
    t = np.array([3, 5, 7, 10]) / 10
    c = np.array(boundaries(t, 0.05, kind))
    corr = np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))
    for k in range(1, len(t) + 1):
        inside = stats.multivariate_normal.cdf(
            c[:k],
            mean=np.zeros(k),
            cov=corr[:k, :k],
            lower_limit=-c[:k],
            abseps=1e-7,
            releps=0,
            rng=np.random.default_rng(k),
        )
        assert 1 - inside == pytest.approx(spent(t[:k], 0.05, kind)[-1], abs=2e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_crossing_probabilities_match_a_monte_carlo_of_brownian_motion(kind):
    t = np.array(LOOKS) / 10
    c = np.array(boundaries(t, 0.05, kind))
    draws = 200_000
    rng = np.random.default_rng(20240611)
    steps = rng.standard_normal((draws, len(t))) * np.sqrt(np.diff(t, prepend=0.0))
    z = np.cumsum(steps, axis=1) / np.sqrt(t)  # Z_k = S_k / sqrt(t_k)
    crossed = np.cumsum(np.abs(z) >= c, axis=1) > 0  # crossed at or before look k
    for k, expected in enumerate(spent(t, 0.05, kind)):
        se = math.sqrt(expected * (1 - expected) / draws)
        assert abs(crossed[:, k].mean() - expected) <= 3 * se, (k, crossed[:, k].mean())


def _simulate(
    levels: list[float], mean_b: float, comparisons: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sequential Welch tests of configuration A (accuracy ~ N(0.85, 0.01)) against B
    (~ N(mean_b, 0.01)), at ``LOOKS`` seeds each, stopping at the first p < level.

    Returns per comparison: whether it found A better, B better, and the seeds it used.
    """
    rng = np.random.default_rng(seed)
    a = rng.normal(0.85, 0.01, (comparisons, LOOKS[-1]))
    b = rng.normal(mean_b, 0.01, (comparisons, LOOKS[-1]))
    running = np.ones(comparisons, dtype=bool)
    a_better = np.zeros(comparisons, dtype=bool)
    b_better = np.zeros(comparisons, dtype=bool)
    seeds = np.full(comparisons, LOOKS[-1])
    for n, level in zip(LOOKS, levels, strict=True):
        test = stats.ttest_ind(a[:, :n], b[:, :n], axis=1, equal_var=False)
        stop = running & (test.pvalue < level)
        a_better |= stop & (test.statistic > 0)
        b_better |= stop & (test.statistic < 0)
        seeds[stop] = n
        running &= ~stop
    return a_better, b_better, seeds


NULL_COMPARISONS = 20_000


def _null_rate_and_error(levels: list[float]) -> tuple[float, float]:
    """False rejections in either direction when both configurations are the same."""
    a_better, b_better, _ = _simulate(levels, 0.85, NULL_COMPARISONS, seed=7)
    rate = float((a_better | b_better).mean())
    return rate, math.sqrt(0.05 * 0.95 / NULL_COMPARISONS)


def test_sequential_welch_keeps_the_false_rejection_rate_at_alpha():
    # Both directions count, against the two-sided alpha = 0.05.
    rate, se = _null_rate_and_error(nominal_levels(LOOKS, 10, 0.05))
    assert rate <= 0.05 + 3 * se, rate
    # Not a test that never rejects: it spends most of alpha (0.051 in 4 million draws).
    assert rate >= 0.05 - 3 * se, rate


def test_the_naive_loop_fails_the_same_check():
    rate, se = _null_rate_and_error([0.05] * len(LOOKS))
    assert rate > 0.05 + 3 * se, rate
    assert rate > 0.12  # about 0.145: each of the 8 looks is another chance


def test_a_real_difference_is_found_within_the_budget():
    # 0.85 vs 0.835, sd 0.01 (1.5 sd): "A better" in about 87% of 2000 comparisons, with
    # fewer seeds than 10 on average.  (At 1 sd, 0.85 vs 0.84, no test with 10 seeds a side
    # reaches 80%: even the fixed Welch test at 10 seeds has about 56%.)
    a_better, b_better, seeds = _simulate(nominal_levels(LOOKS), 0.835, 2000, seed=11)
    assert a_better.mean() >= 0.8, a_better.mean()
    assert b_better.sum() == 0
    assert seeds[a_better].mean() < 9


def test_sequential_verdict_follows_the_looks():
    levels = nominal_levels(LOOKS)
    assert sequential_verdict([0.01], [3]) == "continue"  # 0.01 > 8.5e-5
    assert sequential_verdict([0.5 * levels[0]], [3]) == "decided"
    assert sequential_verdict([0.01, 0.002], [3, 4]) == "continue"
    assert sequential_verdict([0.01, 0.0005], [3, 4]) == "decided"
    assert sequential_verdict([0.5] * 7 + [0.04], LOOKS) == "exhausted"  # 0.04 > 0.0374
    assert sequential_verdict([0.5] * 7 + [0.03], LOOKS) == "decided"
    assert sequential_verdict([math.nan, 0.3], [3, 5]) == "continue"
    # Looks at other counts: 3, 6, 10 of 10.
    assert sequential_verdict([0.2, 0.2, 0.04], [3, 6, 10]) == "decided"


def test_sequential_verdict_agrees_with_the_vectorised_simulation():
    levels = nominal_levels(LOOKS)
    rng = np.random.default_rng(3)
    a = rng.normal(0.85, 0.01, (40, 10))
    b = rng.normal(0.838, 0.01, (40, 10))
    a_better, b_better, seeds = _simulate(levels, 0.838, 40, seed=3)
    verdicts = set()
    for i in range(40):
        p_values = []
        for n in LOOKS:
            p_values.append(float(stats.ttest_ind(a[i, :n], b[i, :n], equal_var=False).pvalue))
            verdict = sequential_verdict(p_values, LOOKS[: len(p_values)])
            if verdict != "continue":
                break
        verdicts.add(verdict)
        assert (verdict == "decided") == (a_better[i] or b_better[i])
        assert n == seeds[i]
    assert verdicts == {"decided", "exhausted"}


def test_schedule():
    assert schedule() == LOOKS
    assert schedule(3, 10, 2) == [3, 5, 7, 9, 10]
    assert schedule(3, 10, 3) == [3, 6, 9, 10]
    assert schedule(5, 5) == [5]
    assert schedule(2, 20, 6) == [2, 8, 14, 20]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: schedule(1), "start 1 must be an integer >= 2"),
        (lambda: schedule(3, 2), r"max_seeds 2 must be an integer >= start \(3\)"),
        (lambda: schedule(3, 10, 0), "step 0 must be an integer >= 1"),
        (lambda: schedule(3.0), "start 3.0 must be an integer >= 2"),
        (lambda: spent([0.5], 1.5), r"alpha 1.5 must be in \(0, 1\)"),
        (lambda: spent([0.5], 0), r"alpha 0 must be in \(0, 1\)"),
        (lambda: spent([0.0]), r"information fraction 0.0 must be in \(0, 1\]"),
        (lambda: spent([1.2]), r"information fraction 1.2 must be in \(0, 1\]"),
        (
            lambda: spent([0.5], kind="haybittle"),
            "unknown spending function 'haybittle': use one of obrien_fleming, pocock",
        ),
        (lambda: boundaries([0.5, 0.5]), "information fractions must increase: 0.5 after 0.5"),
        (lambda: nominal_levels([3, 11], 10), r"seeds at a look 11 must be <= max_seeds \(10\)"),
        (lambda: nominal_levels([1, 3], 10), "seeds at a look 1 must be an integer >= 2"),
        (lambda: nominal_levels([4, 3], 10), "seeds_at_looks must increase: 3 after 4"),
        (lambda: nominal_levels([], 10), "seeds_at_looks is empty"),
        (lambda: nominal_levels([3], 1), "max_seeds 1 must be an integer >= 2"),
        (lambda: nominal_levels([3], 10, 1.0), r"alpha 1.0 must be in \(0, 1\)"),
        (lambda: sequential_verdict([0.1], [3, 4]), "1 p-values for 2 looks"),
        (lambda: sequential_verdict([1.5], [3]), r"p-value 1.5 must be in \[0, 1\]"),
    ],
)
def test_bad_arguments_name_the_value_and_the_range(call, message):
    with pytest.raises(ValueError, match=message):
        call()
