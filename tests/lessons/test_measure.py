"""What the lessons measure beyond a run's metrics: never-active hidden units, peak memory."""

from __future__ import annotations

import re
import types
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from pipeline.lessons import measure
from pipeline.lessons.measure import NEVER_ACTIVE_PROBE, never_active, peak_memory
from pipeline.training import TrainResult

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


# ------------------------------------------------------------------ peak_memory
def _vm_rss_mb():
    text = Path("/proc/self/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB", text, re.MULTILINE).group(1)) / 1024


def _clear_refs_writable():
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def test_peak_memory_sees_the_blocks_allocation():
    """200 MB touched inside the block shows in the peak: at least 150 MB above the RSS
    before it, and the dict stays empty until the block ends."""
    if not _clear_refs_writable():
        pytest.skip("/proc/self/clear_refs is not writable here: no peak to measure")
    before = _vm_rss_mb()
    with peak_memory() as measured:
        assert measured == {}
        block = bytearray(200 * 2**20)
        block[::4096] = b"\x01" * (len(block) // 4096)  # touch every page
        del block
    assert list(measured) == ["probe.start_rss_mb", "probe.peak_rss_mb"]
    assert measured["probe.peak_rss_mb"] >= before + 150
    assert measured["probe.start_rss_mb"] == pytest.approx(before, abs=20)
    assert measured["probe.peak_rss_mb"] - measured["probe.start_rss_mb"] >= 150


def test_peak_memory_forgets_an_earlier_peak():
    """A peak reached (and freed) before the block does not count: the block's peak is well
    below it."""
    if not _clear_refs_writable():
        pytest.skip("/proc/self/clear_refs is not writable here: no peak to measure")
    earlier = bytearray(300 * 2**20)
    earlier[::4096] = b"\x01" * (len(earlier) // 4096)
    peak_before = _vm_rss_mb()
    del earlier
    assert _vm_rss_mb() < peak_before - 250  # freed back to the system
    with peak_memory() as measured:
        pass
    assert measured["probe.peak_rss_mb"] < peak_before - 250


def test_peak_memory_without_clear_refs_measures_nothing(monkeypatch, tmp_path):
    """Where clear_refs cannot be written the dict stays empty rather than wrong."""
    monkeypatch.setattr(measure, "_CLEAR_REFS", tmp_path / "missing" / "clear_refs")
    with peak_memory() as measured:
        bytearray(2**20)
    assert measured == {}
