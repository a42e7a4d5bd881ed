"""What the lessons measure beyond a run's metrics: never-active hidden units, peak memory."""

from __future__ import annotations

import subprocess
import sys
import types

import keras
import numpy as np
import pandas as pd
import pytest

from pipeline.lessons import measure
from pipeline.lessons.measure import NEVER_ACTIVE_PROBE, never_active
from pipeline.training.train import TrainResult
from tests.helpers import REPO_ROOT

# Validation inputs; every hidden unit below is set by hand against them.
X_VAL = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0], [2.0, 3.0]], dtype="float32")

# hidden_1 (2 → 3), pre-activation on X_VAL:
#   unit 0 = -(x0 + x1)       → -1, -1,  0, -5  never positive (0 is not positive)
#   unit 1 = 1                →  1,  1,  1,  1  always positive
#   unit 2 = x0 + x1 - 4      → -3, -3, -4,  1  positive only on the last example
KERNEL_1 = np.array([[-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0]], dtype="float32")
BIAS_1 = np.array([0.0, 1.0, -4.0], dtype="float32")
# hidden_2 (3 → 2), on relu(hidden_1) = [0, 1, relu(unit 2)]:
#   unit 0 = -1 (never positive), unit 1 = 1 (always positive)
KERNEL_2 = np.zeros((3, 2), dtype="float32")
BIAS_2 = np.array([-1.0, 1.0], dtype="float32")


def _result(model):
    data = types.SimpleNamespace(x={"validation": X_VAL})
    return TrainResult(run_id="r", metrics={}, history=pd.DataFrame(), model=model, data=data)


def _one_hidden():
    model = keras.Sequential(
        [
            keras.Input((2,)),
            keras.layers.Dense(3, name="hidden_1"),
            keras.layers.Activation("relu", name="act_1"),
            keras.layers.Dense(2, name="output"),
        ]
    )
    model.get_layer("hidden_1").set_weights([KERNEL_1, BIAS_1])
    return model


def _two_hidden():
    model = keras.Sequential(
        [
            keras.Input((2,)),
            keras.layers.Dense(3, name="hidden_1"),
            keras.layers.Activation("relu", name="act_1"),
            keras.layers.Dense(2, name="hidden_2"),
            keras.layers.Activation("relu", name="act_2"),
            keras.layers.Dense(2, name="output"),
        ]
    )
    model.get_layer("hidden_1").set_weights([KERNEL_1, BIAS_1])
    model.get_layer("hidden_2").set_weights([KERNEL_2, BIAS_2])
    return model


@pytest.fixture(scope="module")
def one_hidden():
    return _one_hidden()


@pytest.fixture(scope="module")
def two_hidden():
    return _two_hidden()


def test_weights_give_the_hand_computed_pre_activations(one_hidden):
    """The hand-set hidden_1 really gives the pre-activations the tests rely on."""
    out = X_VAL @ KERNEL_1 + BIAS_1
    np.testing.assert_array_equal(
        out, [[-1.0, 1.0, -3.0], [-1.0, 1.0, -3.0], [0.0, 1.0, -4.0], [-5.0, 1.0, 1.0]]
    )
    layer = one_hidden.get_layer("hidden_1")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(X_VAL)), out)


def test_never_active_one_hidden_layer(one_hidden):
    """One of hidden_1's three units is never positive: 1/3 for the layer and overall; the
    activation and output layers are not counted."""
    assert never_active(_result(one_hidden)) == {
        "probe.never_active/hidden_1": pytest.approx(1 / 3, abs=1e-12),
        "probe.never_active": pytest.approx(1 / 3, abs=1e-12),
    }


def test_never_active_two_hidden_layers(two_hidden):
    """Per layer 1/3 and 1/2; overall 2 of all 5 hidden units (not the mean of the layers)."""
    assert never_active(_result(two_hidden)) == {
        "probe.never_active/hidden_1": pytest.approx(1 / 3, abs=1e-12),
        "probe.never_active/hidden_2": pytest.approx(1 / 2, abs=1e-12),
        "probe.never_active": pytest.approx(2 / 5, abs=1e-12),
    }


@pytest.mark.parametrize("batch_size", [1, 3])
def test_never_active_same_in_batches(two_hidden, batch_size):
    """Batches that split the validation split (the only example activating hidden_1's unit
    2 is the last one, in a batch of its own) give the same fractions."""
    assert never_active(_result(two_hidden), batch_size=batch_size) == {
        "probe.never_active/hidden_1": pytest.approx(1 / 3, abs=1e-12),
        "probe.never_active/hidden_2": pytest.approx(1 / 2, abs=1e-12),
        "probe.never_active": pytest.approx(2 / 5, abs=1e-12),
    }


def test_never_active_counts_a_unit_positive_once_as_active(two_hidden):
    """Without the last example (the only one activating hidden_1's unit 2) that unit is
    never positive too: 2/3 for hidden_1, 3/5 overall."""
    data = types.SimpleNamespace(x={"validation": X_VAL[:3]})
    result = TrainResult(
        run_id="r", metrics={}, history=pd.DataFrame(), model=two_hidden, data=data
    )
    assert never_active(result) == {
        "probe.never_active/hidden_1": pytest.approx(2 / 3, abs=1e-12),
        "probe.never_active/hidden_2": pytest.approx(1 / 2, abs=1e-12),
        "probe.never_active": pytest.approx(3 / 5, abs=1e-12),
    }


def test_never_active_probe():
    """The probe's key is the overall metric and it measures with never_active."""
    assert NEVER_ACTIVE_PROBE.key == "probe.never_active"
    assert NEVER_ACTIVE_PROBE.measure is never_active


# ------------------------------------------------------------------ process_peak_mb
PEAK_AFTER = (
    "import sys\n"
    "from pipeline.lessons.measure import process_peak_mb\n"
    "block = bytearray(int(sys.argv[1]) * 2**20)\n"
    "block[::4096] = b'\\x01' * (len(block) // 4096)  # touch every page\n"
    "del block\n"
    "print(process_peak_mb())\n"
)


def _peak_of_a_process_allocating(megabytes: int) -> float:
    done = subprocess.run(
        [sys.executable, "-c", PEAK_AFTER, str(megabytes)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return float(done.stdout)


def test_the_process_peak_counts_what_the_process_held_at_its_most_even_once_freed():
    small, large = _peak_of_a_process_allocating(0), _peak_of_a_process_allocating(300)
    assert small < 200  # Python, NumPy, pandas: well under what the other one allocated
    assert large - small == pytest.approx(300, abs=30)


def test_without_proc_there_is_no_peak_rather_than_a_wrong_one(monkeypatch, tmp_path):
    monkeypatch.setattr(measure, "_STATUS", tmp_path / "missing" / "status")
    assert measure.process_peak_mb() is None
