"""ensure_processed: a worker without the data builds it as the DVC stages would."""

from __future__ import annotations

import threading
from dataclasses import fields

from omegaconf import OmegaConf

from pipeline.config.paths import Layout
from pipeline.data.build import ensure_processed
from pipeline.stages import download as download_stage
from pipeline.stages import preprocess as preprocess_stage
from tests.helpers import IDX_FILES, listing, sha256, tiny_config


def tmp_layout(root) -> Layout:
    return Layout(**{f.name: root / f.name for f in fields(Layout)})


def test_builds_the_stages_bytes_once(server, mirror_dir, tmp_path):
    cfg = tiny_config(mirror_dir, urls=[server.url + "/mnist"])
    where = tmp_layout(tmp_path / "worker")

    out = ensure_processed(cfg.data, "mnist", where)

    # The DVC stages, run on the same params into another folder, write the same bytes.
    params = tmp_path / "params.yaml"
    OmegaConf.save(cfg, params)
    stage_raw, stage_out = tmp_path / "stage-raw", tmp_path / "stage-processed"
    assert download_stage.main(["mnist", "--params", str(params), "--out", str(stage_raw)]) == 0
    argv = ["mnist", "--params", str(params), "--raw", str(stage_raw), "--out", str(stage_out)]
    assert preprocess_stage.main([*argv, "--summary", str(tmp_path / "summary.json")]) == 0
    assert out == where.processed / "mnist"
    assert listing(out) == listing(stage_out)
    for name in listing(out):
        assert sha256(out / name) == sha256(stage_out / name), name
    assert (where.data_reports / "mnist.json").read_bytes() == (
        tmp_path / "summary.json"
    ).read_bytes()
    # Once built, it is found: no second download.
    before = dict(server.hits)
    assert ensure_processed(cfg.data, "mnist", where) == out
    assert server.hits == before


def test_jobs_on_one_machine_download_once(server, mirror_dir, tmp_path):
    cfg = tiny_config(mirror_dir, urls=[server.url + "/mnist"])
    where = tmp_layout(tmp_path)
    errors = []

    def job():
        try:
            ensure_processed(cfg.data, "mnist", where)
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=job) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert {f"/mnist/{name}": 1 for name in IDX_FILES} == {
        k: v for k, v in server.hits.items() if k.startswith("/mnist/")
    }
    assert (where.processed / "mnist" / "meta.json").is_file()
