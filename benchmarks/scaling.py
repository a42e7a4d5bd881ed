"""scaling and matmul_rate: how an epoch's cost grows with the data and the batch size,
and what bounds it (an epoch's FLOPs against the machine's measured matmul rate).

The measurements run in probes (``benchmarks/probes/``), one process each, in the
project copy with the real data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.context import PYTHON, Context
from benchmarks.core import linear_fit, ratio
from benchmarks.procs import env_for, measure
from benchmarks.training import TASK, store_uri

PROBES = Path(__file__).resolve().parent / "probes"
FRACTIONS = (0.1, 0.25, 0.5, 1.0)
BATCH_SIZES = (16, 32, 64, 128, 256, 512)
LINEAR_R2 = 0.98  # a line explaining this much of the variance: cost grows linearly
LAYERS = (784, 256, 128, 10)  # the MLP of TASK


def _probe(ctx: Context, script: str, *args: str) -> list[dict[str, Any]]:
    project = ctx.data_project
    m = measure([PYTHON, str(PROBES / script), *args], project, env_for(project))
    return [json.loads(line) for line in m.stdout.splitlines() if line.startswith("{")]


def scaling(ctx: Context, figure: Path) -> dict[str, Any]:
    """Seconds per epoch at 10/25/50/100 % of the training rows (batch 32) and at batch
    sizes 16..512 (all rows); a line fitted to the first, the figure at ``figure``."""
    uri = store_uri(ctx.scratch("scaling-store"))
    rows = _probe(
        ctx,
        "scaling.py",
        f"--fractions={','.join(map(str, FRACTIONS))}",
        f"--batch-sizes={','.join(map(str, BATCH_SIZES))}",
        "--",
        *TASK,
        f"mlflow.tracking_uri={uri}",
    )
    by_data = sorted((r for r in rows if r["batch_size"] == 32), key=lambda r: r["rows"])
    by_batch = sorted((r for r in rows if r["fraction"] == 1.0), key=lambda r: r["batch_size"])
    fit = linear_fit([r["rows"] for r in by_data], [r["epoch_seconds"] for r in by_data])
    linear = fit["r2"] >= LINEAR_R2
    plot_scaling(by_data, by_batch, fit, figure)
    return {
        "status": "ok",
        "targets": [],
        "points": rows,
        "fit": fit,
        "details": {
            "epoch seconds by training rows (batch 32)": ", ".join(
                f"{r['rows']}: {r['epoch_seconds']:.2f}" for r in by_data
            ),
            "epoch seconds by batch size (all rows)": ", ".join(
                f"{r['batch_size']}: {r['epoch_seconds']:.2f}" for r in by_batch
            ),
            "line: µs per training row": fit["slope"] * 1e6,
            "line: intercept, s": fit["intercept"],
            "line: R²": fit["r2"],
            "cost grows linearly with data": (
                f"{'yes' if linear else 'no'} (R² {'≥' if linear else '<'} {LINEAR_R2})"
            ),
            "figure": figure.name,
        },
    }


def plot_scaling(by_data, by_batch, fit: dict[str, float], path: Path) -> None:
    """Two panels: seconds per epoch against rows (with the fitted line), and seconds
    per epoch and samples/s against batch size."""
    import matplotlib  # lazy, for cost

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullLocator

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    xs = [r["rows"] for r in by_data]
    left.plot(xs, [r["epoch_seconds"] for r in by_data], "o", label="measured")
    ends = [0, max(xs)]
    left.plot(
        ends,
        [fit["intercept"] + fit["slope"] * x for x in ends],
        "--",
        label=f"{fit['slope'] * 1e6:.0f} µs/row + {fit['intercept']:.2f} s",
    )
    left.set(xlabel="training rows", ylabel="seconds per epoch", title="batch 32")
    left.legend(title=f"R² = {fit['r2']:.4f}")
    left.set_xlim(left=0)
    left.set_ylim(bottom=0)
    sizes = [r["batch_size"] for r in by_batch]
    right.plot(sizes, [r["epoch_seconds"] for r in by_batch], "o-", label="seconds per epoch")
    right.set(xlabel="batch size", ylabel="seconds per epoch", title="all rows")
    right.set_xscale("log", base=2)
    right.xaxis.set_minor_locator(NullLocator())
    right.set_xticks(sizes, [str(s) for s in sizes])
    right.set_ylim(bottom=0)
    rate = right.twinx()
    rate.plot(sizes, [r["samples_per_second"] for r in by_batch], "s:", color="C1")
    rate.set_ylabel("samples per second", color="C1")
    rate.set_ylim(bottom=0)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def epoch_flops(train_rows: int, validation_rows: int, layers=LAYERS) -> dict[str, float]:
    """FLOPs of one epoch of the MLP: a multiply-add is 2 FLOPs; a training sample costs
    forward (2·W) plus backward (4·W: gradients of the weights and of the layer inputs),
    6·W in all, W the weights; a validation sample costs the forward pass alone.
    Biases, activations, the loss and the optimizer's update are left out (O(units),
    not O(W))."""
    weights = sum(i * o for i, o in zip(layers, layers[1:], strict=False))
    train = 6.0 * weights * train_rows
    validation = 2.0 * weights * validation_rows
    return {"weights": weights, "train": train, "validation": validation}


def matmul_rate(ctx: Context, epoch_seconds: float | None) -> dict[str, Any]:
    """The machine's float32 matmul rate, one epoch's FLOPs, and the bound they give
    against the measured epoch (``epoch_seconds``, from the training runs if any)."""
    import numpy as np  # lazy, for cost

    rates = _probe(ctx, "matmul.py")[0]
    data = ctx.processed()
    rows = {s: len(np.load(data / f"y_{s}.npy", mmap_mode="r")) for s in ("train", "validation")}
    flops = epoch_flops(rows["train"], rows["validation"])
    total = flops["train"] + flops["validation"]
    bound = total / (rates["large"] * 1e9)
    return {
        "status": "ok",
        "targets": [],
        "rates": rates,
        "details": {
            "devices TensorFlow sees": ", ".join(rates["devices"]),
            f"float32 matmul {rates['large_n']}², GFLOP/s": rates["large"],
            "the MLP's forward matmuls at batch 32, GFLOP/s": rates["mlp_batch32"],
            "MLP weights W": flops["weights"],
            "epoch GFLOP (6·W per training row + 2·W per validation row)": total / 1e9,
            "bound: epoch GFLOP ÷ matmul rate, s": bound,
            "bound at the batch-32 rate, s": total / (rates["mlp_batch32"] * 1e9),
            "measured epoch (pipeline, default runtime), s": epoch_seconds,
            "measured ÷ bound": ratio(epoch_seconds, bound) if epoch_seconds else None,
        },
    }
