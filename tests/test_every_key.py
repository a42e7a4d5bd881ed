"""Every key of every schema: a bad value is refused in one line, in under 3 s, by the
checks the entry points run before TensorFlow loads, or the key is listed here as free
text with the reason. The keys are derived from the schemas (a key added to one is
caught here until it is classified); numbers are in tests/config/test_schemas.py (RANGES)."""

from __future__ import annotations

import copy
import dataclasses
import subprocess
import sys
import time
import typing
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from pipeline.config.compose import validate
from pipeline.config.keras_names import KEYS as KERAS_KEYS
from pipeline.data.preprocess import get_format, resolve_size
from pipeline.figures.app import check as check_figures
from pipeline.tracking.store_check import check_tracking
from pipeline.training import planning
from tests.config.test_schemas import _composed, _numeric, _schemas_in_place
from tests.helpers import REPO_ROOT

# Keys whose every value is valid: text that names or describes, nothing to check.
FREE = {
    "experiment_name": "any text names an MLflow experiment",
    "run_name": "any text names a run",
    "mirror_dir": "a folder name under a mirror; a wrong one is a failed download, named",
    "urls": "where the files are published; each is tried in turn, a failure named",
    "classes": "the class labels, any text; their count is checked against the data",
    "sha256": "a wrong digest refuses the download, naming both (data/test_download.py)",
}
# A bad value of each other key that is not a number, by key name (as RANGES is).
BAD: dict[str, object] = {
    "name": "nope",
    **dict.fromkeys(KERAS_KEYS, "nope"),
    "task": "clustering",
    "positive_class": "nope",
    "target": "nope",
    "monitor": "val_nope",
    "tracking_uri": "nope://host",
    "optimizers": ["nope"],
    "functions": ["nope"],
    "activations": ["nope"],
    "learning_rates": {"nope": {"gd": 0.1}},
    "format": "nope",
    "validation": 1.5,
    "test": -1,
    "seeds": "sometimes",  # sweep.seeds: a number (RANGES) or the word auto
}
BOOL = "maybe"  # every bool key


def _keys() -> list[tuple[type, tuple[str, ...], list[str], object]]:
    """Every key of every schema that is not a number or a section, with its type hint."""
    found = []
    for schema, path, overrides in _schemas_in_place():
        for name, hint in typing.get_type_hints(schema).items():
            if name not in {f.name for f in dataclasses.fields(schema)}:
                continue  # a ClassVar (keras_class)
            if _numeric(hint) or dataclasses.is_dataclass(hint):
                continue
            if typing.get_origin(hint) is dict and dataclasses.is_dataclass(
                typing.get_args(hint)[1]
            ):
                continue  # a section per entry (datasets, baselines): walked into
            if hint is typing.Any and name in ("model", "activation", "optimizer"):
                continue  # an option's section: walked into
            found.append((schema, (*path, name), overrides, hint))
    return found


KEYS = _keys()
CHECKED = [k for k in KEYS if k[1][-1] not in FREE]


def _bad_value(name: str, hint: object) -> object:
    return BOOL if hint is bool else BAD[name]


def _set(cfg: dict, path: tuple[str, ...], value: object) -> None:
    node = cfg
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def _context(path: tuple[str, ...]) -> dict[str, object]:
    """What a key's check needs around it: a binary task for the positive class, a
    regression on iris for the target."""
    where = "dataset" if path[0] == "dataset" else ".".join(path[:2])
    if path[-1] == "positive_class":
        return {f"{where}.task": "binary"}
    if path[-1] == "target":
        return {f"{where}.task": "regression", "dataset.name": "iris"}
    return {}


def refuse(path: tuple[str, ...], overrides: list[str], bad: object, data_root: Path) -> str:
    """The message that refuses ``bad`` at ``path``, from the checks the key's entry point
    runs before TensorFlow: a training's (validate, the store, planning.check with its
    data), the figures', or the data stages'."""
    cfg = OmegaConf.to_container(copy.deepcopy(_composed(tuple(overrides))), resolve=False)
    for key, value in _context(path).items():
        _set(cfg, tuple(key.split(".")), value)
    _set(cfg, path, bad)
    try:
        merged = validate(cfg)
        if path[0] == "baselines":  # the train stage trains a baseline as the dataset
            merged.dataset = merged.baselines[path[1]]
        if path[0] == "figures":
            check_figures(merged.figures)
        elif path[0] == "data":
            source = merged.data.datasets[path[2]]
            get_format(source.format)
            for split, size in source.split.items():
                if size is not None:
                    resolve_size(size, 100, f"split.{split}")
        else:
            check_tracking(merged.mlflow.tracking_uri, merged.mlflow.timeout)
            planning.check(merged, data_root / merged.dataset.name)
    except (ValueError, OSError) as error:  # ConfigError; TrackingUnavailable
        return str(error)
    raise AssertionError(f"{'.'.join(path)}={bad!r} was accepted")


def check_key(path: tuple[str, ...], overrides: list[str], hint: object, data_root: Path) -> None:
    """A bad value of the key is one line, in under 3 s, naming the value."""
    bad = _bad_value(path[-1], hint)
    started = time.monotonic()
    message = refuse(path, overrides, bad, data_root)
    assert time.monotonic() - started < 3, path
    assert "\n" not in message, message
    shown = bad[0] if isinstance(bad, list) else next(iter(bad)) if isinstance(bad, dict) else bad
    assert str(shown) in message, (path, message)


def test_every_key_is_checked_or_free_with_a_reason():
    """A key added to a schema fails here until it has a bad value (or a reason to be free)."""
    names = {path[-1] for _, path, _, hint in KEYS if hint is not bool}
    assert names - set(BAD) - set(FREE) == set()
    assert set(BAD) - names == set()  # no bad value for a key no schema has
    assert set(FREE) - names == set()
    paths = {".".join(path) for _, path, _, _ in CHECKED}
    assert {
        "model.kernel_initializer",
        "baselines.iris.positive_class",
        "training.shuffle",
    } <= paths


@pytest.mark.parametrize(
    ("path", "overrides", "hint"),
    [(path, overrides, hint) for _, path, overrides, hint in CHECKED],
    ids=[".".join(path) + (f"[{o[0]}]" if o else "") for _, path, o, _ in CHECKED],
)
def test_a_bad_value_of_the_key_is_one_line(path, overrides, hint, data_root):
    check_key(path, overrides, hint, data_root)


@pytest.mark.slow
def test_every_key_is_refused_without_tensorflow(data_root):
    """The whole walk in a fresh interpreter: no check imports TensorFlow or Keras."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from tests.test_every_key import CHECKED, check_key\n"
        "for _, path, overrides, hint in CHECKED:\n"
        "    check_key(path, overrides, hint, Path(sys.argv[1]))\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
        "print(len(CHECKED))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(data_root)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == len(CHECKED)
