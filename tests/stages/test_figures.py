"""The figures stage's command line (pipeline.stages.figures): a bad value in params.yaml
is one clear line, before Keras, MLflow or matplotlib load. A real `dvc repro figures` is
in tests/e2e/test_pipeline_train_dvc.py, the drawing in tests/figures/."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from tests.helpers import REPO_ROOT, run_listing_loaded

HEAVY = {"tensorflow", "keras", "mlflow", "matplotlib"}


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("steps", 0, "error: figures.paths.steps=0: must be ≥ 1"),
        (
            "optimizers",
            ["sgd", "adma"],
            "error: unknown optimizer 'adma'; valid optimizers: gd, sgd, momentum",
        ),
    ],
)
def test_a_bad_value_in_params_yaml_is_one_line_before_anything_heavy(
    tmp_path, key, value, message
):
    params = OmegaConf.load(REPO_ROOT / "params.yaml")
    params.figures.paths[key] = value
    OmegaConf.save(params, tmp_path / "params.yaml")
    out = tmp_path / "figures"
    done, loaded = run_listing_loaded(
        "pipeline.stages.figures", "--params", str(tmp_path / "params.yaml"), "--out", str(out)
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines()[0].startswith(message)
    assert [m for m in loaded if m in HEAVY] == []
    assert not out.exists()
