"""The compile matrix: build every kernel of a backend for every shape, path, mask and target
on the CPU, read each binary's resource use, and judge it against the target's limits.

Pipeline: :func:`fuzz.compile_jobs.compile_jobs` lists the jobs; :func:`run_jobs`
compiles them in worker processes -- one ``ProcessPoolExecutor`` per target,
because a FlyDSL process must only ever see one ``ARCH`` (see
:mod:`fuzz.compile_capture`) -- with FlyDSL's cache in a temporary directory;
:func:`rows_from_outcome` turns each compiled GPU kernel into a :class:`Row`
via :func:`kernels.occupancy.assess`; :func:`write_reports` writes
``DIR/compile_matrix.csv`` and ``DIR/compile_matrix.md``; :func:`render_table`
prints it (``rich`` on a terminal, plain text otherwise).

A row is ``ok`` only when the job compiled without error, the compiler printed
no ``error:`` diagnostic, and the kernel passes every limit.
"""
from __future__ import annotations

import concurrent.futures as cf
import csv
import dataclasses
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterable, Optional, Sequence

from kernels.occupancy import assess

CSV_COLUMNS = (
    "backend", "kernel", "launcher", "path", "shape", "model", "tokens", "mask", "target", "ok",
    "vgpr", "vgpr_alloc", "sgpr", "agpr", "lds_bytes", "scratch_bytes", "vgpr_spills", "sgpr_spills",
    "workgroup_size", "workgroups_per_cu", "min_workgroups_per_cu", "occupancy", "compile_s", "reason",
)


@dataclasses.dataclass
class Row:
    backend: str
    kernel: str  # GPU kernel symbol (or the job's kernel family when it did not compile)
    launcher: str
    path: str
    shape: str
    model: str
    tokens: int
    mask: bool
    target: str
    ok: bool
    vgpr: Optional[int] = None
    vgpr_alloc: Optional[int] = None
    sgpr: Optional[int] = None
    agpr: Optional[int] = None
    lds_bytes: Optional[int] = None
    scratch_bytes: Optional[int] = None
    vgpr_spills: Optional[int] = None
    sgpr_spills: Optional[int] = None
    workgroup_size: Optional[int] = None
    workgroups_per_cu: Optional[int] = None
    min_workgroups_per_cu: int = 1
    occupancy: Optional[int] = None
    compile_s: float = 0.0
    reason: str = ""

    def as_csv(self) -> dict:
        d = dataclasses.asdict(self)
        d["ok"] = "yes" if self.ok else "no"
        d["mask"] = "yes" if self.mask else "no"
        d["compile_s"] = f"{self.compile_s:.2f}"
        return {k: ("" if d[k] is None else d[k]) for k in CSV_COLUMNS}


def _error_lines(diagnostics: str) -> list:
    return [ln.strip() for ln in diagnostics.splitlines() if "error:" in ln.lower()]


def rows_from_outcome(outcome) -> list:
    """Rows for one :class:`fuzz.compile_capture.JobOutcome` (one per GPU kernel)."""
    job = outcome.job
    base = dict(backend=job.backend, path=job.path, shape=job.shape, model=job.model,
                tokens=job.tokens, mask=job.mask, target=job.target,
                min_workgroups_per_cu=job.min_workgroups_per_cu, compile_s=outcome.seconds)
    errors = _error_lines(outcome.diagnostics)
    if not outcome.kernels:
        return [Row(kernel=job.kernel, launcher="", ok=False,
                    reason=outcome.error or (errors[0] if errors else "nothing compiled"), **base)]
    rows = []
    for k in outcome.kernels:
        r = k.resources
        a = assess(r, job.target, workgroup_size=k.workgroup_size, dynamic_lds=k.dynamic_lds,
                   min_workgroups_per_cu=job.min_workgroups_per_cu)
        reasons = list(a.reasons)
        if k.code_object_arch != job.target:
            reasons.insert(0, f"code object is for {k.code_object_arch}, not {job.target}")
        if outcome.error:
            reasons.insert(0, outcome.error)
        names = [x.resources.name for x in outcome.kernels]
        # An error line naming one of this job's kernels goes to that kernel; one naming none, to all.
        reasons.extend(f"compiler: {e}" for e in errors
                       if r.name in e or not any(n in e for n in names))
        rows.append(Row(
            kernel=k.kernel, launcher=k.launcher, ok=not reasons,
            vgpr=r.vgpr_count, vgpr_alloc=a.vgpr_alloc, sgpr=r.sgpr_count, agpr=r.agpr_count,
            lds_bytes=a.lds_total, scratch_bytes=r.scratch_bytes, vgpr_spills=r.vgpr_spill_count,
            sgpr_spills=r.sgpr_spill_count, workgroup_size=k.workgroup_size or (
                r.reqd_workgroup_size[0] if r.reqd_workgroup_size else None),
            workgroups_per_cu=a.workgroups_per_cu, occupancy=a.occupancy,
            reason="; ".join(reasons), **base,
        ))
    return rows


