"""Softmax, stable against naive: why the course's code subtracts the max.

``exp`` overflows once a logit passes about 88.7 in float32, and the naive
``exp(x) / sum(exp(x))`` then divides inf by inf: nan. The course's implementation
(chapter 3, "소프트맥스(softmax) 함수 코드 구현") shifts the logits by their max first,
which leaves the result unchanged in exact arithmetic and keeps every ``exp`` at most 1.

Both run on ``logits + offset`` for each configured offset, in numpy float32: the dtype
Keras computes a network's logits in (``keras.config.floatx()``), so the offsets at which
the naive one breaks are those a real output layer would meet (float64 would only
overflow past about 709). The stable one is also checked against the project's own
output activation for multiclass tasks (``keras.activations.softmax``).

Writes ``softmax.png`` (both outputs per offset, nan marked) and the table
``softmax.md`` / ``softmax.csv``. Keras and matplotlib load inside the functions that
use them, so :func:`check` costs nothing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from pipeline.kinds.losses import OUTPUT_ACTIVATIONS, Task
from pipeline.system.io import atomic_write_text

FILES = ("softmax.png", "softmax.md", "softmax.csv")
DTYPE = np.float32  # Keras' floatx: the logits a network computes
AGREEMENT = 1e-6  # the stable softmax and Keras' must agree this closely


def softmax(x: np.ndarray) -> np.ndarray:
    """The course's softmax, as the course writes it: shift by the max, then normalise."""
    e_x = np.exp(x - x.max())
    return e_x / e_x.sum()


def naive_softmax(x: np.ndarray) -> np.ndarray:
    """The textbook formula ``exp(a_k) / sum_i exp(a_i)`` without the shift."""
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is what is shown
        e_x = np.exp(x)
        return e_x / e_x.sum()


def keras_softmax(x: np.ndarray) -> np.ndarray:
    """The project's output activation for a multiclass task, on one row of logits."""
    import keras  # lazy, for cost

    from pipeline.kinds import activations  # lazy, for cost: it imports Keras

    activation = activations.output(OUTPUT_ACTIVATIONS[Task.multiclass])
    return np.asarray(activation(keras.ops.convert_to_tensor(x[None, :])))[0]


def check(settings: Mapping[str, Any]) -> None:
    """Reject settings with nothing to compare, in one line (before Keras loads).

    Raises:
        ValueError: If ``logits`` or ``offsets`` is empty.
    """
    for key in ("logits", "offsets"):
        if not len(settings[key]):
            raise ValueError(f"figures.softmax.{key} is empty: give at least one value")


