"""Verdicts computed from measurements, each by a rule that says in words what it checks.

A lesson never writes its verdict by hand: it hands the per-seed measurements to
one of these rules, which returns the verdict and the rule as stated in the table
(with its threshold and the evidence that decided it, e.g. Welch's p).

- :func:`exceeds`: one configuration's mean is higher than another's, and Welch's
  test says the difference is not chance; or TOST shows them the same within a margin
  (then the claim is not supported); or neither (undecided, with the seeds that would
  decide it), with P(A > B) and its interval as evidence;
- :func:`all_equal`: every measurement is exactly a value (step's zero gradient);
- :func:`at_least`: a mean is above a threshold, by a one-sample t-test (ReLU's accuracy
  above 0.9);
- :func:`trend`: a measurement rises or falls along ordered configurations, by the
  Jonckheere–Terpstra test (the batch sizes);
- :func:`shrinking`: a per-epoch series falls in every seed (Adagrad's step);
- :func:`every`: several judgements together.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from pipeline.compare.pairwise import (
    Looks,
    Sequential,
    probability_of_improvement,
    replay,
    seeds_to_decide,
    sequential_test,
    tost_p_value,
    welch_p_value,
)
from pipeline.compare.trend import above_test, seeds_above, seeds_for, trend_test

ALPHA = 0.05  # the significance level of every test in the lessons
# The margin of equivalence of a comparison whose lesson states none, as a fraction of the
# other side's mean: the lessons measure accuracies, losses, seconds and norms, and only a
# relative margin means the same for each. Within 1 %, two means are the same in practice.
EQUIVALENCE = 0.01


class Verdict(StrEnum):
    """What the measurements say about a claim."""

    SUPPORTED = "supported"
    NOT_SUPPORTED = "not supported"
    UNDECIDED = "undecided"


@dataclass(frozen=True)
class Judgement:
    """A verdict, the rule that gave it (in words) and what decided it."""

    verdict: Verdict
    rule: str
    evidence: str = ""
    # The configurations (labels) that want another seed to decide it: an undecided
    # comparison of a sequential design with looks to come (:func:`exceeds`).
    needs: frozenset[str] = frozenset()


def _g(value: float) -> str:
    return number(value)


def number(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits, but whole below a million (1043, not
    1.04e+03)."""
    if math.isfinite(value) and 10**digits <= abs(value) < 1e6:
        return f"{value:.0f}"
    return f"{value:.{digits}g}"


class Measured(list):
    """One configuration's per-seed values, in seed order, with its label and the sequential
    design its seeds are added by (None: a fixed number of seeds): what :func:`exceeds` needs
    to replay a comparison's looks and to say which configurations want another seed."""

    label: str
    looks: Looks | None

    def __init__(self, values: Iterable[float], label: str = "", looks: Looks | None = None):
        super().__init__(float(v) for v in values)
        self.label, self.looks = label, looks


def exceeds(
    a: Iterable[float],
    b: Iterable[float],
    a_name: str,
    b_name: str,
    quantity: str,
    alpha: float = ALPHA,
    margin: float = 0.0,
) -> Judgement:
    """``a``'s mean ``quantity`` is higher than ``b``'s.

    Not supported when TOST shows the means the same within ``±δ`` (``δ``: ``margin``,
    else :data:`EQUIVALENCE`, of ``b``'s mean), or when ``b``'s mean exceeds ``a``'s by
    more than ``margin`` of ``a``'s with Welch's p < ``alpha``; supported when ``a``'s
    mean exceeds ``b``'s so; undecided otherwise, with the seeds each side would need
    (80 % power, an estimate) or why none can be said (fewer than two seeds on a side).
    The evidence gives the means, Welch's p and P(a seed of a beats one of b) with its
    95 % bootstrap interval.

    When ``a`` or ``b`` is :class:`Measured` with a design (``looks``), the tests are
    replayed look by look (:func:`~pipeline.compare.pairwise.sequential_test`), each look at
    its nominal level, and an undecided comparison with looks to come names its two
    configurations in :attr:`Judgement.needs`: each wants another seed.
    """
    x, y = np.asarray(list(a), float), np.asarray(list(b), float)
    looks = _design([a, b])
    by = f" by more than {margin:.0%}" if margin else ""
    same = margin or EQUIVALENCE
    level = _level(looks, alpha)
    rule = (
        f"{a_name}'s mean {quantity} exceeds {b_name}'s{by} and Welch's test gives {level}; "
        f"not if TOST shows them within {same:.0%} of {b_name}'s"
    )
    if min(len(x), len(y)) < 2:
        return Judgement(Verdict.UNDECIDED, rule, "fewer than two seeds on a side")
    # The margin from the first look's seeds of b: the same at every look.
    first = y[: looks.start] if looks is not None else y
    delta = same * abs(float(first.mean()))
    if looks is None:
        p, equal, n, level_p, state = welch_p_value(x, y), _tost(x, y, delta), len(y), alpha, ""
    else:
        test = sequential_test(x, y, delta, alpha, looks) if delta > 0 else None
        if test is None or math.isnan(test.level):
            return Judgement(Verdict.UNDECIDED, rule, "fewer seeds than the first look's")
        p, equal, n, level_p, state = (
            test.p_value,
            test.p_equivalence,
            test.seeds,
            test.level,
            test.state,
        )
        x, y = x[:n], y[:n]
    prob, low, high = probability_of_improvement(x, y)
    evidence = (
        f"means {_g(x.mean())} vs {_g(y.mean())}, p = {p:.2g}, "
        f"P({a_name} > {b_name}) = {prob:.2f} [{low:.2f}, {high:.2f}]"
    )
    if looks is not None:
        evidence += f"; at {n} seeds a side, level {level_p:.2g}"
    if equal < level_p:
        return Judgement(
            Verdict.NOT_SUPPORTED,
            rule,
            f"{evidence}; equivalent within ±{_g(delta)} (TOST p = {equal:.2g})",
        )
    if p < level_p and x.mean() > y.mean() * (1 + margin):
        return Judgement(Verdict.SUPPORTED, rule, evidence)
    if p < level_p and y.mean() > x.mean() * (1 + margin):
        return Judgement(Verdict.NOT_SUPPORTED, rule, evidence)
    needed = seeds_to_decide(x, y, delta, level_p) if delta > 0 else None
    if needed is not None:
        evidence += f"; about {needed} seeds a side would decide it"
    labels = frozenset(str(getattr(s, "label", "")) for s in (a, b)) - {""}
    return Judgement(
        Verdict.UNDECIDED, rule, evidence, labels if state == "continue" else frozenset()
    )