# --------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------

def _worker_env(cache_dir: str) -> dict:
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
    from fuzz.compile_capture import JobOutcome, compile_in_worker, init_worker

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
    been set up (``kernels.toolchain.ensure_toolchain``) by the caller.
    """
    workers = workers or os.cpu_count() or 1
    by_target: dict = {}
    for j in jobs:
        by_target.setdefault(j.target, []).append(j)
    own_cache = cache_dir is None
    cache_dir = cache_dir or tempfile.mkdtemp(prefix="moesort-flydsl-cache-")
    env = _worker_env(cache_dir)
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


PATH_ORDER = ("small", "medium", "large", "oneshot", "2k", "4k", "fused", "gating")


def sort_rows(rows: Iterable[Row]) -> list:
    """Backend, shape, target, then paths in execution order (small before large)."""
    order = {"gfx942": 0, "gfx950": 1}
    rank = {p: i for i, p in enumerate(PATH_ORDER)}
    return sorted(rows, key=lambda r: (r.backend, r.shape, order.get(r.target, 9), rank.get(r.path, 99),
                                       r.path, r.tokens, r.mask, r.launcher, r.kernel))


# --------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------

TABLE_COLUMNS = ("kernel", "shape", "T", "mask", "target", "ok", "vgpr", "valloc", "sgpr", "agpr",
                 "lds_bytes", "scratch", "wg", "wg/CU", "occ", "reason")


def _cells(r: Row) -> list:
    def s(v):
        return "" if v is None else str(v)

    return [f"{r.backend}:{r.path}:{r.kernel}", r.shape, str(r.tokens), "yes" if r.mask else "no",
            r.target, "ok" if r.ok else "FAIL", s(r.vgpr), s(r.vgpr_alloc), s(r.sgpr), s(r.agpr), s(r.lds_bytes), s(r.scratch_bytes),
            s(r.workgroup_size), s(r.workgroups_per_cu), s(r.occupancy), r.reason]


def write_reports(rows: Sequence[Row], out_dir, title: str = "Compile matrix", meta: Optional[dict] = None):
    """Write ``compile_matrix.csv`` and ``compile_matrix.md`` into ``out_dir``; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = sort_rows(rows)
    csv_path, md_path = out / "compile_matrix.csv", out / "compile_matrix.md"
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow(r.as_csv())
    md_path.write_text(markdown(rows, title, meta))
    return csv_path, md_path


def summary(rows: Sequence[Row]) -> dict:
    fails = [r for r in rows if not r.ok]
    return {"rows": len(rows), "ok": len(rows) - len(fails), "failed": len(fails),
            "targets": sorted({r.target for r in rows}), "backends": sorted({r.backend for r in rows})}


def markdown(rows: Sequence[Row], title: str = "Compile matrix", meta: Optional[dict] = None) -> str:
    rows = sort_rows(rows)
    s = summary(rows)
    lines = [f"# {title}", ""]
    for k, v in (meta or {}).items():
        lines.append(f"- {k}: {v}")
    lines += [f"- kernels checked: {s['rows']} ({s['ok']} ok, {s['failed']} failed)", ""]
    fails = [r for r in rows if not r.ok]
    if fails:
        lines += ["## Failures", ""]
        for r in fails:
            lines.append(f"- `{r.backend}:{r.path}:{r.kernel}` {r.shape} T={r.tokens} "
                         f"mask={'yes' if r.mask else 'no'} {r.target}: {r.reason}")
        lines.append("")
    lines += condensed(rows) + ["## All kernels", "",
              "| " + " | ".join(TABLE_COLUMNS) + " |",
              "|" + "|".join("---" for _ in TABLE_COLUMNS) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in _cells(r)) + " |")
    lines += ["", "vgpr/sgpr/agpr: code-object metadata counts; valloc: VGPRs per lane the kernel "
              "descriptor allocates (unified VGPR+AGPR); lds_bytes: static + dynamic LDS "
              "of one workgroup; scratch: private segment bytes per work-item; wg: workgroup "
              "threads; wg/CU: workgroups resident per CU; occ: waves on the busiest SIMD "
              "(see kernels/occupancy.py).", ""]
    return "\n".join(lines)


