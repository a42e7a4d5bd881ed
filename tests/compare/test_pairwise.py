"""One configuration against another (pipeline.compare.pairwise): TOST, the probability of
improvement and the seeds to decide, each checked against a computation by hand with
SciPy's distributions (not the call the module makes)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from pipeline.compare.pairwise import (
    VERDICT_VALUES,
    Looks,
    Verdict,
    probability_of_improvement,
    seeds_to_decide,
    sequential_test,
    sequential_verdict,
    tost_p_value,
    verdict,
)

A = [0.850, 0.860, 0.855, 0.852]
B = [0.851, 0.858, 0.853]


def welch(a, b):
    """Welch's difference of means, its standard error and degrees of freedom, by hand."""
    a, b = np.asarray(a), np.asarray(b)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return a.mean() - b.mean(), math.sqrt(va + vb), df


@pytest.mark.parametrize("margin", [0.002, 0.005, 0.02])
def test_tost_is_the_larger_of_two_one_sided_welch_tests(margin):
    diff, se, df = welch(A, B)
    above_low = stats.t.sf((diff + margin) / se, df)  # H0: diff <= -margin
    below_high = stats.t.cdf((diff - margin) / se, df)  # H0: diff >= +margin
    assert tost_p_value(A, B, margin) == pytest.approx(max(above_low, below_high), rel=1e-9)


def test_tost_decides_the_cases_its_statistic_leaves_undefined():
    assert tost_p_value([0.9, 0.9], [0.902, 0.902], 0.005) == 0.0  # within, no spread
    assert tost_p_value([0.9, 0.9], [0.91, 0.91], 0.005) == 1.0  # outside, no spread
    assert math.isnan(tost_p_value([0.9], B, 0.005))  # one seed: no variance
    with pytest.raises(ValueError, match=r"margin=0: must be a positive number"):
        tost_p_value(A, B, 0)


def test_the_probability_of_improvement_is_the_mann_whitney_statistic_over_the_pairs():
    expected = stats.mannwhitneyu(A, B).statistic / (len(A) * len(B))
    p, low, high = probability_of_improvement(A, B)
    assert p == pytest.approx(expected, abs=1e-12)
    assert 0 <= low <= p <= high <= 1 and high - low > 0.3  # four seeds against three: wide
    # Lower is better (RMSE): A improves where it is lower, the complement here (no ties).
    assert probability_of_improvement(A, B, higher_is_better=False)[0] == pytest.approx(1 - p)
    assert probability_of_improvement(A, B) == (p, low, high)  # the bootstrap's one seed


def test_separated_seeds_give_certainty_and_a_single_seed_no_interval():
    assert probability_of_improvement([0.9, 0.91, 0.92], [0.8, 0.81, 0.82]) == (1.0, 1.0, 1.0)
    p, low, high = probability_of_improvement([0.9], [0.8, 0.85])
    assert p == 1.0 and math.isnan(low) and math.isnan(high)
    assert probability_of_improvement([0.9, 0.9], [0.9, 0.9]) == (0.5, 0.5, 0.5)
    assert all(math.isnan(v) for v in probability_of_improvement([], [0.8]))


def t_power(effect: float, n: int, alpha: float, two_sided: bool) -> float:
    """The power of a two-sample t-test with n per side, by the noncentral t, by hand."""
    df, nc = 2 * n - 2, effect * math.sqrt(n / 2)
    if two_sided:
        crit = stats.t.ppf(1 - alpha / 2, df)
        return stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc)
    return stats.nct.sf(stats.t.ppf(1 - alpha, df), df, nc)


def test_the_seeds_to_show_a_difference_are_the_fewest_with_80_percent_power():
    a, b = [0.850, 0.860, 0.855], [0.845, 0.853, 0.848]  # apart by more than the margin
    n = seeds_to_decide(a, b, margin=0.005, alpha=0.05)
    spread = math.sqrt((np.var(a, ddof=1) + np.var(b, ddof=1)) / 2)
    effect = abs(np.mean(a) - np.mean(b)) / spread
    assert t_power(effect, n, 0.05, two_sided=True) >= 0.8
    assert t_power(effect, n - 1, 0.05, two_sided=True) < 0.8


def test_the_seeds_to_show_equivalence_give_each_one_sided_test_90_percent_power():
    n = seeds_to_decide(A, B, margin=0.005, alpha=0.05)
    spread = math.sqrt((np.var(A, ddof=1) + np.var(B, ddof=1)) / 2)
    effect = (0.005 - abs(np.mean(A) - np.mean(B))) / spread
    assert t_power(effect, n, 0.05, two_sided=False) >= 0.9
    assert t_power(effect, n - 1, 0.05, two_sided=False) < 0.9


def test_seeds_to_decide_when_it_cannot_be_estimated_or_power_is_there_already():
    assert seeds_to_decide([0.9], B, 0.005, 0.05) is None  # one seed: no spread to use
    assert seeds_to_decide([0.9, 0.9], [0.8, 0.8], 0.005, 0.05) is None  # no spread
    assert seeds_to_decide([0.9, 0.91, 0.92], [0.8, 0.81, 0.82], 0.005, 0.05) == 4
    assert seeds_to_decide([0.9, 0.91, 0.92], [0.9, 0.91, 0.92001], 1e-9, 0.05) is None


def test_equivalence_comes_before_a_difference_and_undecided_is_neither():
    assert verdict(0.001, 0.001, 0.05, ahead=False) is Verdict.equivalent
    assert verdict(0.001, 0.5, 0.05, ahead=False) is Verdict.worse
    assert verdict(0.001, 0.5, 0.05, ahead=True) is Verdict.better
    assert verdict(0.2, 0.3, 0.05, ahead=True) is Verdict.undecided
    assert verdict(math.nan, 0.3, 0.05, ahead=True) is None
    assert VERDICT_VALUES[Verdict.worse] == -1.0 and math.isnan(VERDICT_VALUES[Verdict.undecided])


