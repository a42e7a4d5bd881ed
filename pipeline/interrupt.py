"""SIGINT and SIGTERM as exceptions, so a run can record why it stopped before the process ends.

Entry points wrap their work in :func:`handling_signals`: Ctrl-C (SIGINT) raises
``KeyboardInterrupt`` as Python always does, SIGTERM (``kill``, a scheduler, DVC
stopping a stage) raises :class:`Terminated`. Both derive from ``BaseException``,
so no ``except Exception`` on the way (Hydra's, a sweep job's) swallows them; the
training marks its MLflow run KILLED with the reason (:func:`reason`), context
managers on the way clean up their temporary files, and the process then exits
with the status a shell expects: 130 after SIGINT, 143 after SIGTERM.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator


class Terminated(BaseException):
    """SIGTERM was received (like ``KeyboardInterrupt`` for SIGINT)."""


# The signal received last in this process (None: none), for code that runs after the
# exception was handled, e.g. a sweep's exit handler deciding how to close its parent.
received: signal.Signals | None = None


def reason(error: BaseException) -> str:
    """Why a run stopped, for :data:`~pipeline.contract.STOP_REASON_TAG`."""
    if isinstance(error, Terminated):
        return "interrupted by SIGTERM"
    if isinstance(error, KeyboardInterrupt):
        return "interrupted by SIGINT (Ctrl-C)"
    return f"interrupted: {error.__class__.__name__}"


INTERRUPTIONS = (KeyboardInterrupt, Terminated)


def _on_signal(signum: int, frame) -> None:
    global received
    received = signal.Signals(signum)
    if signum == signal.SIGTERM:
        raise Terminated()
    raise KeyboardInterrupt()


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
