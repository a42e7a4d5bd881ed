"""The names Keras resolves, read from its source without loading it
(pipeline.config.keras_names), against the loaded Keras' own tables."""

from __future__ import annotations

import subprocess
import sys

import keras
import pytest
from keras.src import activations as keras_activations
from keras.src import initializers as keras_initializers
from keras.src.utils.naming import to_snake_case

from pipeline.config.keras_names import NOT_BY_NAME, _to_snake_case, names
from tests.helpers import REPO_ROOT


@pytest.mark.parametrize(
    ("kind", "table"),
    [
        ("initializer", keras_initializers.ALL_OBJECTS_DICT),
        ("activation", keras_activations.ALL_OBJECTS_DICT),
    ],
)
def test_the_names_read_from_the_source_are_the_loaded_keras_tables(kind, table):
    assert set(names(kind)) == set(table) - NOT_BY_NAME
    assert len(names(kind)) == len(set(names(kind)))  # each once


def _initializes_a_dense_kernel(name: str) -> bool:
    try:
        kernel = keras.initializers.get(name)((4, 3))
    except (KeyError, ValueError, TypeError, NotImplementedError):
        return False
    return tuple(kernel.shape) == (4, 3)


def _activates(name: str) -> bool:
    try:
        out = keras.activations.get(name)(keras.ops.ones((2, 4)))
    except (KeyError, ValueError, TypeError):
        return False
    return tuple(out.shape) == (2, 4)


def test_every_name_works_in_keras_by_name_alone():
    assert [n for n in names("initializer") if not _initializes_a_dense_kernel(n)] == []
    assert [n for n in names("activation") if not _activates(n)] == []


def test_every_name_left_out_fails_in_keras_by_name_alone():
    """NOT_BY_NAME is no wider than it must be: should Keras accept one, this fails."""
    initializers = NOT_BY_NAME & set(keras_initializers.ALL_OBJECTS_DICT)
    activations = NOT_BY_NAME & set(keras_activations.ALL_OBJECTS_DICT)
    assert initializers | activations == NOT_BY_NAME
    assert [n for n in initializers if _initializes_a_dense_kernel(n)] == []
    assert [n for n in activations if _activates(n)] == []


def test_snake_case_names_come_first_and_the_lectures_defaults_are_there():
    initializers = names("initializer")
    first_class = next(i for i, n in enumerate(initializers) if n[0].isupper())
    assert all(n.islower() for n in initializers[:first_class])
    assert {"glorot_uniform", "he_normal", "random_normal"} <= set(initializers)
    assert {"softmax", "sigmoid", "linear", "swish"} <= set(names("activation"))


@pytest.mark.parametrize(
    ("name", "snake"),
    [("GlorotUniform", "glorot_uniform"), ("STFT", "stft"), ("HeNormal", "he_normal")],
)
def test_snake_case_is_keras_own(name, snake):
    assert _to_snake_case(name) == to_snake_case(name) == snake


def test_an_unknown_kind_lists_the_kinds():
    with pytest.raises(
        ValueError, match="unknown Keras name kind 'loss'; valid kinds: initializer, activation"
    ):
        names("loss")


def test_reading_them_loads_neither_keras_nor_tensorflow():
    code = (
        "import sys\n"
        "from pipeline.config.keras_names import names\n"
        "print(len(names('initializer')), len(names('activation')))\n"
        "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(len(names("initializer"))), str(len(names("activation")))]
