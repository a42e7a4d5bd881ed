"""Where a run comes from (pipeline.provenance): its data digest, checked against
dvc.lock, and its run key."""

import re

import numpy as np
import pytest
import yaml

from pipeline.provenance import data_tags, run_key
from tests.helpers import dvc, prepared_copy


def test_run_key_is_config_and_data_but_not_runtime_settings():
    params = {
        "optimizer.name": "adam",
        "training.seed": "42",
        "runtime.intra_op_threads": "0",
        "runtime.steps_per_execution": "1",
        "runtime.grad_norm_samples": "512",
    }
    key = run_key(params, "d" * 32)
    assert len(key) == 64 and key == run_key(dict(reversed(params.items())), "d" * 32)
    faster = {**params, "runtime.intra_op_threads": "2", "runtime.steps_per_execution": "8"}
    assert run_key(faster, "d" * 32) == key
    # What changes results changes the key: a choice, the logged gradient rows, the data.
    assert run_key({**params, "training.seed": "43"}, "d" * 32) != key
    assert run_key({**params, "runtime.grad_norm_samples": "32"}, "d" * 32) != key
    assert run_key(params, "e" * 32) != key


@pytest.mark.slow
def test_data_that_no_longer_matches_dvc_lock_is_refused_naming_the_fix(
    mirror_dir, server, tmp_path
):
    """A real `dvc repro` records the folder's md5; a changed file is caught, and the
    command the message gives makes the folder match again."""
    repo, env = prepared_copy(tmp_path / "repo", mirror_dir, server.url, "preprocess@iris")
    folder = repo / "data" / "processed" / "iris"
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    (recorded,) = [
        out["md5"]
        for out in lock["stages"]["preprocess@iris"]["outs"]
        if out["path"] == "data/processed/iris"
    ]
    tags = data_tags(folder, repo)
    assert tags["data.dvc_md5"] == recorded

    x = np.load(folder / "x_test.npy")
    x[0, 0] += 1  # a damaged value: shapes and dtypes still agree with meta.json
    np.save(folder / "x_test.npy", x)
    with pytest.raises(ValueError) as info:
        data_tags(folder, repo)
    assert re.fullmatch(
        re.escape(f"{folder} does not match dvc.lock (its files hash to md5 ")
        + r"[0-9a-f]{32}\.dir"
        + re.escape(
            f", dvc.lock records {recorded}): it changed after stage preprocess@iris made it; "
            "rebuild it with `dvc repro preprocess@iris`"
        ),
        str(info.value),
    )
    dvc(repo, "repro", "preprocess@iris", env=env)
    assert data_tags(folder, repo) == tags


def test_data_outside_dvc_lock_gets_only_its_digest(data_root):
    tags = data_tags(data_root / "iris", data_root)  # no dvc.lock there
    assert set(tags) == {"data.path", "data.digest"}
    assert re.fullmatch(r"[0-9a-f]{32}", tags["data.digest"])
