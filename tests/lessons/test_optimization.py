"""The optimisation lessons: the tuning grid they read from the preset."""

from __future__ import annotations

import math

from pipeline.kinds import optimizers
from pipeline.lessons import optimization


def test_the_tuning_grid_is_the_presets_five_log_spaced_rates_for_known_optimizers():
    names, rates = optimization.tuning_grid()
    assert names == ("gd", "sgd", "momentum", "nag", "adagrad", "rmsprop", "adam")
    assert set(names) <= set(optimizers.NAMES)
    assert len(rates) == 5
    steps = [math.log10(b / a) for a, b in zip(rates, rates[1:], strict=False)]
    assert steps == [1.0] * 4
