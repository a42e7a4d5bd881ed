"""Does this machine compute the same bits as every other? ``make check-machine``.

``python -m pipeline.doctor`` (``optlab doctor``) trains the reference runs, small and
fast, on data generated from integers (exact on every machine) with the project's own
model builders, speed settings and CPU pin, and compares the sha256 of each run's
weights, history and predictions with the references committed in
``pipeline/reproducibility/doctor.json``. It prints that this machine reproduces them bit
for bit, or
each that differs, with this machine's CPU, the ISA in effect and what to check
(docs/reproducibility.md). Exit status 0 when all match, 1 when one differs.

``--only NAME,...`` runs some references; ``--write`` records this machine's hashes as
the references (for a new TensorFlow or a change that changes results on purpose).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import platform
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from pipeline.config.schemas import OPTION_SCHEMAS, pick_many
from pipeline.system import machine
from pipeline.system.io import atomic_write_text
from pipeline.training import runtime
from pipeline.training.seed import configure_runtime

REFERENCES = Path(__file__).with_name("doctor.json")
EPOCHS = 2
IMAGE_ROWS, IMAGE_BATCH = 512, 64
IRIS_ROWS, IRIS_BATCH = 120, 8
HIDDEN = (256, 128)  # the course's MLP, every reference's model


@dataclass(frozen=True)
class Reference:
    """One reference run: a dataset's shapes and the choices that differ from conf/."""

    name: str
    overrides: tuple[str, ...]


def references() -> list[Reference]:
    """The iris baseline's model, then the course's MLP on MNIST's shapes with every
    activation (Adam) and every optimizer (ReLU)."""
    mlp = ("model=mlp", f"model.hidden_units=[{','.join(map(str, HIDDEN))}]")
    runs = [Reference("iris/relu/adam", ("dataset=iris", *mlp))]
    for activation in sorted(OPTION_SCHEMAS["activation"]):
        runs.append(
            Reference(
                f"mnist/{activation}/adam", ("dataset=mnist", *mlp, f"activation={activation}")
            )
        )
    for optimizer in sorted(OPTION_SCHEMAS["optimizer"]):
        if optimizer != "adam":
            runs.append(
                Reference(
                    f"mnist/relu/{optimizer}", ("dataset=mnist", *mlp, f"optimizer={optimizer}")
                )
            )
    return runs


def _data(dataset: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Inputs and labels from a seeded integer generator: the same numbers everywhere."""
    rng = np.random.default_rng(2026)
    if dataset == "iris":
        x = rng.integers(0, 80, (IRIS_ROWS, 4)).astype(np.float32) / np.float32(10)
        return x, rng.integers(0, 3, IRIS_ROWS), IRIS_BATCH
    x = rng.integers(0, 256, (IMAGE_ROWS, 28, 28)).astype(np.float32)
    return x, rng.integers(0, 10, IMAGE_ROWS), IMAGE_BATCH


def _sha(arrays: Sequence[Any]) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def train_reference(ref: Reference, config_dir: Path | None = None) -> dict[str, str]:
    """Train ``ref`` as the pipeline trains (its builders, steps per call, predict batch)
    and return the sha256 of its weights, history and predictions."""
    from pipeline.config.compose import compose_config
    from pipeline.kinds.losses import encode_labels
    from pipeline.training.planning import plan
    from pipeline.training.train import build_model

    cfg = compose_config(list(ref.overrides), config_dir=config_dir)
    p = plan(cfg)
    x, labels, batch = _data(cfg.dataset.name)
    y = encode_labels(labels, p.loss, int(labels.max()) + 1)
    model = build_model(p, SimpleNamespace(input_shape=x.shape[1:]))
    with runtime.executing(model, runtime.steps_for(p.config, len(x), batch)):
        history = model.fit(x, y, batch_size=batch, epochs=EPOCHS, shuffle=False, verbose=0)
    curves = [np.asarray(v, np.float64) for _, v in sorted(history.history.items())]
    rows = runtime.predict_batch(cfg.model.name, batch)
    predictions = model.predict(x, batch_size=rows, verbose=0)
    return {
        "weights": _sha(model.get_weights()),
        "history": _sha(curves),
        "predictions": _sha([predictions]),
    }


def run(only: str | None = None) -> dict[str, dict[str, str]]:
    """The hashes of the references (``only``: comma-separated names; None: all), on this
    machine, each trained on the threads a training of it would get."""
    wanted = references()
    if only:
        names = pick_many({r.name: r for r in wanted}, only, "reference")
        wanted = [r for r in wanted if r.name in names]
    configure_runtime(runtime.intra_op_threads(None, IMAGE_BATCH, [28 * 28, *HIDDEN, 10]))
    # Each reference is a new model: Keras' retracing warnings say nothing here.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    return {ref.name: train_reference(ref) for ref in wanted}


def this_machine() -> dict[str, str]:
    """This machine and its settings, as the run tags say them (without ``optlab.cpu.``),
    with TensorFlow's intra-op threads in effect."""
    tags = machine.machine_tags(configure_runtime())
    return {key.removeprefix(machine.TAG_PREFIX): value for key, value in tags.items()}


def differences(
    found: dict[str, dict[str, str]], expected: dict[str, dict[str, str]]
) -> Iterator[str]:
    """``name: weights, history`` for each reference whose hashes differ."""
    for name, hashes in found.items():
        wrong = [
            part for part, value in hashes.items() if expected.get(name, {}).get(part) != value
        ]
        if wrong:
            yield f"{name}: {', '.join(wrong)}"


def verdict(found: dict[str, dict[str, str]], recorded: dict[str, Any]) -> tuple[bool, str]:
    """Whether ``found`` matches the recorded references, and the lines that say so."""
    here = this_machine()
    differ = list(differences(found, recorded["references"]))
    if not differ:
        return True, (
            f"this machine reproduces the {len(found)} references bit for bit "
            f"({here['model']}, {here['level']}, kernels {here['isa']}, {here['threads']} thread)"
        )
    made = recorded["machine"]
    lines = [
        f"{len(differ)} of {len(found)} references differ from those made on {made['model']} "
        f"({made['level']}, kernels {made['isa']}):",
        *(f"  {line}" for line in differ),
        f"this machine: {here['model']} ({here['vendor']}), {here['level']}, kernels "
        f"{here['isa']}, {here['threads']} thread(s), NumPy {here['numpy_dispatch']}, "
        f"TensorFlow {here['tensorflow']}",
        f"same bits promised here: {here['same_bits']}",
        "check: OPTLAB_CPU_ISA unset (or avx2), none of "
        + ", ".join(machine.PIN_NAMES)
        + " set by hand, and the lock file's versions (make install); "
        "see docs/reproducibility.md",
    ]
    return False, "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pipeline.doctor [--only NAME,...] [--write]``."""
    parser = argparse.ArgumentParser(
        prog="optlab doctor",
        description="Train the reference runs and check that this machine computes their "
        "bits exactly (pipeline/reproducibility/doctor.json).",
    )
    parser.add_argument("--only", help="comma-separated reference names (default: all)")
    parser.add_argument("--write", action="store_true", help="record this machine's hashes")
    args = parser.parse_args(argv)
    machine.isa_choice()
    found = run(args.only)
    if args.write:
        recorded = {
            "machine": this_machine(),
            "python": platform.python_version(),
            "references": found,
        }
        atomic_write_text(REFERENCES, json.dumps(recorded, indent=2, sort_keys=True) + "\n")
        print(f"wrote {len(found)} references to {REFERENCES}")
        return 0
    ok, text = verdict(found, json.loads(REFERENCES.read_text()))
    print(text)
    return 0 if ok else 1
