"""What the lessons share: the course they cite, the metric names, their epochs, and what a
preset sweeps."""

from __future__ import annotations

from pipeline.config.paths import layout, read_yaml
from pipeline.lessons.runner import Trials

COURSE = "ch. 3"  # ../shared/course/chapter3-activation-backprop-gradient-descent.md
ACCURACY, LOSS = "test_accuracy", "loss"
EPOCHS = 2  # every lesson's trainings, unless said otherwise


def swept(preset: str) -> dict[str, list[str]]:
    """What a preset sweeps: each key's values, as its ``hydra.sweeper.params`` lists them."""
    params = read_yaml(layout().conf / "experiment" / f"{preset}.yaml")["hydra"]["sweeper"]
    return {key: str(values).split(",") for key, values in params["params"].items()}


def run_ids(*trials: Trials) -> list[str]:
    """The MLflow runs behind ``trials``, in order: a row's evidence."""
    return [run for t in trials for run in t.run_ids]


def best_first(means: dict[str, float]) -> list[str]:
    """The keys of ``means``, best (highest) first."""
    return sorted(means, key=lambda k: -means[k])
