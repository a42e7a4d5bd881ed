"""The download stage's command line (pipeline.stages.download): params, mirror, errors."""

from __future__ import annotations

import subprocess
import sys

from omegaconf import OmegaConf

from pipeline.data.download import (
    MIRROR_ENV,
)
from pipeline.stages import download as download_stage
from pipeline.system.entry import run
from tests.helpers import (
    IDX_FILES,
    REPO_ROOT,
    WRONG_SHA,
    listing,
    run_listing_loaded,
    sha256,
    tiny_config,
    tool_env,
)


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


SECRET = "s3cret-Token"


def _stage_process(params, out, mirror: str) -> subprocess.CompletedProcess:
    """The stage as DVC runs it: its own process, its own logging."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline.stages.download", "mnist"]
        + ["--params", str(params), "--out", str(out)],
        cwd=REPO_ROOT,
        env=tool_env(**{MIRROR_ENV: mirror}),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_mirror_password_is_in_no_log_line_and_no_error(server, mirror_dir, tmp_path):
    """A mirror URL with credentials: the files it serves are logged, and the one it
    fails on named in the error, each with the password masked."""
    params = write_params(tmp_path, tiny_config(mirror_dir))  # public host: a closed port
    last = IDX_FILES[-1]
    server.faults[f"/mnist/{last}"] = "500"
    host = server.url.removeprefix("http://")
    mirror = f"http://reader:{SECRET}@{host}"

    done = _stage_process(params, tmp_path / "raw", mirror)

    assert done.returncode == 1
    assert SECRET not in done.stdout + done.stderr
    fetched = f"fetching http://reader:***@{host}/mnist/{IDX_FILES[0]}"
    assert f"INFO pipeline.data.download: {fetched}" in done.stderr
    assert f"  - http://reader:***@{host}/mnist/{last}\n" in done.stderr  # the failed source
    assert "500 Server Error" in done.stderr


def test_a_checksum_error_from_a_mirror_with_a_token_masks_it(server, mirror_dir, tmp_path):
    cfg = tiny_config(mirror_dir)
    cfg.data.datasets.mnist.files[IDX_FILES[0]].sha256 = WRONG_SHA
    params = write_params(tmp_path, cfg)
    host = server.url.removeprefix("http://")

    done = _stage_process(params, tmp_path / "raw", f"http://{SECRET}@{host}")

    assert done.returncode == 1
    assert SECRET not in done.stdout + done.stderr
    assert f"checksum mismatch for {IDX_FILES[0]} downloaded from http://***@{host}/mnist/" in (
        done.stderr
    )


def test_an_invalid_mirror_with_a_password_is_named_masked(tmp_path, mirror_dir):
    params = write_params(tmp_path, tiny_config(mirror_dir))
    done = _stage_process(params, tmp_path / "raw", f"ftp://reader:{SECRET}@host/datasets")
    assert done.returncode == 1
    assert SECRET not in done.stderr
    assert f"error: {MIRROR_ENV}='ftp://reader:***@host/datasets' has scheme 'ftp'" in done.stderr


def test_a_file_mirror_download_loads_no_costly_library(mirror_dir, tmp_path):
    """DVC runs one process per stage: each must stay cheap (no Hydra, pooch, requests)."""
    params = write_params(tmp_path, tiny_config(mirror_dir))
    out = tmp_path / "raw"
    done, loaded = run_listing_loaded(
        "pipeline.stages.download",
        *("mnist", "--params", str(params), "--out", str(out)),
        env=tool_env(**{MIRROR_ENV: mirror_dir.as_uri()}),
    )
    assert done.returncode == 0, done.stderr
    assert loaded == []
    assert listing(out) == sorted(IDX_FILES)
