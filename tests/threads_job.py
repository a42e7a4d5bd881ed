"""``python -m tests.threads_job THREADS OUT``: train every activation with the lecture's
optimizers (tests/test_runtime.py) on the course's MLP, 784-256-128-10, on THREADS
intra-op threads (0: TensorFlow's default, every core), and write each training's
history and weights' sha256 as JSON to OUT.

A process of its own: TensorFlow fixes its thread pools for a process's life. The data
is random but seeded; the shapes are Fashion-MNIST's, large enough for TensorFlow to
share a step between cores when it may.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from pipeline.seed import configure_runtime

ROWS, BATCH = 384, 64


def main(threads: int, out: Path) -> None:
    configure_runtime(threads)  # before any TensorFlow op
    from pipeline.config import compose_config  # lazy: after the threads are set
    from pipeline.losses import encode_labels
    from pipeline.planning import plan
    from pipeline.schemas import OPTION_SCHEMAS
    from pipeline.training import build_model
    from tests.helpers import REPO_ROOT
    from tests.test_runtime import OPTIMIZERS_PER_ACTIVATION

    rng = np.random.default_rng(5)
    x = rng.integers(0, 256, (ROWS, 28, 28)).astype(np.float32)
    labels = rng.integers(0, 10, ROWS)
    results = {}
    for activation in sorted(OPTION_SCHEMAS["activation"]):
        for optimizer in OPTIMIZERS_PER_ACTIVATION:
            cfg = compose_config(
                [
                    "dataset=fashion_mnist",
                    "model.hidden_units=[256,128]",
                    f"activation={activation}",
                    f"optimizer={optimizer}",
                ],
                config_dir=REPO_ROOT / "conf",
            )
            p = plan(cfg)
            model = build_model(cfg, p, SimpleNamespace(input_shape=(28, 28)))
            y = encode_labels(labels, p.loss, 10)
            history = model.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
            weights = b"".join(np.asarray(w).tobytes() for w in model.get_weights())
            results[f"{activation}/{optimizer}"] = {
                "history": history.history,
                "weights": hashlib.sha256(weights).hexdigest(),
            }
    out.write_text(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]))
