"""TensorFlow's start-up lines, held back: a CPU-only machine's stderr stays clean.

On a machine without a GPU every process that loads TensorFlow printed lines that mean
nothing there (``Could not find cuda drivers on your machine``, ``failed call to
cuInit``, ``NodeDef mentions attribute use_unbounded_threadpool``). They come from C++,
some before absl's logging starts, so ``TF_CPP_MIN_LOG_LEVEL`` cannot silence them.

They come in known windows: while TensorFlow is imported, when its devices are first
listed, and while MLflow saves a Keras model. In those windows only, the process's
stderr (file descriptor 2, so C++ too) goes to a temporary file; afterwards every line
that is not in :data:`NOISE` is written to stderr, so a real problem still shows.
MLflow's progress bar for each artifact it downloads is turned off too.
``OPTLAB_DEBUG=1`` turns all of this off (and leaves TensorFlow's log level alone).

:func:`install` is called once per process by ``pipeline/__init__.py``, before anything
can import TensorFlow: the first ``import tensorflow``, wherever it happens, runs inside
a window, and lists the devices there (where CUDA is probed).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

DEBUG_ENV = "OPTLAB_DEBUG"  # set (to anything but empty): tracebacks and every log line

# TensorFlow's own level for its C++ logs: INFO and WARNING out, errors kept.
LOG_LEVEL_ENV, LOG_LEVEL = "TF_CPP_MIN_LOG_LEVEL", "2"
PROGRESS_BAR_ENV = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"  # "false": no bar per download

# The lines held back: what TensorFlow prints on a machine without a GPU (or without
# CUDA libraries), each anchored on its source file so no other line matches.
_GLOG = r"[IWEF]\d{4} [\d:.]+\s+\d+ "  # absl's prefix: level, date, time, thread
NOISE = tuple(
    re.compile(pattern)
    for pattern in (
        r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR",
        _GLOG + r"cudart_stub\.cc:\d+\] Could not find cuda drivers on your machine",
        _GLOG + r"cuda_platform\.cc:\d+\] failed call to cuInit: ",
        _GLOG + r"cuda_(dnn|fft|blas)\.cc:\d+\] Unable to register cu(DNN|FFT|BLAS) factory",
        _GLOG + r"cuda_executor\.cc:\d+\] .*(NUMA node|no NVIDIA GPU)",
        _GLOG + r"node_def_util\.cc:\d+\] NodeDef mentions attribute use_unbounded_threadpool ",
    )
)


def debug() -> bool:
    """Whether ``OPTLAB_DEBUG`` asks for everything: tracebacks and TensorFlow's lines."""
    return bool(os.environ.get(DEBUG_ENV))


def is_noise(line: str) -> bool:
    """Whether ``line`` is one of TensorFlow's start-up lines held back."""
    return any(pattern.match(line) for pattern in NOISE)


@contextmanager
def held_back() -> Iterator[None]:
    """Within the block, stderr (fd 2) goes to a temporary file; after it, the lines
    that are not :func:`is_noise` are written to stderr, in order. Under
    ``OPTLAB_DEBUG`` the block runs as it is."""
    if debug():
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            text = held.read().decode(errors="replace")
            kept = [line for line in text.splitlines(keepends=True) if not is_noise(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


class _QuietLoader(importlib.abc.Loader):
    """TensorFlow's own loader, run inside :func:`held_back`, then its devices listed."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        with held_back():
            self._loader.exec_module(module)
            # Where CUDA is probed (cuInit). Listing leaves the thread settings open.
            module.config.list_physical_devices()

    def __getattr__(self, name: str):  # is_package, get_resource_reader, ...
        return getattr(self._loader, name)


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` as Python would, with :class:`_QuietLoader` around its loader;
    once (a failed import is not wrapped again)."""

    def __init__(self) -> None:
        self.used = False

    def find_spec(self, name, path, target=None):
        if name != "tensorflow" or self.used:
            return None
        self.used = True
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def install() -> None:
    """Hold back TensorFlow's start-up lines and MLflow's download bars in this process
    (unless ``OPTLAB_DEBUG``); a no-op if TensorFlow is loaded already or this ran before."""
    if debug():
        return
    # MLflow draws a progress bar for every artifact it downloads: reading back many runs'
    # small files (a lesson's histories, a run to reproduce) filled the log with them.
    os.environ.setdefault(PROGRESS_BAR_ENV, "false")
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault(LOG_LEVEL_ENV, LOG_LEVEL)
    if not any(isinstance(finder, _QuietFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietFinder())
