"""The schemas and registries (pipeline.config.schemas): each default written once, each name
resolved through one helper."""

from __future__ import annotations

import copy
import dataclasses
import functools
import re
import subprocess
import sys
import time
import typing

import pytest
from omegaconf import OmegaConf
from omegaconf.errors import MissingMandatoryValue

from pipeline.config.compose import ConfigError, compose_config, validate
from pipeline.config.ranges import RANGES, Range
from pipeline.config.schemas import (
    OPTION_SCHEMAS,
    Config,
    DataConfig,
    DatasetConfig,
    FiguresConfig,
    LossConfig,
    pick,
    pick_many,
)
from tests.helpers import REPO_ROOT

CONF = REPO_ROOT / "conf"
APPENDED = {"experiment", "batching"}  # @package _global_ presets: any key, on purpose
OPTIONS = [
    (g.name, f.stem)
    for g in sorted(CONF.iterdir())
    if g.is_dir() and g.name not in APPENDED
    for f in sorted(g.glob("*.yaml"))
]


SCHEMA_OF_GROUP = {
    "dataset": DatasetConfig,
    "data": DataConfig,
    "loss": LossConfig,
    "figures": FiguresConfig,
}


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


def test_pick_names_the_plural_of_a_word_ending_in_s():
    with pytest.raises(ValueError, match="^unknown loss 'x'; valid losses: mse, mae$"):
        pick(["mse", "mae"], "x", "loss")


def test_pick_many_keeps_the_order_given_and_names_every_bad_value():
    models = OPTION_SCHEMAS["model"]
    assert pick_many(models, " cnn, mlp ", "model") == ["cnn", "mlp"]
    with pytest.raises(ValueError) as bad:
        pick_many(models, "cnn,rnn,gan", "model")
    assert str(bad.value) == "unknown model 'rnn', 'gan'; valid models: mlp, cnn"
    with pytest.raises(ValueError) as empty:
        pick_many(models, " , ", "model")
    assert str(empty.value) == "unknown model ' , '; valid models: mlp, cnn"


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


# ------------------------------------------------------------------ ranges
def _numeric(hint) -> bool:
    """int, float, an Optional of either, or a list of either."""
    if typing.get_origin(hint) in (list, typing.Union):
        return any(_numeric(arg) for arg in typing.get_args(hint))
    return hint in (int, float)


def _schemas_in_place() -> list[tuple[type, tuple[str, ...], list[str]]]:
    """Every schema the config holds, with where one lies in the composed config and the
    overrides that put it there; derived from :class:`Config` and ``OPTION_SCHEMAS``."""
    base = compose_config([])
    found, todo = [], [(Config, (), [])]
    while todo:
        schema, path, overrides = todo.pop(0)
        found.append((schema, path, overrides))
        for name, hint in typing.get_type_hints(schema).items():
            if name not in {f.name for f in dataclasses.fields(schema)}:
                continue  # a ClassVar (keras_class)
            where = (*path, name)
            if dataclasses.is_dataclass(hint):
                todo.append((hint, where, overrides))
            elif typing.get_origin(hint) is dict:
                element = typing.get_args(hint)[1]
                if dataclasses.is_dataclass(element):
                    key = next(iter(_node(base, where)))  # an entry the composed config has
                    todo.append((element, (*where, key), overrides))
            elif hint is typing.Any and name in OPTION_SCHEMAS:
                seen = set()
                for option, option_schema in OPTION_SCHEMAS[name].items():
                    if option_schema not in seen:
                        seen.add(option_schema)
                        todo.append((option_schema, where, [f"{name}={option}"]))
    return found


def _node(cfg, path: tuple[str, ...]):
    for key in path:
        cfg = cfg[key]
    return cfg


NUMERIC_KEYS = [
    (schema, (*path, name), overrides)
    for schema, path, overrides in _schemas_in_place()
    for name, hint in typing.get_type_hints(schema).items()
    if name in {f.name for f in dataclasses.fields(schema)}
    # A key typed Any whose range takes words too (sweep.seeds: a number or "auto").
    and (_numeric(hint) or (hint is typing.Any and bool(getattr(RANGES.get(name), "words", ()))))
]


def _outside(valid: Range) -> list[float]:
    """A value just outside each bound of ``valid``."""
    bad = []
    if valid.low is not None:
        bad.append(valid.low - 1 if valid.low_inclusive else valid.low)
    if valid.high is not None:
        bad.append(valid.high + 1 if valid.high_inclusive else valid.high)
    return bad


@functools.cache
def _composed(overrides: tuple[str, ...]):
    return compose_config(list(overrides))


