"""A wall-clock limit on one launch: the termination part of the robustness clause.

``with time_limit(seconds): ...`` raises :class:`CaseTimeout` inside the
block once ``seconds`` have passed (``SIGALRM`` with a real-time interval
timer).  ``CaseTimeout`` is a ``BaseException``, so no ``except Exception``
in a backend or in the interpreter swallows it; the judge catches it and
reports the run as one that did not terminate.  Python drops an exception
raised where it ignores exceptions (a garbage-collector callback, a
``__del__`` method): the timer therefore fires again every ``seconds``
until the block ends, so a block never outlives its limit by more than that
for each raise dropped.

Signals reach only the main thread of a process: elsewhere (and with
``seconds`` None or 0, or where ``setitimer`` does not exist) the block runs
without a limit.  Campaign workers and pytest run cases on their main thread.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Optional


class CaseTimeout(BaseException):
    """A launch ran past its time limit."""

    def __init__(self, seconds: float):
        super().__init__(f"the launch ran past its time limit of {seconds:g} s")
        self.seconds = seconds


def can_limit() -> bool:
    """Whether :func:`time_limit` can limit a block here."""
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def time_limit(seconds: Optional[float]):
    """Raise :class:`CaseTimeout` in the block after ``seconds`` (see the module docstring)."""
    if not seconds or not can_limit():
        yield
        return

    def expire(signum, frame):
        raise CaseTimeout(seconds)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
