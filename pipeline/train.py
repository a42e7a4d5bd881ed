"""``python -m pipeline.train [OVERRIDE ...]``: train with Hydra (see :mod:`pipeline.cli`).

Example::

    python -m pipeline.train dataset=fashion_mnist optimizer=nag activation=elu \
        training.batch_size=64
"""

from pipeline.cli import train_main

if __name__ == "__main__":
    train_main()
