"""The reference: Fashion-MNIST's MLP trained the way the course writes it.

    python benchmarks/plain_keras.py --data data/processed/fashion_mnist --epochs 2

NumPy arrays scaled to [0, 1], a Sequential 784-256-128-10 MLP, Adam,
``model.fit(x, y, batch_size=32, validation_split=...)``, ``model.evaluate`` on the
test set; the last line printed is JSON: fit seconds, training samples per second,
test accuracy and loss.

It reads the arrays the pipeline's preprocess stage writes, and passes the training and
validation splits as one array with ``validation_split`` set so that Keras holds out
exactly the pipeline's validation rows: both sides train on the same 50,000 images and
validate on the same 10,000.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="data/processed/fashion_mnist")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    import keras  # after parsing, as a script would: --help stays fast

    keras.utils.set_random_seed(args.seed)
    load = lambda name: np.load(args.data / f"{name}.npy")  # noqa: E731
    x = np.concatenate([load("x_train"), load("x_validation")]).astype("float32") / 255.0
    y = np.concatenate([load("y_train"), load("y_validation")])
    x_test, y_test = load("x_test").astype("float32") / 255.0, load("y_test")
    n_train = len(load("y_train"))
    validation_split = 1 - n_train / len(x)
    # Keras holds out the last int(n * split) rows: make sure those are the validation rows.
    assert int(len(x) * (1 - validation_split)) == n_train, "validation_split misses the rows"

    model = keras.Sequential(
        [
            keras.Input(shape=x.shape[1:]),
            keras.layers.Flatten(),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    started = time.perf_counter()
    model.fit(
        x, y, batch_size=args.batch_size, epochs=args.epochs, validation_split=validation_split
    )
    fit_seconds = time.perf_counter() - started
    test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    result = {
        "fit_seconds": fit_seconds,
        "train_rows": n_train,
        "epochs": args.epochs,
        "samples_per_second": n_train * args.epochs / fit_seconds,
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
