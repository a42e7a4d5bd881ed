"""The figures stage's command line (pipeline.stages.figures): a bad value in params.yaml
is one clear line, before Keras or matplotlib load. A real `dvc repro figures` is in
tests/e2e/test_figures_dvc.py, the drawing in tests/figures/."""

from __future__ import annotations

from omegaconf import OmegaConf

from tests.helpers import REPO_ROOT, run_listing_loaded

HEAVY = {"tensorflow", "keras", "mlflow", "matplotlib"}


def test_a_bad_value_in_params_yaml_is_one_line_before_anything_heavy(tmp_path):
    params = OmegaConf.load(REPO_ROOT / "params.yaml")
    params.figures.paths.steps = 0
    OmegaConf.save(params, tmp_path / "params.yaml")
    done, loaded = run_listing_loaded(
        "pipeline.stages.figures", "--params", str(tmp_path / "params.yaml"),
        "--out", str(tmp_path / "figures"),
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines()[0] == "error: figures.paths.steps=0: must be ≥ 1"
    assert [m for m in loaded if m in HEAVY] == []
    assert not (tmp_path / "figures").exists()


def test_an_unknown_optimizer_is_named_with_the_valid_ones(tmp_path):
    params = OmegaConf.load(REPO_ROOT / "params.yaml")
    params.figures.paths.optimizers = ["sgd", "adma"]
    OmegaConf.save(params, tmp_path / "params.yaml")
    done, loaded = run_listing_loaded(
        "pipeline.stages.figures", "--params", str(tmp_path / "params.yaml"),
        "--out", str(tmp_path / "figures"),
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "error: unknown optimizer 'adma'; valid optimizers: gd, sgd, momentum" in done.stderr
    assert [m for m in loaded if m in HEAVY] == []
