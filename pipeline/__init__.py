"""optimizer-lab: compare activations, losses, optimizers and batch sizes, reproducibly."""

from pipeline import machine

__version__ = "0.1.0"

# Before anything imports NumPy or TensorFlow: every process that imports the project
# is pinned to the same kernels on every x86-64 machine (pipeline/machine.py).
machine.pin()
