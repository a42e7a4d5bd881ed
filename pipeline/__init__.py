"""optimizer-lab: compare activations, losses, optimizers and batch sizes, reproducibly."""

__version__ = "0.1.0"
