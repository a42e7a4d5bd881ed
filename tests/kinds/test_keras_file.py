"""Byte-stable .keras files (pipeline.kinds.keras_file): real Keras models, saved and reloaded."""

from __future__ import annotations

import json
import zipfile

import keras
import numpy as np
import pytest

from pipeline.kinds import keras_file, models

MLP = {"name": "mlp", "hidden_units": [8], "dropout": 0.0, "kernel_initializer": "glorot_uniform"}


def _model() -> keras.Model:
    """The same weights every time (seeded), compiled."""
    keras.backend.clear_session()  # as training does: fresh automatic names (adam, not adam_1)
    keras.utils.set_random_seed(3)
    model = models.build(MLP, {"name": "relu"}, (4,), 3, "softmax", image=False)
    model.compile(
        optimizer="adam",
        loss="categorical_crossentropy",
    )
    return model


@pytest.mark.slow
def test_identical_models_give_identical_bytes(tmp_path):
    first = keras_file.save(_model(), tmp_path / "a.keras")
    # Another object (other Python ids), saved a second later.
    second = keras_file.save(_model(), tmp_path / "b.keras")
    assert first.read_bytes() == second.read_bytes()
    # Keras' own save differs, which is why the file is rewritten.
    _model().save(tmp_path / "plain.keras")
    assert (tmp_path / "plain.keras").read_bytes() != first.read_bytes()


@pytest.mark.slow
def test_the_rewritten_file_is_the_same_model(tmp_path):
    model = _model()
    path = keras_file.save(model, tmp_path / "m.keras")
    with zipfile.ZipFile(path) as archive:
        assert [i.filename for i in archive.infolist()] == [
            "metadata.json",
            "config.json",
            "model.weights.h5",
        ]
        assert {i.date_time for i in archive.infolist()} == {keras_file.ZIP_EPOCH}
        metadata = json.loads(archive.read("metadata.json"))
        config = json.loads(archive.read("config.json"))
    assert config["class_name"] == "Sequential"
    assert "date_saved" not in metadata and metadata["keras_version"] == keras.__version__
    # Our softmax is named as Keras' own (the same math; ours divides exactly).
    assert config["config"]["layers"][-1]["config"]["activation"] == "softmax"
    loaded = keras.models.load_model(path)
    for got, want in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-7
    )
    assert loaded.optimizer.__class__.__name__ == "Adam"
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left


def test_shared_object_ids_are_numbered_in_order_of_appearance():
    config = {
        "a": {"shared_object_id": 140001, "x": [{"shared_object_id": 140002}]},
        "b": {"shared_object_id": 140001},
        "compile_config": {"steps_per_execution": 1, "loss": "mse"},
    }
    assert keras_file.normalized_config(config) == {
        "a": {"shared_object_id": 1, "x": [{"shared_object_id": 2}]},
        "b": {"shared_object_id": 1},
        "compile_config": {"steps_per_execution": 1, "loss": "mse"},
    }


def test_our_gelu_and_softmax_are_named_as_keras_own():
    """So that a saved model loads with Keras alone, in a process without this package."""
    keras.backend.clear_session()
    model = models.build(MLP, {"name": "gelu"}, (4,), 3, "softmax", image=False)
    normalized = keras_file.normalized_config(
        json.loads(json.dumps(model.get_config(), default=str))
    )
    activations = [
        layer["config"]["activation"]
        for layer in normalized["layers"]
        if "activation" in layer["config"]
    ]
    assert activations == ["linear", "gelu", "softmax"]
    assert "optlab>" not in json.dumps(normalized)
