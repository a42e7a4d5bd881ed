"""Configuration: Hydra composition of ``conf/``, and the generated ``params.yaml``.

The schemas every key is checked against are in :mod:`pipeline.schemas`.
``params.yaml`` is what DVC reads as stage params; it is the composed whole,
generated from ``conf/`` by the ``config`` stage of ``dvc repro``
(``python -m pipeline.stages.config``), or by DVC itself under ``dvc exp run``
(its Hydra composition, with the ``-S`` overrides applied).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from pipeline.io import atomic_write_text
from pipeline.paths import PARAMS_FILE, layout
from pipeline.schemas import OPTION_SCHEMAS, Config, DatasetConfig, pick

CONFIG_NAME = "config"
HYDRA_VERSION_BASE = "1.3"


def register_configs() -> None:
    """Register the schemas in Hydra's ConfigStore (idempotent)."""
    cs = ConfigStore.instance()
    cs.store(name="optlab_schema", node=Config)
    cs.store(group="schema", name="dataset", node=DatasetConfig)
    # Option schemas live outside the choice groups (schema/<group>/<option>), so
    # Hydra's list of valid options for a group names only real choices.
    for group, options in OPTION_SCHEMAS.items():
        for option, node in options.items():
            cs.store(group=f"schema/{group}", name=option, node=node)


# ---------------------------------------------------------------- composition
def default_config_dir() -> Path:
    """``conf/`` of the project the working directory is in (or below)."""
    return layout().conf


def compose_config(
    overrides: Sequence[str] = (), config_dir: str | os.PathLike[str] | None = None
) -> DictConfig:
    """Compose ``conf/config.yaml`` with Hydra overrides, validated by the schemas.

    Raises:
        hydra.errors.HydraException: on an unknown group option or key (the message
            names the valid options), or a value of the wrong type.
    """
    register_configs()
    config_dir = Path(config_dir or default_config_dir()).resolve()
    with initialize_config_dir(config_dir=str(config_dir), version_base=HYDRA_VERSION_BASE):
        return compose(config_name=CONFIG_NAME, overrides=list(overrides))


def validate(cfg: DictConfig | dict) -> DictConfig:
    """Merge a plain config (e.g. ``params.yaml``) onto the schemas, so typos fail loudly.

    Raises:
        ValueError: on an unknown option name (listing the valid ones), an unknown
            key or a value of the wrong type.
    """
    merged = OmegaConf.merge(OmegaConf.structured(Config), cfg)
    for group, options in OPTION_SCHEMAS.items():
        schema = pick(options, OmegaConf.select(merged, f"{group}.name"), group)
        merged[group] = OmegaConf.merge(OmegaConf.structured(schema), merged[group])
    return merged


def load_params(path: str | os.PathLike[str] = PARAMS_FILE) -> DictConfig:
    """Load and validate the generated ``params.yaml``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found; generate it from conf/ with `python -m pipeline.stages.config`"
        )
    return validate(OmegaConf.load(path))


def to_yaml(cfg: DictConfig) -> str:
    """The resolved config as YAML, as written to ``params.yaml``."""
    return OmegaConf.to_yaml(cfg, resolve=True, sort_keys=False)


def write_params(cfg: DictConfig, path: str | os.PathLike[str] = PARAMS_FILE) -> Path:
    """Write ``cfg`` to ``path`` atomically."""
    return atomic_write_text(path, to_yaml(cfg))
