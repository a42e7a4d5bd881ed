"""The verdict rules of the lessons: each verdict, its rule in words and its evidence."""

from __future__ import annotations

import pytest
from scipy import stats

from pipeline.lessons import verdicts as v
from pipeline.lessons.verdicts import (
    Judgement,
    Verdict,
    all_equal,
    at_least,
    every,
    exceeds,
    shrinking,
)

HIGH, LOW = [0.9, 0.91, 0.92], [0.5, 0.51, 0.52]
EXCEEDS_RULE = "relu's mean accuracy exceeds sigmoid's and Welch's test gives p < 0.05"


def _exceeds(a, b, **kwargs):
    return exceeds(a, b, "relu", "sigmoid", "accuracy", **kwargs)


# ------------------------------------------------------------------ exceeds
def test_exceeds_supported_when_clearly_higher():
    """A clearly higher mean with Welch's p far below 0.05 is supported, with the means and
    p as evidence."""
    assert stats.ttest_ind(HIGH, LOW, equal_var=False).pvalue == pytest.approx(1.0388e-6, rel=1e-3)
    assert _exceeds(HIGH, LOW) == Judgement(
        Verdict.SUPPORTED, EXCEEDS_RULE, "means 0.91 vs 0.51, p = 1e-06"
    )


def test_exceeds_not_supported_when_clearly_lower():
    """A clearly lower mean is not supported (the test is two-sided)."""
    assert _exceeds(LOW, HIGH) == Judgement(
        Verdict.NOT_SUPPORTED, EXCEEDS_RULE, "means 0.51 vs 0.91, p = 1e-06"
    )


def test_exceeds_inconclusive_on_identical_samples():
    """Two identical samples give Welch's p = 1: inconclusive."""
    j = _exceeds([0.5, 0.6, 0.7], [0.5, 0.6, 0.7])
    assert j.verdict is Verdict.INCONCLUSIVE
    assert j.evidence == "means 0.6 vs 0.6, p = 1"


def test_exceeds_inconclusive_on_noisy_overlapping_samples():
    """A higher mean that Welch's test cannot tell from chance is inconclusive."""
    a, b = [0.5, 0.7, 0.6], [0.55, 0.65, 0.62]
    reference = stats.ttest_ind(a, b, equal_var=False).pvalue
    assert reference == pytest.approx(0.92469, abs=1e-4)
    j = _exceeds(b, a)  # b's mean 0.607 is the higher one
    assert j.verdict is Verdict.INCONCLUSIVE
    assert j.evidence == "means 0.607 vs 0.6, p = 0.92"


def test_exceeds_inconclusive_with_a_single_value_per_side():
    """One seed a side cannot be tested: inconclusive, and the evidence says why."""
    assert _exceeds([0.9], [0.1]) == Judgement(
        Verdict.INCONCLUSIVE, EXCEEDS_RULE, "fewer than two seeds on a side"
    )
    assert _exceeds([0.9, 0.91], [0.1]).evidence == "fewer than two seeds on a side"


def test_exceeds_deterministic_different_values_are_decided():
    """Zero variance on both sides with different means gives p = 0: decided either way."""
    assert _exceeds([0.8, 0.8], [0.7, 0.7]) == Judgement(
        Verdict.SUPPORTED, EXCEEDS_RULE, "means 0.8 vs 0.7, p = 0"
    )
    assert _exceeds([0.7, 0.7], [0.8, 0.8]).verdict is Verdict.NOT_SUPPORTED


def test_exceeds_deterministic_equal_values_are_inconclusive():
    """Zero variance and equal means give p = 1: inconclusive."""
    j = _exceeds([0.8, 0.8], [0.8, 0.8])
    assert j.verdict is Verdict.INCONCLUSIVE
    assert j.evidence == "means 0.8 vs 0.8, p = 1"