def compare(settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per offset: the inputs, both softmaxes, where the naive one fails, and how
    far the stable one is from Keras'.

    Each row has ``offset``, ``inputs``, ``naive``, ``stable``, ``keras`` (float32
    arrays), ``overflow`` (some ``exp`` of an input, or their sum, is inf),
    ``naive_nan`` and ``stable_nan`` (some output is nan), ``naive_wrong`` (the naive
    output is not the stable one to :data:`AGREEMENT`, nan or not: an overflowed sum
    alone turns every output into 0), ``stable_sum`` and ``max_diff_keras``.
    """
    check(settings)
    logits = np.asarray(settings["logits"], DTYPE)
    rows = []
    for offset in settings["offsets"]:
        x = logits + DTYPE(offset)
        naive, stable, ours = naive_softmax(x), softmax(x), keras_softmax(x)
        with np.errstate(over="ignore"):
            overflow = bool(np.isinf(np.exp(x).sum()))
        rows.append(
            {
                "offset": float(offset),
                "inputs": x,
                "naive": naive,
                "stable": stable,
                "keras": ours,
                "overflow": overflow,
                "naive_nan": bool(np.isnan(naive).any()),
                "stable_nan": bool(np.isnan(stable).any()),
                "naive_wrong": not np.allclose(naive, stable, rtol=0, atol=AGREEMENT),
                "stable_sum": float(stable.sum(dtype=np.float64)),
                "max_diff_keras": float(np.max(np.abs(stable - ours))),
            }
        )
    return rows


def _vector(values: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:.6g}" for v in values) + "]"


def _verdict(row: dict[str, Any]) -> str:
    """What became of the naive softmax: nan, wrong without a nan, or right."""
    if row["naive_nan"]:
        return "nan"
    return "wrong (sum = inf)" if row["naive_wrong"] else "right"


def table(rows: list[dict[str, Any]]) -> str:
    """The comparison as a markdown table, with a line on what it shows."""
    lines = [
        "# Softmax: naive against stable (float32)",
        "",
        "Naive: `exp(x) / exp(x).sum()`. Stable, the course's code: "
        "`e_x = np.exp(x - x.max()); e_x / e_x.sum()`. "
        f"Keras: the project's multiclass output activation (agreement required: {AGREEMENT:g}).",
        "",
        "| offset | inputs | sum of exp overflows | naive | naive is | stable | stable sum "
        "| max \\|stable − Keras\\| |",
        "|---:|---|:---:|---|:---:|---|---:|---:|",
    ]
    for r in rows:
        verdict = f"**{_verdict(r)}**" if r["naive_wrong"] else _verdict(r)
        lines.append(
            f"| {r['offset']:g} | {_vector(r['inputs'])} | {'yes' if r['overflow'] else 'no'} "
            f"| {_vector(r['naive'])} | {verdict} "
            f"| {_vector(r['stable'])} | {r['stable_sum']:.7f} | {r['max_diff_keras']:.2e} |"
        )
    return "\n".join(lines) + "\n"


def csv_text(rows: list[dict[str, Any]]) -> str:
    """The comparison as CSV, one row per offset, vectors as space-separated numbers."""
    columns = ("offset", "inputs", "overflow", "naive", "naive_nan", "naive_wrong", "stable",
               "stable_nan", "stable_sum", "keras", "max_diff_keras")  # fmt: skip
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow(
            [
                " ".join(f"{v:.9g}" for v in r[c]) if isinstance(r[c], np.ndarray) else r[c]
                for c in columns
            ]  # fmt: skip
        )
    return buffer.getvalue()


def plot(rows: list[dict[str, Any]], path: Path) -> Path:
    """One panel per offset: naive and stable probabilities per class, nan marked in red."""
    from pipeline.training import plots  # lazy, for cost: matplotlib (Agg)

    columns = min(len(rows), 4)
    count = -(-len(rows) // columns)
    fig, axes = plots.plt.subplots(
        count, columns, figsize=(3.4 * columns, 2.9 * count), constrained_layout=True,
        squeeze=False, sharey=True,
    )  # fmt: skip
    flat = list(axes.ravel())
    for ax, r in zip(flat, rows, strict=False):
        k = np.arange(len(r["inputs"]))
        naive = np.nan_to_num(r["naive"], nan=0.0)
        ax.bar(k - 0.2, naive, 0.4, color="C3", label="naive")
        ax.bar(k + 0.2, r["stable"], 0.4, color="C0", label="stable (course)")
        for i in np.flatnonzero(np.isnan(r["naive"])):
            ax.text(k[i] - 0.2, 0.05, "nan", color="C3", ha="center", rotation=90,
                    fontweight="bold")  # fmt: skip
        wrong = np.abs(r["naive"] - r["stable"]) > AGREEMENT  # finite but wrong
        for i in np.flatnonzero(wrong):
            ax.text(k[i] - 0.2, 0.05, f"{r['naive'][i]:.2g}", color="C3", ha="center",
                    fontweight="bold")  # fmt: skip
        ax.set_title(f"offset +{r['offset']:g} (naive: {_verdict(r)})",
                     fontsize=10, color="C3" if r["naive_wrong"] else "black")  # fmt: skip
        ax.set_xticks(k, [f"{v:.4g}" for v in r["inputs"]], fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.grid(axis="y", alpha=0.3)
    for ax in flat[len(rows) :]:
        ax.axis("off")
    flat[0].legend(fontsize=8, loc="upper left")
    fig.supxlabel("logit (float32)")
    fig.supylabel("probability")
    fig.suptitle("Softmax of logits + offset: naive exp/sum against the max-shifted one")
    return plots.save_figure(fig, path)


def draw(settings: DictConfig, out: Path, seed: int) -> list[Path]:
    """Write ``softmax.png``, ``softmax.md`` and ``softmax.csv`` into ``out``.

    ``seed`` is unused: nothing here is random.
    """
    rows = compare(settings)
    return [
        plot(rows, out / FILES[0]),
        atomic_write_text(out / FILES[1], table(rows)),
        atomic_write_text(out / FILES[2], csv_text(rows)),
    ]
