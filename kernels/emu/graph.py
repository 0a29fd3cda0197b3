"""Graph capture on the CPU interpreter: launches recorded, replayed later.

``with capture_graph() as graph:`` behaves as a CUDA/HIP graph capture
(``torch.cuda.graph``) does for the code inside:

* every ``@flyc.jit`` launch made under an :func:`kernels.emu.emulate`
  session is recorded, not run: its pointers and scalar arguments are frozen
  as they are at that moment, with the session's target and options;
* host code that reads tensor data (``.item()``, ``int(t)``, ...) raises
  :class:`~kernels.emu.hostsync.HostSyncError` naming its line
  (:mod:`.hostsync`).

``graph.replay()`` then runs the recorded launches in order against the
current contents of the tensors, so a value host code computed at capture
time and passed as a scalar shows up as a wrong result once the tensors it
came from change.  Torch ops in the captured code run at once (on the CPU
they cannot be deferred); only interpreter launches are replayed.
"""
from __future__ import annotations

import contextlib
import dataclasses
from typing import Callable

from . import scope, session
from .hostsync import forbid_host_reads


@dataclasses.dataclass(frozen=True)
class RecordedLaunch:
    """One launcher call: its host function's name, the session it was made in,
    ``run(options)``, which executes it on the frozen arguments, and the kernels
    it launches (their names with the launch-index suffix, listed without running)."""

    host_name: str
    target: str
    options: object
    run: Callable
    kernels: tuple = ()


class EmulatedGraph:
    """The launches recorded by :func:`capture_graph`, in call order."""

    def __init__(self):
        self.launches: list[RecordedLaunch] = []
        self.capturing = True

    def record(self, host_name: str, sess, run: Callable, kernels: tuple = ()) -> None:
        self.launches.append(RecordedLaunch(host_name, sess.target.arch, sess.options, run, tuple(kernels)))

    def kernels(self) -> tuple:
        """The kernels of every recorded launch, in order."""
        return tuple(k for launch in self.launches for k in launch.kernels)

    def replay(self) -> None:
        """Run every recorded launch, each under its own session's target and options."""
        if self.capturing:
            raise RuntimeError("EmulatedGraph.replay(): the capture has not ended")
        for launch in self.launches:
            s = scope.enter(launch.target, launch.options)
            try:
                launch.run(launch.options)
            finally:
                scope.leave(s)


@contextlib.contextmanager
def capture_graph():
    """Capture the launches made inside into an :class:`EmulatedGraph` (see the module docstring)."""
    graph = EmulatedGraph()
    with session.lock:
        session.push_graph(graph)
    try:
        with forbid_host_reads():
            yield graph
    finally:
        with session.lock:
            session.pop_graph(graph)
        graph.capturing = False
