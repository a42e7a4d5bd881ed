"""The schemas and registries (pipeline.schemas): each default written once, each name
resolved through one helper."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf
from omegaconf.errors import MissingMandatoryValue

from pipeline.config import validate
from pipeline.schemas import OPTION_SCHEMAS, DataConfig, DatasetConfig, LossConfig, pick
from tests.helpers import REPO_ROOT

CONF = REPO_ROOT / "conf"
APPENDED = {"experiment", "batching"}  # @package _global_ presets: any key, on purpose
OPTIONS = [
    (g.name, f.stem)
    for g in sorted(CONF.iterdir())
    if g.is_dir() and g.name not in APPENDED
    for f in sorted(g.glob("*.yaml"))
]


SCHEMA_OF_GROUP = {"dataset": DatasetConfig, "data": DataConfig, "loss": LossConfig}


def _restated(values: dict, defaults: dict, prefix: str = "") -> list[str]:
    """The keys of ``values`` whose value is the same as in ``defaults``."""
    same = []
    for key, value in values.items():
        default = defaults.get(key, "???")
        if isinstance(value, dict) and isinstance(default, dict):
            same += _restated(value, default, f"{prefix}{key}.")
        elif key != "name" and value == default:
            same.append(f"{prefix}{key}")
    return same


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_option_files_hold_only_what_differs_from_the_schema(group, option):
    """Each default is written once, in its schema: an option file sets only the values
    that make it that option (momentum's 0.9), never a copy of a default."""
    schema = OPTION_SCHEMAS.get(group, {}).get(option) or SCHEMA_OF_GROUP[group]
    defaults = OmegaConf.to_container(OmegaConf.structured(schema))
    values = OmegaConf.to_container(OmegaConf.load(CONF / group / f"{option}.yaml"))
    values.pop("defaults", None)
    assert _restated(values, defaults) == []


def test_a_restated_default_is_caught():
    values = {"name": "adam", "learning_rate": 0.001, "beta_1": 0.8}
    defaults = OmegaConf.to_container(OmegaConf.structured(OPTION_SCHEMAS["optimizer"]["adam"]))
    assert _restated(values, defaults) == ["learning_rate"]


def test_option_schemas_cover_every_option_file():
    for group, schemas in OPTION_SCHEMAS.items():
        files = {f.stem for f in (CONF / group).glob("*.yaml")}
        assert files == set(schemas), group


def test_pick_names_the_bad_value_and_lists_the_valid_ones_in_registry_order():
    with pytest.raises(ValueError, match="unknown optimizer 'adma'; valid optimizers: gd, sgd, "):
        pick(OPTION_SCHEMAS["optimizer"], "adma", "optimizer")
    with pytest.raises(ValueError, match=r"unknown model \['mlp'\]; valid models: mlp, cnn"):
        pick(OPTION_SCHEMAS["model"], ["mlp"], "model")  # unhashable: still one clear line
    assert pick(OPTION_SCHEMAS["model"], "cnn", "model").__name__ == "CNNConfig"


def test_a_dataset_must_name_its_own_epochs():
    """DatasetConfig.epochs has no default: each dataset file sets its own."""
    cfg = OmegaConf.load(CONF / "dataset" / "mnist.yaml")
    del cfg["defaults"], cfg["epochs"]
    with pytest.raises(MissingMandatoryValue, match="epochs"):
        OmegaConf.to_container(
            OmegaConf.merge(OmegaConf.structured(DatasetConfig), cfg), throw_on_missing=True
        )


def test_validate_fills_the_schema_defaults_of_the_chosen_option():
    cfg = validate(
        {
            "optimizer": {"name": "adamax"},
            "activation": {"name": "leaky_relu"},
            "model": {"name": "mlp"},
        }
    )
    assert cfg.optimizer.learning_rate == pytest.approx(0.002)  # Adamax's own, not Adam's
    assert cfg.activation.alpha == pytest.approx(0.1)  # the lecture's, not Keras' 0.2
    assert list(cfg.model.hidden_units) == [256, 128]
