"""The preprocess stage's command line (pipeline.stages.preprocess)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from omegaconf import OmegaConf

from pipeline.data.preprocess import (
    load_splits,
)
from pipeline.stages import preprocess as preprocess_stage
from pipeline.system.entry import run
from tests.helpers import run_listing_loaded, tiny_config, tool_env


# ------------------------------------------------------------------ stage entry point
def _params(mirror_dir: Path, tmp_path: Path) -> Path:
    path = tmp_path / "params.yaml"
    OmegaConf.save(tiny_config(mirror_dir), path)
    return path


def test_stage_writes_splits_and_summary(mirror_dir, tmp_path):
    params = _params(mirror_dir, tmp_path)
    out, summary = tmp_path / "processed", tmp_path / "summary.json"
    args = [
        "fashion_mnist",
        "--params",
        str(params),
        "--raw",
        str(mirror_dir / "fashion-mnist"),
        "--out",
        str(out),
        "--summary",
        str(summary),
    ]
    assert run(preprocess_stage.main, args) == 0
    data = json.loads(summary.read_text())
    assert data["rows"] == {"train": 50, "validation": 10, "test": 20, "total": 80}
    assert load_splits(out).meta["classes"][0] == "T-shirt/top"


def test_stage_unknown_dataset_lists_valid_ones(mirror_dir, tmp_path, capsys):
    params = _params(mirror_dir, tmp_path)
    assert run(preprocess_stage.main, ["cifar10", "--params", str(params)]) == 1
    err = capsys.readouterr().err
    assert "unknown dataset 'cifar10'; valid datasets: iris, mnist, fashion_mnist" in err
    assert not (tmp_path / "data").exists()


def test_stage_reports_a_corrupt_file_without_writing(mirror_dir, tmp_path, capsys):
    params = _params(mirror_dir, tmp_path)
    raw = tmp_path / "raw"
    shutil.copytree(mirror_dir / "mnist", raw)
    (raw / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b broken")
    out = tmp_path / "processed"
    args = [
        "mnist",
        "--params",
        str(params),
        "--raw",
        str(raw),
        "--out",
        str(out),
        "--summary",
        str(tmp_path / "s.json"),
    ]
    assert run(preprocess_stage.main, args) == 1
    assert "t10k-images-idx3-ubyte.gz" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "s.json").exists()


def test_the_stage_loads_no_costly_library(mirror_dir, tmp_path):
    """DVC runs one process per stage: each must stay cheap (no pandas, no Hydra)."""
    params = _params(mirror_dir, tmp_path)
    for dataset, folder in (("iris", "iris"), ("mnist", "mnist")):
        out = tmp_path / "processed" / dataset
        done, loaded = run_listing_loaded(
            "pipeline.stages.preprocess",
            *(dataset, "--params", str(params), "--raw", str(mirror_dir / folder)),
            *("--out", str(out), "--summary", str(tmp_path / f"{dataset}.json")),
            env=tool_env(),
        )
        assert done.returncode == 0, done.stderr
        assert loaded == []
        assert load_splits(out).name == dataset
