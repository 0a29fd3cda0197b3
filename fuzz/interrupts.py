"""Interrupts that are never lost: SIGINT and SIGTERM remembered as well as raised.

CPython runs a signal's Python handler on the main thread between two
bytecodes, wherever that thread is.  When that is inside a garbage-collector
callback (Hypothesis installs one), a ``__del__`` method or a weakref
callback, the ``KeyboardInterrupt`` the handler raises is printed as
"Exception ignored in ..." and dropped, and the interrupted loop goes on.

``with latched(signal.SIGINT, ...):`` installs, for each signal named, a
handler that records the interrupt and raises ``KeyboardInterrupt``, and
puts the previous handlers back on exit.  :func:`requested` says whether one
arrived since the outermost ``latched`` block began; :func:`check` raises
``KeyboardInterrupt`` when one did.  A loop that must stop on an interrupt
calls :func:`check` at each step, so that an interrupt dropped once is
raised again at the next step.  Outside a ``latched`` block, and off the main
thread (where no handler can be installed), :func:`requested` is False.
"""
from __future__ import annotations

import contextlib
import signal
import threading

_latch = {"depth": 0, "arrived": False}


def _record_and_raise(signum, frame):
    _latch["arrived"] = True
    raise KeyboardInterrupt


@contextlib.contextmanager
def latched(*signals: signal.Signals):
    """Latch ``signals`` in the block (see the module docstring)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if _latch["depth"] == 0:
        _latch["arrived"] = False
    previous = {s: signal.getsignal(s) for s in signals}
    _latch["depth"] += 1
    try:
        for s in signals:
            signal.signal(s, _record_and_raise)
        yield
    finally:
        _latch["depth"] -= 1
        for s, handler in previous.items():
            if handler is not None:  # None: a handler installed outside Python, which cannot be put back
                signal.signal(s, handler)


def requested() -> bool:
    """Whether a latched signal arrived since the outermost :func:`latched` block began."""
    return _latch["depth"] > 0 and _latch["arrived"]


def check() -> None:
    """Raise ``KeyboardInterrupt`` when :func:`requested`."""
    if requested():
        raise KeyboardInterrupt