def _tost(x: np.ndarray, y: np.ndarray, delta: float) -> float:
    return tost_p_value(x, y, delta) if delta > 0 else math.nan


def all_equal(values: Iterable[float], target: float, quantity: str) -> Judgement:
    """Every measured ``quantity`` is exactly ``target``: supported, otherwise not."""
    x = np.asarray(list(values), float)
    rule = f"every measured {quantity} is exactly {_g(target)}"
    if len(x) == 0:
        return Judgement(Verdict.UNDECIDED, rule, "nothing measured")
    off = x[x != target]
    if len(off) == 0:
        return Judgement(Verdict.SUPPORTED, rule, f"all {len(x)} are {_g(target)}")
    return Judgement(
        Verdict.NOT_SUPPORTED, rule, f"{len(off)} of {len(x)} differ, e.g. {_g(off[0])}"
    )


def _design(values: Iterable[Iterable[float]]) -> Looks | None:
    """The sequential design the values' seeds were added by (None: a fixed number)."""
    return next((m.looks for m in values if getattr(m, "looks", None)), None)


def _level(looks: Looks | None, alpha: float) -> str:
    """A rule's level, in words."""
    return f"p < {alpha}" if looks is None else f"p under its look's level ({alpha} over all)"


def _replay(
    values: Sequence[Measured], alpha: float, test: Callable[[int], tuple[float, bool]]
) -> Sequential | None:
    """A one-p-value rule's tests, look by look when ``values`` carry a design (else once, at
    ``alpha``, on every seed): where it stands; None before the first look."""
    looks = _design(values)
    available = min(len(m) for m in values)
    if looks is None:
        p, ahead = test(available)
        return Sequential("exhausted", available, p, math.nan, alpha, ahead)

    def tested(n: int) -> tuple[float, float, bool]:
        p, ahead = test(n)
        return p, math.nan, ahead  # no equivalence test: NaN is never under a level

    result = replay(looks, alpha, available, tested)
    return None if math.isnan(result.level) else result


def _decide(
    result: Sequential, rule: str, evidence: str, needed: int | None, labels: Iterable[Measured]
) -> Judgement:
    if result.p_value < result.level:
        verdict = Verdict.SUPPORTED if result.ahead else Verdict.NOT_SUPPORTED
        return Judgement(verdict, rule, evidence)
    if needed is not None:
        evidence += f"; about {needed} seeds each would decide it"
    wanted = frozenset(str(getattr(m, "label", "")) for m in labels) - {""}
    return Judgement(
        Verdict.UNDECIDED, rule, evidence, wanted if result.state == "continue" else frozenset()
    )


def at_least(
    values: Iterable[float], threshold: float, name: str, quantity: str, alpha: float = ALPHA
) -> Judgement:
    """``name``'s mean ``quantity`` is above ``threshold``: a one-sample t-test (two-sided, its
    look's level when ``values`` is :class:`Measured` with a design) decides for the side its
    mean is on; undecided otherwise, with the seeds that would decide it (an estimate)."""
    x = values if isinstance(values, Measured) else Measured(values)
    rule = (
        f"{name}'s mean {quantity} is above {_g(threshold)} and a one-sample t-test gives "
        + _level(x.looks, alpha)
    )
    if len(x) < 2:
        return Judgement(Verdict.UNDECIDED, rule, "fewer than two seeds")
    result = _replay([x], alpha, lambda n: (above_test(x[:n], threshold), _mean(x, n) > threshold))
    if result is None:
        return Judgement(Verdict.UNDECIDED, rule, "fewer seeds than the first look's")
    seen = np.asarray(x[: result.seeds])
    evidence = f"mean {_g(seen.mean())} (lowest {_g(seen.min())}), p = {result.p_value:.2g}"
    evidence += _at(result, [x])
    needed = seeds_above(seen, threshold, result.level)
    return _decide(result, rule, evidence, needed, [x])


