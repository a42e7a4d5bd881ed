"""The valid values of every numeric key of the schemas (:mod:`pipeline.config.schemas`),
written once by key name, and the check :func:`pipeline.config.compose.validate` runs before
anything heavy is imported.

The bottom of the import graph with :mod:`pipeline.config.schemas`: it imports nothing of the
project.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Range:
    """The valid values of a numeric key: finite numbers between ``low`` and ``high``,
    each bound inclusive or not (None: unbounded)."""

    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True
    words: tuple[str, ...] = ()  # the words valid besides the numbers (sweep.seeds: auto)
    integer: bool = False  # whole numbers only (where the schema's type cannot say so)

    def __contains__(self, value: float | str) -> bool:
        if isinstance(value, str):
            return value in self.words
        if self.integer and not float(value).is_integer():
            return False
        above = self.low is None or value > self.low or (self.low_inclusive and value == self.low)
        below = (
            self.high is None or value < self.high or (self.high_inclusive and value == self.high)
        )
        return math.isfinite(value) and above and below

    def __str__(self) -> str:
        """``≥ 1``, ``> 0``, ``in [0, 1)``: what follows ``must be``."""

        def shown(bound: float) -> str:
            return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"

        words = (" (a whole number)" if self.integer else "") + "".join(
            f" or {word!r}" for word in self.words
        )
        if self.high is None:
            return f"{'≥' if self.low_inclusive else '>'} {shown(self.low)}{words}"
        if self.low is None:
            return f"{'≤' if self.high_inclusive else '<'} {shown(self.high)}"
        left = "[" if self.low_inclusive else "("
        right = "]" if self.high_inclusive else ")"
        return f"in {left}{shown(self.low)}, {shown(self.high)}{right}{words}"


AUTO = "auto"  # sweep.seeds: seeds added until each comparison is decided
AT_LEAST_1 = Range(low=1)
NON_NEGATIVE = Range(low=0)
POSITIVE = Range(low=0, low_inclusive=False)
FRACTION = Range(0, 1, high_inclusive=False)  # [0, 1): a decay rate, a drop probability
PLOTTED = Range(-100, 100)  # an activation's plotted inputs (and maxout's pieces)
LOGIT = Range(-1e6, 1e6)  # far past float32's exp overflow (88.7), still a finite float32

# The valid values of every numeric key of the schemas (pipeline.config.schemas), by key
# name: a name
# means the same in every schema that has it (epsilon in each optimizer, seed in
# data and training).  pipeline.config.compose.validate checks them (a list's entries
# one by one) before anything heavy is imported; tests/config/test_schemas.py checks that
# every numeric key has its entry here.
RANGES: dict[str, Range] = {
    # data
    "seed": Range(1, 2**32 - 1),  # up to what NumPy and TensorFlow accept as a seed
    "size": AT_LEAST_1,  # a raw file's published bytes
    "retries": NON_NEGATIVE,
    "backoff": NON_NEGATIVE,
    "timeout": POSITIVE,
    # dataset, training, sweep
    "epochs": AT_LEAST_1,
    "batch_size": AT_LEAST_1,
    "patience": NON_NEGATIVE,
    "min_delta": NON_NEGATIVE,
    "seeds": Range(
        low=1, words=(AUTO,), integer=True
    ),  # auto: added until decided (sweep.max_seeds)
    "max_seeds": Range(low=3),  # the first look takes 3 (pipeline.compare.sequential.START)
    "margin": POSITIVE,  # compare.margin, in the metric's units
    # activations
    "alpha": NON_NEGATIVE,  # leaky_relu's negative slope, elu's saturation
    "pieces": Range(low=2),  # one piece would be a linear unit, not a maxout
    # optimizers
    "learning_rate": POSITIVE,
    "clipnorm": POSITIVE,
    "momentum": FRACTION,
    "rho": FRACTION,
    "beta_1": FRACTION,
    "beta_2": FRACTION,
    "epsilon": POSITIVE,
    "initial_accumulator_value": NON_NEGATIVE,
    "weight_decay": NON_NEGATIVE,
    # models
    "hidden_units": AT_LEAST_1,
    "filters": AT_LEAST_1,
    "dense_units": AT_LEAST_1,
    "kernel_size": AT_LEAST_1,
    "dropout": FRACTION,
    # runtime
    "steps_per_execution": AT_LEAST_1,
    "intra_op_threads": NON_NEGATIVE,  # 0: TensorFlow's default
    "inter_op_threads": NON_NEGATIVE,
    "grad_norm_samples": AT_LEAST_1,
    "verbose": Range(0, 2),  # Keras' 0 silent, 1 progress bar, 2 one line per epoch
    # the course's figures
    "x_min": PLOTTED,
    "x_max": PLOTTED,
    "points": Range(low=2),  # a curve needs two points
    "maxout_slopes": PLOTTED,
    "maxout_intercepts": PLOTTED,
    "steps": AT_LEAST_1,
    "sgd_noise": NON_NEGATIVE,
    "depth": AT_LEAST_1,
    "width": AT_LEAST_1,
    "samples": AT_LEAST_1,
    "logits": LOGIT,
    "offsets": LOGIT,
}


def out_of_range(path: str, value: Any) -> str | None:
    """Why ``value`` is not valid for the numeric key at ``path`` (its last part names
    its range), as ``<path>=<value>: must be <range>``; None when it is valid, when
    it is None (an optional key left unset) or when the key has no range.

    A list (``hidden_units``) is checked entry by entry.
    """
    valid = RANGES.get(path.rsplit(".", 1)[-1])
    if valid is None or value is None:
        return None
    entries = enumerate(value) if isinstance(value, list | tuple) else [(None, value)]
    for i, entry in entries:
        number = isinstance(entry, int | float) and not isinstance(entry, bool)
        if not ((number or isinstance(entry, str)) and entry in valid):
            where = path if i is None else f"{path}[{i}]"
            return f"{where}={entry!r}: must be {valid}"
    return None