def test_exceeds_uses_the_given_alpha():
    """A p between 0.01 and 0.05 is supported at 0.05 but inconclusive at 0.01, and the rule
    states the threshold used."""
    a, b = [3.5, 4.5, 5.5], [1.0, 2.0, 3.0]
    assert stats.ttest_ind(a, b, equal_var=False).pvalue == pytest.approx(0.03759, abs=1e-4)
    assert _exceeds(a, b).verdict is Verdict.SUPPORTED
    strict = _exceeds(a, b, alpha=0.01)
    assert strict.verdict is Verdict.INCONCLUSIVE
    assert strict.rule == "relu's mean accuracy exceeds sigmoid's and Welch's test gives p < 0.01"
    assert strict.evidence == "means 4.5 vs 2, p = 0.038"


def test_exceeds_accepts_generators():
    """Iterables that can be read only once are measured whole."""
    assert _exceeds(iter(HIGH), (v for v in LOW)).verdict is Verdict.SUPPORTED


# ------------------------------------------------------------------ all_equal
def test_all_equal_supported_when_all_are_the_target():
    """All zeros against target 0 is supported."""
    assert all_equal([0.0, 0.0, 0.0], 0.0, "gradient norm") == Judgement(
        Verdict.SUPPORTED, "every measured gradient norm is exactly 0", "all 3 are 0"
    )


def test_all_equal_not_supported_when_one_differs():
    """A single value off the target makes it not supported, and the evidence counts it."""
    j = all_equal([0.0, 0.5, 0.0, 0.0], 0.0, "gradient norm")
    assert j.verdict is Verdict.NOT_SUPPORTED
    assert j.evidence == "1 of 4 differ, e.g. 0.5"


def test_all_equal_inconclusive_on_nothing():
    """No measurement at all is inconclusive."""
    j = all_equal([], 0.0, "gradient norm")
    assert j.verdict is Verdict.INCONCLUSIVE
    assert j.evidence == "nothing measured"


# ------------------------------------------------------------------ at_least
AT_LEAST_RULE = "every seed's test accuracy of relu is at least 0.9"


def test_at_least_supported_when_every_seed_reaches():
    """Every seed at or above the threshold (one exactly on it) is supported."""
    assert at_least([0.95, 0.92, 0.9], 0.9, "relu", "test accuracy") == Judgement(
        Verdict.SUPPORTED, AT_LEAST_RULE, "3 of 3 seeds reach it (lowest 0.9)"
    )


def test_at_least_not_supported_when_none_reaches():
    """No seed reaching the threshold is not supported."""
    assert at_least([0.5, 0.6], 0.9, "relu", "test accuracy") == Judgement(
        Verdict.NOT_SUPPORTED, AT_LEAST_RULE, "0 of 2 seeds reach it (lowest 0.5)"
    )


def test_at_least_inconclusive_when_some_reach():
    """Some seeds reaching it and some not is inconclusive."""
    assert at_least([0.95, 0.85, 0.91], 0.9, "relu", "test accuracy") == Judgement(
        Verdict.INCONCLUSIVE, AT_LEAST_RULE, "2 of 3 seeds reach it (lowest 0.85)"
    )


def test_at_least_inconclusive_on_nothing():
    """No seed at all is inconclusive."""
    j = at_least([], 0.9, "relu", "test accuracy")
    assert (j.verdict, j.evidence) == (Verdict.INCONCLUSIVE, "nothing measured")


# ------------------------------------------------------------------ shrinking
SHRINKING_RULE = "the step size falls from every epoch to the next, in every seed"


def test_shrinking_supported_when_falling_every_epoch_in_every_seed():
    """A strictly falling series in every seed is supported."""
    assert shrinking([[3.0, 2.0, 1.0], [5.0, 4.0, 3.5]], "step size") == Judgement(
        Verdict.SUPPORTED, SHRINKING_RULE, "in 2 of 2 seeds; first to last epoch, seed 1: 3 → 1"
    )


def test_shrinking_not_supported_when_a_seed_ends_higher():
    """A seed that ends higher than it started makes it not supported."""
    j = shrinking([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0]], "step size")
    assert j.verdict is Verdict.NOT_SUPPORTED
    assert j.evidence == "in 1 of 2 seeds; first to last epoch, seed 1: 3 → 1"


def test_shrinking_not_supported_when_a_seed_ends_where_it_started():
    """Ending no lower than the start is not supported either."""
    assert shrinking([[2.0, 1.0, 2.0]], "step size").verdict is Verdict.NOT_SUPPORTED


