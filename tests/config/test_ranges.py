"""The valid values of the schemas' numeric keys (pipeline.config.ranges)."""

from __future__ import annotations

import math

import pytest

from pipeline.config.ranges import RANGES, Range, out_of_range


@pytest.mark.parametrize(
    ("valid", "inside", "outside"),
    [
        (Range(low=1), [1, 10**9], [0, -1, math.inf, math.nan]),
        (Range(low=0, low_inclusive=False), [1e-12, 5.0], [0.0, -0.1, math.inf]),
        (Range(0, 1, high_inclusive=False), [0.0, 0.999], [1.0, -1e-9, math.nan]),
        (Range(0, 2), [0, 2], [-1, 3]),
    ],
)
def test_a_range_holds_its_finite_values_between_its_bounds(valid, inside, outside):
    assert all(v in valid for v in inside)
    assert not any(v in valid for v in outside)


def test_a_range_reads_as_what_follows_must_be():
    assert [str(r) for r in (RANGES["batch_size"], RANGES["learning_rate"])] == ["≥ 1", "> 0"]
    assert [str(r) for r in (RANGES["dropout"], RANGES["seed"])] == [
        "in [0, 1)",
        "in [1, 4294967295]",
    ]


def test_out_of_range_names_the_key_the_entry_and_the_value():
    assert out_of_range("training.batch_size", 0) == "training.batch_size=0: must be ≥ 1"
    assert out_of_range("model.hidden_units", [8, 0]) == "model.hidden_units[1]=0: must be ≥ 1"
    assert out_of_range("training.epochs", None) is None  # an optional key left unset
    assert out_of_range("optimizer.clipnorm", 1.0) is None
    assert out_of_range("model.name", "mlp") is None  # not a numeric key
