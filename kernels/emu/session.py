"""The stack of active emulation sessions (target + options), process-wide.

Contract: :func:`current` is the innermost session entered by
:func:`kernels.emu.emulate` (:mod:`.scope` pushes and pops them); the stack
is shared by every thread and guarded by :data:`lock`.  :func:`recording_graph`
is the innermost graph being captured (:mod:`.graph`), which launches are
recorded into instead of running.  This module holds state only: it imports
nothing of the interpreter.
"""
from __future__ import annotations

import threading

lock = threading.RLock()
_stack: list = []
_graphs: list = []


class Session:
    """One ``emulate()`` scope: its :class:`~kernels.targets.Target`, its
    :class:`~kernels.emu.simt.Options` and its capture-cache counters."""

    def __init__(self, target, options):
        self.target = target
        self.options = options
        self.cache_hits = 0
        self.cache_misses = 0        # in-memory misses; of those, disk_hits came from the persistent cache
        self.disk_hits = 0
        self.saved_env = None
        self.torch_patch = None


def current() -> Session:
    """The innermost active session; RuntimeError when there is none."""
    if not _stack:
        raise RuntimeError("no kernels.emu.emulate() session is active")
    return _stack[-1]


def active() -> bool:
    """Whether an emulation session is active."""
    return bool(_stack)


def push(s: Session) -> None:
    _stack.append(s)


def pop(s: Session) -> None:
    """Remove ``s``, which must be the innermost session."""
    if not _stack or _stack[-1] is not s:
        raise RuntimeError("emulate() scopes must be exited in LIFO order")
    _stack.pop()


def recording_graph():
    """The innermost graph being captured (:class:`kernels.emu.graph.EmulatedGraph`), or None."""
    return _graphs[-1] if _graphs else None


def push_graph(graph) -> None:
    _graphs.append(graph)


def pop_graph(graph) -> None:
    """Remove ``graph``, which must be the innermost one being captured."""
    if not _graphs or _graphs[-1] is not graph:
        raise RuntimeError("graph captures must end in LIFO order")
    _graphs.pop()
