"""The revision matrix on a Dask cluster: one task per revision.

The submitting machine prepares each revision (worktree, fixes, successor
module: :mod:`fuzz.revisions.prepare`) and ships the parts of its tree the
gate reads as one archive, so workers need no FlyDSL repository.
:func:`gate_task` runs on a worker: after the environment check it unpacks
the archive and runs the gate in a fresh process there, exactly as a local
run does (:func:`fuzz.revisions.runner.run_gate`), and returns its answer.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from ..revisions.prepare import unpack
from ..revisions.runner import GateOptions, run_gate
from .environment import verify
from .session import ClusterLost, ClusterSession


def gate_task(expected: dict, archive: bytes, options: GateOptions) -> dict:
    """The gate's answer for the revision tree in ``archive`` (:func:`fuzz.revisions.prepare.pack`)."""
    verify(expected)
    with tempfile.TemporaryDirectory(prefix="moesort-revision-") as tmp:
        tree, successor = unpack(archive, Path(tmp))
        return run_gate(tree, successor, options, echo=False)


def run_all(session: ClusterSession, archives: list, on_done) -> dict:
    """Submit one :func:`gate_task` per ``(index, archive, its GateOptions)``; ``on_done(index, answer)`` as
    each finishes; returns {index: answer}.  :class:`ClusterLost` carries the answers so far
    (``partial``)."""
    queue = session.tasks()
    answers: dict = {}
    try:
        for index, archive, options in archives:
            queue.add(index, gate_task, archive, options)
        for index, answer in queue:
            if index not in answers:
                answers[index] = answer
                on_done(index, answer)
    except ClusterLost as exc:
        exc.partial = dict(answers)
        raise
    finally:
        queue.cancel()
    return answers
