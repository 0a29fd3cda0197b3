"""Mutation runs on a Dask cluster: one task per mutant.

:func:`judge_task` runs on a worker: after the environment check it judges
one mutant exactly as a local run does (:func:`fuzz.mutation.runner.judge`:
a private copy of the worker's suite with the mutant applied, checked in a
subprocess with the time limit), and returns the :class:`Judged`.

:func:`run_all` is :func:`fuzz.mutation.runner.run_all` on the cluster: it
takes the same arguments (``jobs`` aside: the cluster's workers are the
jobs), calls ``on_done`` as each mutant finishes, and returns the results
in the order of ``chosen``, so the summary and reports equal a local run's.
A worker that dies mid-mutant has the mutant rerun elsewhere; each mutant
is counted once, from the one result that arrives.  When the cluster goes
away, :class:`ClusterLost` carries the mutants judged so far
(``partial``).
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Callable, Optional

from ..mutation import runner
from ..mutation.operators import Mutant
from .environment import verify
from .session import ClusterLost, ClusterSession


def judge_task(expected: dict, mutant: Mutant, timeout: float, seed: int, backend: str, baseline: bool,
               paths: tuple, exclude_text: Optional[str]) -> runner.Judged:
    """Judge ``mutant`` on this worker (``exclude_text``: the screened cases' JSON, or None)."""
    verify(expected)
    base = Path(tempfile.mkdtemp(prefix="moesort-mutants-"))
    try:
        exclude = None
        if exclude_text is not None:
            exclude = base / "screened-cases.json"
            exclude.write_text(exclude_text)
        return runner.judge(mutant, base, timeout, seed, backend, baseline, paths, exclude)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def run_all(session: ClusterSession, chosen: list, timeout: float, seed: int, backend: str, baseline: bool,
            on_done: Callable[[runner.Judged], None], paths_of=lambda path: (),
            exclude: Optional[Path] = None) -> list:
    """Judge every mutant of ``chosen`` on the cluster; results in the order of ``chosen``."""
    exclude_text = Path(exclude).read_text() if exclude is not None else None
    queue = session.tasks()
    judged: dict = {}
    try:
        for index, mutant in enumerate(chosen):
            queue.add(index, judge_task, mutant, timeout, seed, backend, baseline, tuple(paths_of(mutant.path)),
                      exclude_text)
        for index, result in queue:
            if index in judged:  # never counted twice, whatever the scheduler did
                continue
            judged[index] = result
            on_done(result)
    except ClusterLost as exc:
        exc.partial = [judged[i] for i in sorted(judged)]
        raise
    finally:
        queue.cancel()
    return [judged[i] for i in range(len(chosen))]
