"""The machine's float32 matmul rate with TensorFlow, and the devices TensorFlow sees.

    python benchmarks/probes/matmul.py [--devices-only]

Prints one JSON line: ``devices``, and unless ``--devices-only`` ``large`` (GFLOP/s of an
n×n by n×n matmul, the machine's peak as TensorFlow reaches it) and ``mlp_batch32``
(GFLOP/s of the Fashion-MNIST MLP's three forward matmuls at batch 32, the shapes a
training step really multiplies). Each rate is the best of three timings of at least
half a second.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

LAYERS = (784, 256, 128, 10)  # the MLP of the training benchmarks


def best_rate(step, flops_per_call: float, min_seconds: float = 0.5) -> float:
    """GFLOP/s of ``step()`` (which must block until done), best of three timings."""
    step()  # traced and warmed up
    rates = []
    for _ in range(3):
        calls, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < min_seconds:
            step()
            calls += 1
        rates.append(flops_per_call * calls / elapsed / 1e9)
    return max(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices-only", action="store_true")
    parser.add_argument("--size", type=int, default=2048, help="n of the large matmul")
    args = parser.parse_args()

    import tensorflow as tf

    devices = [f"{d.device_type}:{d.name}" for d in tf.config.list_physical_devices()]
    result = {"devices": devices, "tensorflow": tf.__version__}
    if not args.devices_only:
        n = args.size
        a, b = tf.random.normal((n, n)), tf.random.normal((n, n))
        large = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
        result["large_n"] = n
        result["large"] = best_rate(lambda: large().numpy(), 2.0 * n**3)

        x = tf.random.normal((32, LAYERS[0]))
        ws = [tf.random.normal((i, o)) for i, o in zip(LAYERS, LAYERS[1:], strict=False)]
        repeats = 100

        @tf.function
        def forward():
            total = tf.constant(0.0)
            for _ in tf.range(repeats):
                h = x
                for w in ws:
                    h = tf.matmul(h, w)
                total += tf.reduce_sum(h)
            return total

        flops = 2.0 * 32 * sum(i * o for i, o in zip(LAYERS, LAYERS[1:], strict=False))
        result["mlp_batch32"] = best_rate(lambda: forward().numpy(), flops * repeats)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
