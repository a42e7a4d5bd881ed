"""Configuration: Hydra composition of ``conf/``, and the generated ``params.yaml``.

The schemas every key is checked against are in :mod:`pipeline.config.schemas`.
``params.yaml`` is what DVC reads as stage params; it is the composed whole,
generated from ``conf/`` by the ``config`` stage of ``dvc repro``
(``python -m pipeline.stages.config``), or by DVC itself under ``dvc exp run``
(its Hydra composition, with the ``-S`` overrides applied).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from pipeline.config import keras_names
from pipeline.config.paths import PARAMS_FILE, layout
from pipeline.config.ranges import RANGES, out_of_range
from pipeline.config.schemas import OPTION_SCHEMAS, Config, DatasetConfig, pick
from pipeline.system import machine
from pipeline.system.io import atomic_write_text

CONFIG_NAME = "config"
HYDRA_VERSION_BASE = "1.3"


def register_configs() -> None:
    """Register the schemas in Hydra's ConfigStore (idempotent)."""
    from hydra.core.config_store import ConfigStore  # lazy, for cost: stages only load params

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
    from hydra import compose, initialize_config_dir  # lazy, for cost
    from hydra.core.global_hydra import GlobalHydra

    register_configs()
    config_dir = Path(config_dir or default_config_dir()).resolve()
    # Inside a Hydra app (python -m pipeline.figures composes presets as it draws) the
    # app's own Hydra is set aside for this composition, then put back.
    running = GlobalHydra.instance().hydra
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(config_dir), version_base=HYDRA_VERSION_BASE):
            return compose(config_name=CONFIG_NAME, overrides=list(overrides))
    finally:
        if running is not None:
            GlobalHydra.instance().clear()
            GlobalHydra.instance().initialize(running)


class ConfigError(ValueError):
    """A config that does not fit its schemas; the message is one line naming the key,
    the value and the valid ones."""


def validate(cfg: DictConfig | Mapping[str, Any]) -> DictConfig:
    """Merge a config (Hydra's, ``params.yaml``) onto the schemas and check every value.

    The one check every path shares (direct runs, DVC stages, sweeps), and cheap: it
    runs before anything heavy is imported.  Returns the merged config.

    Raises:
        ValueError: an unknown option name (listing the valid ones, :func:`pick`), an
            unknown key (listing the keys valid there; a ``+key`` Hydra appended
            included), a value of the wrong type, or a number out of its range
            (:data:`pipeline.config.ranges.RANGES`); :class:`ConfigError` for the last three;
            :class:`~pipeline.system.machine.MachineError` for a bad ``OPTLAB_CPU_ISA``.
    """
    # As plain containers: a node Hydra typed as the schema would carry a +key
    # through the merge (OmegaConf trusts a source of the schema's own type).
    plain = OmegaConf.to_container(cfg, resolve=False) if OmegaConf.is_config(cfg) else cfg
    merged = _merge(Config, plain, "")
    for group, options in OPTION_SCHEMAS.items():
        schema = pick(options, OmegaConf.select(merged, f"{group}.name"), group)
        merged[group] = _merge(schema, OmegaConf.to_container(merged[group]), group)
    problems = list(_invalid_values(merged))
    if problems:
        raise ConfigError("; ".join(problems))
    machine.isa_choice()  # the environment's OPTLAB_CPU_ISA, checked with the config
    return merged


def _merge(schema: type, values: Any, path: str) -> DictConfig:
    """``values`` merged onto ``schema`` (found at ``path``), its errors as one line."""
    try:
        return OmegaConf.merge(OmegaConf.structured(schema), values)
    except OmegaConfBaseException as error:
        raise ConfigError(_one_line(error, path)) from error


def _one_line(error: OmegaConfBaseException, path: str = "") -> str:
    """An OmegaConf error as validate() words it: an unknown key with the keys valid
    there (:func:`pick`), else ``<key>: <OmegaConf's first line>``."""
    where = ".".join(p for p in (path, error.full_key) if p)
    owner = error.object_type
    if isinstance(error, ConfigKeyError | ConfigAttributeError) and dataclasses.is_dataclass(owner):
        parent = where.rpartition(".")[0]
        valid = [f.name for f in dataclasses.fields(owner)]
        try:
            pick(valid, error.key, f"{parent} key" if parent else "top-level key")
        except ValueError as unknown:
            return str(unknown)
    message = str(error.msg).splitlines()[0] if error.msg else type(error).__name__
    return f"{where}: {message}" if where else message


def composition_error(error: BaseException) -> str | None:
    """Hydra's composition error in validate()'s words, one line: an option ``conf/``
    lacks (with the valid ones), an unknown key (with the keys valid there), a value
    of the wrong type; None for an error that is not one of these."""
    from hydra.errors import MissingConfigException  # lazy, for cost: raised by Hydra only

    if isinstance(error, MissingConfigException) and error.options is not None:
        group, _, option = (error.missing_cfg_file or "").rpartition("/")
        try:
            pick(error.options, option, group)
        except ValueError as unknown:
            return str(unknown)
    cause = error.__cause__
    return _one_line(cause) if isinstance(cause, OmegaConfBaseException) else None


def _invalid_values(node: DictConfig, path: str = "") -> Iterator[str]:
    """The values of ``node`` (recursively) outside their keys' ranges, or not a name Keras
    resolves where the key is one (:data:`pipeline.config.keras_names.KEYS`), one line each."""
    schema = OmegaConf.get_type(node)
    own = {f.name for f in dataclasses.fields(schema)} if dataclasses.is_dataclass(schema) else ()
    for key in node:
        where = f"{path}.{key}" if path else str(key)
        numeric = key in own and key in RANGES
        # Only a number is resolved: an interpolation elsewhere may need Hydra's context.
        if OmegaConf.is_missing(node, key) or (
            OmegaConf.is_interpolation(node, key) and not numeric
        ):
            continue
        value = node[key]
        if isinstance(value, DictConfig):
            yield from _invalid_values(value, where)
        elif numeric:
            plain = OmegaConf.to_container(value) if isinstance(value, ListConfig) else value
            problem = out_of_range(where, plain)
            if problem:
                yield problem
        elif key in own and key in keras_names.KEYS:
            problem = keras_names.unknown(where, value)
            if problem:
                yield problem


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
