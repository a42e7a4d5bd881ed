"""The download stage's command line (pipeline.stages.download): params, mirror, errors."""

from __future__ import annotations

from omegaconf import OmegaConf

from pipeline.data.download import (
    MIRROR_ENV,
)
from pipeline.stages import download as download_stage
from pipeline.stages.entry import run
from tests.helpers import IDX_FILES, WRONG_SHA, listing, sha256, tiny_config


def write_params(tmp_path, cfg):
    path = tmp_path / "params.yaml"
    OmegaConf.save(cfg, path)
    return path


def stage(*argv):
    return run(download_stage.main, list(argv))


def test_stage_downloads_a_dataset(server, mirror_dir, tmp_path, capsys):
    params = write_params(tmp_path, tiny_config(mirror_dir, urls=[server.url + "/mnist"]))
    out = tmp_path / "raw"

    assert stage("mnist", "--params", str(params), "--out", str(out)) == 0

    printed = capsys.readouterr().out
    assert listing(out) == sorted(IDX_FILES)
    for name in IDX_FILES:
        assert sha256(out / name) == sha256(mirror_dir / "mnist" / name)
        assert f"verified {out / name}" in printed
        assert server.hits[f"/mnist/{name}"] == 1


def test_stage_uses_mirror_from_environment(server, mirror_dir, tmp_path, monkeypatch):
    """The mirror comes from $OPTLAB_DATA_MIRROR and the dataset's mirror_dir (fashion-mnist)."""
    params = write_params(tmp_path, tiny_config(mirror_dir, urls=[server.url + "/fashion-mnist"]))
    for name in IDX_FILES:
        server.faults[f"/fashion-mnist/{name}"] = "500"  # the public host would fail
    monkeypatch.setenv(MIRROR_ENV, mirror_dir.as_uri())
    out = tmp_path / "raw"

    assert stage("fashion_mnist", "--params", str(params), "--out", str(out)) == 0

    assert listing(out) == sorted(IDX_FILES)
    for name in IDX_FILES:
        assert sha256(out / name) == sha256(mirror_dir / "fashion-mnist" / name)
    assert sum(server.hits.values()) == 0


def test_stage_unknown_dataset_lists_valid_ones(server, mirror_dir, tmp_path, capsys):
    params = write_params(tmp_path, tiny_config(mirror_dir, urls=[server.url + "/mnist"]))
    out = tmp_path / "raw"

    assert stage("cifar10", "--params", str(params), "--out", str(out)) == 1

    err = capsys.readouterr().err
    assert "cifar10" in err
    for name in ("iris", "mnist", "fashion_mnist"):
        assert name in err
    assert "Traceback" not in err
    assert not out.exists()


def test_stage_wrong_checksum_fails_cleanly(server, mirror_dir, tmp_path, capsys):
    cfg = tiny_config(mirror_dir, urls=[server.url + "/mnist"])
    first = IDX_FILES[0]
    cfg.data.datasets.mnist.files[first].sha256 = WRONG_SHA
    params = write_params(tmp_path, cfg)
    out = tmp_path / "raw"

    assert stage("mnist", "--params", str(params), "--out", str(out)) == 1

    err = capsys.readouterr().err
    assert WRONG_SHA in err
    assert sha256(mirror_dir / "mnist" / first) in err
    assert first in err
    assert "Traceback" not in err
    assert listing(out) == []


def test_stage_invalid_mirror_env_fails_before_writing(
    server, mirror_dir, tmp_path, capsys, monkeypatch
):
    params = write_params(tmp_path, tiny_config(mirror_dir, urls=[server.url + "/iris"]))
    monkeypatch.setenv(MIRROR_ENV, "ftp://x")
    out = tmp_path / "raw"

    assert stage("iris", "--params", str(params), "--out", str(out)) == 1

    err = capsys.readouterr().err
    assert "'ftp://x'" in err and "http, https, file" in err
    assert not out.exists()
    assert sum(server.hits.values()) == 0


def test_stage_missing_params_file_is_a_user_error(tmp_path, capsys):
    missing = tmp_path / "params.yaml"

    assert stage("iris", "--params", str(missing), "--out", str(tmp_path / "raw")) == 1

    assert "not found" in capsys.readouterr().err
