"""optimizer-lab: compare activations, losses, optimizers and batch sizes, reproducibly."""

from pipeline.system import machine, quiet

__version__ = "0.1.0"

# Before anything imports NumPy or TensorFlow: every process that imports the project
# is pinned to the same kernels on every x86-64 machine (pipeline/system/machine.py).
machine.pin()
# And before TensorFlow loads: its start-up lines on a machine without a GPU are held
# back, the rest of stderr kept (pipeline/system/quiet.py; OPTLAB_DEBUG=1 shows everything).
quiet.install()
