"""The config stage (pipeline.stages.config): params.yaml composed from conf/, or kept
when `dvc exp run` has just composed it."""

from __future__ import annotations

import shutil

import pytest
from omegaconf import OmegaConf

from pipeline.stages.config import main
from pipeline.system.entry import run
from tests.helpers import REPO_ROOT


@pytest.fixture
def project(tmp_path, monkeypatch):
    """conf/ and dvc.yaml in a fresh folder, the working directory."""
    shutil.copytree(REPO_ROOT / "conf", tmp_path / "conf")
    shutil.copy(REPO_ROOT / "dvc.yaml", tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    return tmp_path


def test_params_yaml_is_conf_composed(project, capsys):
    assert run(main, []) == 0
    assert capsys.readouterr().out == "params.yaml: composed from conf/\n"
    assert (project / "params.yaml").read_text() == (REPO_ROOT / "params.yaml").read_text()


def test_overrides_reach_params_yaml(project):
    assert run(main, ["optimizer=nag", "training.batch_size=64"]) == 0
    params = OmegaConf.load(project / "params.yaml")
    assert (params.optimizer.name, params.optimizer.nesterov) == ("nag", True)
    assert params.training.batch_size == 64


def test_under_dvc_exp_run_the_composed_file_is_kept(project, monkeypatch, capsys):
    params = OmegaConf.load(REPO_ROOT / "params.yaml")
    params.training.batch_size = 64  # as `dvc exp run -S training.batch_size=64` composes
    composed = "# composed by DVC\n" + OmegaConf.to_yaml(params)
    (project / "params.yaml").write_text(composed)
    monkeypatch.setenv("DVC_EXP_NAME", "exp-1")
    assert run(main, []) == 0
    assert capsys.readouterr().out == "params.yaml: composed by `dvc exp run`, kept\n"
    assert (project / "params.yaml").read_text() == composed


def test_a_bad_kept_file_is_refused(project, monkeypatch, capsys):
    params = OmegaConf.load(REPO_ROOT / "params.yaml")
    params.optimizer.momentun = 0.9
    OmegaConf.save(params, project / "params.yaml")
    monkeypatch.setenv("DVC_EXP_NAME", "exp-1")
    assert run(main, []) == 1
    err = capsys.readouterr().err
    assert "error: unknown optimizer key 'momentun'; valid optimizer keys: name, " in err


def test_a_bad_value_is_refused_before_params_yaml_changes(project, capsys):
    assert run(main, []) == 0
    before = (project / "params.yaml").read_text()
    assert run(main, ["training.batch_size=0"]) == 1
    assert "error: training.batch_size=0: must be ≥ 1\n" in capsys.readouterr().err
    assert (project / "params.yaml").read_text() == before