def trend(
    values: Sequence[Measured],
    names: Sequence[str],
    quantity: str,
    rising: bool,
    alpha: float = ALPHA,
) -> Judgement:
    """``quantity`` rises (``rising``) or falls along ``values``, one per configuration in their
    order: the Jonckheere–Terpstra trend test (:func:`~pipeline.compare.trend.trend_test`),
    two-sided at its look's level, decides for the direction Kendall's tau has; undecided
    otherwise, with the seeds that would decide it (an estimate). The evidence names the
    neighbours whose means are out of the claimed order."""
    way = "rises" if rising else "falls"
    rule = (
        f"the {quantity} {way} from {names[0]} to {names[-1]}: the Jonckheere–Terpstra "
        f"trend test gives {_level(_design(values), alpha)}"
    )
    if min(len(m) for m in values) < 2:
        return Judgement(Verdict.UNDECIDED, rule, "fewer than two seeds")

    def test(n: int) -> tuple[float, bool]:
        p, tau = trend_test([m[:n] for m in values])
        return p, (tau > 0) == rising

    result = _replay(values, alpha, test)
    if result is None:
        return Judgement(Verdict.UNDECIDED, rule, "fewer seeds than the first look's")
    _, tau = trend_test([m[: result.seeds] for m in values])
    means = [_mean(m, result.seeds) for m in values]
    against = [
        f"{a} → {b} ({_g(x)} vs {_g(y)})"
        for a, b, x, y in zip(names, names[1:], means, means[1:], strict=False)
        if (y < x if rising else y > x)
    ]
    evidence = f"Kendall's τ = {tau:.2f}, p = {result.p_value:.2g}" + _at(result, values)
    if against:
        evidence += "; out of that order: " + ", ".join(against)
    needed = seeds_for(result.p_value, result.seeds, result.level)
    return _decide(result, rule, evidence, needed, values)


def _mean(values: Sequence[float], n: int) -> float:
    return float(np.mean(values[:n]))


def _at(result: Sequential, values: Sequence[Measured]) -> str:
    """Where a replayed rule stood: its seeds and level (nothing for a fixed design)."""
    if _design(values) is None:
        return ""
    return f"; at {result.seeds} seeds each, level {result.level:.2g}"


def shrinking(series: Iterable[Sequence[float]], quantity: str) -> Judgement:
    """A per-epoch ``quantity`` falls from each epoch to the next, in every seed.

    Supported when it falls at every epoch in every seed; not supported when in some
    seed it ends no lower than it started; undecided otherwise (lower at the end,
    but not at every epoch), or with fewer than two epochs.
    """
    runs = [np.asarray(s, float) for s in series]
    rule = f"the {quantity} falls from every epoch to the next, in every seed"
    if not runs or min(len(r) for r in runs) < 2:
        return Judgement(Verdict.UNDECIDED, rule, "fewer than two epochs")
    falls = sum(int((np.diff(r) < 0).all()) for r in runs)
    evidence = f"in {falls} of {len(runs)} seeds; first to last epoch, seed 1: " + (
        f"{_g(runs[0][0])} → {_g(runs[0][-1])}"
    )
    if falls == len(runs):
        return Judgement(Verdict.SUPPORTED, rule, evidence)
    if any(r[-1] >= r[0] for r in runs):
        return Judgement(Verdict.NOT_SUPPORTED, rule, evidence)
    return Judgement(Verdict.UNDECIDED, rule, evidence)


def every(judgements: Sequence[Judgement]) -> Judgement:
    """All of ``judgements`` together: supported when each is, not supported when any
    is not, undecided otherwise."""
    verdicts = {j.verdict for j in judgements}
    if not judgements:
        raise ValueError("every() needs at least one judgement")
    if verdicts == {Verdict.SUPPORTED}:
        verdict = Verdict.SUPPORTED
    elif Verdict.NOT_SUPPORTED in verdicts:
        verdict = Verdict.NOT_SUPPORTED
    else:
        verdict = Verdict.UNDECIDED
    rule = "; and ".join(j.rule for j in judgements)
    evidence = "; ".join(f"{j.verdict}: {j.evidence}" for j in judgements)
    # Decided as a whole, none of its parts wants another seed.
    needs = frozenset().union(*(j.needs for j in judgements))
    return Judgement(
        verdict, rule, evidence, needs if verdict == Verdict.UNDECIDED else frozenset()
    )
