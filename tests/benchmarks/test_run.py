"""The runner's command line: selecting benchmarks, and skipping without the mirror."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from benchmarks.project import Skip, mirror_files, mirror_url
from benchmarks.run import BENCHMARKS, parse_only
from tests.helpers import REPO_ROOT, tool_env


def test_only_selects_in_the_suites_order():
    assert parse_only("sweep,train_speed") == ["train_speed", "sweep"]


def test_only_rejects_an_unknown_name_listing_the_valid_ones():
    with pytest.raises(argparse.ArgumentTypeError) as error:
        parse_only("train_speed,warp")
    assert (
        str(error.value) == f"unknown benchmark 'warp'; valid benchmarks: {', '.join(BENCHMARKS)}"
    )


def test_without_a_mirror_every_benchmark_skips_saying_so(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--only", "train_speed,sweep", "--out", str(tmp_path)],
        cwd=REPO_ROOT,
        env=tool_env(),  # no OPTLAB_DATA_MIRROR
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    reason = "OPTLAB_DATA_MIRROR is not set: the benchmarks run only on the real data"
    assert f"[bench] train_speed skipped: {reason}" in done.stderr
    assert f"[bench] sweep skipped: {reason}" in done.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_a_file_mirror_lacking_files_is_named(tmp_path, monkeypatch):
    (tmp_path / "iris").mkdir()
    (tmp_path / "iris" / "iris.data").write_text("5.1,3.5,1.4,0.2,Iris-setosa\n")
    monkeypatch.setenv("OPTLAB_DATA_MIRROR", tmp_path.as_uri())
    with pytest.raises(Skip) as skip:
        mirror_url()
    missing = [f for f in mirror_files() if not f.startswith("iris/")]
    assert str(skip.value) == f"OPTLAB_DATA_MIRROR={tmp_path.as_uri()} lacks {', '.join(missing)}"
    assert len(missing) == 8
