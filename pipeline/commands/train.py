"""``python -m pipeline.train [OVERRIDE ...]``: train with Hydra (see :mod:`pipeline.cli`).

Example::

    python -m pipeline.train dataset=fashion_mnist optimizer=nag activation=elu \
        training.batch_size=64
"""

from pipeline.cli import train_main
from pipeline.system.exiting import run_then_exit

if __name__ == "__main__":
    run_then_exit(train_main)