def test_shrinking_inconclusive_when_lower_at_the_end_but_rising_between():
    """Lower at the end but rising (or flat) in between is inconclusive."""
    j = shrinking([[3.0, 2.0, 1.0], [3.0, 3.5, 1.0]], "step size")
    assert j.verdict is Verdict.INCONCLUSIVE
    assert j.evidence == "in 1 of 2 seeds; first to last epoch, seed 1: 3 → 1"
    assert shrinking([[3.0, 3.0, 1.0]], "step size").verdict is Verdict.INCONCLUSIVE


def test_shrinking_inconclusive_with_a_single_epoch():
    """One epoch per seed (or no seed) cannot show a fall."""
    assert shrinking([[1.0], [2.0]], "step size") == Judgement(
        Verdict.INCONCLUSIVE, SHRINKING_RULE, "fewer than two epochs"
    )
    assert shrinking([[3.0, 2.0], [1.0]], "step size").evidence == "fewer than two epochs"
    assert shrinking([], "step size").evidence == "fewer than two epochs"


# ------------------------------------------------------------------ every
YES = Judgement(Verdict.SUPPORTED, "rule a", "ev a")
NO = Judgement(Verdict.NOT_SUPPORTED, "rule b", "ev b")
MAYBE = Judgement(Verdict.INCONCLUSIVE, "rule c", "ev c")


def test_every_supported_when_all_are():
    """All supported together is supported; the rules join with '; and '."""
    assert every([YES, YES]) == Judgement(
        Verdict.SUPPORTED, "rule a; and rule a", "supported: ev a; supported: ev a"
    )


def test_every_not_supported_when_any_is_not():
    """One not supported makes the whole not supported, even beside inconclusive ones."""
    j = every([YES, NO, MAYBE])
    assert j.verdict is Verdict.NOT_SUPPORTED
    assert j.rule == "rule a; and rule b; and rule c"
    assert j.evidence == "supported: ev a; not supported: ev b; inconclusive: ev c"


def test_every_inconclusive_on_supported_and_inconclusive():
    """Supported plus inconclusive is inconclusive."""
    assert every([YES, MAYBE]).verdict is Verdict.INCONCLUSIVE
    assert every([MAYBE]).verdict is Verdict.INCONCLUSIVE


def test_every_needs_a_judgement():
    """An empty list is an error, not a vacuous verdict."""
    with pytest.raises(ValueError, match=r"^every\(\) needs at least one judgement$"):
        every([])


def test_a_difference_within_the_margin_is_inconclusive_however_small_its_p():
    """Near-deterministic measurements make Welch's p tiny for any difference; the margin
    says how large a difference must be to count."""
    a, b = [1043.0, 1044.0, 1043.5], [1040.0, 1040.5, 1041.0]  # 0.3 % apart, p < 0.01
    assert v.exceeds(a, b, "A", "B", "peak RSS").verdict is v.Verdict.SUPPORTED
    within = v.exceeds(a, b, "A", "B", "peak RSS", margin=0.01)
    assert within.verdict is v.Verdict.INCONCLUSIVE
    assert (
        within.rule
        == "A's mean peak RSS exceeds B's by more than 1% and Welch's test gives p < 0.05"
    )
    reversed_within = v.exceeds(b, a, "B", "A", "peak RSS", margin=0.01)
    assert reversed_within.verdict is v.Verdict.INCONCLUSIVE
    far = [1360.0, 1365.0, 1370.0]
    assert v.exceeds(far, a, "F", "A", "peak RSS", margin=0.01).verdict is v.Verdict.SUPPORTED
    assert v.exceeds(a, far, "A", "F", "peak RSS", margin=0.01).verdict is v.Verdict.NOT_SUPPORTED


def test_numbers_keep_three_significant_digits_but_no_exponent_below_a_million():
    assert [v.number(x) for x in (0.8234, 3.14159, 1043.4, 123456.0, 2.5e6, 1.4e-7)] == [
        "0.823", "3.14", "1043", "123456", "2.5e+06", "1.4e-07",
    ]  # fmt: skip
