"""What the lessons measure beyond a run's own metrics: hidden units that never
activate, and the peak memory of a training.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.training import TrainResult

PROBE_PREFIX = "probe."  # the metrics a lesson adds to a run start with it
NEVER_ACTIVE = f"{PROBE_PREFIX}never_active"  # + "/<layer>" per hidden layer
PEAK_RSS = f"{PROBE_PREFIX}peak_rss_mb"
START_RSS = f"{PROBE_PREFIX}start_rss_mb"  # the RSS the peak was reset to, at the start
HIDDEN = re.compile(r"hidden_\d+")  # the hidden linear layers (pipeline.models)
_STATUS, _CLEAR_REFS = Path("/proc/self/status"), Path("/proc/self/clear_refs")


@dataclass(frozen=True)
class Probe:
    """A measurement of a trained model, logged to its run as metrics (so that a run
    reused later has it too)."""

    key: str  # the metric it always gives: a reused run without it is trained again
    measure: Callable[[TrainResult], dict[str, float]]


def never_active(result: TrainResult, batch_size: int = 1024) -> dict[str, float]:
    """The fraction of each hidden layer's units whose input (the linear layer's
    output, before the activation) is never positive on the validation split, and of
    all hidden units together (``probe.never_active``).

    For ReLU such a unit is dead: its output and its gradient are zero on every
    example, so it cannot recover. Leaky ReLU and ELU still pass a gradient there.
    """
    import keras  # lazy, for cost

    model, x = result.model, result.data.x["validation"]
    hidden = [layer for layer in model.layers if HIDDEN.fullmatch(layer.name)]
    probe = keras.Model(model.inputs, [layer.output for layer in hidden])
    ever = [np.zeros(layer.output.shape[-1], bool) for layer in hidden]
    for start in range(0, len(x), batch_size):
        # A one-output model returns its tensor bare: flatten makes it a list of one.
        outputs = keras.tree.flatten(probe([x[start : start + batch_size]], training=False))
        for seen, out in zip(ever, outputs, strict=True):
            values = keras.ops.convert_to_numpy(out)
            seen |= (values.reshape(-1, values.shape[-1]) > 0).any(axis=0)
    fractions = {
        f"{NEVER_ACTIVE}/{layer.name}": float(1 - seen.mean())
        for layer, seen in zip(hidden, ever, strict=True)
    }
    fractions[NEVER_ACTIVE] = float(1 - np.concatenate(ever).mean())
    return fractions


def _rss_kb(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    return int(match.group(1)) if match else 0


@contextlib.contextmanager
def peak_memory() -> Iterator[dict[str, float]]:
    """Measure the resident memory of the block, in MB, into the yielded dict: at its
    start (``probe.start_rss_mb``) and at its peak (``probe.peak_rss_mb``); empty where
    Linux's ``/proc`` is not at hand.

    Linux keeps a process's peak RSS (``VmHWM``); writing 5 to ``clear_refs`` resets
    it to the current RSS, so the peak read after the block is the block's own (or
    what the process already held, if more). The difference is what the block added.
    """
    measured: dict[str, float] = {}
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:  # not Linux, or not allowed: no measurement rather than a wrong one
        yield measured
        return
    start = _rss_kb("VmRSS") / 1024
    yield measured
    measured[START_RSS] = start
    measured[PEAK_RSS] = _rss_kb("VmHWM") / 1024


NEVER_ACTIVE_PROBE = Probe(NEVER_ACTIVE, never_active)
