"""One row of the compile matrix per compiled GPU kernel, judged against its target.

:func:`rows_from_outcome` turns a :class:`~kernels.compilecheck.worker.JobOutcome`
into :class:`Row` s via :func:`kernels.compilecheck.occupancy.assess`.  A row
is ``ok`` only when the job compiled without error, the compiler printed no
``error:`` diagnostic, and the kernel passes every limit.
"""
from __future__ import annotations

import dataclasses
from typing import Iterable, Optional

from ..targets import TARGET_NAMES
from .occupancy import assess
from .providers import path_order

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
    """Rows for one :class:`~kernels.compilecheck.worker.JobOutcome` (one per GPU kernel)."""
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


def sort_rows(rows: Iterable[Row]) -> list:
    """Backend, shape, target, then paths in the backend's execution order (small before large)."""
    order = {t: i for i, t in enumerate(TARGET_NAMES)}
    ranks = {}

    def rank(r):
        if r.backend not in ranks:
            ranks[r.backend] = {p: i for i, p in enumerate(path_order(r.backend))}
        return ranks[r.backend].get(r.path, 99)
    return sorted(rows, key=lambda r: (r.backend, r.shape, order.get(r.target, 9), rank(r),
                                       r.path, r.tokens, r.mask, r.launcher, r.kernel))
