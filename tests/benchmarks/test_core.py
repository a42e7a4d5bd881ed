"""The benchmark suite's pure logic: schedules, summaries, targets, fits, result files.

The benchmarks themselves (minutes, on the real data) run only under ``make bench``.
"""

from __future__ import annotations

import pytest

from benchmarks.core import (
    Target,
    interleave,
    linear_fit,
    machine_slug,
    ratio,
    render_markdown,
    result_stem,
    summarize,
)


def test_interleave_alternates_the_commands_in_every_repeat():
    assert interleave(["plain", "default", "slow"], 2) == [
        (0, "plain"),
        (0, "default"),
        (0, "slow"),
        (1, "plain"),
        (1, "default"),
        (1, "slow"),
    ]


def test_interleave_needs_a_repeat():
    with pytest.raises(ValueError, match="repeats=0: must be >= 1"):
        interleave(["a"], 0)


def test_summarize_gives_min_median_and_the_values_in_order():
    assert summarize([3.0, 1.0, 2.0, 10.0]) == {
        "min": 1.0,
        "median": 2.5,
        "values": [3.0, 1.0, 2.0, 10.0],
    }
    with pytest.raises(ValueError, match="no values"):
        summarize([])


@pytest.mark.parametrize(
    ("measured", "op", "limit", "met"),
    [
        (3.2, ">=", 3.0, True),
        (2.99, ">=", 3.0, False),
        (1.2, "<=", 1.2, True),
        (1.21, "<=", 1.2, False),
        (True, "==", True, True),
        (False, "==", True, False),
        (None, "<=", 2.0, False),  # not measured: not met
    ],
)
def test_a_target_is_met_by_its_comparison(measured, op, limit, met):
    target = Target("b", "what", measured, op, limit, "s")
    assert target.met is met
    assert target.to_dict()["met"] is met


def test_a_target_with_an_unknown_comparison_says_which_are_valid():
    with pytest.raises(ValueError, match=r"op='<'; valid ops: <=, >=, =="):
        _ = Target("b", "what", 1.0, "<", 2.0).met


def test_ratio_of_nothing_is_none():
    assert ratio(6.0, 2.0) == 3.0
    assert ratio(6.0, 0.0) is None


def test_linear_fit_recovers_a_line_and_its_r2():
    fit = linear_fit([1000, 2500, 5000, 10000], [0.2 + 1e-4 * x for x in (1000, 2500, 5000, 10000)])
    assert fit["slope"] == pytest.approx(1e-4)
    assert fit["intercept"] == pytest.approx(0.2)
    assert fit["r2"] == pytest.approx(1.0)
    curved = linear_fit([1, 2, 3, 4], [1, 4, 9, 30])
    assert curved["r2"] < 0.9


def test_linear_fit_needs_two_distinct_points():
    with pytest.raises(ValueError, match="at least two"):
        linear_fit([1.0], [1.0])
    with pytest.raises(ValueError, match="distinct"):
        linear_fit([2.0, 2.0], [1.0, 3.0])


def test_machine_slug_is_a_short_file_name():
    assert machine_slug("Build-Box_07.example.org") == "build-box-07"
    assert machine_slug("...") == "machine"


def test_result_stem_names_a_partial_run_by_its_benchmarks():
    assert result_stem("2025-01-31", "vm") == "2025-01-31-vm"
    assert result_stem("2025-01-31", "vm", ["train_speed"]) == "2025-01-31-vm-train_speed"


def test_the_markdown_table_gives_targets_timings_details_and_machine():
    result = {
        "date": "2025-01-31",
        "settings": {"repeats": 3},
        "machine": {"slug": "vm", "cpu": "Xeon", "versions": {"tensorflow": "2.21.0"}},
        "benchmarks": {
            "fixed_cost": {
                "status": "ok",
                "unit": "s",
                "timings": {"plain": summarize([12.4, 12.0, 13.0])},
                "targets": [Target("fixed_cost", "wall − fit", 13.9, "<=", 14.4, "s").to_dict()],
                "details": {"fixed cost default − plain": 1.5},
            },
            "sweep": {
                "status": "skipped",
                "reason": "OPTLAB_DATA_MIRROR is not set",
                "targets": [],
            },
        },
    }
    text = render_markdown(result)
    assert "Targets met: 1 of 1." in text
    assert "| fixed_cost | wall − fit | 13.9 s | <= 14.4 s | yes |" in text
    assert "| plain | 12 s | 12.4 s | 3 |" in text
    assert "- fixed cost default − plain: 1.5" in text
    assert "skipped: OPTLAB_DATA_MIRROR is not set" in text
    assert "| versions | tensorflow 2.21.0 |" in text


def test_a_sweep_override_replaces_the_grids_value_of_its_key():
    from benchmarks.sweep import grid

    assert grid([]) == ["+experiment=activation_x_optimizer", "sweep.seeds=3"]
    assert grid(["sweep.seeds=1", "training.epochs=1"]) == [
        "+experiment=activation_x_optimizer",
        "sweep.seeds=1",
        "training.epochs=1",
    ]
