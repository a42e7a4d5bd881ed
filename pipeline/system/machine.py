"""The CPU pin: the same kernels, and so the same bits, on every x86-64 machine with AVX2.

TensorFlow and NumPy choose some of their kernels by the CPU they run on, and so round
differently from one machine to the next (measured in docs/reproducibility.md):

* TensorFlow turns its oneDNN operations on by default on Intel CPUs with AVX-512 VNNI,
  and off elsewhere (``TF_ENABLE_ONEDNN_OPTS``);
* its matrix products call oneDNN's sgemm, JIT-compiled for the widest ISA the CPU has
  (AVX-512, AVX2, AVX: each rounds differently), unless
  ``TENSORFLOW_USE_CUSTOM_CONTRACTION_KERNEL=0`` hands them to Eigen's own kernel,
  compiled into TensorFlow once for every machine;
* NumPy dispatches ``exp``, ``tanh``, ``log`` and its reductions to AVX-512 or AVX2 loops
  (``NPY_DISABLE_CPU_FEATURES``), and its OpenBLAS picks a kernel per CPU family
  (``OPENBLAS_CORETYPE``) and splits work between threads (``OPENBLAS_NUM_THREADS``).

:func:`pin` sets these variables, each unless the user already set it, and must run
before NumPy or TensorFlow is imported: ``pipeline/__init__.py`` calls it, so every
process that imports the project (stages, ``python -m`` entry points, sweep workers,
lessons, benchmarks, tests) is pinned before anything else loads. Two more sources of
machine-dependent rounding are handled where the computation is set up, not here: the
thread count (:mod:`pipeline.training.runtime`) and Eigen's cache-sized blocking of long
products (:mod:`pipeline.kinds.layers`).

``OPTLAB_CPU_ISA=native`` turns the pin off (each machine's fastest kernels, results
that differ between machines); every run records what was in effect
(:func:`machine_tags`). Only the standard library is imported here.
"""

from __future__ import annotations

import functools
import os
import platform
import sys
from collections.abc import Mapping, MutableMapping, Sequence
from pathlib import Path

ISA_VARIABLE = "OPTLAB_CPU_ISA"
PINNED, NATIVE = "avx2", "native"
ISA_CHOICES = (PINNED, NATIVE)
TAG_PREFIX = "optlab.cpu."

# The settings the pin makes (variable -> value), on every machine.
PIN_ENV: dict[str, str] = {
    # TensorFlow's own Eigen kernels everywhere, never its oneDNN graph rewrites.
    "TF_ENABLE_ONEDNN_OPTS": "0",
    # Matrix products in Eigen's compiled kernel, not oneDNN's per-CPU JIT sgemm.
    "TENSORFLOW_USE_CUSTOM_CONTRACTION_KERNEL": "0",
    # Whatever still reaches oneDNN runs its AVX2 code.
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    # NumPy's AVX-512 loops off (its X86_V3 loops, AVX2 and FMA, stay).
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
    # OpenBLAS on one thread: its reductions then do not depend on the core count.
    "OPENBLAS_NUM_THREADS": "1",
}
# Only where the CPU has AVX2: OpenBLAS' Haswell kernels would crash on an older one.
AVX2_ONLY_ENV: dict[str, str] = {"OPENBLAS_CORETYPE": "Haswell"}
# Every variable the pin may set, on any machine.
PIN_NAMES: tuple[str, ...] = tuple(sorted({**PIN_ENV, **AVX2_ONLY_ENV}))