def check_numeric_key(schema: type, path: tuple[str, ...], overrides: list[str]) -> None:
    """Each out-of-range value of the key at ``path`` is rejected by validate(), in under
    3 s, with one line naming the key, the value and the valid range."""
    name = path[-1]
    valid = RANGES[name]
    assert valid.low is not None or valid.high is not None, name
    cfg = copy.deepcopy(_composed(tuple(overrides)))
    is_list = typing.get_origin(typing.get_type_hints(schema)[name]) is list
    for bad in _outside(valid):
        parent = _node(cfg, path[:-1])
        parent[name] = [bad] if is_list else bad
        bad = parent[name][0] if is_list else parent[name]  # as typed: -1.0 for a float
        started = time.monotonic()
        with pytest.raises(ConfigError) as info:
            validate(cfg)
        assert time.monotonic() - started < 3
        key = ".".join(path) + ("[0]" if is_list else "")
        assert str(info.value) == f"{key}={bad!r}: must be {valid}"


def test_sweep_seeds_takes_a_whole_number_or_auto_and_names_both_when_wrong():
    cfg = copy.deepcopy(_composed(()))
    for good in (1, 7, "auto"):
        cfg.sweep.seeds = good
        assert validate(cfg).sweep.seeds == good
    for bad in ("sometimes", 2.5, 0):
        cfg.sweep.seeds = bad
        with pytest.raises(ConfigError) as info:
            validate(cfg)
        assert str(info.value) == f"sweep.seeds={bad!r}: must be ≥ 1 (a whole number) or 'auto'"
    cfg.sweep.seeds, cfg.sweep.max_seeds = "auto", 2
    with pytest.raises(ConfigError, match=r"^sweep.max_seeds=2: must be ≥ 3$"):
        validate(cfg)


def test_every_numeric_key_of_every_schema_has_its_range():
    """A numeric key added to a schema without a range in RANGES fails here."""
    names = {path[-1] for _, path, _ in NUMERIC_KEYS}
    assert names - set(RANGES) == set()
    assert set(RANGES) - names == set()  # no range for a key no schema has
    # The walk reaches the option schemas and the dict entries too.
    paths = {".".join(path) for _, path, _ in NUMERIC_KEYS}
    assert {"activation.pieces", "optimizer.epsilon", "baselines.iris.epochs"} <= paths


@pytest.mark.parametrize(
    ("schema", "path", "overrides"),
    NUMERIC_KEYS,
    ids=[f"{s.__name__}.{p[-1]}" for s, p, _ in NUMERIC_KEYS],
)
def test_an_out_of_range_value_is_rejected(schema, path, overrides):
    check_numeric_key(schema, path, overrides)


@pytest.mark.slow
def test_every_numeric_key_is_rejected_without_tensorflow():
    """The whole walk in a fresh interpreter: no check imports TensorFlow."""
    code = (
        "import sys\n"
        "from tests.config.test_schemas import NUMERIC_KEYS, check_numeric_key\n"
        "for key in NUMERIC_KEYS:\n"
        "    check_numeric_key(*key)\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
        "print(len(NUMERIC_KEYS))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == len(NUMERIC_KEYS)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["+some_typo=1"], "unknown top-level key 'some_typo'; valid top-level keys: data, "),
        (["+training.batchsize=64"], "unknown training key 'batchsize'; valid training keys: "),
        (["+optimizer.momentum=0.9"], "unknown optimizer key 'momentum'; valid optimizer keys: "),
        (["+model.foo=1"], "unknown model key 'foo'; valid model keys: name, hidden_units, "),
    ],
)
def test_a_key_appended_with_plus_that_no_schema_has_is_rejected(overrides, message):
    """Hydra appends a +key even to a structured config; validate() does not accept it."""
    cfg = compose_config(overrides)  # Hydra's composition lets it through
    with pytest.raises(ValueError, match=re.escape(message)):
        validate(cfg)


def test_all_out_of_range_values_are_named_in_one_line():
    cfg = compose_config(["optimizer.learning_rate=-0.1", "model.dropout=1.5"])
    with pytest.raises(ConfigError) as info:
        validate(cfg)
    assert str(info.value) == (
        "model.dropout=1.5: must be in [0, 1); optimizer.learning_rate=-0.1: must be > 0"
    )


def test_a_value_of_the_wrong_type_in_a_params_file_is_one_line():
    with pytest.raises(ConfigError) as info:
        validate({"training": {"batch_size": "abc"}})
    assert str(info.value) == (
        "training.batch_size: Value 'abc' of type 'str' could not be converted to Integer"
    )
