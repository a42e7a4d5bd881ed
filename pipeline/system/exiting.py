"""Ending an entry point's process without the interpreter's teardown.

A process that has loaded TensorFlow, MLflow, pandas and matplotlib spends over a second
after its last line (1.4 s of ``python -m pipeline.train``, measured on 2 cores), freeing
modules and objects one by one, and running TensorFlow's C++ destructors, before the
operating system would free them all at once anyway. :func:`exit_now` does what matters
of that teardown, in the interpreter's order, then leaves:

1. waits for the threads that are not daemons, and runs the hooks registered with
   :mod:`threading` (joblib's loky executor shuts its workers down there);
2. runs the :mod:`atexit` handlers: :mod:`logging`'s flush, MLflow's end of an active run,
   ``weakref.finalize`` callbacks such as a ``TemporaryDirectory``'s removal,
   :mod:`multiprocessing`'s join of its children;
3. flushes standard output and error;

and then calls :func:`os._exit`, which skips freeing modules and objects. Every file the
pipeline writes is closed by its own ``with`` block before this (see :mod:`pipeline.system.io`).

Only ``__main__`` blocks call it: a function that ends the process is no use to a caller
in the same process (tests, the Hydra launcher's jobs).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from collections.abc import Callable
from typing import NoReturn


def status_code(status: object) -> int:
    """The exit status ``sys.exit(status)`` would give: None is 0, an int itself,
    anything else 1 (and printed to stderr, as ``sys.exit`` prints it)."""
    if status is None:
        return 0
    if isinstance(status, int):
        return status
    print(status, file=sys.stderr)
    return 1


def exit_now(status: object = 0) -> NoReturn:
    """End the process with ``status`` (as :func:`sys.exit` takes it), after the steps of
    the interpreter's teardown that have effects outside it (the module docstring)."""
    code = status_code(status)
    # CPython's own first two steps of Py_FinalizeEx, in its order; both are private
    # names, and stable since Python 3.7. Running them twice is harmless: atexit forgets
    # each handler as it runs it, and the os._exit below means teardown never runs.
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        # A closed pipe or stream: nothing left to write there.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def run_then_exit(main: Callable[[], object]) -> NoReturn:
    """Run ``main()`` and end the process with what it returned, or the status of the
    :class:`SystemExit` it raised, through :func:`exit_now`.

    Any other exception propagates, and Python ends the process as usual, printing the
    traceback.
    """
    try:
        status = main()
    except SystemExit as stop:
        status = stop.code
    exit_now(status)
