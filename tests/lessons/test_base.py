"""What the lessons share: a preset's swept values, runs behind trials, rankings."""

from __future__ import annotations

import pandas as pd

from pipeline.lessons.base import best_first, run_ids, swept
from pipeline.lessons.runner import Trial, Trials


def test_the_batch_sizes_are_the_presets_smallest_first():
    assert swept("batch_sizes")["+batching"] == [
        "bs16", "bs32", "bs64", "bs128", "bs256", "full",
    ]  # fmt: skip


def test_run_ids_keep_the_trials_order_and_ranking_puts_the_highest_first():
    def trials(label, *ids):
        return Trials(label, tuple(Trial(i, 42, {}, pd.DataFrame()) for i in ids))

    a, b = trials("a", "r1", "r2"), trials("b", "r3")
    assert run_ids(a, b) == ["r1", "r2", "r3"]
    assert best_first({"sgd": 0.81, "adam": 0.86, "nag": 0.83}) == ["adam", "nag", "sgd"]
