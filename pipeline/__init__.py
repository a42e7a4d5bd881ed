"""optimizer-lab: compare activations, losses, optimizers and batch sizes, reproducibly.

Each folder is a layer or subsystem (docs/architecture.md). The ways in live in
``commands/``: ``cli.py`` (``optlab``) and the ``python -m`` entry points
(``pipeline.train``, ``pipeline.ui``, ``pipeline.server``, ``pipeline.upload``,
``pipeline.cleanup``, ``pipeline.reproduce``, ``pipeline.doctor``). ``commands/`` is a
folder on this package's ``__path__``, not a package: its modules keep their names
(``pipeline.cli``, ``python -m pipeline.train``) while ``ls pipeline/`` shows the layers.
"""

from pathlib import Path

from pipeline.system import machine, quiet

__version__ = "0.1.0"

# The entry points' folder, searched as this package itself (Python's package __path__).
__path__.append(str(Path(__file__).with_name("commands")))

# Before anything imports NumPy or TensorFlow: every process that imports the project
# is pinned to the same kernels on every x86-64 machine (pipeline/system/machine.py).
machine.pin()
# And before TensorFlow loads: its start-up lines on a machine without a GPU are held
# back, the rest of stderr kept (pipeline/system/quiet.py; OPTLAB_DEBUG=1 shows everything).
quiet.install()
