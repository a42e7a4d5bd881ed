"""DVC stage ``config``: generate ``params.yaml`` from ``conf/``.

DVC composes Hydra configs only under ``dvc exp run``; plain ``dvc repro`` would
read a stale ``params.yaml`` after an edit in ``conf/`` (DVC issue #10750).  This
stage depends on ``conf/`` and outputs ``params.yaml``, so ``dvc repro`` first
regenerates it and every later stage sees the edit.  Under ``dvc exp run`` DVC
has just composed ``params.yaml`` itself, with the ``-S`` overrides, so the stage
keeps that file and only validates it.

Usage: ``python -m pipeline.stages.config [OVERRIDE ...]``
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from dvc.env import DVC_EXP_NAME

from pipeline.config.compose import compose_config, load_params, validate, write_params
from pipeline.config.paths import PARAMS_FILE
from pipeline.system.entry import run
from pipeline.system.exiting import exit_now


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.stages.config",
        description="Compose conf/ with Hydra (and OVERRIDEs) into params.yaml, validated.",
    )
    parser.add_argument(
        "overrides", nargs="*", metavar="OVERRIDE", help="Hydra overrides, e.g. optimizer=nag"
    )
    overrides = parser.parse_args(argv).overrides
    if os.environ.get(DVC_EXP_NAME) and not overrides:
        load_params(PARAMS_FILE)  # DVC composed it with the -S overrides: keep, but validate
        print(f"{PARAMS_FILE}: composed by `dvc exp run`, kept")
        return 0
    cfg = compose_config(overrides)
    validate(cfg)  # a bad value fails here, not in a later stage after params.yaml changed
    write_params(cfg, PARAMS_FILE)
    print(f"{PARAMS_FILE}: composed from conf/")
    return 0


if __name__ == "__main__":
    exit_now(run(main))