SUMMARY_COLUMNS = ("backend", "path", "shape", "target", "T", "kernels ok", "max vgpr (alloc)", "max sgpr",
                   "max lds_bytes", "max scratch", "min wg/CU", "min occ")


def condensed(rows: Sequence[Row]) -> list:
    """Markdown lines: one row per (backend, path, shape, target) over its kernels and masks."""
    groups: dict = {}
    for r in sort_rows(rows):
        groups.setdefault((r.backend, r.path, r.shape, r.target), []).append(r)

    def most(rs, attr, fn=max):
        vals = [getattr(r, attr) for r in rs if getattr(r, attr) is not None]
        return str(fn(vals)) if vals else ""

    out = ["## Summary by path (over kernels and mask on/off)", "",
           "| " + " | ".join(SUMMARY_COLUMNS) + " |", "|" + "|".join("---" for _ in SUMMARY_COLUMNS) + "|"]
    for (backend, path, shape, target), rs in groups.items():
        ok = sum(r.ok for r in rs)
        ts = sorted({r.tokens for r in rs})
        out.append("| " + " | ".join([
            backend, path, shape, target, ",".join(map(str, ts)),
            f"{ok}/{len(rs)}" + ("" if ok == len(rs) else " FAIL"),
            f"{most(rs, 'vgpr')} ({most(rs, 'vgpr_alloc')})", most(rs, "sgpr"), most(rs, "lds_bytes"),
            most(rs, "scratch_bytes"), most(rs, "workgroups_per_cu", min), most(rs, "occupancy", min),
        ]) + " |")
    return out + [""]


def render_table(rows: Sequence[Row], stream=None) -> None:
    """Print the table: a ``rich`` table on a terminal, tab-separated plain text otherwise."""
    stream = stream or sys.stdout
    rows = sort_rows(rows)
    if getattr(stream, "isatty", lambda: False)():
        try:
            from rich.console import Console
            from rich.table import Table
        except ImportError:
            pass
        else:
            t = Table(show_lines=False)
            for c in TABLE_COLUMNS:
                t.add_column(c, overflow="fold")
            for r in rows:
                cells = _cells(r)
                cells[5] = "[green]ok[/green]" if r.ok else "[bold red]FAIL[/bold red]"
                t.add_row(*cells)
            Console(file=stream).print(t)
            return
    widths = [len(c) for c in TABLE_COLUMNS]
    table = [_cells(r) for r in rows]
    for cells in table:
        widths = [max(w, len(c)) for w, c in zip(widths, cells[:-1])] + [0]
    fmt = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    print(fmt(list(TABLE_COLUMNS)), file=stream)
    for cells in table:
        print(fmt(cells), file=stream)


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
               shapes=None, progress=None, keep_binaries: bool = False) -> list:
    """Jobs of every backend -> compiled -> rows, reports written to ``out_dir``; returns the rows.

    With ``keep_binaries`` every code object is also written under ``out_dir/binaries``.
    """
    from fuzz.compile_jobs import compile_jobs

    jobs = [j for b in backends for j in compile_jobs(b, targets, shapes)]
    start = time.monotonic()

    def done(outcome):
        if keep_binaries:
            save_binaries(outcome, out_dir)
        if progress:
            progress(outcome)

    outcomes = run_jobs(jobs, workers=workers, on_done=done)
    rows = [r for o in outcomes for r in rows_from_outcome(o)]
    meta = {"backends": ", ".join(backends), "targets": ", ".join(targets), "jobs": len(jobs),
            "workers": workers or os.cpu_count(), "wall time": f"{time.monotonic() - start:.1f} s"}
    write_reports(rows, out_dir, meta=meta)
    return rows