# ------------------------------------------------ the sequential replay (sweep.seeds=auto)
LOOKS = Looks(3, 10)
SD = 0.01


def _welch_tost(a: np.ndarray, b: np.ndarray, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Welch's two-sided p and TOST's p within ±margin, row by row, by hand (t and the
    Welch–Satterthwaite degrees of freedom)."""
    n = a.shape[1]
    va, vb = a.var(axis=1, ddof=1) / n, b.var(axis=1, ddof=1) / n
    se = np.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (n - 1) + vb**2 / (n - 1))
    d = a.mean(axis=1) - b.mean(axis=1)
    welch = 2 * stats.t.sf(np.abs(d) / se, df)
    tost = np.maximum(stats.t.sf((d + margin) / se, df), stats.t.cdf((d - margin) / se, df))
    return welch, tost


def _replay(a: np.ndarray, b: np.ndarray, margin: float, alpha: float = 0.05):
    """The sequential procedure, vectorised over comparisons: per comparison, whether it
    ended "equivalent", "different", and at how many seeds."""
    running = np.ones(len(a), dtype=bool)
    equivalent, different = np.zeros(len(a), bool), np.zeros(len(a), bool)
    seeds = np.full(len(a), LOOKS.max_seeds)
    for n, level in zip(LOOKS.seeds(), LOOKS.levels(alpha), strict=True):
        welch, tost = _welch_tost(a[:, :n], b[:, :n], margin)
        same, apart = running & (tost < level), running & (tost >= level) & (welch < level)
        equivalent |= same
        different |= apart
        seeds[same | apart] = n
        running &= ~(same | apart)
    return equivalent, different, seeds


def test_the_replay_agrees_with_the_procedure_computed_by_hand():
    rng = np.random.default_rng(5)
    a = rng.normal(0.85, SD, (60, 10))
    b = rng.normal(0.85, SD, (60, 10)) + np.repeat([0.0, 0.012, 0.03], 20)[:, None]
    equivalent, different, seeds = _replay(a, b, margin=0.015)
    outcomes = set()
    for i in range(len(a)):
        test = sequential_test(a[i], b[i], 0.015, 0.05, LOOKS)
        found = sequential_verdict(test)
        assert test.seeds == seeds[i]
        assert (found is Verdict.equivalent) == equivalent[i]
        assert (found in (Verdict.better, Verdict.worse)) == different[i]
        assert test.state == ("decided" if equivalent[i] or different[i] else "exhausted")
        outcomes.add(found)
    assert outcomes == {Verdict.equivalent, Verdict.worse, Verdict.undecided}


def test_a_false_equivalent_stays_at_alpha_over_the_looks():
    # The true difference is the margin itself: the least favourable case for TOST.
    comparisons = 20_000
    rng = np.random.default_rng(13)
    a = rng.normal(0.85, SD, (comparisons, 10))
    b = rng.normal(0.85 - 1.5 * SD, SD, (comparisons, 10))
    equivalent, _, _ = _replay(a, b, margin=1.5 * SD)
    se = math.sqrt(0.05 * 0.95 / comparisons)
    assert equivalent.mean() <= 0.05 + 3 * se, equivalent.mean()


def test_a_real_equivalence_is_found_and_decided_early():
    # The same mean, a margin of 1.5 sd: equivalent in most comparisons, before 10 seeds.
    rng = np.random.default_rng(17)
    a, b = rng.normal(0.85, SD, (2000, 10)), rng.normal(0.85, SD, (2000, 10))
    equivalent, different, seeds = _replay(a, b, margin=1.5 * SD)
    assert equivalent.mean() >= 0.8, equivalent.mean()
    assert different.mean() <= 0.05
    assert seeds[equivalent].mean() < 9


def test_seeds_after_the_deciding_look_change_nothing():
    a = [0.90, 0.91, 0.905, 0.903]
    b = [0.80, 0.81, 0.805, 0.802]
    decided = sequential_test(a, b, 0.005, 0.05, LOOKS)
    assert (decided.state, decided.seeds) == ("decided", 3)
    later = sequential_test([*a, 0.5, 0.4], [*b, 0.95, 0.99], 0.005, 0.05, LOOKS)
    assert later == decided
    assert sequential_verdict(decided) is Verdict.better


def test_before_the_first_look_there_is_no_verdict_and_at_the_budget_it_is_spent():
    early = sequential_test([0.9, 0.91], [0.8, 0.81], 0.005, 0.05, LOOKS)
    assert early.state == "continue" and early.seeds == 2 and sequential_verdict(early) is None
    rng = np.random.default_rng(2)
    a, b = rng.normal(0.85, 0.03, 10), rng.normal(0.85, 0.03, 10)
    spent = sequential_test(a, b, 0.001, 0.05, LOOKS)
    assert (spent.state, spent.seeds) == ("exhausted", 10)
    assert spent.level == pytest.approx(LOOKS.levels(0.05)[-1])
    assert sequential_verdict(spent) is Verdict.undecided


def test_the_design_round_trips_through_its_tag_and_a_bad_tag_says_so():
    assert Looks.from_tag(Looks(3, 7, "pocock").tag()) == Looks(3, 7, "pocock")
    assert Looks(3, 10).tag() == "3:10:obrien_fleming"
    with pytest.raises(ValueError, match="unknown spending function 'linear'"):
        Looks.from_tag("3:10:linear")
    with pytest.raises(ValueError, match="max_seeds 2 must be an integer >= start"):
        Looks.from_tag("3:2:pocock")
