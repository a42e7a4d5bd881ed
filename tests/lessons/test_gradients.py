"""The gradient lessons: the step lesson, whole, on tiny generated data."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from pipeline.config import contract
from pipeline.lessons import gradients
from pipeline.lessons.runner import Runner
from pipeline.lessons.verdicts import Verdict
from pipeline.tracking import store
from tests.helpers import FAST_TRAINING, REPO_ROOT

# Every test here trains real models: not in the edit loop (make test-fast).
pytestmark = pytest.mark.slow


def test_the_step_lesson_on_tiny_data_finds_step_s_gradient_exactly_zero(tmp_path, fashion_root):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment_id = store.ensure_experiment(uri, "lessons")
    parent = MlflowClient(uri).create_run(experiment_id).info.run_id
    runner = Runner(
        uri, "lessons", parent, 2, data_root=fashion_root, config_dir=REPO_ROOT / "conf",
        overrides=[*FAST_TRAINING, "model.hidden_units=[8,8]"],
    )  # fmt: skip
    rows = gradients.step(runner.for_lesson("step"))
    assert len(rows) == 3
    zero = rows[0]
    assert zero.verdict is Verdict.SUPPORTED
    assert zero.rule == "every measured hidden-layer gradient norm of step is exactly 0"
    assert zero.evidence == "all 8 are 0"  # 2 layers x 2 epochs x 2 seeds
    assert len(zero.runs) == 2
    assert len(rows[1].runs) == len(rows[2].runs) == 4  # two configurations, two seeds each
    children = MlflowClient(uri).search_runs(
        [experiment_id], f"tags.`{contract.PARENT_RUN_TAG}` = '{parent}'"
    )
    assert {r.data.tags[contract.LESSON_TAG] for r in children} == {"step"}
    assert {r.data.tags[contract.LESSON_CONFIG_TAG] for r in children} == {
        "relu", "step", "step, straight-through",
    }  # fmt: skip
    assert len(children) == 6
