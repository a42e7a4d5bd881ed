"""Seconds per epoch of the pipeline's training against the training set's size and the
batch size, in one process.

    python benchmarks/probes/scaling.py --fractions 0.1,0.25,0.5,1 --batch-sizes 16,32 \
        -- dataset=fashion_mnist optimizer=adam ...

Run in a project (its ``pipeline`` on the import path). Each point builds the model the
way ``python -m pipeline.train`` does (``pipeline.training.train.prepare`` and ``build_model``:
the config, the runtime settings, the seed) and fits it on the first rows of the
training split through the pipeline's tf.data pipeline, without validation: one epoch
to warm up (it traces the step function), then epochs until ``--min-seconds`` are timed
(at least ``--min-epochs``); an epoch's time is the fastest of the timed ones. Prints one
JSON line per point.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def points(fractions: list[float], batch_sizes: list[int], base_batch: int):
    """(fraction, batch size) pairs: every fraction at ``base_batch``, every batch size on
    all the data, each once."""
    seen = []
    for pair in [(f, base_batch) for f in fractions] + [(1.0, b) for b in batch_sizes]:
        if pair not in seen:
            seen.append(pair)
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fractions", default="0.1,0.25,0.5,1")
    parser.add_argument("--batch-sizes", default="16,32,64,128,256,512")
    parser.add_argument("--base-batch", type=int, default=32)
    parser.add_argument("--min-epochs", type=int, default=2)
    parser.add_argument("--max-epochs", type=int, default=10)
    parser.add_argument("--min-seconds", type=float, default=3.0)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of the task")
    args = parser.parse_args()

    import keras

    from pipeline.config.compose import compose_config
    from pipeline.training import runtime
    from pipeline.training.task_data import make_dataset
    from pipeline.training.train import build_model, prepare

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.started)

    fractions = [float(f) for f in args.fractions.split(",")]
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    for fraction, batch in points(fractions, batch_sizes, args.base_batch):
        cfg = compose_config([*args.overrides, f"training.batch_size={batch}"])
        p, _, data = prepare(cfg)
        model = build_model(p, data)
        rows = max(1, round(fraction * len(data.x["train"])))
        x, y = data.x["train"][:rows], data.y["train"][:rows]
        train = make_dataset(x, y, batch, p.training.shuffle, p.training.seed)
        timer = EpochTimer()
        timer.seconds = []
        # The steps per TensorFlow call a training of these rows would run.
        with runtime.executing(model, runtime.steps_for(cfg, rows, batch)):
            model.fit(train, epochs=1, callbacks=[timer], verbose=0)  # warm-up: traces the step
            timed = timer.seconds[1:]
            while len(timed) < args.max_epochs and (
                len(timed) < args.min_epochs or sum(timed) < args.min_seconds
            ):
                model.fit(train, epochs=1, callbacks=[timer], verbose=0)  # the same step function
                timed = timer.seconds[1:]
        epoch = min(timed)
        print(
            json.dumps(
                {
                    "fraction": fraction,
                    "batch_size": batch,
                    "rows": rows,
                    "epoch_seconds": epoch,
                    "samples_per_second": rows / epoch,
                    "warm_up_seconds": timer.seconds[0],
                    "timed_epochs_seconds": timed,
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
