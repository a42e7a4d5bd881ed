"""Run a function as a Hydra app on the project's ``conf/``: what ``python -m
pipeline.train`` and ``python -m pipeline.figures`` share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig

from pipeline.config import CONFIG_NAME, HYDRA_VERSION_BASE, default_config_dir, register_configs
from pipeline.interrupt import handling_signals


def run_app(task: Callable[[DictConfig], Any]) -> None:
    """Compose ``conf/config.yaml`` with the command line's overrides (Hydra's own
    options, ``-m`` sweeps included) and run ``task`` on it; SIGINT and SIGTERM end it
    with status 130 and 143 (:mod:`pipeline.interrupt`)."""
    import hydra  # lazy, for cost

    register_configs()
    entry = hydra.main(
        config_path=str(default_config_dir()),
        config_name=CONFIG_NAME,
        version_base=HYDRA_VERSION_BASE,
    )
    with handling_signals():
        entry(task)()
