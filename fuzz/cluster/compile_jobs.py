"""The compile matrix on a Dask cluster: one task per compile job.

A FlyDSL process must only ever see one target (:mod:`kernels.compilecheck.worker`),
so a task never compiles in the Dask worker's own process: each worker keeps,
per run and target, a pool of spawned processes fixed to that target
(:func:`kernels.compilecheck.worker.init_worker`), as many as the worker has
threads, with FlyDSL's cache in a temporary directory of its own; the pools
of a run are shut down when the run ends (:func:`release`) or when a task of
another run arrives.  Each pool process exits when the worker process that
started it is gone.  A job whose pool process dies (a crash inside LLVM) is
retried once in a fresh process, then reported failed, as a local run does.
The worker finds its own ROCm toolchain; a worker without one is refused.

:class:`MatrixRunner` is the ``runner`` that :func:`kernels.compilecheck.run_matrix`
takes: its rows, CSV and report equal a local run's (compile times aside).
When the cluster goes away it returns the outcomes received so far and
keeps the :class:`ClusterLost` in ``.lost`` for the command to report.
"""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import shutil
import tempfile
import threading
import time
import uuid
from typing import Optional

from kernels.compilecheck.matrix import worker_env
from kernels.compilecheck.worker import JobOutcome, compile_in_worker, init_worker

from .environment import EnvironmentMismatch, verify, worker_address
from .session import ClusterLost, ClusterSession

_POOLS: dict = {}  # (run, target) -> (ProcessPoolExecutor, cache dir)
_LOCK = threading.Lock()
DIED = "worker process died while compiling"


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def init_pool_process(target: str, env: dict, parent: int) -> None:
    """Pool initializer: fix the process to ``target``; exit once process ``parent`` is gone."""
    init_worker(target, env)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="watch-parent").start()


def _threads() -> int:
    try:
        from distributed import get_worker

        return max(1, get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):
        return 1


def _new_pool(target: str, cache: str, processes: int) -> cf.ProcessPoolExecutor:
    # A Dask worker under a nanny is a daemonic process, which multiprocessing forbids to
    # start children; the pool's processes watch this one and exit with it instead.
    multiprocessing.current_process().daemon = False
    return cf.ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"),
                                  initializer=init_pool_process, initargs=(target, worker_env(cache), os.getpid()))


def _close(key) -> None:
    pool, cache = _POOLS.pop(key)
    pool.shutdown(wait=False, cancel_futures=True)
    shutil.rmtree(cache, ignore_errors=True)


def _pool(run: str, target: str) -> cf.ProcessPoolExecutor:
    with _LOCK:
        for key in [k for k in _POOLS if k[0] != run]:
            _close(key)
        if (run, target) not in _POOLS:
            cache = tempfile.mkdtemp(prefix="moesort-flydsl-cache-")
            _POOLS[(run, target)] = (_new_pool(target, cache, _threads()), cache)
        return _POOLS[(run, target)][0]


def release(run: str) -> int:
    """Shut down this worker's pools of ``run``; returns how many there were."""
    with _LOCK:
        keys = [k for k in _POOLS if k[0] == run]
        for key in keys:
            _close(key)
    return len(keys)


def _ensure_toolchain() -> None:
    from kernels.compilecheck.toolchain import ToolchainMissing, ensure_toolchain

    try:
        ensure_toolchain()
    except ToolchainMissing as exc:
        raise EnvironmentMismatch(worker_address(), [f"no ROCm toolchain for the compile pipeline: {exc}"]) \
            from None


def _compile_alone(job, target: str) -> JobOutcome:
    cache = tempfile.mkdtemp(prefix="moesort-flydsl-cache-")
    try:
        with _new_pool(target, cache, 1) as pool:
            return pool.submit(compile_in_worker, job).result()
    except cf.process.BrokenProcessPool:
        return JobOutcome(job=job, kernels=[], error=DIED)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def compile_task(expected: dict, run: str, job) -> JobOutcome:
    """Compile ``job`` on this worker, in a process fixed to its target; never raises for a failing job."""
    verify(expected)
    _ensure_toolchain()
    try:
        return _pool(run, job.target).submit(compile_in_worker, job).result()
    except cf.process.BrokenProcessPool:
        with _LOCK:
            if (run, job.target) in _POOLS:
                _close((run, job.target))
        return _compile_alone(job, job.target)
    except Exception as exc:  # noqa: BLE001 - reported per job, as a local run does
        return JobOutcome(job=job, kernels=[], error=f"{type(exc).__name__}: {exc}")


class MatrixRunner:
    """``MatrixRunner(session)(jobs, on_done) -> outcomes``: the jobs compiled on the cluster."""

    def __init__(self, session: ClusterSession):
        self.session = session
        self.lost: Optional[ClusterLost] = None

    def __call__(self, jobs, on_done) -> list:
        run = uuid.uuid4().hex
        queue = self.session.tasks()
        outcomes: dict = {}
        try:
            for index, job in enumerate(jobs):
                queue.add(index, compile_task, run, job)
            for index, outcome in queue:
                if index not in outcomes:
                    outcomes[index] = outcome
                    on_done(outcome)
        except ClusterLost as exc:
            self.lost = exc
        finally:
            queue.cancel()
            if not self.session.lost():
                try:
                    self.session.client.run(release, run, on_error="ignore")
                except Exception:  # noqa: BLE001 - pools also close with the next run or the worker
                    pass
        return [outcomes[i] for i in sorted(outcomes)]