# The x86-64 microarchitecture levels (psABI), by the /proc/cpuinfo flags each adds.
_LEVELS: tuple[tuple[str, frozenset[str]], ...] = (
    ("x86-64-v2", frozenset({"cx16", "lahf_lm", "popcnt", "sse4_1", "sse4_2", "ssse3"})),
    ("x86-64-v3", frozenset({"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "movbe", "abm"})),
    ("x86-64-v4", frozenset({"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"})),
)
# The models built from pipeline.kinds.layers' chunked products alone. The CNN's convolutions
# are Eigen's own, their contractions blocked by the cache's size: not pinned.
SAME_BITS_MODELS = frozenset({"mlp"})
PROMISED_LEVEL = "x86-64-v3"  # AVX2 and FMA: the machines the pin promises the same bits on

# The mode pin() found (None before it ran), for the tags.
_state: dict[str, str | None] = {"mode": None}


class MachineError(ValueError):
    """A bad ``OPTLAB_CPU_ISA``."""


def isa_choice(environ: Mapping[str, str] = os.environ) -> str:
    """The pin asked for: ``avx2`` (the default) or ``native``.

    Raises:
        MachineError: Any other value, naming it and the valid ones.
    """
    value = environ.get(ISA_VARIABLE, PINNED).strip().lower() or PINNED
    if value not in ISA_CHOICES:
        raise MachineError(
            f"{ISA_VARIABLE}={environ[ISA_VARIABLE]!r} is not one of: {', '.join(ISA_CHOICES)}"
        )
    return value


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The CPU's feature flags (``cpuinfo``, else Linux' /proc/cpuinfo; empty where there
    is none)."""
    return frozenset(_cpuinfo_field(cpuinfo, "flags").split())


def cpu_level(flags: frozenset[str]) -> str:
    """The highest x86-64 level whose flags are all in ``flags`` (``x86-64`` for the
    base; the machine's architecture, e.g. ``aarch64``, where it is not x86-64)."""
    machine = platform.machine().lower()
    if machine not in ("x86_64", "amd64"):
        return machine or "unknown"
    level, needed = "x86-64", frozenset[str]()
    for name, adds in _LEVELS:
        needed |= adds
        if not needed <= flags:
            break
        level = name
    return level


def pinned() -> bool:
    """Whether this process runs under the pin (:func:`pin` ran and was not turned off)."""
    return _state["mode"] == PINNED


def pin(environ: MutableMapping[str, str] = os.environ) -> str:
    """Set the pin's variables that the user has not set, unless ``OPTLAB_CPU_ISA=native``;
    return the mode. An invalid ``OPTLAB_CPU_ISA`` pins nothing here and is reported by
    :func:`isa_choice` where the config is checked, as one line."""
    try:
        mode = isa_choice(environ)
    except MachineError:
        mode = NATIVE
    if mode == PINNED:
        for name, value in settings().items():
            environ.setdefault(name, value)
    _state["mode"] = mode
    return mode


def settings() -> dict[str, str]:
    """The pin's variables and values on this machine: :data:`PIN_ENV`, and
    :data:`AVX2_ONLY_ENV` where the CPU has AVX2."""
    return {**PIN_ENV, **(AVX2_ONLY_ENV if "avx2" in cpu_flags() else {})}


def kernel_isa(level: str | None = None) -> str:
    """The instruction set the kernels use: ``avx2`` under the pin on an AVX2 machine,
    else the machine's widest (``avx512``, ``avx2``, ``sse4.2``, ...; the pin cannot
    lift a machine below AVX2)."""
    level = level or cpu_level(cpu_flags())
    isa = _ISA_OF_LEVEL.get(level, level)
    if pinned() and level == "x86-64-v4":
        return PINNED
    return isa


def numpy_dispatch() -> str:
    """NumPy's widest SIMD target in effect (``X86_V3``, ``X86_V4``, ...; ``baseline``
    when none is). Imports NumPy."""
    from numpy._core import _multiarray_umath as umath

    active = [name for name in umath.__cpu_dispatch__ if umath.__cpu_features__.get(name)]
    return active[-1] if active else "baseline"


def overrides(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The pin's variables that hold another value than the pin's (set by the user)."""
    return {k: environ[k] for k, v in settings().items() if environ.get(k, v) != v}


def promise_gap(environ: Mapping[str, str] = os.environ) -> str | None:
    """Why this process's kernels are outside the same-bits promise (None: inside it)."""
    level = cpu_level(cpu_flags())
    if not pinned():
        return f"{ISA_VARIABLE}={NATIVE}: this machine's own kernels"
    if level != PROMISED_LEVEL and level != "x86-64-v4":
        return f"a {level} CPU; the promise needs AVX2 and FMA ({PROMISED_LEVEL})"
    changed = overrides(environ)
    if changed:
        return "set by the user: " + " ".join(f"{k}={v}" for k, v in sorted(changed.items()))
    if "numpy" in sys.modules:
        dispatch = numpy_dispatch()
        if dispatch in PIN_ENV["NPY_DISABLE_CPU_FEATURES"].split():
            return f"NumPy was imported before the pin and dispatches to {dispatch}"
    return None


def machine_tags(intra_op_threads: int, gaps: Sequence[str] = ()) -> dict[str, str]:
    """The ``optlab.cpu.*`` tags of a run: the CPU, its level, the kernels' ISA in effect,
    the cores and threads, NumPy's dispatch and TensorFlow's build, and whether the run
    is inside the same-bits promise (``same_bits``: ``yes``, or why not: the process's
    :func:`promise_gap` and the run's own ``gaps``)."""
    import tensorflow as tf  # lazy: the caller has loaded it already

    flags = cpu_flags()
    why = [gap for gap in (promise_gap(), *gaps) if gap]
    tags = {
        "vendor": _cpuinfo_field(None, "vendor_id") or platform.processor() or "unknown",
        "model": _cpuinfo_field(None, "model name") or platform.machine() or "unknown",
        "level": cpu_level(flags),
        "isa": kernel_isa(),
        "pin": str(_state["mode"]),
        "cores": str(os.cpu_count()),
        "cores_available": str(available_cores()),
        "threads": str(intra_op_threads),
        "numpy_dispatch": numpy_dispatch(),
        "tensorflow": f"{tf.__version__} ({tf.__git_version__})",
        "same_bits": "no: " + "; ".join(why) if why else "yes",
    }
    return {TAG_PREFIX + key: value for key, value in tags.items()}


def unpinned_environ(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """``environ`` for a child process without the pin: ``OPTLAB_CPU_ISA=native`` and none
    of the pin's variables (a pinned parent has set them in its own environment)."""
    kept = {k: v for k, v in environ.items() if k not in PIN_NAMES}
    return {**kept, ISA_VARIABLE: NATIVE}


def available_cores() -> int:
    """The cores this process may run on (its affinity), else the machine's."""
    if hasattr(os, "sched_getaffinity"):  # Linux: the cores this process may run on
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


_ISA_OF_LEVEL = {
    "x86-64-v4": "avx512",
    "x86-64-v3": "avx2",
    "x86-64-v2": "sse4.2",
    "x86-64": "sse2",
}


@functools.cache
def _proc_cpuinfo() -> str:
    # Read once per process: a many-core machine's file is hundreds of KiB.
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def _cpuinfo_field(cpuinfo: str | None, field: str) -> str:
    for line in (_proc_cpuinfo() if cpuinfo is None else cpuinfo).splitlines():
        key, _, value = line.partition(":")
        if key.strip() == field:
            return value.strip()
    return ""
