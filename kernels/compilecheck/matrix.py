"""The compile matrix: build every kernel of a backend for every shape, path, mask and target
on the CPU, read each binary's resource use, and judge it against the target's limits.

Pipeline: :func:`kernels.compilecheck.providers.compile_jobs` lists the jobs;
:func:`run_jobs` compiles them in worker processes -- one
``ProcessPoolExecutor`` per target, because a FlyDSL process must only ever
see one ``ARCH`` (see :mod:`kernels.compilecheck.worker`) -- with FlyDSL's
cache in a temporary directory; :func:`kernels.compilecheck.rows.rows_from_outcome`
judges each compiled GPU kernel; :mod:`kernels.compilecheck.report` writes
``DIR/compile_matrix.csv`` and ``DIR/compile_matrix.md`` and prints the table.
:func:`run_matrix` does all of it.
"""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence

from .providers import compile_jobs
from .report import write_reports
from .rows import rows_from_outcome
from .worker import JobOutcome, compile_in_worker, init_worker


def worker_env(cache_dir: str) -> dict:
    """The environment a compile worker process gets: FlyDSL's cache in ``cache_dir``, plus this
    process's ``ROCM_PATH`` and ``FLYDSL_ROOT``."""
    env = {"FLYDSL_RUNTIME_CACHE_DIR": cache_dir}
    for key in ("ROCM_PATH", "FLYDSL_ROOT"):
        if os.environ.get(key):
            env[key] = os.environ[key]
    return env


def _run_target(target: str, jobs: list, workers: int, env: dict, on_done) -> list:
    """Compile ``jobs`` (all for ``target``) in a pool of ``workers`` spawned processes.

    A job whose worker dies (a crash inside LLVM) is retried once alone; if it
    dies again it is reported as failed.
    """
    ctx = multiprocessing.get_context("spawn")
    outcomes, pending, attempt = [], list(jobs), 0
    while pending:
        attempt += 1
        alone = attempt > 1
        broken = []
        n = 1 if alone else max(1, min(workers, len(pending)))
        batches = [[j] for j in pending] if alone else [pending]
        for batch in batches:
            with cf.ProcessPoolExecutor(n, mp_context=ctx, initializer=init_worker,
                                        initargs=(target, env)) as pool:
                futures = {pool.submit(compile_in_worker, j): j for j in batch}
                for fut in cf.as_completed(futures):
                    job = futures[fut]
                    try:
                        out = fut.result()
                    except cf.process.BrokenProcessPool:
                        if alone:
                            out = JobOutcome(job=job, kernels=[], error="worker process died while compiling")
                        else:
                            broken.append(job)
                            continue
                    except Exception as exc:  # noqa: BLE001
                        out = JobOutcome(job=job, kernels=[], error=f"{type(exc).__name__}: {exc}")
                    outcomes.append(out)
                    on_done(out)
        pending = broken
    return outcomes


def run_jobs(jobs: Sequence, workers: Optional[int] = None, cache_dir: Optional[str] = None,
             on_done=lambda outcome: None) -> list:
    """Compile every job; return their outcomes (in completion order).

    ``workers`` defaults to the CPU count; they are split across targets, whose
    pools run concurrently.  ``cache_dir`` (FlyDSL's artifact cache) defaults to
    a fresh temporary directory, removed afterwards.  The toolchain must have
    been set up (:func:`kernels.compilecheck.toolchain.ensure_toolchain`) by the caller.
    """
    workers = workers or os.cpu_count() or 1
    by_target: dict = {}
    for j in jobs:
        by_target.setdefault(j.target, []).append(j)
    own_cache = cache_dir is None
    cache_dir = cache_dir or tempfile.mkdtemp(prefix="moesort-flydsl-cache-")
    env = worker_env(cache_dir)
    try:
        targets = list(by_target)
        if not targets:
            return []
        if workers >= len(targets):
            share = [workers // len(targets) + (i < workers % len(targets)) for i in range(len(targets))]
            with cf.ThreadPoolExecutor(len(targets)) as tp:
                futs = [tp.submit(_run_target, t, by_target[t], s, env, on_done)
                        for t, s in zip(targets, share)]
                return [o for f in futs for o in f.result()]
        return [o for t in targets for o in _run_target(t, by_target[t], 1, env, on_done)]
    finally:
        if own_cache:
            shutil.rmtree(cache_dir, ignore_errors=True)


def save_binaries(outcome, out_dir) -> list:
    """Write each code object of ``outcome`` to ``out_dir/binaries/<target>/<backend>/...hsaco``."""
    job = outcome.job
    folder = Path(out_dir) / "binaries" / job.target / job.backend
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for k in outcome.kernels:
        name = f"{job.path}-{job.shape}-T{job.tokens}-mask{int(job.mask)}-{k.launcher}.hsaco"
        if name not in written:
            (folder / name).write_bytes(k.elf)
            written[name] = folder / name
    return list(written.values())


def run_matrix(backends: Sequence[str], targets: Sequence[str], out_dir, workers: Optional[int] = None,
               shapes=None, progress=None, keep_binaries: bool = False, runner=None, where: str = "") -> list:
    """Jobs of every backend -> compiled -> rows, reports written to ``out_dir``; returns the rows.

    With ``keep_binaries`` every code object is also written under ``out_dir/binaries``.
    ``runner(jobs, on_done) -> outcomes`` compiles the jobs elsewhere (default: :func:`run_jobs`
    here, with ``workers`` processes); ``where`` then says where, for the report's header.  A
    runner that stops early returns the outcomes it has: the reports then say how many jobs of
    all were compiled.
    """
    jobs = [j for b in backends for j in compile_jobs(b, targets, shapes)]
    start = time.monotonic()

    def done(outcome):
        if keep_binaries:
            save_binaries(outcome, out_dir)
        if progress:
            progress(outcome)

    if runner is None:
        outcomes = run_jobs(jobs, workers=workers, on_done=done)
    else:
        outcomes = runner(jobs, done)
    rows = [r for o in outcomes for r in rows_from_outcome(o)]
    meta = {"backends": ", ".join(backends), "targets": ", ".join(targets), "jobs": len(jobs),
            "workers": where or workers or os.cpu_count(), "wall time": f"{time.monotonic() - start:.1f} s"}
    if len(outcomes) < len(jobs):
        meta["compiled"] = f"only {len(outcomes)} of {len(jobs)} jobs: the run stopped early"
    write_reports(rows, out_dir, meta=meta)
    return rows
