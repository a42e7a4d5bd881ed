"""Configuration: schemas, Hydra composition, and the generated ``params.yaml``.

``conf/`` is the single source of truth.  ``params.yaml`` is what DVC reads as
stage params; it is generated from ``conf/`` by the ``config`` stage of
``dvc repro`` (``python -m pipeline.stages.config``), or by DVC itself under
``dvc exp run`` (its Hydra composition, with the ``-S`` overrides applied).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from pipeline.io import atomic_write_text

CONFIG_NAME = "config"


# ---------------------------------------------------------------- data schema
@dataclass
class FileFacts:
    """Published identity of one raw file."""

    sha256: str = MISSING
    size: int = MISSING


@dataclass
class SplitSizes:
    """Split sizes: a float in (0, 1) is a fraction of all rows, an integer a row count.

    ``test`` is left out for datasets that ship an official test set.
    """

    validation: Any = MISSING
    test: Any = None


@dataclass
class DatasetSource:
    """Where one dataset's raw files come from, and how it is split."""

    format: str = MISSING  # raw file format: idx or iris_csv (pipeline.data.preprocess.FORMATS)
    mirror_dir: str = MISSING
    urls: list[str] = field(default_factory=list)
    files: dict[str, FileFacts] = field(default_factory=dict)
    classes: list[str] = field(default_factory=list)
    split: SplitSizes = field(default_factory=SplitSizes)


@dataclass
class DownloadOptions:
    """How hard to try each source (not DVC params: they never change the bytes)."""

    retries: int = 3  # extra attempts per URL after a network error or a 5xx
    backoff: float = 1.0  # seconds before the first retry; doubles each time
    timeout: float = 60.0  # seconds a connection may stall


@dataclass
class DataConfig:
    """The ``data`` section: the dataset catalogue, the split seed, download options."""

    seed: int = 0
    download: DownloadOptions = field(default_factory=DownloadOptions)
    datasets: dict[str, DatasetSource] = field(default_factory=dict)


@dataclass
class Config:
    """The whole composed configuration (the layout of ``params.yaml``)."""

    data: DataConfig = field(default_factory=DataConfig)


def register_configs() -> None:
    """Register the schemas in Hydra's ConfigStore (idempotent)."""
    cs = ConfigStore.instance()
    cs.store(name="optlab_schema", node=Config)
    cs.store(group="data", name="schema", node=DataConfig)


# ---------------------------------------------------------------- composition
def default_config_dir() -> Path:
    """``conf/`` of the project the working directory is in."""
    return Path.cwd() / "conf"


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
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        return compose(config_name=CONFIG_NAME, overrides=list(overrides))


def validate(cfg: DictConfig | dict) -> DictConfig:
    """Merge a plain config (e.g. ``params.yaml``) onto the schema, so typos fail loudly."""
    schema = OmegaConf.structured(Config)
    return OmegaConf.merge(schema, cfg)


def load_params(path: str | os.PathLike[str] = "params.yaml") -> DictConfig:
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


def write_params(cfg: DictConfig, path: str | os.PathLike[str] = "params.yaml") -> Path:
    """Write ``cfg`` to ``path`` atomically."""
    return atomic_write_text(path, to_yaml(cfg))
