"""The vanishing-gradient figures: the norms at initialisation, the preset's runs found
in a real store, and the two PNGs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from pipeline.figures import vanishing
from pipeline.training.train import train
from tests.figures.pngs import assert_png_not_blank
from tests.helpers import FAST_TRAINING

# Every test here trains real models: not in the edit loop (make test-fast).
pytestmark = pytest.mark.slow

DEEP = OmegaConf.create(
    {"activations": ["sigmoid", "relu"], "depth": 6, "width": 16, "samples": 32}
)


def store_overrides(tmp_path) -> list[str]:
    return [f"mlflow.tracking_uri=sqlite:///{tmp_path / 'mlflow.db'}", *FAST_TRAINING]


def test_at_initialisation_sigmoid_s_gradient_shrinks_toward_the_input_and_relu_s_less(
    tmp_path, data_root
):
    norms = vanishing.init_norms(DEEP, 42, data_root, store_overrides(tmp_path))
    assert list(norms) == ["sigmoid", "relu"]
    assert all(len(v) == 6 for v in norms.values())
    sigmoid, relu = (np.asarray(norms[a]) for a in ("sigmoid", "relu"))
    # hidden_1 (input side) against hidden_6: sigmoid's derivative (at most 1/4) shrinks it
    assert sigmoid[0] / sigmoid[-1] < 0.1
    assert sigmoid[0] / sigmoid[-1] < relu[0] / relu[-1]


def test_the_norms_are_those_a_training_run_logs_before_its_first_step(tmp_path, data_root):
    """Same config, seed and slice: the diagnostic of pipeline.training.callbacks, not a copy."""
    overrides = [*store_overrides(tmp_path), "model.hidden_units=[16,16]", "training.epochs=1"]
    one = OmegaConf.create({"activations": ["relu"], "depth": 2, "width": 16, "samples": 512})
    first = vanishing.init_norms(one, 42, data_root, overrides)["relu"]
    again = vanishing.init_norms(one, 42, data_root, overrides)["relu"]
    assert first == again  # seeded: the same initial weights each time
    assert first[0] > 0 and first[1] > 0


def test_the_presets_runs_are_found_by_their_run_key_or_trained(tmp_path, data_root):
    """A finished run of exactly the preset's config and data is read back; a missing one is
    trained (and logged): the same numbers either way."""
    overrides = [*store_overrides(tmp_path), "model.hidden_units=[8,8]"]
    relu = train(vanishing.preset_config("relu", 42, overrides), data_root=data_root)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    before = {r.info.run_id for r in client.search_runs(_experiments(client))}
    found = vanishing.preset_histories(42, data_root, overrides)
    assert list(found) == ["sigmoid", "relu"]
    columns = ["epoch", "grad_norm/hidden_1", "grad_norm/hidden_2"]
    pd.testing.assert_frame_equal(found["relu"][columns], relu.history[columns], check_dtype=False)
    after = {r.info.run_id for r in client.search_runs(_experiments(client))}
    trained = after - before
    assert len(trained) == 1  # sigmoid's: relu's was read back
    (sigmoid_run,) = [client.get_run(r) for r in trained]
    assert sigmoid_run.data.params["activation.name"] == "sigmoid"
    again = vanishing.preset_histories(42, data_root, overrides)  # now both are found
    pd.testing.assert_frame_equal(again["sigmoid"], found["sigmoid"], check_dtype=False)
    assert {r.info.run_id for r in client.search_runs(_experiments(client))} == after


def _experiments(client) -> list[str]:
    return [e.experiment_id for e in client.search_experiments()]


def test_draw_writes_both_figures(tmp_path, data_root):
    out = tmp_path / "figures"
    out.mkdir()
    files = vanishing.draw(DEEP, out, 42, data_root, store_overrides(tmp_path))
    assert [f.name for f in files] == list(vanishing.FILES)
    for path in files:
        assert_png_not_blank(path)
