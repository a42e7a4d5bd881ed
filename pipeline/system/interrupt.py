"""SIGINT and SIGTERM as exceptions, so a run can record why it stopped before the process ends.

Entry points wrap their work in :func:`handling_signals`: Ctrl-C (SIGINT) raises
``KeyboardInterrupt`` as Python always does, SIGTERM (``kill``, a scheduler, DVC
stopping a stage) raises :class:`Terminated`. Both derive from ``BaseException``,
so no ``except Exception`` on the way (Hydra's, a sweep job's) swallows them; the
training marks its MLflow run KILLED with the reason (:func:`reason`), context
managers on the way clean up their temporary files, and the process then exits
with the status a shell expects: 130 after SIGINT, 143 after SIGTERM.

Inside :func:`deferred` (a training's ``fit``) the first signal is only recorded, and
raised at the next safe point, :func:`check` (a batch's or an epoch's end, from a Keras
callback): Python raises a handler's exception at whatever bytecode runs, and during a
fit that is often a callback from TensorFlow's or h5py's C code, which must not be left
half done. An interruption there once ended a training with ``free(): invalid next
size`` (SIGABRT) instead of a KILLED run. A second signal raises at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator


class Terminated(BaseException):
    """SIGTERM was received (like ``KeyboardInterrupt`` for SIGINT)."""


# The signal received last in this process (None: none), for code that runs after the
# exception was handled, e.g. a sweep's exit handler deciding how to close its parent.
received: signal.Signals | None = None
# Inside deferred(): how deep, and the signal waiting for check() (None: none).
_deferring = 0
pending: signal.Signals | None = None


def reason(error: BaseException) -> str:
    """Why a run stopped, for :data:`~pipeline.config.contract.STOP_REASON_TAG`."""
    if isinstance(error, Terminated):
        return "interrupted by SIGTERM"
    if isinstance(error, KeyboardInterrupt):
        return "interrupted by SIGINT (Ctrl-C)"
    return f"interrupted: {error.__class__.__name__}"


INTERRUPTIONS = (KeyboardInterrupt, Terminated)


def _interruption(sig: signal.Signals) -> BaseException:
    return Terminated() if sig == signal.SIGTERM else KeyboardInterrupt()


def _on_signal(signum: int, frame) -> None:
    global received, pending
    received = signal.Signals(signum)
    if _deferring and pending is None:
        pending = received
        # os.write: print() is not safe here, the handler may interrupt another print.
        name = received.name
        said = f"{name}: the training stops at its next step's end ({name} again: at once)\n"
        os.write(2, said.encode())
        return
    raise _interruption(received)


def check() -> None:
    """Raise the interruption :func:`deferred` held back, if any: call it where stopping
    leaves nothing half done."""
    global pending
    if pending is not None:
        sig, pending = pending, None
        raise _interruption(sig)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold the first SIGINT or SIGTERM back until :func:`check` (or the block's end)."""
    global _deferring
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
    check()


def exit_status(error: BaseException) -> int:
    """The status a shell shows for a process the signal ended: 128 + its number."""
    return 128 + (signal.SIGTERM if isinstance(error, Terminated) else signal.SIGINT)


@contextlib.contextmanager
def handling_signals() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into exceptions for the block; exit 130/143 after them.

    Only the main thread can install handlers; elsewhere the block runs as is.
    """
    try:
        previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    except INTERRUPTIONS as error:
        print(f"stopped: {reason(error)}", file=sys.stderr)
        raise SystemExit(exit_status(error)) from None
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
